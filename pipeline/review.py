"""The review queue (SPEC §5b): the records a person should check, worst first, with their OCR.

``python -m pipeline review --run OUT --to FILE.parquet [--input GLOB | --without_ocr]``

A run's output does not hold the OCR it was made from (the job consumes the OCR columns;
only other input columns are carried), yet a person cannot judge a field without it. The
OCR is therefore joined back by id from the run's input: ``--input GLOB`` when given, else
the input glob the run recorded in ``manifest.json`` (with the id/front/back column names
it recorded). Lines are cleaned as the job cleaned them (``formats.prompt``), so line N of
``back_ocr_lines`` is the line a ``<field>_source`` of ``back:N`` points to. An id that
occurs twice in the input takes its first row.

Order: records whose review fields have the lowest confidence first. A record without any
confidence (unparsed, or looping before any field) comes before all others, since the job
can vouch for nothing in it; ties by more fields to review, then by id.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from formats.evaluate import EXACT_FIELDS, parquet_paths
from formats.prompt import clean_lines, split_ocr
from formats.records import ColumnNames

QUEUE_COLUMNS = ("queue_position", "lowest_confidence")
OCR_COLUMNS = ("back_ocr_lines", "front_ocr_lines", "ocr_found")
REVIEW_COLUMNS = ("needs_review", "review_fields", "review_reasons")


class ReviewError(Exception):
    """A run or input that cannot give a review queue; the message says what to do."""


@dataclass(frozen=True)
class Run:
    """A finished run's output folder: its written records and its manifest (None if absent)."""

    path: str
    records: pa.Table
    manifest: dict[str, Any] | None


def join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


def load_run(path: str) -> Run:
    """Read ``path/records/*.parquet`` and ``path/manifest.json``.

    Raises ReviewError when there are no records or they lack the §5b review columns
    (a run of a job from before field trust has nothing to route).
    """
    try:
        fs, paths = parquet_paths(join(path, "records", "*.parquet"))
    except FileNotFoundError:
        raise ReviewError(f"no records under {join(path, 'records')}: is {path!r} a run's --output folder?") from None
    records = pa.concat_tables([pq.read_table(p, filesystem=fs) for p in paths], promote_options="default")
    missing = [c for c in REVIEW_COLUMNS if c not in records.column_names]
    if missing:
        raise ReviewError(f"the records under {path!r} lack {', '.join(missing)} (SPEC §5b): they were written by "
                          "a job without field trust; rerun them with the current job")
    manifest = None
    manifest_path = join(path, "manifest.json")
    manifest_fs, manifest_file = fsspec.core.url_to_fs(manifest_path)
    if manifest_fs.exists(manifest_file):
        with manifest_fs.open(manifest_file, "r") as handle:
            manifest = json.load(handle)
    return Run(path, records, manifest)


def input_columns(manifest: Mapping[str, Any] | None) -> ColumnNames:
    """The input column names the run used (the manifest records only options that differ from the defaults)."""
    options = (manifest or {}).get("options") or {}
    default = ColumnNames()
    return ColumnNames(id=options.get("id_column", default.id), front=options.get("front_column", default.front),
                       back=options.get("back_column", default.back))


def read_ocr(pattern: str, ids: set[str], columns: ColumnNames = ColumnNames()) -> dict[str, tuple[list[str], list[str]]]:
    """``{id: (back lines, front lines)}`` for the ``ids`` found in the input files of ``pattern``.

    Lines are cleaned as the job cleaned them. A file without an OCR column gives no line
    for that side; the first row of an id wins.
    """
    fs, paths = parquet_paths(pattern)
    wanted = pa.array(sorted(ids), pa.string())
    found: dict[str, tuple[list[str], list[str]]] = {}
    for path in paths:
        names = pq.read_schema(path, filesystem=fs).names
        if columns.id not in names:
            continue
        table = pq.read_table(path, filesystem=fs, columns=[c for c in (columns.id, columns.back, columns.front)
                                                            if c in names])
        ids_column = table.column(columns.id)
        if not pa.types.is_string(ids_column.type):
            ids_column = ids_column.cast(pa.string(), safe=False)
        for row in table.filter(pc.is_in(ids_column, value_set=wanted)).to_pylist():
            record_id = row[columns.id]
            if isinstance(record_id, bytes):
                record_id = record_id.decode("utf-8", errors="replace")
            found.setdefault(record_id, (clean_lines(split_ocr(row.get(columns.back))),
                                         clean_lines(split_ocr(row.get(columns.front)))))
    return found


def ocr_for(run: Run, input_glob: str | None) -> dict[str, tuple[list[str], list[str]]]:
    """The OCR of the run's records that need review, from ``input_glob`` or the manifest's input."""
    pattern = input_glob or (run.manifest or {}).get("input")
    if not pattern:
        raise ReviewError(f"{run.path!r} has no manifest naming its input: pass --input GLOB (or --without_ocr)")
    ids = set(needing_review(run.records).column("id").to_pylist())
    try:
        return read_ocr(pattern, ids, input_columns(run.manifest))
    except (FileNotFoundError, OSError) as error:
        raise ReviewError(f"cannot read the run's input {pattern!r} for the OCR ({error}): "
                          "pass --input GLOB where it is now (or --without_ocr)") from None


def needing_review(records: pa.Table) -> pa.Table:
    return records.filter(pc.fill_null(records.column("needs_review"), False))


def lowest_confidence(row: Mapping[str, Any]) -> float | None:
    """The lowest confidence among the row's review fields, else among all its fields; None when none has one."""
    def lowest(fields: Sequence[str]) -> float | None:
        values = [row.get(f"{field}_confidence") for field in fields]
        values = [v for v in values if v is not None]
        return min(values) if values else None

    review = [f for f in row.get("review_fields") or [] if f in EXACT_FIELDS]
    found = lowest(review)
    return found if found is not None else lowest(EXACT_FIELDS)


def review_queue(records: pa.Table, ocr: Mapping[str, tuple[list[str], list[str]]] | None) -> pa.Table:
    """The records needing review, worst first, with ``queue_position`` (from 1), ``lowest_confidence``
    and, when ``ocr`` is given, the cleaned OCR lines of each side and whether the id was found."""
    queue = needing_review(records)
    keys = queue.select([c for c in ("id", "review_fields", *(f"{f}_confidence" for f in EXACT_FIELDS))
                         if c in queue.column_names]).to_pylist()
    lowest = [lowest_confidence(row) for row in keys]
    order = sorted(range(len(keys)), key=lambda i: (lowest[i] is not None, lowest[i] or 0.0,
                                                    -len(keys[i].get("review_fields") or []), keys[i]["id"]))
    queue = queue.take(pa.array(order, pa.int64()))
    ids = [keys[i]["id"] for i in order]
    columns = {"queue_position": pa.array(range(1, len(order) + 1), pa.int32()),
               "lowest_confidence": pa.array([lowest[i] for i in order], pa.float64())}
    table = pa.table({**columns, **{name: queue.column(name) for name in queue.column_names}})
    if ocr is not None:
        table = table.append_column("back_ocr_lines", pa.array([ocr[i][0] if i in ocr else None for i in ids],
                                                               pa.list_(pa.string())))
        table = table.append_column("front_ocr_lines", pa.array([ocr[i][1] if i in ocr else None for i in ids],
                                                                pa.list_(pa.string())))
        table = table.append_column("ocr_found", pa.array([i in ocr for i in ids], pa.bool_()))
    return table


def build_queue(run_path: str, input_glob: str | None = None, with_ocr: bool = True) -> tuple[Run, pa.Table]:
    """Load the run and its queue (with OCR unless ``with_ocr`` is False)."""
    run = load_run(run_path)
    return run, review_queue(run.records, ocr_for(run, input_glob) if with_ocr else None)


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
    if "ocr_found" in queue.column_names and not all(queue.column("ocr_found").to_pylist()):
        missing = queue.num_rows - sum(queue.column("ocr_found").to_pylist())
        print(f"review: the OCR of {missing} records was not found in the input", file=sys.stderr)
    return 0
