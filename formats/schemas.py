"""Arrow schemas of the output (SPEC §5, §5b) and the dead letter (SPEC §5). pyarrow only.

Carried input columns are appended after the output fields; one whose name collides
with an output field is written as ``input_<name>`` so neither value is lost.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from formats.tags import REVIEWED_FIELDS

TIMESTAMP = pa.timestamp("us", tz="UTC")
STAGES: tuple[str, ...] = ("read", "validate", "prompt", "inference", "parse")
CARRIED_PREFIX = "input_"

OUTPUT_FIELDS: list[pa.Field] = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("language", pa.string(), nullable=False),
    pa.field("description", pa.string(), nullable=False),
    pa.field("title", pa.string(), nullable=False),
    pa.field("agency", pa.string(), nullable=False),
    pa.field("photographer", pa.string(), nullable=False),
    pa.field("date", pa.string(), nullable=False),
    pa.field("date_iso", pa.string(), nullable=True),
    pa.field("parse_status", pa.string(), nullable=False),
    pa.field("raw_output", pa.string(), nullable=False),
    pa.field("prompt_tokens", pa.int32(), nullable=False),
    pa.field("output_tokens", pa.int32(), nullable=False),
    pa.field("truncated", pa.bool_(), nullable=False),
    pa.field("input_hash", pa.string(), nullable=False),
    pa.field("model_version", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("processed_at", TIMESTAMP, nullable=False),
    # SPEC §5b: how far the job vouches for each field (formats/review.py)
    *(column for name in REVIEWED_FIELDS for column in (
        pa.field(f"{name}_confidence", pa.float64(), nullable=True),
        pa.field(f"{name}_source", pa.string(), nullable=False))),
    pa.field("description_confidence", pa.float64(), nullable=True),  # null when the description is empty
    pa.field("review_fields", pa.list_(pa.string()), nullable=False),
    pa.field("review_reasons", pa.list_(pa.string()), nullable=False),
    pa.field("needs_review", pa.bool_(), nullable=False),
]
OUTPUT_NAMES = frozenset(f.name for f in OUTPUT_FIELDS)

DEAD_LETTER_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=True),  # null when the row had no usable id
    pa.field("stage", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("detail", pa.string(), nullable=False),
    pa.field("record_json", pa.string(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("failed_at", TIMESTAMP, nullable=False),
])


# The catalogue tables' own columns (SPEC §8), appended to the output and dead-letter rows of a backfill:
# the night (the partition), and on output rows the marker of an id that left the catalogue that night.
RUN_DATE_FIELD = pa.field("run_date", pa.date32(), nullable=False)
WITHDRAWN_FIELD = pa.field("withdrawn", pa.bool_(), nullable=False)
CATALOG_NAMES = frozenset((RUN_DATE_FIELD.name, WITHDRAWN_FIELD.name))


def carried_name(name: str) -> str:
    """The output name of a carried input column: ``input_<name>`` if it collides, else unchanged."""
    return CARRIED_PREFIX + name if name in OUTPUT_NAMES else name


def output_schema(carried: pa.Schema | None = None) -> pa.Schema:
    """The output fields followed by the carried columns (renamed by ``carried_name``).

    Carried columns become nullable, since a row may lack a value. Raises ValueError when
    a renamed column still collides (e.g. input columns ``title`` and ``input_title``),
    so the job stops before any work instead of writing an ambiguous file.
    """
    fields = list(OUTPUT_FIELDS)
    names = set(OUTPUT_NAMES)
    for column in carried or []:
        name = carried_name(column.name)
        if name in names:
            raise ValueError(f"carried input column {column.name!r} would be written as {name!r}, "
                             "which another column already uses; rename one of them")
        names.add(name)
        fields.append(pa.field(name, column.type, nullable=True, metadata=column.metadata))
    return pa.schema(fields)


def dead_letter_row(*, record_id: str | None, stage: str, reason: str, detail: str, record_json: str,
                    run_id: str, failed_at: datetime) -> dict[str, Any]:
    """One dead-letter row in ``DEAD_LETTER_SCHEMA`` order; an unknown stage is a bug, so it raises."""
    if stage not in STAGES:
        raise ValueError(f"unknown dead-letter stage {stage!r}; expected one of {STAGES}")
    return {"id": record_id, "stage": stage, "reason": reason, "detail": detail,
            "record_json": record_json, "run_id": run_id, "failed_at": failed_at}

