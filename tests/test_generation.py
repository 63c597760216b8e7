"""Batched greedy generation: same output alone or in any batch, continuation only, early stop."""
from __future__ import annotations

import shutil

import pytest
import torch
from transformers import LogitsProcessorList

from model.checkpoint import model_version, read_metadata
from model.config import EngineConfig
from model.engines import load_engine
from model.generation import TagGrammar, generate_batch, left_pad, stop_token_ids
from model.loading import UnsafeCheckpointError, load_model, load_tokenizer
from formats.prompt import build_prompt, model_input
from tests.tiny_checkpoint import build_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    path = str(tiny_checkpoint)
    return path, load_model(path), load_tokenizer(path)


def _prompts(tokenizer, n: int) -> list[list[int]]:
    """Prompts of very different lengths, so a batch has plenty of left padding."""
    rows = []
    for i in range(n):
        back = [f"KEYSTONE PRESS {i}"] + ["RETURN TO LIBRARY"] * (i % 5) + ["Photo by John Smith"] * (i % 3)
        front = ["1964"] * (i % 4)
        text = model_input(build_prompt(back, front, "en"), tokenizer.bos_token)
        rows.append(tokenizer.encode(text, add_special_tokens=False))
    return rows


def test_left_padding_puts_every_prompt_against_the_right_edge():
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_a_record_generates_the_same_text_alone_and_in_a_mixed_length_batch_of_16(tiny):
    _, model, tokenizer = tiny
    prompts = _prompts(tokenizer, 16)
    assert len({len(p) for p in prompts}) > 5
    batched = generate_batch(model, tokenizer, prompts, max_new_tokens=12)
    for prompt, together in zip(prompts, batched):
        alone = generate_batch(model, tokenizer, [prompt], max_new_tokens=12)[0]
        assert alone == together


def test_only_the_continuation_is_decoded(tiny):
    _, model, tokenizer = tiny
    prompt = _prompts(tokenizer, 1)[0]
    [generation] = generate_batch(model, tokenizer, [prompt], max_new_tokens=8)
    with torch.inference_mode():
        full = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                              max_new_tokens=8, do_sample=False, eos_token_id=stop_token_ids(tokenizer),
                              pad_token_id=tokenizer.pad_token_id,
                              logits_processor=LogitsProcessorList([TagGrammar(tokenizer, len(prompt))]))[0].tolist()
    new = full[len(prompt):]
    stop = next((i for i, t in enumerate(new) if t in stop_token_ids(tokenizer)), len(new))
    assert generation.text == tokenizer.decode(new[:stop], skip_special_tokens=True)
    assert "<back>" not in generation.text


def _always_emits(path: str, token_id: int):
    """A copy of the tiny model whose head always predicts ``token_id``."""
    model = load_model(path)
    with torch.no_grad():
        model.lm_head.weight.zero_()
        model.lm_head.bias.zero_()
        model.lm_head.bias[token_id] = 1.0
    return model


def test_generation_stops_at_end_of_text_and_counts_it(tiny):
    path, _, tokenizer = tiny
    model = _always_emits(path, tokenizer.eos_token_id)
    [generation] = generate_batch(model, tokenizer, _prompts(tokenizer, 1), max_new_tokens=8)
    assert generation == type(generation)(text="", output_tokens=1, hit_limit=False)


def test_a_row_that_never_stops_is_flagged_at_the_limit(tiny):
    path, _, tokenizer = tiny
    word = tokenizer.encode(" KEYSTONE", add_special_tokens=False)[0]
    model = _always_emits(path, word)
    [generation] = generate_batch(model, tokenizer, _prompts(tokenizer, 1), max_new_tokens=5)
    assert generation.output_tokens == 5 and generation.hit_limit
    assert generation.text == tokenizer.decode([word] * 5)


def test_a_completion_tag_is_written_at_most_once(tiny):
    path, _, tokenizer = tiny
    model = _always_emits(path, tokenizer.convert_tokens_to_ids("<title>"))
    [generation] = generate_batch(model, tokenizer, _prompts(tokenizer, 1), max_new_tokens=5)
    assert generation.text.count("<title>") == 1


def test_a_prompt_only_tag_is_never_written(tiny):
    path, _, tokenizer = tiny
    for name in ("<back>", "<front>", "<b>"):
        model = _always_emits(path, tokenizer.convert_tokens_to_ids(name))
        [generation] = generate_batch(model, tokenizer, _prompts(tokenizer, 1), max_new_tokens=5)
        assert name not in generation.text


def test_the_tag_rule_leaves_other_rows_of_the_batch_alone(tiny):
    """Row 0 has written <title>; row 1 has not: only row 0 loses the tag."""
    _, _, tokenizer = tiny
    title = tokenizer.convert_tokens_to_ids("<title>")
    rule = TagGrammar(tokenizer, prompt_width=2)
    input_ids = torch.tensor([[5, title, title], [title, 5, 6]])  # row 1's <title> is in its prompt
    scores = rule(input_ids, torch.zeros(2, len(tokenizer)))
    assert scores[0, title] == float("-inf") and scores[1, title] == 0


def test_end_tag_is_a_stop_token_because_tags_are_single_tokens(tiny):
    _, _, tokenizer = tiny
    end = tokenizer.convert_tokens_to_ids("<END>")
    assert stop_token_ids(tokenizer)[:2] == [tokenizer.eos_token_id, end]


def test_model_version_changes_with_the_weights_only(tiny_checkpoint, tmp_path):
    same = build_tiny_checkpoint(tmp_path / "same", seed=0)  # the fixture's seed, built again elsewhere
    other = build_tiny_checkpoint(tmp_path / "other", seed=2)
    assert model_version(tiny_checkpoint) == model_version(same) != model_version(other)
    assert read_metadata(tiny_checkpoint)["max_new_tokens"] == 16


def test_pickle_weights_are_refused_unless_allowed(tiny_checkpoint, tmp_path):
    path = shutil.copytree(tiny_checkpoint, tmp_path / "pickled")
    model = load_model(str(path))
    for weights in path.glob("*.safetensors"):
        weights.unlink()
    torch.save(model.state_dict(), path / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match="allow_pickle_weights"):
        load_model(str(path))
    reloaded = load_model(str(path), allow_pickle_weights=True)
    assert torch.equal(reloaded.lm_head.weight, model.lm_head.weight)


def test_deepspeed_engine_on_cpu_matches_hf(tiny):
    path, _, tokenizer = tiny
    prompts = _prompts(tokenizer, 4)
    hf = load_engine(path, EngineConfig(engine="hf", device="cpu"))
    ds = load_engine(path, EngineConfig(engine="deepspeed", device="cpu"))
    assert ds.generate(prompts, 10) == hf.generate(prompts, 10)
