"""Output and dead-letter schemas equal SPEC §5 and §5b."""
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from formats.schemas import (
    DEAD_LETTER_SCHEMA, OUTPUT_FIELDS, carried_name, dead_letter_row, output_schema,
)

UTC_US = pa.timestamp("us", tz="UTC")


def test_output_fields_follow_spec():
    assert [(f.name, f.type) for f in OUTPUT_FIELDS] == [
        ("id", pa.string()), ("language", pa.string()), ("description", pa.string()), ("title", pa.string()),
        ("agency", pa.string()), ("photographer", pa.string()), ("date", pa.string()),
        ("date_iso", pa.string()), ("parse_status", pa.string()), ("raw_output", pa.string()),
        ("prompt_tokens", pa.int32()), ("output_tokens", pa.int32()), ("truncated", pa.bool_()),
        ("input_hash", pa.string()), ("model_version", pa.string()), ("run_id", pa.string()),
        ("processed_at", UTC_US),
        # SPEC §5b
        ("title_confidence", pa.float64()), ("title_source", pa.string()),
        ("agency_confidence", pa.float64()), ("agency_source", pa.string()),
        ("photographer_confidence", pa.float64()), ("photographer_source", pa.string()),
        ("date_confidence", pa.float64()), ("date_source", pa.string()),
        ("description_confidence", pa.float64()),
        ("review_fields", pa.list_(pa.string())), ("review_reasons", pa.list_(pa.string())),
        ("needs_review", pa.bool_()),
    ]
    assert [f.name for f in OUTPUT_FIELDS if f.nullable] == [
        "date_iso", "title_confidence", "agency_confidence", "photographer_confidence", "date_confidence",
        "description_confidence"]


def test_dead_letter_schema_follows_spec():
    assert [(f.name, f.type) for f in DEAD_LETTER_SCHEMA] == [
        ("id", pa.string()), ("stage", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
        ("record_json", pa.string()), ("run_id", pa.string()), ("failed_at", UTC_US),
    ]


def test_carried_columns_are_appended_and_renamed_on_collision():
    schema = output_schema(pa.schema([("title", pa.string()), ("box", pa.int64())]))
    assert schema.names[-2:] == ["input_title", "box"]
    assert schema.field("box").type == pa.int64()
    assert carried_name("title") == "input_title" and carried_name("box") == "box"
    assert output_schema(None).names == [f.name for f in OUTPUT_FIELDS]


def test_a_rename_that_still_collides_stops_early():
    with pytest.raises(ValueError, match="input_title"):
        output_schema(pa.schema([("title", pa.string()), ("input_title", pa.string())]))


def test_rows_fit_the_schemas():
    now = datetime.now(timezone.utc)
    dead = dead_letter_row(record_id=None, stage="validate", reason="missing_id", detail="id is None",
                           record_json="{}", run_id="run", failed_at=now)
    assert pa.Table.from_pylist([dead], schema=DEAD_LETTER_SCHEMA).num_rows == 1
    with pytest.raises(ValueError):
        dead_letter_row(record_id="x", stage="write", reason="r", detail="", record_json="{}", run_id="r",
                        failed_at=now)
    output = {"id": "r1", "language": "en", "description": "d", "title": "t", "agency": "", "photographer": "",
              "date": "1994", "date_iso": None, "parse_status": "ok", "raw_output": "<language> en",
              "prompt_tokens": 10, "output_tokens": 5, "truncated": False, "input_hash": "0" * 64,
              "model_version": "v", "run_id": "run", "processed_at": now, "input_title": "x"}
    schema = output_schema(pa.schema([("title", pa.string())]))
    assert pa.Table.from_pylist([output], schema=schema).column("input_title").to_pylist() == ["x"]
