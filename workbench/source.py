"""Where a review queue comes from: one run's output folder, or a warehouse's ``latest`` rows.

Shared by the workbench and ``decisions import|export`` so both see the same records (a
decision is validated against the queue it was made on). The command-line arguments are
defined once here too (``add_queue_arguments``). A warehouse is read by ``pipeline.latest``
(pyiceberg), which serves the decisions already committed to the catalogue: a decided field
is the reviewer's and does not come back to the queue.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Sequence

import pyarrow as pa

from formats.queue import (OCR_COLUMNS, QUEUE_COLUMNS, ReviewError, load_run, ocr_for, read_kept, review_queue,
                           run_options, run_special_tokens)
from formats.record_html import thresholds_of
from formats.schemas import CARRIED_PREFIX, OUTPUT_NAMES
from formats.spot_checks import DEFAULT_SPOT_CHECK_RATE, DEFAULT_SPOT_CHECK_SEED
from workbench.state import Queue


@dataclass(frozen=True)
class QueueSource:
    """A loaded queue: the queue table (``formats.queue.review_queue``), all the records it was drawn
    from (decisions export joins labels to them), the thresholds in force, and what it is, in words."""

    queue: pa.Table
    records: pa.Table
    description: str
    thresholds: dict[str, float] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None


def add_queue_arguments(parser: argparse.ArgumentParser) -> None:
    """``--run | --warehouse``, ``--catalog_uri``, ``--input``/``--without_ocr``, ``--store`` and the spot checks."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a run's --output folder (records/, manifest.json)")
    source.add_argument("--warehouse", help="a backfill warehouse: the queue is drawn from its latest rows")
    parser.add_argument("--catalog_uri", default=None, help="the warehouse's catalog, as for backfill "
                                                             "(required for a gs:// warehouse)")
    ocr = parser.add_mutually_exclusive_group()
    ocr.add_argument("--input", metavar="GLOB", help="the input Parquet, to join the OCR by id (default for a run: "
                                                    "the input named in its manifest.json)")
    ocr.add_argument("--without_ocr", action="store_true", help="leave the OCR out")
    parser.add_argument("--store", metavar="URI", default=None,
                        help="the decisions store: an SQLite path or URL, or postgresql://user@host/db for a team "
                             "(default: RUN/reviews.db or WAREHOUSE/reviews.db)")
    parser.add_argument("--spot_check_rate", type=float, default=DEFAULT_SPOT_CHECK_RATE,
                        help=f"share of the fields the job accepted that are queued as spot checks "
                             f"(default {DEFAULT_SPOT_CHECK_RATE}; 0: none)")
    parser.add_argument("--spot_check_seed", default=DEFAULT_SPOT_CHECK_SEED,
                        help="seed of the spot-check draw (the same seed draws the same fields)")


def load_source(args: argparse.Namespace) -> QueueSource:
    """The queue named by the arguments of ``add_queue_arguments``."""
    return open_source(run=args.run, warehouse=args.warehouse, catalog_uri=args.catalog_uri, input_glob=args.input,
                       with_ocr=not args.without_ocr, spot_check_rate=args.spot_check_rate,
                       spot_check_seed=args.spot_check_seed)


def open_source(run: str | None = None, warehouse: str | None = None, catalog_uri: str | None = None,
                input_glob: str | None = None, with_ocr: bool = True, spot_check_rate: float = DEFAULT_SPOT_CHECK_RATE,
                spot_check_seed: str = DEFAULT_SPOT_CHECK_SEED) -> QueueSource:
    """The queue of a run (``run``) or of a warehouse's latest rows (``warehouse``); ReviewError says what
    is wrong. The OCR is joined from ``input_glob``, else (a run) from the input its manifest names."""
    if not 0.0 <= spot_check_rate <= 1.0:
        raise ReviewError(f"--spot_check_rate {spot_check_rate}: must be between 0 and 1")
    if run:
        loaded = load_run(run)
        ocr = ocr_for(loaded, input_glob, every_record=spot_check_rate > 0) if with_ocr else None
        queue = review_queue(loaded.records, ocr, spot_check_rate, spot_check_seed,
                             run_special_tokens(loaded.manifest))
        run_id = (loaded.manifest or {}).get("run_id", "")
        return QueueSource(queue, loaded.records, f"run {run_id} · {run}", thresholds_of(loaded.manifest),
                           loaded.manifest)
    if not warehouse:
        raise ReviewError("name a run (--run) or a warehouse (--warehouse)")
    records, described = latest_rows(warehouse, catalog_uri)
    ocr = None
    if input_glob and with_ocr:
        ocr = read_kept(input_glob, set(records.column("id").to_pylist()), *run_options(None))
    queue = review_queue(records, ocr, spot_check_rate, spot_check_seed)
    return QueueSource(queue, records, f"warehouse {warehouse} · latest ({described})")


def latest_rows(warehouse: str, catalog_uri: str | None) -> tuple[pa.Table, str]:
    """Each id's served row of ``warehouse`` (``pipeline.latest``, with the committed decisions applied) and
    which snapshot it is, in words."""
    from pipeline.catalog import resolve_warehouse
    from pipeline.latest import read_latest
    from pipeline.errors import InputError

    try:
        return read_latest(resolve_warehouse(warehouse, catalog_uri, create=False))
    except InputError as error:
        raise ReviewError(str(error)) from None


def resolve_columns(table: pa.Table, names: Sequence[str]) -> tuple[str, ...]:
    """The queue's column for each input column in ``names``: carried under its own name, or with the
    ``input_`` prefix the job gives a carried column whose name an output column already has."""
    resolved = []
    for name in names:
        found = next((c for c in (name, f"{CARRIED_PREFIX}{name}") if c in table.column_names), None)
        if found is None:
            carried = [c for c in table.column_names
                       if c not in OUTPUT_NAMES and c not in QUEUE_COLUMNS + OCR_COLUMNS + ("spot_check_fields",)]
            raise ReviewError(f"no input column {name!r} among the queue's records; their carried input columns "
                              f"are: {', '.join(carried) or 'none'}")
        resolved.append(found)
    return tuple(resolved)


def queue_from(source: QueueSource, image_columns: Sequence[str] = (), filter_columns: Sequence[str] = ()) -> Queue:
    """The workbench's in-memory queue of ``source``."""
    return Queue.from_table(source.queue, source.description, thresholds=source.thresholds,
                            image_columns=resolve_columns(source.queue, image_columns),
                            filter_columns=resolve_columns(source.queue, filter_columns))
