"""The compiled decode path (model/decode.py): same greedy outputs as eager, bounded shapes, and the job's guards kept.

On CPU ``--decode compiled`` runs the static KV cache with bucket padding (transformers
compiles only on accelerators), so these tests pin down everything but the compiler itself:
bench/gpu_check.sh checks that on a GPU, and its ``--tiny`` mode runs here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.common import prompted, synthetic_records
from model.checkpoint import read_metadata
from model.config import EngineConfig
from model.decode import DecodeConfig, Decoder, bucket
from model.engines import Engine, load_engine
from model.generation import left_pad
from model.verify import EngineMismatchError, load_verified_engine

ROOT = Path(__file__).resolve().parent.parent
DEMO = str(ROOT / "data" / "models" / "demo-gptj")
SAMPLE = ROOT / "data" / "sample" / "records.parquet"


@pytest.fixture(scope="module")
def demo() -> Engine:
    return load_engine(DEMO, EngineConfig(device="cpu", decode="eager", torch_threads=1))


@pytest.fixture(scope="module")
def demo_budget(demo) -> tuple[int, int]:
    max_new_tokens = read_metadata(DEMO)["max_new_tokens"]
    return max_new_tokens, demo.model.config.n_positions - max_new_tokens


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


def generate_all(engine: Engine, batches, max_new_tokens: int):
    return [g for batch in batches for g in engine.generate([r.input_ids for r in batch], max_new_tokens)]


def assert_same_generations(eager, compiled):
    assert compiled == eager  # text, token count, hit_limit, looped: token-for-token greedy equality
    for a, b in zip(eager, compiled):
        assert len(a.token_logprobs) == len(b.token_logprobs)
        assert max((abs(x - y) for x, y in zip(a.token_logprobs, b.token_logprobs)), default=0.0) < 1e-4
        assert [(f.field, len(f.values)) for f in a.fields] == [(f.field, len(f.values)) for f in b.fields]


def test_a_bucket_is_the_smallest_one_that_holds_the_value_and_multiples_of_the_last_beyond():
    assert [bucket(n, (1, 2, 4, 8)) for n in (1, 2, 3, 5, 8, 9, 17)] == [1, 2, 4, 8, 8, 16, 24]
    assert bucket(37, ()) == 37


def test_auto_compiles_on_cuda_only():
    assert DecodeConfig().resolve(torch.device("cpu")) == "eager"
    assert DecodeConfig().resolve(torch.device("cuda")) == "compiled"
    assert DecodeConfig(mode="compiled").resolve(torch.device("cpu")) == "compiled"
    with pytest.raises(ValueError, match="unknown decode mode"):
        DecodeConfig(mode="fast")


def test_padding_to_buckets_adds_copies_of_the_first_row_and_masked_columns_on_the_left(tiny_checkpoint):
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="compiled"))
    ids, mask = left_pad([[5, 6, 7], [8], [9, 9]], pad_id=0)
    padded, padded_mask = engine.decoder.pad(ids, mask, pad_id=0, max_new_tokens=16)
    assert padded.shape == padded_mask.shape == (4, 64)
    assert padded[:3, -3:].tolist() == ids.tolist() and padded[3].tolist() == padded[0].tolist()
    assert padded_mask[:, :61].sum() == 0 and padded_mask[:3, -3:].tolist() == mask.tolist()
    # never wider than the positions leave room for: n_positions 256 - 16 new tokens
    wide, _ = engine.decoder.pad(*left_pad([[1] * 230], pad_id=0), pad_id=0, max_new_tokens=16)
    assert wide.shape == (1, 240)
    eager = Decoder(DecodeConfig(mode="eager"), engine.model)
    assert eager.pad(ids, mask, 0, 16)[0] is ids


def test_compiled_decoding_equals_eager_on_the_bundled_sample(demo, demo_budget):
    max_new_tokens, prompt_budget = demo_budget
    records = prompted(SAMPLE, DEMO, prompt_budget)[:40]
    batches = sorted_batches(records)
    eager = generate_all(demo, batches, max_new_tokens)
    compiled = generate_all(with_decoder(demo, DecodeConfig(mode="compiled")), batches, max_new_tokens)
    assert sum(g.output_tokens for g in eager) > 40 * 10  # real completions, not empty rows
    assert_same_generations(eager, compiled)


def test_compiled_decoding_equals_eager_on_heavy_tailed_bench_records(demo, demo_budget, tmp_path):
    max_new_tokens, prompt_budget = demo_budget
    records = prompted(synthetic_records(30, seed=4, folder=tmp_path), DEMO, prompt_budget)
    assert max(len(r.input_ids) for r in records) > 2 * min(len(r.input_ids) for r in records)
    batches = sorted_batches(records)
    eager = generate_all(demo, batches, max_new_tokens)
    compiled = generate_all(with_decoder(demo, DecodeConfig(mode="compiled")), batches, max_new_tokens)
    assert_same_generations(eager, compiled)


def test_bucket_padding_does_not_change_a_rows_output(tiny_checkpoint):
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="eager"))
    prompts = [[engine.tokenizer.bos_token_id] + list(range(10, 10 + n)) for n in (3, 17, 40)]
    unpadded = with_decoder(engine, DecodeConfig(mode="compiled", batch_buckets=(), width_buckets=()))
    padded = with_decoder(engine, DecodeConfig(mode="compiled", batch_buckets=(8,), width_buckets=(128,)))
    alone = [unpadded.generate([p], 16)[0] for p in prompts]
    assert unpadded.generate(prompts, 16) == alone
    assert padded.generate(prompts, 16) == alone
    assert engine.generate(prompts, 16) == alone


def test_one_static_cache_per_shape_is_reused_and_the_kept_ones_are_bounded(tiny_checkpoint):
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="eager"))
    compiled = with_decoder(engine, DecodeConfig(mode="compiled", kept_caches=2))
    first = compiled.decoder.generate_kwargs(4, 64, 16)["cache"]
    assert compiled.decoder.generate_kwargs(4, 64, 16)["cache"] is first  # same tensors: CUDA graphs stay valid
    for width in (128, 192, 256):
        compiled.decoder.generate_kwargs(4, width, 16)
    assert len(compiled.decoder._caches) == 2
    assert compiled.decoder.generate_kwargs(4, 64, 16)["cache"] is not first


def test_an_out_of_memory_error_frees_the_kept_caches_and_reaches_the_batch_splitter(tiny_checkpoint, monkeypatch):
    engine = load_engine(str(tiny_checkpoint), EngineConfig(device="cpu", decode="compiled"))
    prompts = [[engine.tokenizer.bos_token_id, 11, 12]] * 3
    engine.generate(prompts, 4)
    assert engine.decoder._caches

    def out_of_memory(**kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(engine.model, "generate", out_of_memory)
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
    assert [row["engine"] for row in payload["mix"]] == ["hf", "compiled"]
    assert payload["mix"][1]["rows_equal_to_eager"] == f"{payload['mix'][1]['records']}/{payload['mix'][1]['records']}"
    assert set(payload["continuous_batching"]) == {"fixed", "mix"}
    assert not payload["versions"]["deepspeed"].startswith("unavailable")
    assert (tmp_path / "gpu_check_tiny.md").exists() and (tmp_path / "gpu_check.log").exists()
