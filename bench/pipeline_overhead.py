"""(d) The whole job on DirectRunner, Parquet in to Parquet out, against the bare model loop of (c).

Both process the same records with the same engine and the same token-budget batches; the
difference is what Beam, Parquet I/O, validation, prompting, parsing and model loading cost.
Writes ``bench/results/pipeline_overhead.{json,md}``.

    python -m bench.pipeline_overhead --model data/models/demo-gptj --n 2000
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Sequence

from bench.common import markdown_table, prompted, run_plan, synthetic_records, token_batches, write_results
from model.checkpoint import read_metadata, resolve_checkpoint
from model.engines import EngineConfig, load_engine
from pipeline.inference import BatchingConfig
from pipeline.job import DEFAULT_MAX_NEW_TOKENS, run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint).get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    with tempfile.TemporaryDirectory() as folder:
        records_parquet = synthetic_records(args.n, args.seed, Path(folder))
        manifest = run(["--input", str(records_parquet), "--output", f"{folder}/out", "--model", checkpoint,
                        "--device", "cpu"])
        engine = load_engine(EngineConfig(checkpoint=checkpoint, device="cpu"))
        records = prompted(records_parquet, checkpoint, engine.model.config.n_positions - max_new_tokens)
        loop, _ = run_plan("c_ours", token_batches(records, BatchingConfig(), max_new_tokens), engine,
                           max_new_tokens)
    overhead = 1 - loop.seconds / manifest.wall_seconds
    row = {"records": manifest.records_read, "job_wall_s": manifest.wall_seconds, "model_loop_s": loop.seconds,
           "overhead_fraction": round(overhead, 3), "job_records_per_s": round(args.n / manifest.wall_seconds, 2),
           "loop_records_per_s": loop.records_per_s, "job_padding_fraction": manifest.extra["padding_fraction"],
           "loop_padding_fraction": loop.padding_fraction, "count_invariant": manifest.count_invariant_holds}
    table = markdown_table([row], list(row))
    write_results("pipeline_overhead", {"model": args.model, "result": row}, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
