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
    """The queue, the store, and the decisions holding for the queue's rows (kept current from the store)."""

    def __init__(self, queue: Queue, store: DecisionStore, claim_minutes: float):
        self.queue = queue
        self.store = store
        self.claim_minutes = claim_minutes
        self._lock = threading.Lock()
        self._seen = 0
        self._holding: dict[str, dict[str, Decision]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Take in the decisions stored since the last look (by this process or any other)."""
        with self._lock:
            for decision in self.store.after(self._seen):
                self._seen = max(self._seen, decision.seq or 0)
                row = self.queue.row(decision.id)
                if row is not None and decision.input_hash == (row.get("input_hash") or ""):
                    self._holding.setdefault(decision.id, {})[decision.field] = decision

    def holding(self, record_id: str) -> dict[str, Decision]:
        """Field → the decision holding for the record as queued (about its current input)."""
        return dict(self._holding.get(record_id, {}))

    def is_done(self, row: Mapping[str, Any]) -> bool:
        held = self._holding.get(row["id"], {})
        return all(f in held for f in required_fields(row))

    def matching(self, filters: Filters) -> Iterator[int]:
        return (n for n, row in enumerate(self.queue.rows) if filters.matches(row))

    def progress(self, filters: Filters) -> tuple[int, int]:
        """(records done, records in the queue) among those the filters let through."""
        done = total = 0
        for n in self.matching(filters):
            total += 1
            done += self.is_done(self.queue.rows[n])
        return done, total

    def left(self, filters: Filters) -> Iterator[dict[str, Any]]:
        """The records still to decide, in queue order."""
        return (self.queue.rows[n] for n in self.matching(filters) if not self.is_done(self.queue.rows[n]))

    def next_for(self, reviewer: str, filters: Filters, after: int = -1) -> dict[str, Any] | None:
        """Claim and return the first record after position ``after`` (wrapping round once) that is
        still to decide and not claimed by another reviewer; None when there is none."""
        self.refresh()
        others = self.store.claimed_by_others(reviewer)
        rows = self.queue.rows
        order = list(range(after + 1, len(rows))) + list(range(0, min(after + 1, len(rows))))
        for n in order:
            row = rows[n]
            if row["id"] in others or not filters.matches(row) or self.is_done(row):
                continue
            if self.store.claim(row["id"], reviewer, self.claim_minutes):
                return row
        return None

    def previous_for(self, reviewer: str, filters: Filters, before: int) -> dict[str, Any] | None:
        """The nearest record before position ``before`` that the filters let through and no other
        reviewer holds, done or not (to look again at what was decided); claimed."""
        others = self.store.claimed_by_others(reviewer)
        for n in range(min(before, len(self.queue.rows)) - 1, -1, -1):
            row = self.queue.rows[n]
            if row["id"] not in others and filters.matches(row) and self.store.claim(row["id"], reviewer,
                                                                                       self.claim_minutes):
                return row
        return None

    def holder(self, record_id: str, reviewer: str) -> str | None:
        """Who else holds ``record_id`` now, if anyone."""
        return self.store.claimed_by_others(reviewer).get(record_id)

    def store_decisions(self, decisions: Sequence[Decision]) -> int:
        stored = self.store.add(decisions)
        self.refresh()
        return stored
