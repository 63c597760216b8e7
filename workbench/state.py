"""The queue a workbench serves, and where each reviewer stands in it.

The queue (``formats.queue``, in the job's order) is loaded once, when the server starts;
the decisions and claims live in the store (``decisions``), so that several workbench
processes on one store agree. Each request first reads the decisions stored since the last
one it saw (``DecisionStore.after``), which keeps "what is decided" current at the cost of
one indexed query.

A record is done when each field it was sent to review for (or drawn as a spot check) has a
holding decision about the same ``input_hash`` (a decision about other OCR does not count); a record sent to review for
record-level reasons only (``loop``, ``truncated``...) with no field named needs all five.
"""
from __future__ import annotations

import bisect
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import pyarrow as pa

from decisions import FIELDS, Decision, DecisionStore


@dataclass(frozen=True)
class Filters:
    """What a reviewer asked to see: a field sent to review, a reason (``low_confidence`` matches
    ``low_confidence:title``), and a value of one chosen input column."""

    field: str = ""
    reason: str = ""
    column: str = ""
    value: str = ""

    def matches(self, row: Mapping[str, Any]) -> bool:
        if self.field and self.field not in required_fields(row):
            return False
        if self.reason and not any(r == self.reason or r.startswith(self.reason + ":")
                                   for r in row.get("review_reasons") or ()):
            return False
        if self.column and self.value and str(row.get(self.column, "")) != self.value:
            return False
        return True

    def query(self) -> dict[str, str]:
        """The filters as URL query parameters (only those set)."""
        chosen = (("column", self.column), ("value", self.value)) if self.column and self.value else ()
        return {name: value for name, value in (("field", self.field), ("reason", self.reason), *chosen) if value}


def fields_to_judge(row: Mapping[str, Any]) -> set[str]:
    """The fields the queue asks a person about: those sent to review and those drawn as spot checks."""
    return {*(row.get("review_fields") or ()), *(row.get("spot_check_fields") or ())}


def required_fields(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields a record is done with once each holds a decision."""
    named = tuple(f for f in FIELDS if f in fields_to_judge(row))
    return named or FIELDS


@dataclass
class Queue:
    """The loaded queue: rows in queue order (dicts of the queue table) and where to find each id."""

    rows: list[dict[str, Any]]
    source: str  # what it was built from, in words
    thresholds: dict[str, float] = field(default_factory=dict)
    filter_columns: tuple[str, ...] = ()
    image_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.position = {row["id"]: n for n, row in enumerate(self.rows)}

    @classmethod
    def from_table(cls, table: pa.Table, source: str, **options: Any) -> "Queue":
        return cls(table.to_pylist(), source, **options)

    def row(self, record_id: str) -> dict[str, Any] | None:
        n = self.position.get(record_id)
        return None if n is None else self.rows[n]

    def column_values(self, column: str) -> list[str]:
        """The distinct values of a filter column, sorted (for the filter's choices)."""
        return sorted({str(row.get(column)) for row in self.rows if row.get(column) is not None})

    def reasons(self) -> list[str]:
        """The reason codes in the queue, without their field (``low_confidence``, ``loop``...)."""
        return sorted({r.split(":")[0] for row in self.rows for r in row.get("review_reasons") or ()})


class ReviewState:
    """The queue, the store, and the decisions holding for the queue's rows (kept current from the store).

    Cheap per request on a queue of 100,000 records: the records done are a set kept up to date
    as decisions arrive, and the positions each filter lets through are computed once (the queue
    does not change while the server runs).
    """

    MATCHING_CACHE = 64  # filter combinations kept

    def __init__(self, queue: Queue, store: DecisionStore, claim_minutes: float):
        self.queue = queue
        self.store = store
        self.claim_minutes = claim_minutes
        self._lock = threading.Lock()
        self._seen = 0
        self._holding: dict[str, dict[str, Decision]] = {}
        self._done: set[str] = set()
        self._matching: dict[Filters, list[int]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Take in the decisions stored since the last look (by this process or any other)."""
        with self._lock:
            for decision in self.store.after(self._seen):
                self._seen = max(self._seen, decision.seq or 0)
                row = self.queue.row(decision.id)
                if row is not None and decision.input_hash == (row.get("input_hash") or ""):
                    held = self._holding.setdefault(decision.id, {})
                    held[decision.field] = decision
                    if all(f in held for f in required_fields(row)):
                        self._done.add(decision.id)

    def holding(self, record_id: str) -> dict[str, Decision]:
        """Field → the decision holding for the record as queued (about its current input)."""
        return dict(self._holding.get(record_id, {}))

    def is_done(self, row: Mapping[str, Any]) -> bool:
        return row["id"] in self._done

    def matching(self, filters: Filters) -> list[int]:
        """The queue positions ``filters`` let through, in queue order."""
        found = self._matching.get(filters)
        if found is None:
            found = [n for n, row in enumerate(self.queue.rows) if filters.matches(row)]
            if len(self._matching) >= self.MATCHING_CACHE:
                self._matching.clear()
            self._matching[filters] = found
        return found

    def progress(self, filters: Filters) -> tuple[int, int]:
        """(records done, records in the queue) among those the filters let through."""
        if not filters.query():
            return len(self._done), len(self.queue.rows)
        positions = self.matching(filters)
        return sum(self.queue.rows[n]["id"] in self._done for n in positions), len(positions)

    def left(self, filters: Filters) -> Iterator[dict[str, Any]]:
        """The records still to decide, in queue order."""
        return (self.queue.rows[n] for n in self.matching(filters) if self.queue.rows[n]["id"] not in self._done)

    def next_for(self, reviewer: str, filters: Filters, after: int = -1) -> dict[str, Any] | None:
        """Claim and return the first record after position ``after`` (wrapping round once) that is
        still to decide and not claimed by another reviewer; None when there is none."""
        self.refresh()
        others = self.store.claimed_by_others(reviewer)
        positions = self.matching(filters)
        start = bisect.bisect_right(positions, after)
        for n in itertools.chain(positions[start:], positions[:start]):
            row = self.queue.rows[n]
            if row["id"] in others or row["id"] in self._done:
                continue
            if self.store.claim(row["id"], reviewer, self.claim_minutes):
                return row
        return None

    def previous_for(self, reviewer: str, filters: Filters, before: int) -> dict[str, Any] | None:
        """The nearest record before position ``before`` that the filters let through and no other
        reviewer holds, done or not (to look again at what was decided); claimed."""
        others = self.store.claimed_by_others(reviewer)
        positions = self.matching(filters)
        for n in reversed(positions[:bisect.bisect_left(positions, before)]):
            row = self.queue.rows[n]
            if row["id"] not in others and self.store.claim(row["id"], reviewer, self.claim_minutes):
                return row
        return None

    def holder(self, record_id: str, reviewer: str) -> str | None:
        """Who else holds ``record_id`` now, if anyone."""
        return self.store.claimed_by_others(reviewer).get(record_id)

    def store_decisions(self, decisions: Sequence[Decision]) -> int:
        stored = self.store.add(decisions)
        self.refresh()
        return stored
