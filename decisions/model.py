"""What a decision is (SPEC §9), and the check that turns a request's decisions into stored ones.

A request names only ``id``, ``field``, ``decision``, ``value``, ``reviewer`` and ``note``;
the rest (``model_value``, ``model_confidence``, ``input_hash``, ``model_version``,
``run_id``, ``kind``) comes from the record reviewed, so a decision always says which
output of the job it judged. A batch is checked whole before anything is stored: the first
bad decision is named (its position and why) and none of the batch is kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

FIELDS: tuple[str, ...] = ("description", "title", "agency", "photographer", "date")
ACCEPT, CORRECT, UNREADABLE = "accept", "correct", "unreadable"
DECISIONS: tuple[str, ...] = (ACCEPT, CORRECT, UNREADABLE)
REVIEW, SPOT_CHECK = "review", "spot_check"
KINDS: tuple[str, ...] = (REVIEW, SPOT_CHECK)
REQUEST_KEYS = frozenset(("id", "field", "decision", "value", "reviewer", "note", "kind"))
MAX_TEXT = 10_000  # a value or note longer than this is a pasting accident, not a catalogue field


@dataclass(frozen=True)
class Decision:
    """One person's word on one field of one processed record (the SPEC §9 columns; ``seq`` once stored)."""

    id: str
    field: str
    decision: str
    value: str | None
    model_value: str | None
    model_confidence: float | None
    input_hash: str
    model_version: str
    run_id: str
    kind: str
    reviewer: str
    note: str
    decided_at: datetime
    seq: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The decision as JSON-ready values (``decided_at`` in ISO 8601, UTC)."""
        row = {name: getattr(self, name) for name in self.__dataclass_fields__}
        row["decided_at"] = self.decided_at.isoformat()
        return row


class DecisionError(ValueError):
    """A batch with a bad decision; ``index`` is its 0-based position, the message says what is wrong."""

    def __init__(self, index: int, message: str):
        super().__init__(f"decision {index}: {message}")
        self.index = index


def _text(value: Any, name: str, index: int, required: bool) -> str | None:
    if value is None:
        if required:
            raise DecisionError(index, f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise DecisionError(index, f"{name} must be a string, not {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise DecisionError(index, f"{name} is longer than {MAX_TEXT} characters")
    return value


def validate(batch: Sequence[Mapping[str, Any]], records: Mapping[str, Mapping[str, Any]],
             now: datetime | None = None) -> list[Decision]:
    """The decisions of ``batch`` (request dicts) about ``records`` (id → the output row reviewed).

    Raises DecisionError naming the first bad one: not an object, an unknown key, an id not in
    ``records``, a field not one of FIELDS, a decision word not one of DECISIONS, ``correct``
    without a value, ``accept`` with a value other than the job's, ``unreadable`` with a value,
    no reviewer, an unknown ``kind``. ``kind`` defaults to ``review`` for a field the job sent
    to review and ``spot_check`` for one it vouched for.
    """
    decided_at = now or datetime.now(timezone.utc)
    stored: list[Decision] = []
    for index, item in enumerate(batch):
        if not isinstance(item, Mapping):
            raise DecisionError(index, "must be an object with id, field, decision, value, reviewer, note")
        unknown = sorted(set(item) - REQUEST_KEYS)
        if unknown:
            raise DecisionError(index, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(REQUEST_KEYS))})")
        record_id = _text(item.get("id"), "id", index, required=True)
        if record_id not in records:
            raise DecisionError(index, f"unknown id {record_id!r}: not a record of this queue")
        field = item.get("field")
        if field not in FIELDS:
            raise DecisionError(index, f"unknown field {field!r} (one of {', '.join(FIELDS)})")
        word = item.get("decision")
        if word not in DECISIONS:
            raise DecisionError(index, f"bad decision {word!r} (one of {', '.join(DECISIONS)})")
        row = records[record_id]
        model_value = row.get(field)
        value = _text(item.get("value"), "value", index, required=False)
        if word == CORRECT and value is None:
            raise DecisionError(index, f"correct without a value for {record_id!r} {field} "
                                       "(\"\" says the print names none)")
        if word == ACCEPT:
            if value is not None and value != (model_value or ""):
                raise DecisionError(index, f"accept with a value other than the job's for {record_id!r} {field}: "
                                           "use correct")
            value = model_value or ""
        if word == UNREADABLE and value:
            raise DecisionError(index, f"unreadable with a value for {record_id!r} {field}: use correct")
        if word == UNREADABLE:
            value = None
        reviewer = _text(item.get("reviewer"), "reviewer", index, required=True)
        if not reviewer.strip():
            raise DecisionError(index, "reviewer is empty")
        note = _text(item.get("note"), "note", index, required=False) or ""
        kind = item.get("kind") or (REVIEW if field in (row.get("review_fields") or ()) else SPOT_CHECK)
        if kind not in KINDS:
            raise DecisionError(index, f"bad kind {kind!r} (one of {', '.join(KINDS)})")
        confidence = row.get(f"{field}_confidence")
        stored.append(Decision(
            id=record_id, field=field, decision=word, value=value, model_value=model_value,
            model_confidence=None if confidence is None else float(confidence),
            input_hash=row.get("input_hash") or "", model_version=row.get("model_version") or "",
            run_id=row.get("run_id") or "", kind=kind, reviewer=reviewer.strip(), note=note,
            decided_at=decided_at))
    return stored
