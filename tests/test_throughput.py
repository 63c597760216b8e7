"""Throughput machinery: token-budget batching, padding metrics, adaptive splits, early stop, --engine_check.

The batching and split tests run the real ``BatchedInference`` transform on DirectRunner with
a fake engine (the handler's only collaborator), so what they check is what Beam really
hands to ``generate``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that

import model.verify
from formats.elements import InferenceFailure, PromptedRecord
from model.config import EngineConfig
from model.decode import DecodeConfig, prefill_groups
from model.engines import load_engine
from model.generation import Generation, generate_batch
from model.loading import load_model
from model.verify import EngineMismatchError, load_verified_engine
from pipeline.batching import BatchedInference, BatchingConfig
from pipeline.dead_letter import METRICS_NAMESPACE
from pipeline.inference import GPTJModelHandler
from pipeline.job import format_summary, plan_job, run
from pipeline.options import BackstampOptions
from tests.test_generation import _always_emits, _prompts
from tests.tiny_checkpoint import build_tiny_checkpoint

MAX_NEW_TOKENS = 10
POISON = 666  # a record whose first token is this fails in any batch


@dataclass
class FakeEngine:
    """Answers each row with the prompt lengths of the whole batch it came in; can fail on purpose."""

    name: str = "fake"
    decoder: None = None  # no decode loop of its own, as the handler allows
    max_rows: int = 10_000  # larger batches fail like an out-of-memory error

    def generate(self, batch_input_ids: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        if len(batch_input_ids) > self.max_rows:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if any(ids[0] == POISON for ids in batch_input_ids):
            raise ValueError("poisoned record")
        batch = json.dumps(sorted(len(ids) for ids in batch_input_ids))
        return [Generation(text=batch, output_tokens=1, hit_limit=False) for _ in batch_input_ids]


class FakeEngineHandler(GPTJModelHandler):
    def __init__(self, batching: BatchingConfig, max_rows: int = 10_000):
        super().__init__("unused", EngineConfig(), MAX_NEW_TOKENS, batching)
        self._max_rows = max_rows

    def load_model(self) -> FakeEngine:
        return FakeEngine(max_rows=self._max_rows)


def _record(i: int, length: int, first_token: int = 1) -> PromptedRecord:
    return PromptedRecord(id=f"r{i}", language="en", prompt="p", input_ids=(first_token,) + (2,) * (length - 1),
                          truncated=False, input_hash="h", record_json="{}")


def _run(records: list[PromptedRecord], handler: GPTJModelHandler, check) -> dict[str, int]:
    """Run ``BatchedInference`` over ``records``, check the results inside the pipeline, return the counters."""
    pipeline = beam.Pipeline()
    results = pipeline | beam.Create(records) | BatchedInference(handler)
    assert_that(results, check)
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    return {c.key.metric.name: c.committed for c in counters}


# Heavy-tailed prompt lengths, shuffled: most short, a few very long.
LENGTHS = [8 + (i * 37) % 40 for i in range(60)] + [120, 180, 250, 31, 300]


def test_batches_stay_under_the_token_budget_and_group_similar_lengths():
    budget, cap = 400, 6
    records = [_record(i, n) for i, n in enumerate(LENGTHS)]

    def check(results):
        assert len(results) == len(records)
        batches = sorted({r.inference.text for r in results}, key=lambda text: json.loads(text)[0])
        batches = [json.loads(text) for text in batches]
        assert sum(len(b) for b in batches) == len(records)
        for batch in batches:
            assert len(batch) <= cap
            weight = sum(n + MAX_NEW_TOKENS for n in batch)
            assert weight < budget or len(batch) == 1, batch  # a lone record may exceed the budget
        for shorter, longer in zip(batches, batches[1:]):
            assert max(shorter) <= min(longer)  # sorted by length: no batch straddles another

    counters = _run(records, FakeEngineHandler(BatchingConfig(max_batch_size=cap, max_batch_weight=budget)), check)
    ours = counters["batch_padding_slots"] / counters["batch_prompt_slots"]
    in_arrival_order = [LENGTHS[i:i + cap] for i in range(0, len(LENGTHS), cap)]
    naive = sum(len(b) * max(b) - sum(b) for b in in_arrival_order) / sum(len(b) * max(b) for b in in_arrival_order)
    assert ours < naive / 3


def test_padding_counters_are_exact_for_one_batch():
    records = [_record(0, 3), _record(1, 5), _record(2, 5)]
    counters = _run(records, FakeEngineHandler(BatchingConfig(max_batch_size=8, max_batch_weight=10_000)),
                    lambda results: None)
    assert counters["batch_prompt_slots"] == 3 * 5
    assert counters["batch_padding_slots"] == 2
    assert counters["batches_fake"] == 1


def test_a_failing_batch_is_halved_down_to_the_record_that_fails_alone():
    # One batch of 8; batches above 2 rows fail "out of memory"; r5 fails in any batch.
    records = [_record(i, 4, first_token=POISON if i == 5 else 1) for i in range(8)]

    def check(results):
        by_id = {r.example.id: r.inference for r in results}
        assert len(by_id) == 8  # count in = count out; the failure travels as a value
        failure = by_id.pop("r5")
        assert isinstance(failure, InferenceFailure) and failure.reason == "inference_error"
        assert "poisoned record" in failure.detail
        assert all(isinstance(g, Generation) for g in by_id.values())
        assert {g.text for g in by_id.values()} == {"[4, 4]", "[4]"}  # r4 ran alone after its pair failed

    counters = _run(records, FakeEngineHandler(BatchingConfig(max_batch_size=8, max_batch_weight=10_000),
                                               max_rows=2), check)
    assert counters["batch_splits"] == 4  # 8 → 4+4 → 2+2+2+2 → (r4, r5) → 1+1
    assert counters["inference_failures"] == 1


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint) -> str:
    return str(tiny_checkpoint)


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory) -> str:
    """A checkpoint with the same tokenizer and shape as ``tiny`` but other random weights."""
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("other") / "model", seed=7))


def _forward_calls(model, prompts: list[list[int]], max_new_tokens: int, tokenizer) -> tuple[list[Generation], int]:
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        generations = generate_batch(model, tokenizer, prompts, max_new_tokens)
    finally:
        handle.remove()
    return generations, len(calls)


def _prefill_calls(prompts: list[list[int]]) -> int:
    """Forward calls of the prefill: one per group of similar length (model/decode.py prefill_groups)."""
    groups = len(prefill_groups([len(p) for p in prompts], DecodeConfig().prefill_padding))
    assert groups > 1  # the prompts' lengths differ enough to need more than one prefill group
    return groups


@pytest.mark.parametrize("stop", ["<|endoftext|>", "<END>"])
def test_a_batch_stops_after_the_step_where_every_row_ended(tiny, stop):
    tokenizer = load_engine(tiny).tokenizer
    prompts = _prompts(tokenizer, 4)
    generations, calls = _forward_calls(_always_emits(tiny, tokenizer.convert_tokens_to_ids(stop)), prompts,
                                        max_new_tokens=30, tokenizer=tokenizer)
    assert calls == _prefill_calls(prompts)  # the prefill produced the stop token for every row: no decode step
    assert all(g.output_tokens == 1 and not g.hit_limit for g in generations)


def test_a_batch_that_never_stops_runs_exactly_max_new_tokens_steps(tiny):
    tokenizer = load_engine(tiny).tokenizer
    # an ordinary word: the tag grammar would ban a repeated tag and let the row end early
    model = _always_emits(tiny, tokenizer.encode(" KEYSTONE", add_special_tokens=False)[0])
    prompts = _prompts(tokenizer, 4)
    generations, calls = _forward_calls(model, prompts, max_new_tokens=7, tokenizer=tokenizer)
    assert calls == _prefill_calls(prompts) + 6  # KV cache: one forward per new token after the prefill's
    assert all(g.hit_limit for g in generations)


def test_verify_accepts_deepspeed_on_cpu_because_it_matches_hf(tiny):
    engine = load_verified_engine(tiny, EngineConfig(engine="deepspeed", device="cpu"), 12, "refuse")
    assert engine.name == "deepspeed"
    hf = load_engine(tiny, EngineConfig(engine="hf", device="cpu"))
    prompts = _prompts(hf.tokenizer, 5)
    assert engine.generate(prompts, 12) == hf.generate(prompts, 12)


def test_verify_of_the_hf_engine_is_a_no_op(tiny):
    assert load_verified_engine(tiny, EngineConfig(), 12, "refuse").name == "hf"


def _another_model(other: str):
    return lambda _model, _config: load_model(other)


def _raises_in_forward(wrapped, _config):
    """As GPT-J kernel injection did on a GPU with transformers 5."""
    def forward(*_args, **_kwargs):
        raise AttributeError("'tuple' object has no attribute 'size'")
    wrapped.forward = forward
    return wrapped


BROKEN_ENGINES = {
    "answers_differently": r"deepspeed engine's greedy output differs from the hf engine on \d of 8 probe prompts",
    "raises": r"deepspeed engine failed on the probe batch \(AttributeError: 'tuple' object has no attribute 'size'\)",
}


@pytest.fixture(params=sorted(BROKEN_ENGINES))
def broken_deepspeed(request, other_weights, monkeypatch) -> str:
    """Make the 'deepspeed' wrapping deliberately wrong (other weights, or a forward pass that raises);
    the value is the refusal message expected."""
    wrap = _another_model(other_weights) if request.param == "answers_differently" else _raises_in_forward
    monkeypatch.setattr(model.verify, "deepspeed_module", wrap)
    return BROKEN_ENGINES[request.param]


@pytest.fixture
def deepspeed_loads_another_model(other_weights, monkeypatch):
    monkeypatch.setattr(model.verify, "deepspeed_module", _another_model(other_weights))


def test_verify_refuses_a_broken_engine(tiny, broken_deepspeed):
    with pytest.raises(EngineMismatchError, match=broken_deepspeed + ".*--engine_check fallback"):
        load_verified_engine(tiny, EngineConfig(engine="deepspeed"), 12, "refuse")


def test_verify_falls_back_to_hf_from_a_broken_engine_when_asked(tiny, broken_deepspeed):
    engine = load_verified_engine(tiny, EngineConfig(engine="deepspeed"), 12, "fallback")
    hf = load_engine(tiny)
    prompts = _prompts(hf.tokenizer, 3)
    assert engine.name == "hf" and engine.generate(prompts, 12) == hf.generate(prompts, 12)


def _input(folder: Path, n: int) -> str:
    rows = [{"id": f"r{i}", "front_ocr": ["1964"] * (i % 3), "back_ocr": ["KEYSTONE PRESS"] * (1 + i * i % 9),
             "language": "en"} for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), folder / "in.parquet")
    return str(folder / "in.parquet")


def test_the_job_verifies_deepspeed_and_reports_padding(tiny, tmp_path):
    manifest = run(["--input", _input(tmp_path, 12), "--output", str(tmp_path / "out"), "--model", tiny,
                    "--engine", "deepspeed", "--engine_check", "refuse", "--max_batch_weight", "200"])
    assert manifest.records_written == 12 and manifest.count_invariant_holds
    assert manifest.extra["batches_by_engine"]["deepspeed"] >= 3  # 12 records under a 200-token budget
    assert 0.0 <= manifest.extra["padding_fraction"] < 0.2
    saved = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert saved["extra"]["padding_fraction"] == manifest.extra["padding_fraction"]
    assert "of prompt slots" in format_summary(manifest)


def test_the_job_stops_when_the_engine_fails_verification(tiny, tmp_path, deepspeed_loads_another_model):
    with pytest.raises(EngineMismatchError, match=BROKEN_ENGINES["answers_differently"]):
        run(["--input", _input(tmp_path, 3), "--output", str(tmp_path / "out"), "--model", tiny,
             "--engine", "deepspeed", "--engine_check", "refuse"])
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_kernel_injection_is_opt_in(tiny, tmp_path):
    """Off by default: GPT-J injection fails under transformers 5 with deepspeed 0.19.8 (seen on an H200)."""
    argv = ["--input", _input(tmp_path, 1), "--output", str(tmp_path / "out"), "--model", tiny, "--engine", "deepspeed"]
    assert plan_job(BackstampOptions(argv), check_storage=False).engine.kernel_inject is False
    assert plan_job(BackstampOptions(argv + ["--kernel_inject"]), check_storage=False).engine.kernel_inject is True


@pytest.mark.parametrize("removed, replacement", [("--verify_engine", "--engine_check refuse"),
                                                  ("--engine_fallback", "--engine_check fallback")])
def test_a_removed_engine_flag_stops_the_job_and_names_its_replacement(removed, replacement, capsys):
    """Beam drops unknown flags with a warning; a dropped check flag would run an unchecked engine."""
    with pytest.raises(SystemExit):
        BackstampOptions(["--engine", "deepspeed", removed]).engine_check
    assert f"{removed} was removed; use {replacement}" in capsys.readouterr().err
