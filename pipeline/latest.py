"""``python -m pipeline latest --output PREFIX --to PATH``: one row per id, from the newest committed run.

Downstream consumers want the catalogue as it stands, not a pile of nights. A Beam job
(so it scales out like the backfill itself) reads the records of every committed
partition (those with a manifest; a half-written night is invisible), keeps per id the
row of the newest run — by ``run_date``, then ``processed_at`` — and writes Parquet
shards ``PATH/part-*.parquet``. Partitions may carry different input columns; the
output has their union, null where a night lacked one.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.backfill import committed_partitions, normalise_prefix
from pipeline.footers import count_parquet_rows, read_footer
from pipeline.preflight import InputError

_RUN_DATE = re.compile(r"run_date=(\d{4}-\d{2}-\d{2})")

Ranked = tuple[str, Any, dict[str, Any]]  # (run_date, processed_at, row)


def _rank(path_and_row: tuple[str, dict[str, Any]]) -> tuple[str, Ranked]:
    path, row = path_and_row
    run_date = _RUN_DATE.findall(path)[-1]  # the partition's, even if PREFIX itself says run_date=
    return row["id"], (run_date, row["processed_at"], row)


def newest(candidates: Sequence[Ranked]) -> Ranked:
    """The row of the newest run; associative and commutative, so Beam may combine it in any order."""
    return max(candidates, key=lambda ranked: (ranked[0], ranked[1]))


def _schema(files: Sequence[str]) -> pa.Schema:
    return pa.unify_schemas([read_footer(path).schema for path in files])


def compact(prefix: str, to: str, pipeline_options: PipelineOptions) -> tuple[int, int, int]:
    """Write the newest row per id of ``prefix`` under ``to``; return (partitions, rows read, rows written)."""
    prefix = normalise_prefix(prefix)
    to = normalise_prefix(to)
    partitions = committed_partitions(prefix)
    if not partitions:
        raise InputError(f"{prefix}: no committed partition (run_date=*/manifest.json)")
    if FileSystems.match([FileSystems.join(to, "*.parquet")])[0].metadata_list:
        raise InputError(f"{to}: already holds Parquet files; choose a new --to")
    patterns = [FileSystems.join(p.path, "records", "*.parquet") for p in partitions]
    # One file per partition is enough: all files of one run share its schema.
    firsts = [matched.metadata_list[0].path for matched in FileSystems.match(patterns) if matched.metadata_list]
    schema = _schema(firsts)
    names = schema.names
    with beam.Pipeline(options=pipeline_options) as pipeline:
        _ = (
            pipeline
            | "Partitions" >> beam.Create(patterns)
            | "ReadRecords" >> ReadAllFromParquet(with_filename=True)
            | "KeyById" >> beam.Map(_rank)
            | "NewestPerId" >> beam.CombinePerKey(newest)
            | "Row" >> beam.Map(lambda keyed: {name: keyed[1][2].get(name) for name in names})
            | "Write" >> beam.io.WriteToParquet(FileSystems.join(to, "part"), schema, file_name_suffix=".parquet")
        )
    return (len(partitions), sum(count_parquet_rows(pattern) for pattern in patterns),
            count_parquet_rows(FileSystems.join(to, "*.parquet")))


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline latest",
        description="Compact the committed partitions of a backfill PREFIX to one row per id (the newest run).",
        epilog="Other options are Beam's (--runner, --project, ...) and pass through.")
    parser.add_argument("--output", required=True, help="The backfill PREFIX (local or gs://).")
    parser.add_argument("--to", required=True, help="Folder to write part-*.parquet into; must hold none yet.")
    known, beam_args = parser.parse_known_args(list(argv))
    try:
        partitions, rows_read, rows_written = compact(known.output, known.to, PipelineOptions(beam_args))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"latest: {partitions} committed partition(s), {rows_read} rows → {rows_written} ids in {known.to}")
    return 0
