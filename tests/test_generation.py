"""Batched greedy generation: same output (and confidences) alone or in any batch, continuation only,
early stop, the chosen tokens' log-probabilities, and the loop guard."""
from __future__ import annotations

import shutil

import pytest
import torch
from transformers import LogitsProcessorList

from model.checkpoint import model_version, read_metadata
from model.config import EngineConfig
from model.engines import load_engine
from model.decode import left_pad
from model.generation import (LoopGuard, LoopRule, TagGrammar, completion_tag_ids, generate_batch, repeated_tail,
                              stop_token_ids)
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


# Log-probabilities of one row computed alone and inside a left-padded batch go through matmuls of
# other shapes, so in fp32 they may differ by rounding (a few ulps of values around 1-10); 1e-5 is
# well above that and far below what a mix-up between rows would give (differences of 0.1 and more).
LOGPROB_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def demo_prompts() -> tuple[object, object, list[list[int]]]:
    """The demo model and four prompts of the bundled sample: completions with real fields (the
    random tiny model writes a field in about one row of sixteen, which would leave nothing to compare)."""
    from pathlib import Path

    from bench.common import prompted

    root = Path(__file__).resolve().parent.parent
    demo = str(root / "data" / "models" / "demo-gptj")
    model, tokenizer = load_model(demo), load_tokenizer(demo)
    records = prompted(root / "data" / "sample" / "records.parquet", demo,
                       model.config.n_positions - read_metadata(demo)["max_new_tokens"])
    return model, tokenizer, [r.input_ids for r in sorted(records[:4], key=lambda r: len(r.input_ids))]


def test_a_record_gets_the_same_confidences_alone_and_in_a_mixed_length_batch(demo_prompts):
    model, tokenizer, prompts = demo_prompts
    assert len({len(p) for p in prompts}) == 4
    batched = generate_batch(model, tokenizer, prompts, max_new_tokens=96)
    assert sum(len(g.fields) >= 3 for g in batched) >= 3  # most rows have fields to compare
    for prompt, together in zip(prompts, batched):
        alone = generate_batch(model, tokenizer, [prompt], max_new_tokens=96)[0]
        assert alone == together
        assert len(alone.token_logprobs) == len(together.token_logprobs)
        assert together.token_logprobs == pytest.approx(alone.token_logprobs, abs=LOGPROB_TOLERANCE, rel=0)
        assert [f.field for f in together.fields] == [f.field for f in alone.fields]
        for mine, theirs in zip(together.fields, alone.fields):
            assert (mine.tag, *mine.values) == pytest.approx((theirs.tag, *theirs.values), abs=LOGPROB_TOLERANCE, rel=0)
            assert (mine.end is None) == (theirs.end is None)
            assert mine.end == pytest.approx(theirs.end, abs=LOGPROB_TOLERANCE, rel=0)


def test_recorded_log_probabilities_are_the_models_own_for_the_chosen_tokens(tiny):
    """One extra forward pass over prompt + continuation (test only) gives the same numbers."""
    _, model, tokenizer = tiny
    prompt = _prompts(tokenizer, 3)[2]
    [generation] = generate_batch(model, tokenizer, [prompt], max_new_tokens=10, loop_rule=None)
    with torch.inference_mode():
        full = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                              max_new_tokens=10, do_sample=False, eos_token_id=stop_token_ids(tokenizer),
                              pad_token_id=tokenizer.pad_token_id,
                              logits_processor=LogitsProcessorList([TagGrammar(tokenizer, len(prompt))]))[0].tolist()
    tokens = full[len(prompt):][:generation.output_tokens]
    with torch.inference_mode():
        logits = model(torch.tensor([prompt + tokens])).logits[0].float()
    expected = torch.log_softmax(logits, dim=-1)[len(prompt) - 1:-1].gather(1, torch.tensor(tokens)[:, None])
    assert list(generation.token_logprobs) == pytest.approx(expected.squeeze(1).tolist(), abs=1e-4)


def test_log_probabilities_are_grouped_by_the_tag_that_opened_them(tiny):
    """A head that writes <title>, then a word forever: one title field of all the word's tokens."""
    path, _, tokenizer = tiny
    title, word = tokenizer.convert_tokens_to_ids("<title>"), tokenizer.encode(" KEYSTONE", add_special_tokens=False)[0]
    model = _always_emits(path, word)
    with torch.no_grad():
        model.lm_head.bias[title] = 2.0  # title first; the grammar then bans it and the word follows
    [generation] = generate_batch(model, tokenizer, _prompts(tokenizer, 1), max_new_tokens=6)
    [field] = generation.fields
    assert field.field == "title" and len(field.values) == 5 and field.end is None
    assert generation.text.startswith("<title>")


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


def test_a_row_repeating_itself_moves_on_field_by_field_and_keeps_no_repeated_copy(tiny):
    """A head that writes one token forever: each time the row ends in a loop the guard forces the
    next completion tag, in SPEC §4 order, and after the last one end-of-text. The copies it
    stopped are cut: each field keeps at most the first (none where the run echoed an earlier one)."""
    path, _, tokenizer = tiny
    word = tokenizer.encode(" KEYSTONE", add_special_tokens=False)[0]
    model = _always_emits(path, word)
    [generation] = generate_batch(model, tokenizer, _prompts(tokenizer, 1), max_new_tokens=128)
    assert generation.looped and not generation.hit_limit and generation.output_tokens < 128
    assert [f.field for f in generation.fields] == ["description", "title", "agency", "photographer", "date"]
    assert all(len(f.values) <= 1 and f.end is not None for f in generation.fields)
    assert tokenizer.decode([word]) * 2 not in generation.text
    # one log-probability per token kept: the first copy before <rewrite>, each field, the end
    assert len(generation.token_logprobs) == 1 + sum(1 + len(f.values) for f in generation.fields) + 1
    [unguarded] = generate_batch(model, tokenizer, _prompts(tokenizer, 1), max_new_tokens=64, loop_rule=None)
    assert unguarded.hit_limit and unguarded.output_tokens == 64 and not unguarded.looped


def test_rows_agree_token_for_token_with_the_unguarded_decoding_until_they_first_loop(tiny):
    """On the random tiny model some rows loop and some do not, in one batch: a row that never
    loops decodes exactly as without the guard; one that does, exactly until that step, where
    the guard forces a completion tag or end-of-text instead."""
    _, model, tokenizer = tiny
    prompts = _prompts(tokenizer, 16)
    input_ids, mask = left_pad(prompts, tokenizer.pad_token_id)
    width, stops = input_ids.shape[1], stop_token_ids(tokenizer)
    tags = {i for ids in completion_tag_ids(tokenizer) for i in ids}  # each tag, bare and space-prefixed

    def decode(*guard):
        processors = LogitsProcessorList([TagGrammar(tokenizer, width), *guard])
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=48, do_sample=False,
                                 eos_token_id=stops, pad_token_id=tokenizer.pad_token_id, logits_processor=processors)
        return out[:, width:].tolist()

    guarded = decode(LoopGuard(width, stops[0], completion_tag_ids(tokenizer)))
    unguarded = decode()
    first_loops = []
    for with_guard, without in zip(guarded, unguarded):
        end = next((i for i, t in enumerate(without) if t in stops), None)
        last_step = end if end is not None else len(without) - 1  # the guard acts at steps 1..last_step
        first = next((i for i in range(1, last_step + 1) if repeated_tail(without[:i]) > 0), None)
        first_loops.append(first)
        if first is None:  # up to and including its stop token (the batches may pad differently after it)
            assert with_guard[:last_step + 1] == without[:last_step + 1]
        else:
            assert with_guard[:first] == without[:first]
            assert with_guard[first] in tags | {stops[0]}  # a tag or the end, whatever the model wanted
    assert any(f is None for f in first_loops) and not all(f is None for f in first_loops)
    for generation, first in zip(generate_batch(model, tokenizer, prompts, max_new_tokens=48), first_loops):
        assert generation.looped == (first is not None)


def test_the_loop_guard_and_its_scalar_form_agree_on_every_tail():
    """Random continuations with planted repeats of every period: the batched test equals ``repeated_tail``."""
    rule = LoopRule(repeats=3, max_period=8, min_span=6)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for i in range(200):
        period, length = 1 + i % 8, 5 + i % 30
        pattern = torch.randint(0, 4, (period,), generator=generator)
        noise = torch.randint(0, 4, (length,), generator=generator)
        repeats = torch.randint(0, 5, (1,), generator=generator).item()
        rows.append(torch.cat([noise, pattern.repeat(repeats)]).tolist()[-40:])
    width = max(len(r) for r in rows)
    prompt = 3
    for row in rows:
        input_ids = torch.tensor([[9] * (prompt + width - len(row)) + row])
        guard = LoopGuard(prompt + width - len(row), end_id=7, rule=rule)
        scores = guard(input_ids, torch.zeros(1, 10))
        forced = bool(scores[0, 0] == float("-inf"))
        assert forced == (repeated_tail(row, rule) > 0), row
    assert any(repeated_tail(r, rule) for r in rows) and not all(repeated_tail(r, rule) for r in rows)


def test_a_long_stretch_written_again_is_a_loop_but_a_value_copied_once_is_not():
    """Rule (24, 2): the description's 24 tokens written again in a field; 23 are a legitimate copy."""
    rule = LoopRule(repeats=3, max_period=4, min_span=8, echoes=((24, 2),))
    stretch = list(range(100, 124))
    copied = [1] + stretch + [2, 3] + stretch
    assert repeated_tail(copied, rule) and not repeated_tail(copied[:-1], rule)
    assert not repeated_tail([1] + stretch[:23] + [2, 3] + stretch[:23], rule)
    guard = LoopGuard(prompt_width=1, end_id=7, rule=rule)
    scores = guard(torch.tensor([[9] + copied, [9, 9] + copied[:-1]]), torch.zeros(2, 10))
    assert scores[0].argmax() == 7 and torch.equal(scores[1], torch.zeros(10))


def test_a_phrase_said_three_times_apart_is_a_loop():
    rule = LoopRule(echoes=((12, 3),))
    phrase = list(range(200, 212))
    row = phrase + [1] + phrase + [2, 3] + phrase
    assert repeated_tail(row, rule) and not repeated_tail(row[:-1], rule)


def test_the_loop_guard_ends_only_the_looping_row_of_a_batch():
    rule = LoopRule(repeats=3, max_period=4, min_span=6)
    guard = LoopGuard(prompt_width=1, end_id=7, rule=rule)
    input_ids = torch.tensor([[5, 1, 2, 1, 2, 1, 2], [5, 1, 2, 3, 1, 2, 4]])
    scores = guard(input_ids, torch.zeros(2, 10))
    assert scores[0].argmax() == 7 and scores[0, 1] == float("-inf")
    assert torch.equal(scores[1], torch.zeros(10))


def test_a_looping_row_may_write_only_a_tag_after_its_last_one_and_ends_after_the_last():
    """Tags 10, 11, 12 in that order: a row that wrote 10 picks between 11 and 12 (the model's
    scores decide, so a field can still be left out); one that wrote 11 only 12; one that wrote
    12 is ended."""
    rule = LoopRule(repeats=3, max_period=4, min_span=6)
    guard = LoopGuard(prompt_width=1, end_id=7, tag_ids=[[10], [11], [12]], rule=rule)
    loop = [1, 2, 1, 2, 1, 2]
    input_ids = torch.tensor([[5, 10] + loop, [5, 11] + loop, [5, 12] + loop])
    scores = torch.arange(13.0).repeat(3, 1)
    moved = guard(input_ids, scores)
    allowed = [set(torch.isfinite(row).nonzero().flatten().tolist()) for row in moved]
    assert allowed == [{11, 12}, {12}, {7}]
    assert moved[0, 12] == scores[0, 12] and moved[0, 11] == scores[0, 11]


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
