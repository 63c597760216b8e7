"""People's decisions in the catalogue (SPEC §9): the table ``backstamp.reviews`` and what ``latest`` serves.

**Committing.** Each backfill night records in its ``backstamp.records`` commit the store's newest
``seq`` (``backstamp.decisions_through``, read when the night is planned). That commit is the
night's atomic point, and it fixes which decisions the night holds: those after the previous
night's watermark (the highest ``decisions_through`` of the commits before it) up to its own.
A crashed run, or one that loses the race for the night, never makes that commit, so it holds no
decisions either; a commit on top of a rival's night starts from the rival's watermark, so no
decision falls into two nights. ``commit_pending`` then writes each committed night's decisions
to ``backstamp.reviews`` (partitioned by ``run_date``) in a snapshot tagged with the night's run
id, oldest night first, exactly once: the table refuses concurrent commits
(``commit.retry.num-retries=0``) and the loser finds the run id already there. A crash between
the two commits is completed by the next backfill call (of any night), as the dead letters are.
Decisions about ids the catalogue does not hold (no row up to that night) are refused: counted in
the snapshot summary (``backstamp.decisions_refused``) and in the manifest, never committed.

The table has the SPEC §9 columns, ``run_date`` (the night that committed the decision), and the
store's ``seq``: per (id, field, input_hash) the decision with the highest ``seq`` holds, as in the
store (``decided_at`` comes from clocks that may disagree).

**Serving.** ``latest`` reads the reviews snapshot of the same runs as the records it serves (so
``--as_of`` a date or a snapshot applies to decisions too) and, per served row and field of the
five, serves the holding decision whose ``input_hash`` equals the row's: the person's ``value``
(``""`` for ``unreadable``: the print cannot tell), with ``<field>_origin`` = ``reviewer``; else
the model's value, ``model``. A decision about other OCR is stale: the field is the model's and
goes back to the queue. A new model version keeps the input_hash, so it does not undo a person's
decision. Decided fields leave ``review_fields`` (and their reasons); a record left with no review
field no longer ``needs_review`` — so the workbench's warehouse queue, built on ``latest``, skips
them. A decided ``date`` gets its ``date_iso`` from the person's value.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Optional

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue, BooleanExpression

from decisions import DecisionStore, StoreError, store_uri_for_warehouse
from formats.dates import normalise_date
from formats.decision_figures import SPOT_CHECK, holding, judged_right
from formats.schemas import RUN_DATE_FIELD
from formats.tags import FIELDS
from pipeline import catalog as cat
from pipeline.errors import InputError

REVIEWS = f"{cat.NAMESPACE}.reviews"
SUMMARY_THROUGH = "backstamp.decisions_through"  # on records commits: the store's newest seq at planning
SUMMARY_FROM = "backstamp.decisions_from"  # on reviews commits: the range (from, through] committed
SUMMARY_COMMITTED = "backstamp.decisions_committed"
SUMMARY_REFUSED = "backstamp.decisions_refused"
SUMMARY_SPOT_CHECKS = "backstamp.spot_checks"  # judged spot checks of the night's decisions
SUMMARY_SPOT_CHECKS_RIGHT = "backstamp.spot_checks_right"  # of them, those that found the job's value right
REVIEWER, MODEL = "reviewer", "model"
UNREADABLE = "unreadable"
RUN_DATE = RUN_DATE_FIELD.name
REVIEWS_SCHEMA = pa.schema([
    pa.field("id", pa.string()), pa.field("field", pa.string()), pa.field("decision", pa.string()),
    pa.field("value", pa.string()), pa.field("model_value", pa.string()),
    pa.field("model_confidence", pa.float64()), pa.field("input_hash", pa.string()),
    pa.field("model_version", pa.string()), pa.field("run_id", pa.string()), pa.field("kind", pa.string()),
    pa.field("reviewer", pa.string()), pa.field("note", pa.string()),
    pa.field("decided_at", pa.timestamp("us", tz="UTC")), pa.field("seq", pa.int64()), RUN_DATE_FIELD,
])
COMMIT_ATTEMPTS = 20


def open_store(warehouse: cat.Warehouse, uri: Optional[str]) -> Optional[DecisionStore]:
    """The decisions store of ``warehouse`` (``--store`` or ``WAREHOUSE/reviews.db``); None when the
    default SQLite file does not exist (nobody has decided anything) or a remote warehouse names none."""
    if uri:
        try:
            return DecisionStore(uri)
        except Exception as error:  # noqa: BLE001 - drivers fail in their own ways; say which store
            raise InputError(f"--store: cannot open the decisions store ({type(error).__name__}: {error})") from None
    try:
        default = store_uri_for_warehouse(warehouse.location)
    except StoreError:
        return None
    return DecisionStore(default) if _sqlite_file_exists(default) else None


def _sqlite_file_exists(uri: str) -> bool:
    return os.path.exists(uri.removeprefix("sqlite:///"))


def watermark_summary(store: Optional[DecisionStore]) -> dict[str, str]:
    """The summary key a night's records commit carries (empty without a store)."""
    return {SUMMARY_THROUGH: str(store.last_seq())} if store is not None else {}


@dataclass(frozen=True)
class NightDecisions:
    """What ``commit_pending`` committed for one night's run."""

    run_id: str
    run_date: str
    committed: int
    refused: list[str]  # ids the catalogue does not hold
    snapshot_id: Optional[int]


@dataclass(frozen=True)
class _Night:
    run_id: str
    run_date: str
    snapshot_id: int
    low: int  # exclusive
    high: int  # inclusive


def _nights(records: cat.Table) -> list[_Night]:
    """The records commits that hold decisions, oldest first, each with its range of seq."""
    runs: dict[str, cat.Snapshot] = {}
    for snapshot in reversed(list(cat.ancestors(records))):  # oldest first; a night's last snapshot wins
        if cat.summary_value(snapshot, SUMMARY_THROUGH) is not None:
            runs.pop(cat.summary_value(snapshot, cat.SUMMARY_RUN_ID), None)
            runs[cat.summary_value(snapshot, cat.SUMMARY_RUN_ID)] = snapshot
    nights, low = [], 0
    for run_id, snapshot in runs.items():
        high = int(cat.summary_value(snapshot, SUMMARY_THROUGH))
        nights.append(_Night(run_id, cat.summary_value(snapshot, cat.SUMMARY_RUN_DATE), snapshot.snapshot_id,
                             low, max(low, high)))
        low = max(low, high)
    return nights


def _committed_runs(reviews: Optional[cat.Table]) -> set[str]:
    if reviews is None or reviews.current_snapshot() is None:
        return set()
    return {cat.summary_value(s, cat.SUMMARY_RUN_ID) for s in cat.ancestors(reviews)}


def commit_pending(catalog: cat.Catalog, store: Optional[DecisionStore]) -> list[NightDecisions]:
    """Commit the decisions of every committed night whose decisions are not in ``backstamp.reviews`` yet."""
    records = cat.load_table(catalog, cat.RECORDS)
    if store is None or records is None or records.current_snapshot() is None:
        return []
    done = _committed_runs(cat.load_table(catalog, REVIEWS))
    results = []
    for night in _nights(records):
        if night.run_id in done or night.high <= night.low:
            continue
        decisions = [d for d in store.after(night.low) if d.seq <= night.high]
        held = set(records.scan(snapshot_id=night.snapshot_id, selected_fields=("id",)).to_arrow()
                   .column("id").unique().to_pylist())
        kept = [d for d in decisions if d.id in held]
        refused = sorted({d.id for d in decisions if d.id not in held})
        snapshot_id = _commit(catalog, night, kept, len(decisions) - len(kept)) if kept else None
        results.append(NightDecisions(night.run_id, night.run_date, len(kept), refused, snapshot_id))
    return results


def _commit(catalog: cat.Catalog, night: _Night, decisions: list, refused: int) -> int:
    """Append ``decisions`` for ``night`` unless a snapshot of its run is there already; that snapshot's id."""
    rows = pa.Table.from_pylist(
        [{**{name: getattr(d, name) for name in REVIEWS_SCHEMA.names if name != RUN_DATE},
          RUN_DATE: date.fromisoformat(night.run_date)} for d in decisions], schema=REVIEWS_SCHEMA)
    spot = [judged_right(d) for d in holding([asdict(d) for d in decisions]) if d["kind"] == SPOT_CHECK]
    spot = [right for right in spot if right is not None]
    summary = {cat.SUMMARY_RUN_ID: night.run_id, cat.SUMMARY_RUN_DATE: night.run_date, SUMMARY_FROM: str(night.low),
               SUMMARY_THROUGH: str(night.high), SUMMARY_COMMITTED: str(len(decisions)),
               SUMMARY_REFUSED: str(refused), SUMMARY_SPOT_CHECKS: str(len(spot)),
               SUMMARY_SPOT_CHECKS_RIGHT: str(sum(spot))}
    cat.load_or_create(catalog, REVIEWS, REVIEWS_SCHEMA)
    for attempt in range(COMMIT_ATTEMPTS):
        table = catalog.load_table(REVIEWS)
        mine = next((s for s in cat.ancestors(table) if cat.summary_value(s, cat.SUMMARY_RUN_ID) == night.run_id),
                    None) if table.current_snapshot() else None
        if mine is not None:  # another process committed this night's decisions meanwhile
            return mine.snapshot_id
        try:
            table.append(rows, snapshot_properties=summary)
        except CommitFailedException:
            time.sleep(min(0.05 * 2 ** attempt, 2.0))
            continue
    raise CommitFailedException(f"{REVIEWS}: {COMMIT_ATTEMPTS} commit attempts met concurrent commits")


def read_decisions(catalog: cat.Catalog, records: cat.Table, snapshot: cat.Snapshot,
                   row_filter: BooleanExpression = AlwaysTrue()) -> pa.Table:
    """The committed decisions that go with ``snapshot`` of the records (the same runs), ``row_filter`` applied."""
    reviews = cat.load_table(catalog, REVIEWS)
    if reviews is None or reviews.current_snapshot() is None:
        return REVIEWS_SCHEMA.empty_table()
    runs = {cat.summary_value(s, cat.SUMMARY_RUN_ID) for s in cat.ancestors(records, snapshot)}
    match = next((s for s in cat.ancestors(reviews) if cat.summary_value(s, cat.SUMMARY_RUN_ID) in runs), None)
    if match is None:
        return REVIEWS_SCHEMA.empty_table()
    return reviews.scan(row_filter=row_filter, snapshot_id=match.snapshot_id).to_arrow()


def _holding(decisions: pa.Table) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(id, input_hash) → field → the holding decision (highest seq)."""
    held: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in decisions.select(["id", "field", "decision", "value", "input_hash", "seq"]).to_pylist():
        fields = held.setdefault((row["id"], row["input_hash"]), {})
        if row["field"] not in fields or row["seq"] > fields[row["field"]]["seq"]:
            fields[row["field"]] = row
    return held


def _field_of(reason: str) -> Optional[str]:
    """The field a review reason is about (``low_confidence:title`` → title), None for record-level ones."""
    if ":" in reason:
        return reason.split(":", 1)[1]
    return "date" if reason == "date_unreadable" else None


def _keeps(reason: str, decided: dict, left: list[str]) -> bool:
    """Whether a review reason still stands: a field's while the field is undecided, a record's while
    any of its fields is left to review."""
    field = _field_of(reason)
    return field not in decided if field else bool(left)


def serve(rows: pa.Table, decisions: pa.Table) -> pa.Table:
    """``rows`` (the served records) with people's holding decisions applied (module doc)."""
    origin = {name: [MODEL] * rows.num_rows for name in FIELDS}
    held = _holding(decisions)
    columns: dict[str, list] = {}
    if held:  # a catalogue nobody reviewed needs no pass over its rows
        keys = [held.get(key) for key in zip(rows.column("id").to_pylist(), rows.column("input_hash").to_pylist())]
        columns = {name: rows.column(name).to_pylist() for name in (*FIELDS, "date_iso", "language", "review_fields",
                                                                     "review_reasons", "needs_review")
                   if name in rows.column_names}
        for i, decided in enumerate(keys):
            if decided:
                _apply(i, decided, columns, origin)
    served = rows
    for name, values in columns.items():
        if name != "language":
            served = served.set_column(served.schema.get_field_index(name), served.schema.field(name),
                                       pa.array(values, served.schema.field(name).type))
    for name in FIELDS:
        served = served.append_column(pa.field(f"{name}_origin", pa.string(), nullable=False),
                                      pa.array(origin[name], pa.string()))
    return served


def _apply(i: int, decided: dict[str, dict[str, Any]], columns: dict[str, list], origin: dict[str, list]) -> None:
    """Row ``i``'s decided fields: the person's values, their origin, and what is left to review."""
    for name, decision in decided.items():
        if name not in origin:
            continue
        origin[name][i] = REVIEWER
        columns[name][i] = "" if decision["decision"] == UNREADABLE else (decision["value"] or "")
        if name == "date" and "date_iso" in columns:
            value = columns["date"][i]
            columns["date_iso"][i] = normalise_date(value, columns["language"][i] or "en") if value else None
    if "review_fields" in columns:
        left = [f for f in columns["review_fields"][i] or [] if f not in decided]
        columns["review_fields"][i] = left
        columns["review_reasons"][i] = [r for r in columns["review_reasons"][i] or [] if _keeps(r, decided, left)]
        columns["needs_review"][i] = bool(left)


def night_figures(committed: list[NightDecisions], watermark: dict[str, str]) -> dict[str, Any]:
    """The manifest's ``decisions`` figures: the watermark and what each night's reviews commit held."""
    return {"store": bool(watermark), "through_seq": int(watermark[SUMMARY_THROUGH]) if watermark else None,
            "committed": sum(n.committed for n in committed),
            "refused": sum(len(n.refused) for n in committed),
            "refused_ids": sorted({i for n in committed for i in n.refused})[:20],
            "nights": [{"run_id": n.run_id, "run_date": n.run_date, "committed": n.committed,
                        "refused": len(n.refused), "snapshot_id": n.snapshot_id} for n in committed]}


def summary_line(figures: dict[str, Any]) -> str:
    """A line for the backfill's printed summary."""
    if not figures["store"]:
        return "\n  decisions             no decisions store (none at WAREHOUSE/reviews.db; --store URI)"
    refused = (f"; REFUSED {figures['refused']} about ids the catalogue does not hold "
               f"(e.g. {', '.join(figures['refused_ids'][:3])})" if figures["refused"] else "")
    return (f"\n  decisions             {figures['committed']} committed to {REVIEWS} (store seq up to "
            f"{figures['through_seq']}){refused}")
