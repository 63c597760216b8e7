"""``python -m pipeline decisions import|export``: decisions in and out of the store as files (SPEC §9).

* ``import FILE.parquet|.csv (--run RUN | --warehouse W) [--store URI]``: decisions made
  elsewhere (a spreadsheet, another tool), validated against the queue's records as the API
  validates them, all or nothing. Columns: ``id``, ``field``, ``decision``, ``value``,
  ``reviewer``, ``note`` and optionally ``kind``; the other SPEC §9 columns (a file this
  command exported) are recomputed from the records, so they are ignored; any other column is
  refused. In a CSV an empty ``value`` is "none" for ``correct`` and absent otherwise.
  ``decided_at`` is the time of the import.
* ``export ... --to FILE.parquet``: every decision stored, in the order stored, in the SPEC §9
  columns plus ``seq`` (``--holding``: only the decision holding per id, field and input).
* ``export ... --to FILE.parquet --training``: one row per record whose five fields all hold
  a decision about the record as it is now, as SPEC §2 columns (``id``, ``front_ocr``,
  ``back_ocr``, ``language``, from the run's input) plus the five label columns, which
  ``python -m train --reviewed_file`` reads. A label is the job's value for ``accept``, the
  person's for ``correct`` and empty for ``unreadable`` (the model should not write what the
  print cannot tell).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from decisions.model import ACCEPT, CORRECT, FIELDS, REQUEST_KEYS, UNREADABLE, Decision, DecisionError, validate
from decisions.store import COLUMNS, DecisionStore, StoreError, default_store_uri
from formats.queue import ReviewError, read_kept, run_options
from formats.schemas import TIMESTAMP
from workbench.source import QueueSource, add_queue_arguments, load_source

DECISION_SCHEMA = pa.schema([
    ("seq", pa.int64()), ("id", pa.string()), ("field", pa.string()), ("decision", pa.string()),
    ("value", pa.string()), ("model_value", pa.string()), ("model_confidence", pa.float64()),
    ("input_hash", pa.string()), ("model_version", pa.string()), ("run_id", pa.string()), ("kind", pa.string()),
    ("reviewer", pa.string()), ("note", pa.string()), ("decided_at", TIMESTAMP)])
TRAINING_SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                             ("back_ocr", pa.list_(pa.string())), ("language", pa.string()),
                             *((name, pa.string()) for name in FIELDS)])


def decisions_table(decisions: Sequence[Decision]) -> pa.Table:
    """Decisions as an Arrow table in the SPEC §9 columns plus ``seq``."""
    return pa.Table.from_pylist([{name: getattr(d, name) for name in DECISION_SCHEMA.names} for d in decisions],
                                schema=DECISION_SCHEMA)


def read_requests(path: str) -> list[dict[str, Any]]:
    """The decisions of a Parquet or CSV file as request dicts; DecisionError for a column that has no place."""
    with fsspec.open(path, "rb") as handle:
        if path.lower().endswith(".csv"):
            table = pacsv.read_csv(handle, convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in ("id", "value", "reviewer", "note")}))
        else:
            table = pq.read_table(handle)
    ignored = set(COLUMNS) | {"seq"}
    unknown = [c for c in table.column_names if c not in REQUEST_KEYS and c not in ignored]
    if unknown:
        raise DecisionError(0, f"{path}: unknown column {unknown[0]!r} (a decision has "
                               f"{', '.join(sorted(REQUEST_KEYS))})")
    rows = table.select([c for c in table.column_names if c in REQUEST_KEYS]).to_pylist()
    if path.lower().endswith(".csv"):  # a CSV cannot tell null from empty
        for row in rows:
            if row.get("decision") in (ACCEPT, UNREADABLE) and row.get("value") in ("", None):
                row["value"] = None
            elif row.get("decision") == CORRECT and row.get("value") is None:
                row["value"] = ""
            row["note"] = row.get("note") or ""
    return rows


def records_by_id(source: QueueSource) -> dict[str, dict[str, Any]]:
    """The queue's records by id: what a decision may be about."""
    return {row["id"]: row for row in source.queue.to_pylist()}


def training_rows(source: QueueSource, holding: Sequence[Decision], input_glob: str | None) -> list[dict[str, Any]]:
    """The SPEC §2 + label rows of the records whose five fields all hold a decision about their current input."""
    current = {row["id"]: row.get("input_hash") or "" for row in source.records.select(
        [c for c in ("id", "input_hash") if c in source.records.column_names]).to_pylist()}
    labels: dict[str, dict[str, str]] = {}
    for decision in holding:
        if current.get(decision.id) == decision.input_hash:
            labels.setdefault(decision.id, {})[decision.field] = decision.value or ""
    complete = {record_id: fields for record_id, fields in labels.items() if set(fields) == set(FIELDS)}
    if not complete:
        return []
    pattern = input_glob or (source.manifest or {}).get("input")
    if not pattern:
        raise ReviewError("the training rows need the records' OCR: pass --input GLOB (the input Parquet)")
    kept = read_kept(pattern, set(complete), *run_options(source.manifest))
    missing = sorted(set(complete) - set(kept))
    if missing:
        raise ReviewError(f"the input {pattern!r} has no valid row of {len(missing)} decided records "
                          f"(first: {missing[0]!r}): pass --input GLOB where their OCR is")
    return [{"id": record_id, "front_ocr": list(kept[record_id].front_lines),
             "back_ocr": list(kept[record_id].back_lines), "language": kept[record_id].language, **fields}
            for record_id, fields in sorted(complete.items())]


def write_parquet(table: pa.Table, to: str) -> None:
    with fsspec.open(to, "wb") as handle:
        pq.write_table(table, handle)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline decisions`` (``argv`` are the arguments after ``decisions``)."""
    parser = argparse.ArgumentParser(prog="python -m pipeline decisions",
                                     description="Import or export review decisions (SPEC §9).")
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser("import", help="store the decisions of a Parquet or CSV file, all or nothing")
    importing.add_argument("file", metavar="FILE.parquet|FILE.csv")
    add_queue_arguments(importing)
    exporting = commands.add_parser("export", help="write the stored decisions, or training rows, as Parquet")
    add_queue_arguments(exporting)
    exporting.add_argument("--to", required=True, metavar="FILE.parquet")
    kind = exporting.add_mutually_exclusive_group()
    kind.add_argument("--training", action="store_true",
                      help="one row per fully decided record: SPEC §2 columns plus the five labels (python -m train "
                           "--reviewed_file)")
    kind.add_argument("--holding", action="store_true", help="only the decision holding per id, field and input")
    args = parser.parse_args(argv)
    try:
        source = load_source(args)
        with DecisionStore(args.store or default_store_uri(args.run, args.warehouse)) as store:
            if args.command == "import":
                stored = store.add(validate(read_requests(args.file), records_by_id(source)))
                print(f"decisions: {stored} decisions from {args.file} stored")
            elif args.training:
                rows = training_rows(source, store.holding(), args.input)
                write_parquet(pa.Table.from_pylist(rows, schema=TRAINING_SCHEMA), args.to)
                print(f"decisions: {len(rows)} fully decided records written to {args.to} as training rows")
            else:
                found = store.holding() if args.holding else store.history()
                write_parquet(decisions_table(found), args.to)
                print(f"decisions: {len(found)} decisions written to {args.to}")
    except DecisionError as error:
        print(f"decisions: nothing stored: {error}", file=sys.stderr)
        return 2
    except (ReviewError, StoreError, OSError, pa.ArrowInvalid) as error:
        print(f"decisions: {error}", file=sys.stderr)
        return 2
    return 0
