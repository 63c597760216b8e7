"""CPU throughput of the model loop: (a) one record per call, (b) 32 per call in arrival order, (c) ours.

Same records, same engine, same greedy decoding; only the batching differs. Writes
``bench/results/throughput.{json,md}`` with records/s, new tokens/s, padding fraction and
per-record output parity, plus a sweep of (c) over token budgets for ``bench/plot.py``.

    python -m bench.throughput --model data/models/demo-gptj --n 2000
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from bench.common import (fixed_count, length_stats, markdown_table, one_per_call, prompted, run_plan,
                          synthetic_records, token_batches, write_results)
from model.checkpoint import model_version, read_metadata, resolve_checkpoint
from model.engines import EngineConfig, load_engine
from pipeline.batching import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_WEIGHT
from pipeline.inference import BatchingConfig
from pipeline.job import DEFAULT_MAX_NEW_TOKENS

COLUMNS = ["strategy", "records", "batches", "seconds", "records_per_s", "new_tokens_per_s", "padding_fraction",
           "speedup_vs_a", "outputs_equal_to_a"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--sweep_n", type=int, default=400, help="records for the token-budget sweep")
    parser.add_argument("--budgets", default="512,1024,2048,4096,8192,16384")
    parser.add_argument("--torch_threads", type=int, default=None)
    parser.add_argument("--name", default="throughput", help="results file stem under bench/results/")
    args = parser.parse_args(argv)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint).get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    engine = load_engine(EngineConfig(checkpoint=checkpoint, device="cpu", torch_threads=args.torch_threads))
    prompt_budget = engine.model.config.n_positions - max_new_tokens
    with tempfile.TemporaryDirectory() as folder:
        records = prompted(synthetic_records(args.n, args.seed, Path(folder)), checkpoint, prompt_budget)

    batching = BatchingConfig()
    plans = {"a_one_per_call": one_per_call(records), "b_fixed_32": fixed_count(records, 32),
             "c_ours": token_batches(records, batching, max_new_tokens)}
    engine.generate([records[0].input_ids], max_new_tokens)  # warm-up, untimed
    results, outputs = {}, {}
    for name, plan in plans.items():
        results[name], outputs[name] = run_plan(name, plan, engine, max_new_tokens)
        print(results[name], flush=True)
    rows = []
    for name, result in results.items():
        same = sum(outputs[name][i] == outputs["a_one_per_call"][i] for i in outputs[name])
        rows.append({**dataclasses.asdict(result), "outputs_equal_to_a": f"{same}/{result.records}",
                     "speedup_vs_a": round(result.records_per_s / results["a_one_per_call"].records_per_s, 2)})

    sweep_records = records[: args.sweep_n]
    sweep = []
    for budget in [int(b) for b in args.budgets.split(",")]:
        config = dataclasses.replace(batching, max_batch_weight=budget, max_batch_size=10_000)
        result, _ = run_plan(f"budget_{budget}", token_batches(sweep_records, config, max_new_tokens), engine,
                             max_new_tokens)
        sweep.append({"budget": budget, **dataclasses.asdict(result)})
        print(sweep[-1], flush=True)
    for name, plan_of in (("a_one_per_call", one_per_call), ("b_fixed_32", lambda r: fixed_count(r, 32))):
        result, _ = run_plan(name, plan_of(sweep_records), engine, max_new_tokens)
        sweep.append({"budget": None, **dataclasses.asdict(result)})

    meta = {"model": args.model, "model_version": model_version(checkpoint), "n": len(records), "seed": args.seed,
            "max_new_tokens": max_new_tokens, "prompt_tokens": length_stats(records),
            "batching_c": {"max_batch_weight": DEFAULT_MAX_BATCH_WEIGHT, "max_batch_size": DEFAULT_MAX_BATCH_SIZE},
            "machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                        "torch": torch.__version__}}
    table = (f"Model loop on CPU, {len(records)} records, {meta['machine']['torch_threads']} torch threads, "
             f"max_new_tokens {max_new_tokens}, prompt tokens {json.dumps(meta['prompt_tokens'])}\n\n"
             + markdown_table(rows, COLUMNS)
             + f"\n\nToken-budget sweep of (c) on the first {len(sweep_records)} records (max_batch_size unbounded)\n\n"
             + markdown_table([{**s, "budget": s["budget"] or s["strategy"]} for s in sweep],
                              ["budget", "batches", "records_per_s", "new_tokens_per_s", "padding_fraction"]))
    write_results(args.name, {"meta": meta, "results": rows, "sweep": sweep}, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
