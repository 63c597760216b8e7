"""Training: examples mask the prompt, DeepSpeed steps on CPU lower the loss, both input formats train,
the checkpoint loads and generates through the pipeline's code, and GPT-J-6B builds through the same path."""
from __future__ import annotations

import csv
import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch

from formats.prompt import build_completion, build_prompt, model_input
from formats.tags import ALL_TAG_TOKENS
from train.data import (IGNORE_INDEX, Encoder, bucketed_batches, collate, iterate_batches, read_samples,
                        split_text, synthetic_samples)
from train.args import DataArguments, ModelArguments, TrainArguments
from train import finetune
from train.finetune import main, train
from train.modeling import build_model, count_parameters, load_or_build_tokenizer
from train.optim import Schedule, fill_deepspeed_config
from train.synthetic import write_split
from train.tokenizer import add_tag_tokens, build_synthetic_tokenizer

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))


@pytest.fixture(scope="module")
def tokenizer():
    return build_synthetic_tokenizer(vocab_size=400, n=300, seed=0)


@pytest.fixture(scope="module")
def micro_config(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cfg") / "gptj_micro.json"
    values = json.loads((REPO / "configs" / "gptj_tiny.json").read_text())
    values.update(n_embd=64, n_layer=2, n_head=4, rotary_dim=16, n_inner=128, n_positions=384)
    path.write_text(json.dumps(values))
    return str(path)


def test_tags_are_single_non_special_tokens(tokenizer):
    for tag in ALL_TAG_TOKENS:
        for text in (tag, " " + tag):
            ids = tokenizer.encode(text, add_special_tokens=False)
            assert len(ids) == 1 and tokenizer.decode(ids, skip_special_tokens=True) == text
    assert add_tag_tokens(tokenizer) == 0  # idempotent
    assert tokenizer.bos_token == tokenizer.eos_token == "<|endoftext|>"


def test_prompt_positions_carry_minus_100(tokenizer):
    sample = synthetic_samples(1, seed=4)[0]
    encoder = Encoder(tokenizer, max_length=512, max_new_tokens=128)
    example = encoder.encode(sample)
    n = example.n_prompt
    assert n > 10 and example.labels[:n] == [IGNORE_INDEX] * n
    assert example.labels[n:] == example.input_ids[n:]
    assert example.input_ids[-1] == tokenizer.eos_token_id
    prompt = model_input(build_prompt(sample.back_lines, sample.front_lines, sample.language), tokenizer.bos_token)
    assert tokenizer.decode(example.input_ids[:n]) == prompt  # exactly what the pipeline feeds the model
    assert tokenizer.decode(example.input_ids[n:-1]) == " " + build_completion(sample.language, sample.fields)


def test_batches_group_similar_lengths_and_pad_with_ignored_labels(tokenizer):
    encoder = Encoder(tokenizer, max_length=512, max_new_tokens=128)
    examples = encoder.encode_all(synthetic_samples(64, seed=5))
    batches = bucketed_batches(examples, batch_size=8, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(64))
    batch = collate([examples[i] for i in batches[0]], tokenizer.pad_token_id)
    lengths = batch["attention_mask"].sum(1)
    assert bool((batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all())
    spread = max(len(e) for e in examples) - min(len(e) for e in examples)
    assert int(lengths.max() - lengths.min()) < spread


def test_the_batch_stream_is_deterministic_and_resumes_at_any_batch(tokenizer):
    """What a resumed run relies on: skipping k batches yields exactly the rest of the uninterrupted stream,
    within an epoch and past epoch boundaries, for every rank."""
    examples = Encoder(tokenizer, max_length=512, max_new_tokens=128).encode_all(synthetic_samples(20, seed=6))

    def stream(skip: int = 0, rank: int = 0, world_size: int = 1) -> list[list[int]]:
        return [batch["input_ids"].tolist() for batch in iterate_batches(
            examples, 4, tokenizer.pad_token_id, seed=3, epochs=2.5, rank=rank, world_size=world_size, skip=skip)]

    full = stream()
    assert len(full) == 13 and full == stream()  # 5 batches per epoch, 2.5 epochs
    for k in (1, 4, 5, 6, 10, 12, 13):
        assert stream(skip=k) == full[k:]
    for rank in (0, 1):
        assert stream(skip=6, rank=rank, world_size=2) == full[6 + rank::2]


def test_text_csv_is_split_at_end_tag(tmp_path):
    text = "<language> en <back> A <b> B <front> C <END> <language> en <rewrite> A B. <title> C"
    assert split_text(text) == ("<language> en <back> A <b> B <front> C <END>", "<language> en <rewrite> A B. <title> C")
    path = tmp_path / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["text"], [text]])
    (sample,) = read_samples(path)
    assert sample.language == "en" and sample.completion() == "<language> en <rewrite> A B. <title> C"


def test_schedule_and_deepspeed_auto_values():
    schedule = Schedule(total_steps=110, warmup_steps=10, kind="cosine", min_ratio=0.1)
    assert schedule(0) < schedule(5) < schedule(9) <= 1.0
    assert schedule(10) == pytest.approx(1.0) and schedule(110) == pytest.approx(0.1)
    config = json.loads((REPO / "configs" / "ds_config_gptj.json").read_text())
    args = TrainArguments(per_device_train_batch_size=2, gradient_accumulation_steps=32, learning_rate=5e-6,
                          warmup_steps=10)
    filled = fill_deepspeed_config(config, args, "fp16", total_steps=100, world_size=8)
    assert filled["train_batch_size"] == 2 * 32 * 8 and filled["fp16"]["enabled"] is True
    assert filled["optimizer"]["params"]["lr"] == 5e-6 and filled["scheduler"]["params"]["warmup_num_steps"] == 10
    assert filled["zero_optimization"]["stage"] == 2
    assert "auto" not in json.dumps(filled)
    offload = fill_deepspeed_config(json.loads((REPO / "configs" / "ds_config_gptj_zero3_offload.json").read_text()),
                                    args, "bf16", 100)
    assert offload["zero_optimization"]["stage"] == 3 and offload["bf16"]["enabled"] is True
    assert "auto" not in json.dumps(offload)
    tiny = json.loads((REPO / "configs" / "ds_config_tiny.json").read_text())
    assert fill_deepspeed_config(tiny, args, "bf16", 100)["bf16"]["enabled"] is True
    with pytest.raises(ValueError, match="precision bf16 contradicts"):
        fill_deepspeed_config({**tiny, "bf16": {"enabled": False}}, args, "bf16", 100)


def _losses(output_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (output_dir / "training_log.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


def test_deepspeed_steps_lower_loss_and_checkpoint_generates(tmp_path, micro_config):
    out = tmp_path / "ckpt"
    result = train(
        ModelArguments(config_name=micro_config, tokenizer_vocab_size=400, tokenizer_train_records=300),
        DataArguments(synthetic_train_examples=96, synthetic_validation_examples=4, max_new_tokens=24),
        TrainArguments(output_dir=str(out), per_device_train_batch_size=8, gradient_accumulation_steps=1,
                       max_steps=12, learning_rate=3e-3, warmup_steps=2, logging_steps=1, torch_threads=2,
                       per_device_eval_batch_size=4, seed=0),
    )
    losses = _losses(out)
    assert len(losses) >= 10 and min(losses[-3:]) < losses[0] - 0.5
    assert result["steps"] == 12

    # The checkpoint is what the pipeline loads: safetensors, tokenizer, backstamp.json, eval.json.
    from model.checkpoint import read_metadata
    from model.generation import generate_batch
    from model.loading import load_model, load_tokenizer

    metadata = read_metadata(out)
    assert metadata["max_new_tokens"] == 24 and metadata["training"]["optimizer_steps"] == 12
    assert metadata["max_prompt_tokens"] == 384 - 24
    assert (out / "model.safetensors").exists() and (out / "eval.json").exists()
    tokenizer = load_tokenizer(str(out))
    model = load_model(str(out))
    sample = synthetic_samples(1, seed=99, split="heldout")[0]
    ids = tokenizer.encode(model_input(build_prompt(sample.back_lines, sample.front_lines, sample.language),
                                       tokenizer.bos_token), add_special_tokens=False)
    (generation,) = generate_batch(model, tokenizer, [ids], max_new_tokens=8)
    assert 1 <= generation.output_tokens <= 8
    assert json.loads((out / "eval.json").read_text())["n"] == 4

    # Review thresholds travel with the checkpoint: chosen on the synthetic held-out validation split.
    from formats.review import THRESHOLD_FIELDS

    review = metadata["review"]
    assert set(review["thresholds"]) == set(THRESHOLD_FIELDS)
    assert all(0.5 <= value <= 1 for value in review["thresholds"].values())  # from the floor up
    assert review["chosen_on"] == "synthetic held-out split, seed 1, 4 records" and review["target"] == 0.98


def test_bf16_on_cpu_trains_in_bf16_and_saves_float32_when_asked(tmp_path, micro_config):
    """DeepSpeed's bf16 mode (ZeRO-1 keeps fp32 master weights) runs on CPU: the losses move off the fp32
    run's, still fall, and ``--save_dtype float32`` writes float32 weights."""
    from safetensors import safe_open

    def run(precision: str) -> list[float]:
        out = tmp_path / precision
        train(ModelArguments(config_name=micro_config, tokenizer_vocab_size=400, tokenizer_train_records=300),
              DataArguments(synthetic_train_examples=64, synthetic_validation_examples=2, max_new_tokens=16),
              TrainArguments(output_dir=str(out), per_device_train_batch_size=8, max_steps=8, learning_rate=3e-3,
                             gradient_accumulation_steps=1, warmup_steps=1, logging_steps=1, torch_threads=2,
                             precision=precision, save_dtype="float32", seed=0))
        return _losses(out)

    fp32, bf16 = run("fp32"), run("bf16")
    assert bf16 != fp32 and bf16[-1] < bf16[0] - 0.5
    assert bf16 == pytest.approx(fp32, abs=0.1)
    with safe_open(str(tmp_path / "bf16" / "model.safetensors"), "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float32}


def test_text_csv_and_parquet_files_train(tmp_path, micro_config):
    records, labels = write_split(tmp_path / "syn", n=24, seed=8)
    samples = read_samples(records, labels)
    csv_path = tmp_path / "train.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        for s in samples:
            writer.writerow([build_prompt(s.back_lines, s.front_lines, s.language) + " " + s.completion()])
    for train_file, labels_file in ((csv_path, None), (records, labels)):
        out = tmp_path / ("csv" if labels_file is None else "parquet")
        train(
            ModelArguments(config_name=micro_config, tokenizer_vocab_size=400, tokenizer_train_records=300),
            DataArguments(train_file=str(train_file), train_labels_file=labels_file and str(labels_file),
                          max_new_tokens=16),
            TrainArguments(output_dir=str(out), per_device_train_batch_size=4, gradient_accumulation_steps=2,
                           num_train_epochs=2, learning_rate=3e-3, warmup_steps=1, logging_steps=1, torch_threads=2),
        )
        losses = _losses(out)
        assert len(losses) == 6 and losses[-1] < losses[0]
        assert (out / "model.safetensors").exists()


def test_gptj_6b_builds_on_meta_with_published_size(tokenizer):
    """The training code path builds GPT-J-6B; a tokenizer within its 50,400 rows does not resize it."""
    with torch.device("meta"):
        model = build_model(ModelArguments(config_name=str(REPO / "configs" / "gptj_6b.json")), tokenizer, None)
    assert model.config.vocab_size == 50400
    assert count_parameters(model) == pytest.approx(6.05e9, rel=0.003)
    assert next(model.parameters()).device.type == "meta"


def test_new_tokens_take_spare_rows_without_resizing(tmp_path):
    """A checkpoint with spare embedding rows (like GPT-J-6B's 143) keeps its size when the tags fit."""
    from transformers import GPTJConfig, GPTJForCausalLM

    base = build_synthetic_tokenizer(vocab_size=300, n=100, seed=0)
    plain = type(base).from_pretrained  # reload without tags: the "original" tokenizer
    base.save_pretrained(tmp_path / "tok")
    vocab = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())
    vocab["added_tokens"] = [t for t in vocab["added_tokens"] if t["special"]]
    (tmp_path / "tok" / "tokenizer.json").write_text(json.dumps(vocab))
    original = plain(tmp_path / "tok")
    n_base = len(original)
    config = GPTJConfig(vocab_size=n_base + 43, n_positions=64, n_embd=32, n_layer=1, n_head=2, rotary_dim=8,
                        bos_token_id=0, eos_token_id=0)
    GPTJForCausalLM(config).save_pretrained(tmp_path / "ckpt")
    original.save_pretrained(tmp_path / "ckpt")
    args = ModelArguments(model_name_or_path=str(tmp_path / "ckpt"))
    tokenizer = load_or_build_tokenizer(args, args.model_name_or_path)
    assert len(tokenizer) == n_base + 2 * len(ALL_TAG_TOKENS) <= n_base + 43
    model = build_model(args, tokenizer, args.model_name_or_path)
    weight = model.get_input_embeddings().weight
    assert weight.shape[0] == n_base + 43  # not resized
    assert torch.allclose(weight[n_base], weight[:n_base].mean(0))  # new rows start at the mean


def test_help_lists_the_main_arguments_and_documents_resume_and_retention(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])  # what ``python -m train --help`` runs
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in ("--config_name", "--synthetic_uncued_credits", "--max_new_tokens", "--deepspeed", "--precision",
                 "--resume", "--save_steps", "--save_minutes", "--save_total_limit", "--checkpoint_dir",
                 "--sitting_minutes"):
        assert name in out
    assert "'latest'" in out and "keep only the last K" in out and "SIGTERM" in out


# ---------------------------------------------------------------------------------------
# Resume


class Killed(Exception):
    """The process died: nothing after the last resume checkpoint survives."""


def _interrupt(monkeypatch, after_batches: int, how: str) -> None:
    """Make this sitting's batch stream stop the run before its ``after_batches``-th batch.

    ``kill`` raises (a hard kill); ``sigterm`` sends the process SIGTERM, as a pre-empted
    machine does, and lets the run handle it.
    """
    real = finetune.iterate_batches

    def stream(*args, **kwargs):
        for i, batch in enumerate(real(*args, **kwargs)):
            if i == after_batches:
                if how == "kill":
                    raise Killed
                os.kill(os.getpid(), signal.SIGTERM)
            yield batch

    monkeypatch.setattr(finetune, "iterate_batches", stream)


@pytest.fixture(scope="module")
def dropout_config(tmp_path_factory, micro_config) -> str:
    """The micro model with dropout, so that the losses also depend on torch's RNG."""
    path = tmp_path_factory.mktemp("cfg") / "gptj_micro_dropout.json"
    values = json.loads(Path(micro_config).read_text())
    values.update(resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
    path.write_text(json.dumps(values))
    return str(path)


def _resumable_args(config: str, out: Path, **train_overrides) -> tuple:
    # 32 examples in batches of 4 with 2 accumulation steps: 4 optimizer steps per epoch, 8 steps = 2 epochs.
    return (ModelArguments(config_name=config, tokenizer_vocab_size=400, tokenizer_train_records=300),
            DataArguments(synthetic_train_examples=32, max_new_tokens=16),  # no validation: no generation
            TrainArguments(output_dir=str(out), per_device_train_batch_size=4, gradient_accumulation_steps=2,
                           max_steps=8, learning_rate=3e-3, warmup_steps=2, logging_steps=1, torch_threads=1,
                           seed=0, save_steps=3, save_total_limit=2, **train_overrides))


def _log_rows(output_dir: Path, key: str) -> list:
    rows = [json.loads(line) for line in (output_dir / "training_log.jsonl").read_text().splitlines()]
    return [row[key] for row in rows if "loss" in row]


def test_a_run_killed_preempted_and_resumed_matches_an_uninterrupted_run(tmp_path, dropout_config, monkeypatch):
    """Three sittings — hard-killed after step 5, SIGTERM during step 7, then to the end — give the same
    losses, learning rates and final weights as one uninterrupted run: weights, optimizer, schedule, data
    position (mid-epoch and past an epoch boundary) and RNG all come back."""
    from safetensors.torch import load_file

    straight = tmp_path / "straight"
    train(*_resumable_args(dropout_config, straight))

    out = tmp_path / "resumed"
    checkpoints = out / "checkpoints"
    with monkeypatch.context() as patch:
        _interrupt(patch, after_batches=10, how="kill")  # steps 1-5 done; checkpoint at step 3
        with pytest.raises(Killed):
            train(*_resumable_args(dropout_config, out))
    assert (checkpoints / "latest").read_text().strip() == "step00000003"

    with monkeypatch.context() as patch:
        _interrupt(patch, after_batches=6, how="sigterm")  # this sitting starts at batch 6; SIGTERM in step 7
        result = train(*_resumable_args(dropout_config, out, resume="latest"))
    assert result["stopped_by"] == "sitting" and result["checkpoint"].endswith("step00000007")
    # Retention: only the last two checkpoints are kept.
    assert sorted(p.name for p in checkpoints.iterdir() if p.is_dir()) == ["step00000006", "step00000007"]
    assert not (out / "model.safetensors").exists()  # a sitting that stops early exports nothing

    # The third sitting names its checkpoint: at step 7 the first epoch is skipped whole.
    result = train(*_resumable_args(dropout_config, out, resume=str(checkpoints / "step00000007")))
    assert result["steps"] == 8

    assert _log_rows(out, "step") == list(range(1, 9))  # steps trained twice appear once
    assert _log_rows(out, "loss") == pytest.approx(_log_rows(straight, "loss"), abs=1e-6, rel=0)
    assert _log_rows(out, "lr") == pytest.approx(_log_rows(straight, "lr"), rel=1e-12)
    resumed, uninterrupted = load_file(out / "model.safetensors"), load_file(straight / "model.safetensors")
    assert all(torch.allclose(resumed[k], uninterrupted[k], atol=1e-6, rtol=0) for k in uninterrupted)

    from model.checkpoint import read_metadata

    training = read_metadata(out)["training"]
    assert training["sittings"] == 3 and len(training["commands"]) == 3 and training["optimizer_steps"] == 8
    assert training["data_mix"]["synthetic_examples"] == 32
    # Wall time: every sitting's setup and training up to its last checkpoint, so never less than the training
    # time (it once subtracted the setup); both are rounded to 0.01 min, so a fast machine can show them equal.
    assert training["wall_minutes"] >= training["train_minutes"]


def test_resume_refuses_arguments_that_change_the_steps(tmp_path):
    from dataclasses import asdict

    from train.checkpointing import check_same_run, find_checkpoint

    def run_args(**train_values):
        return {"model": asdict(ModelArguments(config_name="c.json")), "data": asdict(DataArguments()),
                "train": asdict(TrainArguments(**train_values))}

    saved = {"args": run_args(learning_rate=1e-3)}
    check_same_run(saved, run_args(learning_rate=1e-3, logging_steps=1, save_minutes=5, resume="latest"))
    with pytest.raises(ValueError, match="--learning_rate 0.001"):
        check_same_run(saved, run_args(learning_rate=2e-3))
    # A run saved before an argument existed resumes at that argument's default, and only there.
    del saved["args"]["model"]["lora_r"]
    check_same_run(saved, run_args(learning_rate=1e-3))
    with pytest.raises(ValueError, match="--lora_r 0 → 8"):
        check_same_run(saved, {**run_args(learning_rate=1e-3),
                               "model": asdict(ModelArguments(config_name="c.json", lora_r=8))})
    with pytest.raises(FileNotFoundError, match="start the run without --resume"):
        find_checkpoint("latest", tmp_path)


def test_time_schedule_continues_across_sittings():
    """With --schedule_by_time the schedule's training time is restored with the scheduler state, and the
    loop's clock starts from the time the earlier sittings spent."""
    from train.checkpointing import Stopwatch

    def scheduler(schedule):
        return torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                                                 schedule)

    first = Schedule(total_steps=10_000, warmup_steps=0, time_budget_s=100.0)
    first_sitting = scheduler(first)
    first.elapsed_s = 60.0
    first_sitting.optimizer.step()
    first_sitting.step()
    second = Schedule(total_steps=10_000, warmup_steps=0, time_budget_s=100.0)
    second_sitting = scheduler(second)
    second_sitting.load_state_dict(first_sitting.state_dict())
    assert second.elapsed_s == 60.0 and second_sitting.get_last_lr() == first_sitting.get_last_lr()
    assert first(1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.6)))  # 60 % of the time budget
    assert 60.0 <= Stopwatch(offset=60.0).seconds() < 61.0
