"""(d) The whole job on DirectRunner, Parquet in to Parquet out, against the bare model loop of (c).

Both process the same records with the same engine and the same token-budget batches; the
difference is what Beam, Parquet I/O, validation, prompting, parsing and model loading cost.
Each repeat runs the job and then the loop, so slow spells of the machine hit both; the table
gives every repeat and the medians. Writes ``bench/results/pipeline_overhead.{json,md}``.

    python -m bench.pipeline_overhead --model data/models/demo-gptj --n 2000 --repeats 3
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from bench.common import job_prompt_budget, prompted, run_plan, synthetic_records, token_batches
from bench.report import markdown_table, write_results
from model.checkpoint import read_metadata, resolve_checkpoint
from model.engines import EngineConfig, load_engine
from pipeline.batching import BatchingConfig
from pipeline.job import DEFAULT_MAX_NEW_TOKENS, run

COLUMNS = ["repeat", "records", "job_wall_s", "model_loop_s", "overhead_fraction", "job_records_per_s",
           "loop_records_per_s", "job_padding_fraction", "loop_padding_fraction", "count_invariant"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint).get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        records_parquet = synthetic_records(args.n, args.seed, Path(folder))
        engine = load_engine(checkpoint, EngineConfig(device="cpu"))
        records = prompted(records_parquet, checkpoint, job_prompt_budget(checkpoint, max_new_tokens))
        plan = token_batches(records, BatchingConfig(), max_new_tokens)
        for repeat in range(args.repeats):
            manifest = run(["--input", str(records_parquet), "--output", f"{folder}/out{repeat}",
                            "--model", checkpoint, "--device", "cpu"])
            loop, _ = run_plan("c_ours", plan, engine, max_new_tokens)
            rows.append({"repeat": repeat, "records": manifest.records_read, "job_wall_s": manifest.wall_seconds,
                         "model_loop_s": loop.seconds,
                         "overhead_fraction": round(1 - loop.seconds / manifest.wall_seconds, 3),
                         "job_records_per_s": round(manifest.records_read / manifest.wall_seconds, 2),
                         "loop_records_per_s": loop.records_per_s,
                         "job_padding_fraction": manifest.extra["padding_fraction"],
                         "loop_padding_fraction": loop.padding_fraction,
                         "count_invariant": manifest.count_invariant_holds})
            print(rows[-1], flush=True)
    median = {"repeat": "median", "records": rows[0]["records"]}
    for column in COLUMNS[2:-1]:
        median[column] = round(statistics.median(row[column] for row in rows), 3)
    median["count_invariant"] = all(row["count_invariant"] for row in rows)
    machine = {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
               "torch": torch.__version__}
    table = (f"Whole job (DirectRunner, Parquet in/out, model load included) vs the model loop of (c), "
             f"{args.n} heavy-tailed records, {args.repeats} repeats, {machine['torch_threads']} torch threads\n\n"
             + markdown_table(rows + [median], COLUMNS))
    write_results("pipeline_overhead", {"model": args.model, "machine": machine, "repeats": rows, "median": median},
                  table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
