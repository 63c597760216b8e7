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
HOSTILE_ID = 'x" onmouseover="alert(1)'

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
              options: dict[str, Any] | None = None, input_schema: pa.Schema | None = None,
              schema: pa.Schema = RECORD_SCHEMA) -> Path:
    """Write ``rows`` as a run under ``folder/out`` (two Parquet files) and ``input_rows`` as its input."""
    out = folder / "out"
    (out / "records").mkdir(parents=True)
    half = len(rows) // 2
    for n, part in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist(part, schema=schema), out / "records" / f"part-{n}.parquet")
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


# --- a run for the workbench: hashes as the job writes them, a filter column, the print's images ------------------

WORKBENCH_SCHEMA = RECORD_SCHEMA.append(pa.field("input_hash", pa.string())).append(
    pa.field("model_version", pa.string())).append(pa.field("front_image", pa.string())).append(
    pa.field("back_image", pa.string()))
BACK = ["KEYSTONE PRESS AGENCY", "PHOTO: WILLIAM DOIG, LONDON", "RETURN TO FILE"]
FRONT = ["ME", "1994"]


def _png(path: Path, side: str, seed: int) -> str:
    """A stand-in scan of the print (no real photograph in the tests): the front a soft grey picture, the back
    paper with dark bands where typed lines and a stamp would be."""
    import numpy as np
    from matplotlib.image import imsave

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:120, 0:160] / 160.0
    if side == "front":
        picture = 0.35 + 0.3 * np.sin(3 * x + seed) * np.cos(2 * y) + 0.05 * rng.standard_normal(x.shape)
    else:
        picture = 0.93 + 0.02 * rng.standard_normal(x.shape)
        for row in (18, 34, 50):  # typed lines
            picture[row:row + 5, 12:12 + int(rng.integers(70, 130))] = 0.25
        picture[78:104, 96:148] = 0.55  # a stamp
    imsave(path, np.clip(picture, 0, 1), cmap="gray", vmin=0, vmax=1)
    return str(path)


def write_workbench_run(folder: Path) -> Path:
    """A run of six records, five in the review queue (in this order: ``r-title``, hostile, ``r-agency``,
    ``r-date``, ``r-loop``), with input hashes that match their OCR, a ``collection`` column and images."""
    from formats.prompt import prompt_hash
    from formats.queue import possible_prompts
    from formats.records import validate_row

    (folder / "images").mkdir(parents=True)
    rows = [
        record("vouched", title_source="back:1", agency_source="back:0"),
        record("r-title", review={"title": "low_confidence"}, title_confidence=0.21, title_source="back:1",
               agency_source="back:0"),
        record("r-agency", review={"agency": "not_in_ocr"}, agency="Reuters", agency_confidence=0.4,
               agency_source="", title_source="back:1", collection="box 9"),
        record("r-date", review={"date": "date_unreadable"}, date="13.13.1913", date_iso=None, date_confidence=0.5,
               date_source="", title_source="back:1", agency_source="back:0"),
        record(HOSTILE_ID, review={"title": "not_in_ocr"}, title=HOSTILE, title_source="", title_confidence=0.3,
               agency_source="back:0", collection=HOSTILE),
        record("r-loop", reasons=["loop"], title_source="back:1", agency_source="back:0", title_confidence=0.99),
    ]
    inputs = []
    for n, row in enumerate(rows):
        back = BACK + [HOSTILE] if row["id"] == HOSTILE_ID else BACK
        source = {"id": row["id"], "front_ocr": FRONT, "back_ocr": back, "language": "en"}
        inputs.append(source)
        row["input_hash"] = prompt_hash(next(possible_prompts(validate_row(source))))
        row["model_version"] = "demo-1234"
        row["front_image"] = _png(folder / "images" / f"{n}-front.png", "front", n)
        row["back_image"] = _png(folder / "images" / f"{n}-back.png", "back", n)
    return write_run(folder, rows, inputs, schema=WORKBENCH_SCHEMA)



def workbench_app(run: Path, store_uri: str, token: str | None = None, reviewer: str = "ann",
                  claim_minutes: float = 15.0, spot_check_rate: float = 0.0):
    """The workbench app over ``run`` (images and the collection filter on), as ``python -m pipeline workbench``
    builds it."""
    from decisions import DecisionStore
    from workbench.app import WorkbenchConfig, create_app
    from workbench.source import open_source, queue_from
    from workbench.state import ReviewState

    queue = queue_from(open_source(run=str(run), spot_check_rate=spot_check_rate),
                       image_columns=("front_image", "back_image"), filter_columns=("collection",))
    return create_app(ReviewState(queue, DecisionStore(store_uri), claim_minutes),
                      WorkbenchConfig(token=token, reviewer=reviewer, claim_minutes=claim_minutes))
