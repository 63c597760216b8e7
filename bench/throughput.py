"""CPU throughput of the model loop: (a) one record per call, (b) 32 per call in arrival order, (c) ours.

Same records, same engine, same greedy decoding; only the batching differs. The records are
cut into ``--trials`` consecutive chunks; each chunk runs all three strategies back to back (the
order rotates from chunk to chunk so drift in the machine's speed falls on all of them), which
gives one records/s figure per strategy per chunk: the table reports the median and range of
those and the totals over all records. Writes ``bench/results/throughput.{json,md}`` with
records/s, new tokens/s, padding fraction and per-record output parity, plus a sweep of (c)
over token budgets on the first chunk for ``bench/plot.py``.

    python -m bench.throughput --model data/models/demo-gptj --n 2000 --trials 5
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import torch

from bench.common import (LoopResult, Plan, chunks_of, fixed_count, interleaved, job_prompt_budget, length_stats,
                          one_per_call, prompted, run_plan, synthetic_records, token_batches)
from bench.report import markdown_table, write_results
from model.checkpoint import model_version, read_metadata, resolve_checkpoint
from model.engines import EngineConfig, load_engine
from pipeline.batching import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_WEIGHT, BatchingConfig
from formats.elements import PromptedRecord
from pipeline.job import DEFAULT_MAX_NEW_TOKENS

COLUMNS = ["strategy", "records", "batches", "seconds", "records_per_s", "median_records_per_s", "range_records_per_s",
           "new_tokens_per_s", "padding_fraction", "speedup_vs_a", "median_speedup_vs_a", "speedup_vs_b",
           "median_speedup_vs_b", "outputs_equal_to_a"]


def strategies(batching: BatchingConfig, max_new_tokens: int) -> dict[str, Callable[[Sequence[PromptedRecord]], Plan]]:
    return {"a_one_per_call": one_per_call, "b_fixed_32": lambda records: fixed_count(records, 32),
            "c_ours": lambda records: token_batches(records, batching, max_new_tokens)}


def summarise(name: str, trials: list[LoopResult], baselines: dict[str, list[LoopResult]], same: int) -> dict:
    """Totals over all chunks, plus the median (and range) of the per-chunk figures."""
    seconds = sum(t.seconds for t in trials)
    records = sum(t.records for t in trials)
    row = {"strategy": name, "records": records, "batches": sum(t.batches for t in trials),
           "seconds": round(seconds, 1), "records_per_s": round(records / seconds, 3),
           "median_records_per_s": round(statistics.median(t.records_per_s for t in trials), 3),
           "range_records_per_s": f"{min(t.records_per_s for t in trials):.2f}–{max(t.records_per_s for t in trials):.2f}",
           "new_tokens_per_s": round(sum(t.new_tokens for t in trials) / seconds, 1),
           "padding_fraction": round(sum(t.padding_slots for t in trials) / sum(t.prompt_slots for t in trials), 4), "outputs_equal_to_a": f"{same}/{records}"}
    for key, base in (("a", baselines["a_one_per_call"]), ("b", baselines["b_fixed_32"])):
        row[f"speedup_vs_{key}"] = round(row["records_per_s"] / (sum(t.records for t in base) /
                                                                  sum(t.seconds for t in base)), 2)
        row[f"median_speedup_vs_{key}"] = round(statistics.median(
            t.records_per_s / b.records_per_s for t, b in zip(trials, base)), 2)
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=5, help="consecutive chunks of the records, one figure each")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--budgets", default="512,1024,2048,4096,8192,16384",
                        help="token budgets swept for (c) on the first chunk")
    parser.add_argument("--torch_threads", type=int, default=None)
    parser.add_argument("--name", default="throughput", help="results file stem under bench/results/")
    args = parser.parse_args(argv)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint).get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    engine = load_engine(checkpoint, EngineConfig(device="cpu", torch_threads=args.torch_threads))
    prompt_budget = job_prompt_budget(checkpoint, max_new_tokens)
    with tempfile.TemporaryDirectory() as folder:
        records = prompted(synthetic_records(args.n, args.seed, Path(folder)), checkpoint, prompt_budget)
    chunks = chunks_of(records, args.trials)

    batching = BatchingConfig()
    plan_of = strategies(batching, max_new_tokens)
    names = list(plan_of)
    engine.generate([records[0].input_ids], max_new_tokens)  # warm-up, untimed
    runs = {name: (lambda index, plan=plan: (plan(chunks[index]), engine)) for name, plan in plan_of.items()}
    trials, outputs = interleaved(len(chunks), runs, max_new_tokens)
    rows = []
    for name in names:
        same = sum(outputs[name][i] == outputs["a_one_per_call"][i] for i in outputs[name])
        rows.append(summarise(name, trials[name], trials, same))

    sweep = []
    for budget in [int(b) for b in args.budgets.split(",")]:
        config = dataclasses.replace(batching, max_batch_weight=budget, max_batch_size=10_000)
        result, _ = run_plan(f"budget_{budget}", token_batches(chunks[0], config, max_new_tokens), engine,
                             max_new_tokens)
        sweep.append({"budget": budget, **dataclasses.asdict(result)})
        print(sweep[-1], flush=True)
    # (a) and (b) on the same first chunk, from the main run, as the plot's reference lines.
    sweep += [{"budget": None, **dataclasses.asdict(trials[name][0])} for name in names[:2]]

    meta = {"model": args.model, "model_version": model_version(checkpoint), "n": len(records), "seed": args.seed,
            "trials": len(chunks), "max_new_tokens": max_new_tokens, "prompt_tokens": length_stats(records),
            "batching_c": {"max_batch_weight": DEFAULT_MAX_BATCH_WEIGHT, "max_batch_size": DEFAULT_MAX_BATCH_SIZE},
            "machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                        "torch": torch.__version__},
            "per_chunk": {name: [dataclasses.asdict(t) for t in trials[name]] for name in names}}
    table = (f"Model loop on CPU, {len(records)} records in {len(chunks)} chunks of {len(chunks[0])}, "
             f"{meta['machine']['torch_threads']} torch threads, max_new_tokens {max_new_tokens}, "
             f"prompt tokens {json.dumps(meta['prompt_tokens'])}. records_per_s and speedups: over all records; "
             f"median_*: median of the per-chunk figures.\n\n"
             + markdown_table(rows, COLUMNS)
             + f"\n\nToken-budget sweep of (c) on the first chunk ({len(chunks[0])} records, max_batch_size "
               f"unbounded); (a) and (b) on the same chunk for reference\n\n"
             + markdown_table([{**s, "budget": s["budget"] or s["strategy"]} for s in sweep],
                              ["budget", "batches", "records_per_s", "new_tokens_per_s", "padding_fraction"]))
    write_results(args.name, {"meta": meta, "results": rows, "sweep": sweep}, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
