"""``python -m pipeline latest --output WAREHOUSE [--as_of D|SNAPSHOT] --to PATH``: each id's newest row.

Consumers want the catalogue as it stands, not a pile of nights. ``latest`` reads
``backstamp.records`` with pyiceberg (so schema evolution is Iceberg's: a column added
later reads null in older nights, a widened type reads widened) and keeps per id the row
of the newest night (``run_date``, then ``processed_at``). An id is not served when that
row is a withdrawn marker, or when its newest event is a dead letter of a later night
(``backstamp.dead_letter``): the catalogue no longer vouches for its old row, and the
backfill retries it next night. The result is one Parquet file, ``PATH/latest.parquet``.
People's decisions committed to ``backstamp.reviews`` are served in place of the model's values
where they hold for the row's input, with ``<field>_origin`` (``pipeline.decisions_catalog``).

``--as_of`` reads the catalogue as it stood: a date keeps the nights up to that
``run_date`` (in the current snapshot); a snapshot id travels back to that commit, with
the dead letters committed by the same runs. docs/backfill.md gives the same query in
SQL for DuckDB, Spark, Trino and BigQuery, for catalogues too large for one process.
"""
from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from typing import Optional, Sequence

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, LessThanOrEqual, NotNull

from formats.schemas import RUN_DATE_FIELD, WITHDRAWN_FIELD
from pipeline import catalog as cat
from pipeline import decisions_catalog
from pipeline.errors import InputError
from pipeline.redaction import redact, redacted_cli

FILE_NAME = "latest.parquet"
RUN_DATE, WITHDRAWN = RUN_DATE_FIELD.name, WITHDRAWN_FIELD.name


def newest_per_id(rows: pa.Table, dead: pa.Table) -> pa.Table:
    """The served rows: per id the newest row, unless withdrawn or followed by a later night's dead letter."""
    if rows.num_rows == 0:
        return rows.drop_columns([WITHDRAWN])
    ordered = rows.sort_by([("id", "ascending"), (RUN_DATE, "descending"), ("processed_at", "descending")])
    ids = ordered.column("id")
    first = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)).combine_chunks()
    newest = ordered.filter(pa.concat_arrays([pa.array([True]), first.fill_null(True)]))
    if dead.num_rows:
        dead_night = dead.group_by("id").aggregate([(RUN_DATE, "max")])  # columns run_date_max, id
        # A lookup rather than a join: Arrow joins refuse list columns (review_fields).
        position = pc.index_in(newest.column("id"), value_set=dead_night.column("id"))
        night = pc.take(dead_night.column(f"{RUN_DATE}_max"), position)
        newest = newest.filter(pc.or_kleene(pc.is_null(night), pc.greater_equal(newest.column(RUN_DATE), night)))
    newest = newest.filter(pc.invert(newest.column(WITHDRAWN).fill_null(False)))
    return newest.drop_columns([WITHDRAWN]).sort_by("id")


def read_latest(warehouse: cat.Warehouse, as_of: Optional[str] = None,
                with_decisions: bool = True) -> tuple[pa.Table, str]:
    """The served rows of ``warehouse`` and a phrase saying which state of the tables they come from;
    ``with_decisions=False``: the model's rows as routed, without people's decisions (for figures about the job)."""
    catalog = cat.open_catalog(warehouse)
    records = cat.load_table(catalog, cat.RECORDS)
    if records is None or records.current_snapshot() is None:
        raise InputError(f"{warehouse.location}: no committed night (table {cat.RECORDS} is missing or empty)")
    dead_letter = cat.load_table(catalog, cat.DEAD_LETTER)
    row_filter: BooleanExpression = AlwaysTrue()
    snapshot = records.current_snapshot()
    if as_of and re.fullmatch(r"\d{4}-\d{2}-\d{2}", as_of):
        try:
            row_filter = LessThanOrEqual(RUN_DATE, date.fromisoformat(as_of).isoformat())
        except ValueError:  # 2024-02-30
            raise InputError(f"--as_of {as_of}: not a date of the calendar (YYYY-MM-DD)") from None
        described = f"nights up to {as_of}, snapshot {snapshot.snapshot_id}"
    elif as_of:
        snapshot = records.snapshot_by_id(int(as_of)) if as_of.isdigit() else None
        if snapshot is None:
            raise InputError(f"--as_of {as_of!r}: neither a YYYY-MM-DD date nor a snapshot id of {cat.RECORDS}")
        described = f"snapshot {snapshot.snapshot_id} (as of its commit)"
    else:
        described = f"snapshot {snapshot.snapshot_id}"
    rows = records.scan(row_filter=row_filter, snapshot_id=snapshot.snapshot_id).to_arrow()
    dead = pa.table({"id": pa.array([], pa.string()), RUN_DATE: pa.array([], pa.date32())})
    dead_snapshot = _matching_dead_letters(records, snapshot, dead_letter)
    if dead_snapshot is not None:
        dead = dead_letter.scan(row_filter=row_filter & NotNull("id"), snapshot_id=dead_snapshot,
                                selected_fields=("id", RUN_DATE)).to_arrow()
    served = newest_per_id(rows, dead)
    if not with_decisions:
        return served, described
    decisions = decisions_catalog.read_decisions(catalog, records, snapshot, row_filter)  # the same nights
    return decisions_catalog.serve(served, decisions), described


def _matching_dead_letters(records: cat.Table, snapshot: cat.Snapshot,
                           dead_letter: Optional[cat.Table]) -> Optional[int]:
    """The dead-letter snapshot of the runs whose records ``snapshot`` holds (their second commit)."""
    if dead_letter is None:
        return None
    runs = {cat.summary_value(s, cat.SUMMARY_RUN_ID) for s in cat.ancestors(records, snapshot)}
    return next((s.snapshot_id for s in cat.ancestors(dead_letter)
                 if cat.summary_value(s, cat.SUMMARY_RUN_ID) in runs), None)


def write_latest(table: pa.Table, to: str) -> str:
    """Write ``table`` as ``TO/latest.parquet``; refuses a folder that already holds Parquet files."""
    fs, folder = fsspec.core.url_to_fs(to.rstrip("/"))
    if fs.exists(folder) and any(str(p).endswith(".parquet") for p in fs.ls(folder, detail=False)):
        raise InputError(f"{to}: already holds Parquet files; choose a new --to")
    fs.makedirs(folder, exist_ok=True)
    path = f"{folder}/{FILE_NAME}"
    with fs.open(path, "wb") as handle:
        pq.write_table(table, handle)
    return path


@redacted_cli
def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline latest",
        description="Write each id's newest committed row of a backfill warehouse (docs/backfill.md).")
    parser.add_argument("--output", required=True, help="The backfill WAREHOUSE (a folder or gs://).")
    parser.add_argument("--catalog_uri", default=None, help="As for backfill (required for a gs:// warehouse).")
    parser.add_argument("--as_of", default=None,
                        help="YYYY-MM-DD: only nights up to that date; a snapshot id: the tables as of that commit.")
    parser.add_argument("--to", required=True, help=f"Folder to write {FILE_NAME} into; must hold no Parquet yet.")
    known = parser.parse_args(list(argv))
    try:
        table, described = read_latest(cat.resolve_warehouse(known.output, known.catalog_uri, create=False),
                                        known.as_of)
        path = write_latest(table, known.to)
    except InputError as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2
    print(redact(f"latest: {table.num_rows} ids from {described} → {path}"))
    return 0
