"""What people's decisions say about the job, on the command line (SPEC §9).

``python -m pipeline evaluate --decisions (--run RUN | --warehouse W) [--store URI] [--labels GLOB]``
prints per field the precision of accepted fields (spot checks) and the share of reviewed fields
people corrected, each with a Wilson interval and its sample size (``formats.decision_figures``),
beside the figures against labels when ``--labels`` is given.

``python -m pipeline thresholds --decisions (--run RUN | --warehouse W) [--store URI] --target 0.95
--to FILE.json`` chooses per-field review thresholds from the decisions (``formats.threshold_choice``)
and writes the document the job reads with ``--review_config`` (``formats.thresholds``). The
decisions are split in two halves by a hash of the record id: the thresholds are chosen on one and
the expected precision and review share printed are measured on the other, so the figures are not
the ones the choice was tuned to. It refuses (exit 2, no file) while any field has too few decisions
and says how many more each needs.

``python -m pipeline review-history --warehouse W --to plot.png`` draws, per committed night, the share of
fields sent to review (the night's manifest in its ``backstamp.records`` snapshot summary) and the
precision of accepted fields from the spot checks it committed (its ``backstamp.reviews`` snapshot summary).

The job's rows are read as the job routed them: a run's ``records/``, or a warehouse's ``latest``
without people's decisions applied (``review_fields`` as the model's confidence set them), since
they say how many fields each side (accepted, sent to review) held.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import fsspec
import pyarrow as pa

from decisions import DecisionStore, StoreError, store_uri_for_run, store_uri_for_warehouse
from formats.decision_figures import DEFAULT_LEVEL, field_figures, format_figures
from formats.evaluate import LABEL_COLUMNS, format_table, read_rows, score
from formats.queue import ReviewError, load_run
from formats.review import THRESHOLD_FIELDS
from formats.review_history import Night, history_png
from formats.spot_checks import spot_check_draw
from formats.threshold_choice import (DEFAULT_MARGIN, DEFAULT_TARGET, Chosen, Side, TooFew, choose_threshold,
                                      measure, required_decisions)
from formats.thresholds import document
from pipeline import catalog as cat
from pipeline.decisions_catalog import REVIEWS, SUMMARY_SPOT_CHECKS, SUMMARY_SPOT_CHECKS_RIGHT
from pipeline.errors import InputError
from pipeline.latest import read_latest
from pipeline.redaction import redact, redacted_cli

EXIT_TOO_FEW = 2
SPLIT_SEED = "thresholds-split"  # which half of the records a decision falls in (choose / report)


@dataclass(frozen=True)
class Judged:
    """The job's rows (as routed) and people's holding decisions about them."""

    rows: pa.Table
    decisions: list[dict[str, Any]]
    described: str


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="A run's --output folder (its store: RUN/reviews.db).")
    source.add_argument("--warehouse", help="A backfill warehouse (its store: WAREHOUSE/reviews.db).")
    parser.add_argument("--store", default=None, help="The decisions store: SQLAlchemy URL or SQLite path.")
    parser.add_argument("--catalog_uri", default=None, help="As for backfill (a gs:// warehouse needs it).")
    parser.add_argument("--decisions", action="store_true", required=True,
                        help="Figures from people's decisions in the store (SPEC §9).")


def load(args: argparse.Namespace) -> Judged:
    """Read the rows and the store named by ``args``; InputError when either is missing."""
    try:
        if args.run:
            try:
                rows = load_run(args.run).records
            except ReviewError as error:
                raise InputError(str(error)) from None
            uri, described = args.store or store_uri_for_run(args.run), f"run {args.run}"
        else:
            rows, state = read_latest(cat.resolve_warehouse(args.warehouse, args.catalog_uri, create=False),
                                      with_decisions=False)
            uri = args.store or store_uri_for_warehouse(args.warehouse)
            described = f"warehouse {args.warehouse} ({state})"
    except StoreError as error:
        raise InputError(str(error)) from None
    if not args.store and not os.path.exists(uri.removeprefix("sqlite:///")):  # opening would create an empty one
        raise InputError(f"no decisions store at {uri.removeprefix('sqlite:///')}: nothing decided yet "
                         "(or pass --store URI)")
    with DecisionStore(uri) as store:
        decisions = [asdict(d) for d in store.holding()]
    return Judged(rows, decisions, redact(f"{described}, store {uri}"))


def parse_and_load(parser: argparse.ArgumentParser,
                   argv: Sequence[str]) -> tuple[argparse.Namespace, Judged] | None:
    """The arguments and what they name; None, the error said on stderr, when the run, warehouse or store is missing."""
    args = parser.parse_args(list(argv))
    try:
        return args, load(args)
    except InputError as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return None


def sides(rows: pa.Table, fields: Sequence[str]) -> dict[str, Side]:
    """Per field, how many scored values the job accepted and sent to review."""
    columns = [c for c in ("review_fields", *(f"{f}_confidence" for f in fields)) if c in rows.column_names]
    counts = {f: [0, 0] for f in fields}
    for row in rows.select(columns).to_pylist():
        for f in fields:
            if row.get(f"{f}_confidence") is not None:
                counts[f][f in (row.get("review_fields") or ())] += 1
    return {f: Side(accepted=a, reviewed=r) for f, (a, r) in counts.items()}


@redacted_cli
def evaluate_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline evaluate --decisions",
        description="Per field: precision of the values the job accepted (from spot checks) and the share of "
                    "reviewed values people corrected, with Wilson intervals and sample sizes (docs/review.md).")
    add_source_arguments(parser)
    parser.add_argument("--labels", default=None, help="Also score the job's rows against these labels (GLOB).")
    parser.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="Confidence level of the intervals.")
    parser.add_argument("--json", metavar="PATH", default=None, help="Also write the figures as JSON.")
    loaded = parse_and_load(parser, argv)
    if loaded is None:
        return 2
    args, judged = loaded
    figures = field_figures(judged.decisions, args.level)
    print(f"Decisions: {len(judged.decisions)} holding, {judged.described}")
    print(format_figures(figures))
    result: dict[str, Any] = {"source": judged.described, "decisions": len(judged.decisions),
                              "fields": {name: f.as_json() for name, f in figures.items()}}
    if args.labels:
        labelled = score(judged.rows.to_pylist(), read_rows(args.labels, LABEL_COLUMNS))
        print("\nAgainst labels:\n" + format_table(labelled))
        result["labels"] = labelled
    if args.json:
        with fsspec.open(args.json, "w") as handle:
            json.dump(result, handle, indent=2, default=str)
    return 0


def _half(decision: Mapping[str, Any]) -> bool:
    """True for the half the thresholds are chosen on (by record id, so a record's decisions stay together)."""
    return spot_check_draw(decision["id"], "", "", SPLIT_SEED) < 0.5


@redacted_cli
def thresholds_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline thresholds",
        description="Choose per-field review thresholds from people's decisions and write the file the job "
                    "reads with --review_config (docs/review.md).")
    add_source_arguments(parser)
    parser.add_argument("--target", type=float, default=DEFAULT_TARGET,
                        help="Precision the accepted values should reach (default %(default)s).")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help="Half-width of the interval the decisions must allow at the target; sets how many "
                             "decisions are needed (default %(default)s).")
    parser.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="Confidence level of the intervals.")
    parser.add_argument("--to", required=True, help="The thresholds JSON to write (refused while decisions are few).")
    loaded = parse_and_load(parser, argv)
    if loaded is None:
        return 2
    args, judged = loaded
    by_side = sides(judged.rows, THRESHOLD_FIELDS)
    choose_on = [d for d in judged.decisions if _half(d)]
    report_on = [d for d in judged.decisions if not _half(d)]
    required = required_decisions(args.target, args.margin, args.level)
    chosen: dict[str, Chosen] = {}
    too_few: list[TooFew] = []
    for name in THRESHOLD_FIELDS:
        # Each half needs `required` of each side: counted on all decisions, that is twice as many.
        whole = choose_threshold(name, judged.decisions, by_side[name], args.target, args.margin, args.level,
                                 required=2 * required)
        result = choose_threshold(name, choose_on, by_side[name], args.target, args.margin, args.level, required)
        if isinstance(whole, TooFew) or isinstance(result, TooFew):
            too_few.append(whole if isinstance(whole, TooFew) else result)
        else:
            chosen[name] = result
    if too_few:
        print(f"Not chosen: too few decisions ({judged.described}); thresholds are chosen on half of the records "
              f"and reported on the other half, each half needing {required} judged spot checks and reviews "
              f"per field (target {args.target}, ±{args.margin} at {args.level:.0%}):", file=sys.stderr)
        for refused in too_few:
            print(f"  {refused}", file=sys.stderr)
        return EXIT_TOO_FEW
    figures = {}
    print(f"Thresholds for precision {args.target} (chosen on half of the records, measured on the other half; "
          f"{judged.described}):")
    for name, c in chosen.items():
        precision, review_share = measure(name, report_on, by_side[name], c.threshold, args.level)
        note = "" if c.reached else "  (no threshold reaches the target: all but certainties go to review)"
        print(f"  {name:<13} {c.threshold:.4f}  precision {precision}  review share {review_share}{note}")
        figures[name] = {**c.as_json(), "held_out": {"precision": precision.as_json(),
                                                      "review_share": review_share.as_json()}}
    doc = document({name: c.threshold for name, c in chosen.items()},
                   chosen_on=f"{len(judged.decisions)} holding decisions, {judged.described}, "
                             f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}",
                   target=args.target, margin=args.margin, level=args.level, figures=figures)
    with fsspec.open(args.to, "w") as handle:
        json.dump(doc, handle, indent=2)
    print(f"Wrote {args.to}: run the job with --review_config {args.to}")
    return 0


def history(catalog: cat.Catalog) -> list[Night]:
    """Per committed night (the newest commit of each ``run_date``, in night order) its review figures:
    the night's manifest from its ``backstamp.records`` snapshot, its spot checks from its ``backstamp.reviews`` one."""
    records = cat.load_table(catalog, cat.RECORDS)
    if records is None or records.current_snapshot() is None:
        return []
    reviews = cat.load_table(catalog, REVIEWS)
    spot = {}
    if reviews is not None and reviews.current_snapshot() is not None:
        spot = {cat.summary_value(s, cat.SUMMARY_RUN_ID): (int(cat.summary_value(s, SUMMARY_SPOT_CHECKS) or 0),
                                                          int(cat.summary_value(s, SUMMARY_SPOT_CHECKS_RIGHT) or 0))
                for s in cat.ancestors(reviews)}
    nights: dict[str, Night] = {}
    for snapshot in reversed(list(cat.ancestors(records))):  # oldest first: a night's newest commit wins
        run_date = cat.summary_value(snapshot, cat.SUMMARY_RUN_DATE)
        manifest = cat.summary_value(snapshot, "backstamp.manifest")
        if run_date is None or manifest is None:
            continue
        figures = json.loads(manifest)
        checks, right = spot.get(cat.summary_value(snapshot, cat.SUMMARY_RUN_ID), (0, 0))
        nights[run_date] = Night(run_date, figures.get("model_version", ""), int(figures.get("records_written", 0)),
                                 int((figures.get("review") or {}).get("fields", 0)), checks, right)
    return [nights[d] for d in sorted(nights)]


@redacted_cli
def history_main(argv: Sequence[str]) -> int:
    """``python -m pipeline review-history --warehouse W --to plot.png``: precision and review share over nights."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline review-history",
        description="Per committed night: the share of fields sent to review and the precision of accepted fields "
                    "from the spot checks committed that night (snapshot summaries); a table and a PNG chart.")
    parser.add_argument("--warehouse", required=True, help="The backfill WAREHOUSE (a folder or gs://).")
    parser.add_argument("--catalog_uri", default=None, help="As for backfill (a gs:// warehouse needs it).")
    parser.add_argument("--to", required=True, help="The chart to write (PNG).")
    parser.add_argument("--json", metavar="PATH", default=None, help="Also write the figures as JSON.")
    args = parser.parse_args(list(argv))
    try:
        nights = history(cat.open_catalog(cat.resolve_warehouse(args.warehouse, args.catalog_uri, create=False)))
    except InputError as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2
    if not nights:
        print(f"error: {args.warehouse}: no committed night", file=sys.stderr)
        return 2
    print(f"{'night':<12} {'model':<26} {'written':>8} {'review share':>13}  precision of accepted (spot checks)")
    for n in nights:
        share = "—" if n.review_share is None else f"{n.review_share:.3f}"
        print(f"{n.run_date:<12} {n.model_version[:26]:<26} {n.records_written:>8} {share:>13}  {n.precision}")
    with fsspec.open(args.to, "wb") as handle:
        handle.write(history_png(nights))
    if args.json:
        with fsspec.open(args.json, "w") as handle:
            json.dump([{**asdict(n), "review_share": n.review_share, "precision": n.precision.as_json()}
                       for n in nights], handle, indent=2)
    print(f"Wrote {args.to}")
    return 0
