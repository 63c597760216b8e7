"""CPU side by side of the decode paths (model/decode.py): eager, static cache, static cache with buckets.

Same model, same records, same batches (Beam's ``SortAndBatchElements`` with the job's
defaults), same greedy decoding with the job's processors; only the decode path differs:

* ``eager``: transformers' default loop (dynamic KV cache) — ``--decode eager``;
* ``static``: a static KV cache sized to the batch, no bucket padding;
* ``compiled``: what ``--decode compiled`` runs on this machine: static cache, batch and width
  padded to buckets; transformers does not compile on CPU, so no graph is compiled;
* ``inductor`` (``--inductor``): the same, really compiled by inductor for the CPU.

Two record sets: the bundled sample (data/sample) and heavy-tailed synthetic bench records
(bench/common.py). Each set is cut into chunks; every chunk runs every path back to back, the
order rotating from chunk to chunk, so drift in the machine's speed falls on all of them.
Reports records/s and new tokens/s (total, and median of the chunks), outputs equal to eager
(token for token) and the largest log-probability difference. Writes
``bench/results/decode_cpu.{json,md}``.

    python -m bench.decode --model data/models/demo-gptj --n 400 --trials 4
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from bench.common import cpu_machine, engines_side_by_side, job_prompt_budget, length_stats, prompted, synthetic_records
from bench.gpu_check import compiled_graphs
from bench.report import markdown_table, write_results
from model.checkpoint import model_version, read_metadata, resolve_checkpoint
from model.config import EngineConfig
from model.decode import DecodeConfig, Decoder
from model.engines import Engine, load_engine
from model.generation import Generation
from pipeline.batching import BatchingConfig
from pipeline.job import DEFAULT_MAX_NEW_TOKENS

SAMPLE = "data/sample/records.parquet"
COLUMNS = ["records", "path", "n", "batches", "seconds", "records_per_s", "median_records_per_s", "range_records_per_s",
           "new_tokens_per_s", "vs_eager", "outputs_equal_to_eager", "max_logprob_diff", "compiled_graphs"]


def paths(inductor: bool) -> dict[str, DecodeConfig]:
    configs = {"eager": DecodeConfig(mode="eager"),
               "static": DecodeConfig(mode="compiled", batch_buckets=(), width_buckets=()),
               "compiled": DecodeConfig(mode="compiled")}
    if inductor:
        configs["inductor"] = DecodeConfig(mode="compiled", compile_on_cpu=True)
    return configs


def largest_logprob_difference(a: dict[str, Generation], b: dict[str, Generation]) -> float:
    """Over tokens both generated alike (rows equal to eager), the largest |log p| difference."""
    return max((abs(x - y) for key in a if a[key] == b[key]
                for x, y in zip(a[key].token_logprobs, b[key].token_logprobs)), default=0.0)


def side_by_side(label: str, records, engines: dict[str, Engine], trials: int, max_new_tokens: int) -> list[dict]:
    results, outputs = engines_side_by_side(records, engines, trials, max_new_tokens, label)
    eager_rate = sum(t.records for t in results["eager"]) / sum(t.seconds for t in results["eager"])
    rows = []
    for name in engines:
        trials_of = results[name]
        seconds = sum(t.seconds for t in trials_of)
        count = sum(t.records for t in trials_of)
        same = sum(outputs[name][key] == outputs["eager"][key] for key in outputs[name])
        rows.append({"records": label, "path": name, "n": count, "batches": sum(t.batches for t in trials_of),
                     "seconds": round(seconds, 1), "records_per_s": round(count / seconds, 3),
                     "median_records_per_s": round(statistics.median(t.records_per_s for t in trials_of), 3),
                     "range_records_per_s": f"{min(t.records_per_s for t in trials_of):.2f}–"
                                            f"{max(t.records_per_s for t in trials_of):.2f}",
                     "new_tokens_per_s": round(sum(t.new_tokens for t in trials_of) / seconds, 1),
                     "vs_eager": round(count / seconds / eager_rate, 3),
                     "outputs_equal_to_eager": f"{same}/{count}",
                     "max_logprob_diff": f"{largest_logprob_difference(outputs['eager'], outputs[name]):.2e}",
                     "per_chunk_records_per_s": [t.records_per_s for t in trials_of]})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--n", type=int, default=400, help="heavy-tailed synthetic bench records")
    parser.add_argument("--sample", type=int, default=250, help="records of the bundled sample (it holds 250)")
    parser.add_argument("--trials", type=int, default=4, help="chunks per record set, one figure each")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--torch_threads", type=int, default=None)
    parser.add_argument("--inductor", action="store_true", help="also compile the decode step for the CPU")
    parser.add_argument("--name", default="decode_cpu", help="results file stem under bench/results/")
    args = parser.parse_args(argv)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint).get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    base = load_engine(checkpoint, EngineConfig(device="cpu", decode="eager", torch_threads=args.torch_threads))
    engines = {name: Engine("hf", base.model, base.tokenizer, Decoder(config, base.model))
               for name, config in paths(args.inductor).items()}
    prompt_budget = job_prompt_budget(checkpoint, max_new_tokens)
    sample = prompted(Path(SAMPLE), checkpoint, prompt_budget)[:args.sample]
    with tempfile.TemporaryDirectory() as folder:
        bench = prompted(synthetic_records(args.n, args.seed, Path(folder)), checkpoint, prompt_budget)
    for engine in engines.values():  # untimed warm-up (and, for inductor, the first compiles)
        engine.generate([r.input_ids for r in sample[:2]], max_new_tokens)

    rows = []
    for label, records in (("sample", sample), ("bench", bench)):
        start_graphs = compiled_graphs()
        rows += side_by_side(label, records, engines, args.trials, max_new_tokens)
        rows[-1]["compiled_graphs"] = compiled_graphs() - start_graphs
    meta = {"model": args.model, "model_version": model_version(checkpoint), "max_new_tokens": max_new_tokens,
            "sample_prompt_tokens": length_stats(sample), "bench_prompt_tokens": length_stats(bench),
            "bench_seed": args.seed, "trials": args.trials, "batching": dataclasses.asdict(BatchingConfig()),
            "machine": cpu_machine()}
    table = (f"Decode paths on CPU ({meta['machine']['cpu']}, {meta['machine']['torch_threads']} torch threads, "
             f"torch {torch.__version__}, load average at the end {meta['machine']['load_average_at_end'][0]:.1f}); "
             f"model {args.model} ({meta['model_version']}), max_new_tokens {max_new_tokens}, the job's batches "
             f"(token budget {BatchingConfig().max_batch_weight}). {args.trials} chunks per record set, paths "
             f"interleaved; median_*: median of the chunks. Sample prompt tokens {meta['sample_prompt_tokens']}; "
             f"bench {meta['bench_prompt_tokens']}.\n\n"
             + markdown_table(rows, COLUMNS))
    write_results(args.name, {"meta": meta, "results": rows}, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
