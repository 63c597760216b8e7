"""The job's decode loop (model/decode.py): finished rows leave the batch (eager), freed slots are refilled
(compiled), and every row's answer equals today's ``generate`` loop (bench/generate_loop.py).

On CPU ``--decode compiled`` runs the static KV cache and the slot refill without the compiler
(transformers compiles only on accelerators), so these tests pin down everything but the compiler
itself: bench/gpu_check.sh checks that on a GPU, and its ``--tiny`` mode runs here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.common import prompted
from bench.generate_loop import GenerateEngine
from formats.parse import parse_completion
from formats.review import THRESHOLD_FIELDS, ReviewInput, route
from model.checkpoint import read_metadata
from model.config import EngineConfig
from model.decode import DecodeConfig, Decoder, bucket, prefill_groups
from model.engines import Engine, load_engine
from model.verify import EngineMismatchError, load_verified_engine

ROOT = Path(__file__).resolve().parent.parent
DEMO = str(ROOT / "data" / "models" / "demo-gptj")
SAMPLE = ROOT / "data" / "sample" / "records.parquet"
REALISTIC = ROOT / "data" / "eval" / "realistic" / "records.parquet"
# log-probabilities of one row in other batch shapes go through matmuls of other shapes: fp32 rounding
# (a few ulps of values around 1-10), far below what a mix-up between rows would give (0.1 and more)
LOGPROB_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def demo() -> Engine:
    return load_engine(DEMO, EngineConfig(device="cpu", decode="eager", torch_threads=1))


@pytest.fixture(scope="module")
def demo_records(demo) -> dict[str, list]:
    """A subset of the bundled sample and of the realistic set, prompted as the job prompts them."""
    prompt_budget = demo.model.config.n_positions - read_metadata(DEMO)["max_new_tokens"]
    return {"sample": prompted(SAMPLE, DEMO, prompt_budget)[:24],
            "realistic": prompted(REALISTIC, DEMO, prompt_budget)[:12]}


def with_decoder(engine: Engine, config: DecodeConfig) -> Engine:
    return Engine(engine.name, engine.model, engine.tokenizer, Decoder(config, engine.model))


def sorted_batches(records, sizes=(1, 3, 5, 8, 11, 12)):
    """Length-sorted batches of awkward sizes, so most are padded up to a batch bucket."""
    records = sorted(records, key=lambda r: len(r.input_ids))
    batches, start = [], 0
    while start < len(records):
        size = sizes[len(batches) % len(sizes)]
        batches.append(records[start:start + size])
        start += size
    return batches


def generate_all(engine, batches, max_new_tokens: int):
    return [g for batch in batches for g in engine.generate([r.input_ids for r in batch], max_new_tokens)]


def assert_same_generations(today, new):
    """Token-for-token greedy equality (text, token count, hit_limit, looped) and the confidences with it."""
    assert new == today
    for a, b in zip(today, new):
        assert len(a.token_logprobs) == len(b.token_logprobs)
        assert b.token_logprobs == pytest.approx(a.token_logprobs, abs=LOGPROB_TOLERANCE, rel=0)
        assert [(f.field, len(f.values), f.end is None) for f in a.fields] == \
            [(f.field, len(f.values), f.end is None) for f in b.fields]
        for mine, theirs in zip(b.fields, a.fields):
            assert (mine.tag, *mine.values) == pytest.approx((theirs.tag, *theirs.values), abs=LOGPROB_TOLERANCE)


def assert_same_review(new: dict, today: dict) -> None:
    """Every decision column equal; the confidences (floats) within the log-probabilities' rounding."""
    floats = sorted(key for key, value in today.items() if isinstance(value, float))
    assert {k: v for k, v in new.items() if k not in floats} == {k: v for k, v in today.items() if k not in floats}
    assert [new[k] for k in floats] == pytest.approx([today[k] for k in floats], abs=LOGPROB_TOLERANCE)


def review_columns(record, generation) -> dict:
    """The review decision the job writes for one record (pipeline/transforms.py)."""
    parsed = parse_completion(generation.text, record.language, generation.hit_limit)
    review = route(ReviewInput(
        values={name: getattr(parsed, name) for name in THRESHOLD_FIELDS}, date_iso=parsed.date_iso,
        tokens=generation.fields, back=record.back_lines, front=record.front_lines, parse_status=parsed.status,
        truncated=record.truncated, looped=generation.looped, hit_limit=generation.hit_limit))
    return review.columns()


def test_a_bucket_is_the_smallest_one_that_holds_the_value_and_multiples_of_the_last_beyond():
    assert [bucket(n, (1, 2, 4, 8)) for n in (1, 2, 3, 5, 8, 9, 17)] == [1, 2, 4, 8, 8, 16, 24]
    assert bucket(37, ()) == 37


def test_auto_compiles_on_cuda_only():
    assert DecodeConfig().resolve(torch.device("cpu")) == "eager"
    assert DecodeConfig().resolve(torch.device("cuda")) == "compiled"
    assert DecodeConfig(mode="compiled").resolve(torch.device("cpu")) == "compiled"
    with pytest.raises(ValueError, match="unknown decode mode"):
        DecodeConfig(mode="fast")
    with pytest.raises(ValueError, match="slots"):
        DecodeConfig(slots=0)


@pytest.fixture(scope="module")
def today(demo, demo_records) -> dict[str, list]:
    """Today's ``generate`` loop on the demo records, batched like the job (length-sorted, mixed sizes)."""
    max_new_tokens = read_metadata(DEMO)["max_new_tokens"]
    baseline = GenerateEngine(demo.model, demo.tokenizer)
    return {name: generate_all(baseline, sorted_batches(records), max_new_tokens)
            for name, records in demo_records.items()}


@pytest.mark.parametrize("records", ["sample", "realistic"])
@pytest.mark.parametrize("config", [DecodeConfig(mode="eager"), DecodeConfig(mode="compiled", slots=4)],
                         ids=["eager", "compiled_refill"])
def test_every_row_answers_as_with_todays_generate_loop(demo, demo_records, today, records, config):
    """Same tokens, log-probabilities, fields, loop-guard actions and review decisions as ``generate``,
    with finished rows leaving the batch (eager) or their slots refilled from the batch (compiled)."""
    max_new_tokens = read_metadata(DEMO)["max_new_tokens"]
    batches = sorted_batches(demo_records[records])
    engine = with_decoder(demo, config)
    new = generate_all(engine, batches, max_new_tokens)
    assert_same_generations(today[records], new)
    ordered = [record for batch in batches for record in batch]
    for record, mine, theirs in zip(ordered, new, today[records]):
        assert_same_review(review_columns(record, mine), review_columns(record, theirs))
    # the check has teeth: real completions with fields, rows that end at different steps
    assert sum(len(g.fields) for g in new) >= 2 * len(new)
    assert len({g.output_tokens for g in new}) > len(new) // 3


def test_an_eager_row_leaves_the_batch_the_step_it_ends(demo, demo_records):
    """Every decode step after the prefill computes live rows only: one row-step per token after the first."""
    max_new_tokens = read_metadata(DEMO)["max_new_tokens"]
    batch = sorted(demo_records["sample"][:8], key=lambda r: len(r.input_ids))
    engine = with_decoder(demo, DecodeConfig(mode="eager"))
    generations = engine.generate([r.input_ids for r in batch], max_new_tokens)
    assert len({g.output_tokens for g in generations}) > 1
    assert engine.decoder.counts.slot_steps == sum(g.output_tokens - 1 for g in generations)
    assert engine.decoder.counts.steps == max(g.output_tokens for g in generations) - 1


@pytest.mark.parametrize("lengths, padding, groups", [
    ([10, 10, 10], 0.0, [[0, 1, 2]]),
    ([3, 60, 4, 5], 0.25, [[1], [3, 2, 0]]),
    ([3, 60, 4, 5], 0.0, [[1], [3], [2], [0]]),
    ([100, 90, 80, 70, 20], 0.25, [[0, 1, 2, 3], [4]]),
])
def test_prefill_groups_run_longest_first_each_within_its_padding_share(lengths, padding, groups):
    assert prefill_groups(lengths, padding) == groups
    for group in groups:
        padded = lengths[group[0]] * len(group)
        assert padded - sum(lengths[i] for i in group) <= padding * padded


def test_a_long_prompt_is_prefilled_apart_from_short_ones_and_every_row_answers_as_alone(tiny_checkpoint):
    """One 60-token prompt among 3-5-token ones: two prefills (60 tokens, then 3 × 5) instead of
    4 × 60 padded tokens; each row still decodes as it does alone."""
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="eager"))
    prompts = [[engine.tokenizer.bos_token_id] + list(range(10, 10 + n)) for n in (2, 59, 3, 4)]
    widths = []
    original = Decoder._prefill

    def recorded(self, request, rows, width=None, cache=None):
        widths.append((len(rows), max(len(request.prompts[row]) for row in rows)))
        return original(self, request, rows, width, cache)

    grouped = with_decoder(engine, DecodeConfig(mode="eager"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Decoder, "_prefill", recorded)
        generations = grouped.generate(prompts, 8)
    assert widths == [(1, 60), (3, 5)]
    assert_same_generations([engine.generate([p], 8)[0] for p in prompts], generations)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_a_freed_slot_takes_the_next_waiting_prompt_so_the_batch_stays_full(tiny_checkpoint, mode):
    """Six prompts through two slots; every row runs to the limit (8 tokens: its prefill's and 7 steps),
    so with refills the call takes 3 × 7 steps of 2 full slots, not 6 × 7 steps or 7 steps of 6 rows."""
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="eager"))
    word = engine.tokenizer.bos_token_id
    prompts = [[word] + list(range(10, 10 + n)) for n in (2, 9, 4, 30, 12, 7)]
    refill = with_decoder(engine, DecodeConfig(mode=mode, slots=2))
    generations = refill.generate(prompts, 8)
    assert all(g.output_tokens == 8 for g in generations)
    assert (refill.decoder.counts.steps, refill.decoder.counts.slot_steps) == (21, 42)
    assert_same_generations([engine.generate([p], 8)[0] for p in prompts], generations)


def test_refills_move_the_cache_columns_both_ways_without_changing_a_row(tiny_checkpoint):
    """One slot, prompts growing from 3 to 60 tokens: the write column runs out and is moved back,
    then a longer prompt needs it moved forward; each row still equals its own decoding alone."""
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="eager"))
    prompts = [[engine.tokenizer.bos_token_id] + list(range(10, 10 + n)) for n in (2, 4, 40, 60, 5)]
    moves = []
    original = Decoder._move

    def recorded(cache, mask, state, shift):
        moves.append(shift)
        original(cache, mask, state, shift)

    refill = with_decoder(engine, DecodeConfig(mode="compiled", slots=1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Decoder, "_move", staticmethod(recorded))
        generations = refill.generate(prompts, 8)
    assert any(shift < 0 for shift in moves) and any(shift > 0 for shift in moves)
    assert_same_generations([engine.generate([p], 8)[0] for p in prompts], generations)


@pytest.mark.parametrize("checkpoint", ["tiny_checkpoint", "tiny_llama_checkpoint"])
def test_bucket_padding_and_slots_do_not_change_a_rows_output(checkpoint, request):
    """GPT-J and Llama alike (the loop only uses the model's forward): alone, in a batch, padded to
    buckets, or through fewer slots, a row's tokens are the same and its log-probabilities within rounding."""
    engine = load_engine(str(request.getfixturevalue(checkpoint)), EngineConfig(device="cpu", decode="eager"))
    prompts = [[engine.tokenizer.bos_token_id] + list(range(10, 10 + n)) for n in (3, 17, 40)]
    alone = [engine.generate([p], 16)[0] for p in prompts]
    assert all(len(g.token_logprobs) == g.output_tokens for g in alone)
    for config in (DecodeConfig(mode="eager"), DecodeConfig(mode="eager", slots=1),
                   DecodeConfig(mode="eager", prefill_padding=0.0), DecodeConfig(mode="eager", prefill_padding=0.9),
                   DecodeConfig(mode="compiled", batch_buckets=(), width_buckets=()),
                   DecodeConfig(mode="compiled", batch_buckets=(8,), width_buckets=(128,)),
                   DecodeConfig(mode="compiled", slots=2)):
        assert_same_generations(alone, with_decoder(engine, config).generate(prompts, 16))


def test_one_static_cache_per_shape_is_reused_and_the_kept_ones_are_bounded(tiny_checkpoint):
    """Same (slots, columns): the same cache tensors (CUDA graphs recorded against them stay valid)."""
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="eager"))
    decoder = Decoder(DecodeConfig(mode="compiled", kept_caches=2), engine.model)
    first = decoder._cache(4, 80)
    assert decoder._cache(4, 80) is first
    for columns in (144, 208, 272):
        decoder._cache(4, columns)
    assert len(decoder._caches) == 2
    assert decoder._cache(4, 80) is not first
    prompts = [[engine.tokenizer.bos_token_id, 11, 12]] * 3
    Engine("hf", engine.model, engine.tokenizer, decoder).generate(prompts, 16)
    assert (4, 64 + 16) in decoder._caches  # three rows: batch bucket 4; width bucket 64 + 16 new tokens
    refill = Decoder(DecodeConfig(mode="compiled", slots=2), engine.model)
    Engine("hf", engine.model, engine.tokenizer, refill).generate(prompts, 16)
    assert list(refill._caches) == [(2, 64 + 2 * 16)]  # a prompt waits: room for a moved row


def test_an_out_of_memory_error_frees_the_kept_caches_and_reaches_the_batch_splitter(tiny_checkpoint, monkeypatch):
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="compiled"))
    prompts = [[engine.tokenizer.bos_token_id, 11, 12]] * 3
    engine.generate(prompts, 4)
    assert engine.decoder._caches

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(Decoder, "_forward", out_of_memory)
    with pytest.raises(torch.OutOfMemoryError):
        engine.generate(prompts, 4)
    assert not engine.decoder._caches


def test_the_engine_check_accepts_compiled_decoding_because_it_matches_eager(tiny_checkpoint):
    engine = load_verified_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="compiled"), 12, "refuse")
    assert engine.decoder.mode == "compiled"


def test_the_engine_check_refuses_a_broken_compiled_path_or_falls_back_to_eager(tiny_checkpoint, monkeypatch):
    def broken(self, batch, length):
        raise RuntimeError("static cache broken (injected)")

    monkeypatch.setattr(Decoder, "_cache", broken)
    config = EngineConfig(device="cpu", decode="compiled")
    with pytest.raises(EngineMismatchError, match="compiled decode"):
        load_verified_engine(str(tiny_checkpoint), config, 12, "refuse")
    engine = load_verified_engine(str(tiny_checkpoint), config, 12, "fallback")
    assert engine.decoder.mode == "eager"
    assert engine.generate([[engine.tokenizer.bos_token_id, 11]], 4)


def test_decode_is_a_pipeline_option_with_auto_by_default():
    from pipeline.options import BackstampOptions

    options = BackstampOptions(["--decode", "compiled"])
    assert options.decode == "compiled"
    assert BackstampOptions([]).decode == "auto"


def test_decode_slots_is_a_pipeline_option_that_reaches_the_engines_decoder(tiny_checkpoint):
    from pipeline.options import BackstampOptions

    assert BackstampOptions([]).decode_slots is None
    assert BackstampOptions(["--decode_slots", "4"]).decode_slots == 4
    with pytest.raises(SystemExit):
        BackstampOptions(["--decode_slots", "0"]).decode_slots
    with pytest.raises(ValueError, match="decode_slots"):
        EngineConfig(decode_slots=0)
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="eager", decode_slots=3))
    assert engine.decoder.config.slots == 3


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_the_job_with_decode_slots_writes_the_records_it_writes_without_them(tmp_path, mode):
    """24 sample records in one batch through 4 slots (20 prompts wait for a row to end): the records
    and their review columns equal the default run's, and the slots were refilled (fewer rows per step)."""
    import pyarrow.parquet as pq

    from pipeline.job import run

    source = tmp_path / "in.parquet"
    pq.write_table(pq.read_table(SAMPLE).slice(0, 24), source)

    def records(name: str, *extra: str) -> dict[str, dict]:
        manifest = run(["--input", str(source), "--output", str(tmp_path / name), "--model", DEMO,
                        "--max_batch_size", "24", "--max_batch_weight", "100000", "--torch_threads", "1", *extra])
        assert manifest.records_read == manifest.records_written == 24
        rows = pq.read_table(list((tmp_path / name / "records").glob("*.parquet"))).to_pylist()
        return manifest.extra, {row["id"]: row for row in rows}

    (alone, default), (refilled, slotted) = records("default"), records("slotted", "--decode", mode,
                                                                         "--decode_slots", "4")
    assert refilled["decode_slots"] == 4 and alone["decode_slots"] is None
    # 24 rows in one batch at first; through 4 slots, never more than 4 rows a step, so more steps
    assert alone["decode_row_steps"] > 4 * alone["decode_steps"]
    assert refilled["decode_row_steps"] <= 4 * refilled["decode_steps"]
    assert refilled["decode_steps"] > alone["decode_steps"]
    assert slotted.keys() == default.keys()
    varying = {"run_id", "processed_at"}
    for key, row in default.items():
        mine = slotted[key]
        floats = sorted(k for k, v in row.items() if isinstance(v, float))
        assert {k: v for k, v in mine.items() if k not in varying | set(floats)} == \
            {k: v for k, v in row.items() if k not in varying | set(floats)}
        assert [mine[k] for k in floats] == pytest.approx([row[k] for k in floats], abs=LOGPROB_TOLERANCE)


def test_the_gpu_check_script_runs_every_stage_in_its_tiny_cpu_mode(tmp_path):
    """bench/gpu_check.sh is run once on a lent GPU; this keeps it from rotting in between."""
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--tiny", "--checkpoint", ""],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    payload = json.loads((tmp_path / "gpu_check_tiny.json").read_text())
    assert payload["errors"] == {}
    engines = {(row["engine"], row["variant"]) for row in payload["rows"]}
    assert {("hf", "job"), ("hf", "bare"), ("compiled", "job"), ("compiled", "bare"), ("deepspeed", "job"),
            ("hf_repeat", "job")} <= engines
    assert payload["parity"]["compiled"]["share_equal"] == 1.0
    assert [row["engine"] for row in payload["mix"]] == ["hf", "hf_generate", "compiled", "compiled_refill"]
    for row in payload["mix"][1:]:
        assert row["rows_equal_to_eager"] == f"{row['records']}/{row['records']}"
    assert payload["mix"][0]["slot_use"] == 1.0  # eager: finished rows left the batch
    assert set(payload["continuous_batching"]) == {"fixed", "mix"}
    assert not payload["versions"]["deepspeed"].startswith("unavailable")
    assert (tmp_path / "gpu_check_tiny.md").exists() and (tmp_path / "gpu_check.log").exists()
