"""``python -m pipeline review --run OUT --to FILE.parquet [--input GLOB | --without_ocr]``: the review queue
(SPEC §5b) as Parquet, built by ``formats.queue`` (which says how the OCR is joined and the order)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import fsspec
import pyarrow.parquet as pq

from formats.queue import CHANGED, NOT_FOUND, ReviewError, build_queue, lowest_confidence

__all__ = ["add_source_arguments", "build_queue", "lowest_confidence", "main"]


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """``--run``, ``--input`` and ``--without_ocr``, shared with ``pipeline report``."""
    parser.add_argument("--run", required=True, help="a run's --output folder (records/, manifest.json)")
    ocr = parser.add_mutually_exclusive_group()
    ocr.add_argument("--input", metavar="GLOB",
                     help="the run's input Parquet, to join the OCR by id (default: the input named in the "
                          "run's manifest.json)")
    ocr.add_argument("--without_ocr", action="store_true", help="leave the OCR out")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline review`` (``argv`` are the arguments after ``review``)."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline review",
        description="Write the review queue of a run: the records with needs_review, lowest confidence first, "
                    "with the OCR lines each field's <field>_source points into.")
    add_source_arguments(parser)
    parser.add_argument("--to", required=True, metavar="FILE.parquet", help="where to write the queue")
    args = parser.parse_args(argv)
    try:
        run, queue = build_queue(args.run, args.input, not args.without_ocr)
    except ReviewError as error:
        print(f"review: {error}", file=sys.stderr)
        return 2
    with fsspec.open(args.to, "wb") as handle:
        pq.write_table(queue, handle)
    print(f"{queue.num_rows} of {run.records.num_rows} records need review; queue written to {args.to} "
          "(lowest confidence first)")
    if "ocr_status" in queue.column_names:
        statuses = queue.column("ocr_status").to_pylist()
        if statuses.count(NOT_FOUND):
            print(f"review: the OCR of {statuses.count(NOT_FOUND)} records was not found in the input",
                  file=sys.stderr)
        if statuses.count(CHANGED):
            print(f"review: the input OCR of {statuses.count(CHANGED)} records changed since the run "
                  f"(ocr_status {CHANGED!r}): their fields were generated from other OCR than the lines shown",
                  file=sys.stderr)
    return 0
