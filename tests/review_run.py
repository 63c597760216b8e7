"""A hand-made run folder with the SPEC §5b review columns, for the review queue and report tests.

Written as the job writes a run (``records/*.parquet``, ``manifest.json``) so the tests
do not depend on a model's output; ``tests/test_review_queue.py`` also checks a real run.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FIELDS = ("title", "agency", "photographer", "date")
HOSTILE = "<script>document.body.setAttribute('data-pwned', 'yes')</script>"

RECORD_SCHEMA = pa.schema(
    [("id", pa.string()), ("language", pa.string()), ("description", pa.string())]
    + [(f, pa.string()) for f in FIELDS]
    + [("date_iso", pa.string()), ("parse_status", pa.string()), ("raw_output", pa.string()),
       ("prompt_tokens", pa.int32()), ("output_tokens", pa.int32()), ("truncated", pa.bool_()),
       ("run_id", pa.string()), ("processed_at", pa.timestamp("us", tz="UTC"))]
    + [(f"{f}_confidence", pa.float64()) for f in FIELDS]
    + [(f"{f}_source", pa.string()) for f in FIELDS]
    + [("review_fields", pa.list_(pa.string())), ("review_reasons", pa.list_(pa.string())),
       ("needs_review", pa.bool_()), ("collection", pa.string())])


def record(record_id: str, review: dict[str, str] | None = None, reasons: list[str] | None = None,
           **values: Any) -> dict[str, Any]:
    """One output row. ``review`` maps a field to its reason code; ``values`` overrides any column."""
    review = review or {}
    row: dict[str, Any] = {
        "id": record_id, "language": "en", "description": f"A photo ({record_id}).",
        "title": "WILLIAM DOIG", "agency": "Keystone", "photographer": "", "date": "1994", "date_iso": "1994",
        "parse_status": "ok", "raw_output": "<language> en <rewrite> ...", "prompt_tokens": 40,
        "output_tokens": 20, "truncated": False, "run_id": "run-1",
        "processed_at": datetime(2026, 11, 30, tzinfo=timezone.utc), "collection": "box 7",
        "title_confidence": 0.97, "agency_confidence": 0.95, "photographer_confidence": None,
        "date_confidence": 0.9, "title_source": "back:0", "agency_source": "back:1", "photographer_source": "",
        "date_source": "front:1",
    }
    row.update(values)
    row["review_fields"] = sorted(review)
    row["review_reasons"] = [f"{reason}:{field}" for field, reason in sorted(review.items())] + (reasons or [])
    row["needs_review"] = bool(row["review_fields"] or row["review_reasons"])
    return row


def write_run(folder: Path, rows: list[dict], input_rows: list[dict] | None = None,
              options: dict[str, Any] | None = None, input_schema: pa.Schema | None = None) -> Path:
    """Write ``rows`` as a run under ``folder/out`` (two Parquet files) and ``input_rows`` as its input."""
    out = folder / "out"
    (out / "records").mkdir(parents=True)
    half = len(rows) // 2
    for n, part in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist(part, schema=RECORD_SCHEMA), out / "records" / f"part-{n}.parquet")
    manifest = {"run_id": "run-1", "model_version": "demo-1234", "input": str(folder / "input" / "*.parquet"),
                "output": str(out), "started_at": "2026-11-30T01:00:00+00:00",
                "finished_at": "2026-11-30T01:01:00+00:00", "wall_seconds": 60.0, "records_read": len(rows) + 1,
                "records_written": len(rows), "records_dead_lettered": 1, "records_skipped": 0,
                "count_invariant_holds": True, "parse_status": {"ok": len(rows), "partial": 0, "unparsed": 0},
                "dead_letter_reasons": {"empty_ocr": 1}, "truncated": 0, "options": options or {},
                "review": {"records": sum(row["needs_review"] for row in rows),
                           "fields": sum(len(row["review_fields"]) for row in rows)}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    if input_rows is not None:
        (folder / "input").mkdir()
        pq.write_table(pa.Table.from_pylist(input_rows, schema=input_schema), folder / "input" / "part-0.parquet")
    return out
