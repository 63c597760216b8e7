"""The JSON API (SPEC §9): the queue, storing decisions all or nothing, and the decisions made.

``GET /api/queue?limit=N&offset=M&field=F&reason=R&column=C&value=V`` → ``{"total", "done",
"records"}``: ``total`` records still to decide under the filters, the first ``limit`` of
them from ``offset``, each with its fields (value, confidence, source), OCR and who holds it.
``POST /api/decisions`` ``{"decisions": [...]}`` → ``{"stored": n}``, or 422 ``{"error",
"index"}`` naming the first bad decision, and nothing of the request stored.
``GET /api/decisions[?id=I][&holding=true]`` → ``{"decisions": [...]}`` in the SPEC §9 columns.
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Mapping

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from decisions import FIELDS, DecisionError, validate
from workbench.app import review_state, reviewer
from workbench.security import check_csrf
from workbench.state import Filters, ReviewState

router = APIRouter(prefix="/api")
MAX_LIMIT = 1000
MAX_BATCH = 10_000


def record_json(row: Mapping[str, Any], state: ReviewState, holders: Mapping[str, str]) -> dict[str, Any]:
    """One queued record as the API gives it."""
    held = state.holding(row["id"])
    fields = {f: {"value": row.get(f), "confidence": row.get(f"{f}_confidence"), "source": row.get(f"{f}_source"),
                  "decision": held[f].as_json() if f in held else None} for f in FIELDS}
    record = {"id": row["id"], "queue_position": row.get("queue_position"), "review_fields": row.get("review_fields"),
              "review_reasons": row.get("review_reasons"), "fields": fields,
              "ocr": {"back": row.get("back_ocr_lines"), "front": row.get("front_ocr_lines"),
                      "status": row.get("ocr_status")},
              "input_hash": row.get("input_hash"), "run_id": row.get("run_id"), "claimed_by": holders.get(row["id"])}
    for column in (*state.queue.filter_columns, *state.queue.image_columns):
        record[column] = row.get(column)
    return record


@router.get("/queue")
def queue(limit: int = Query(50, ge=0, le=MAX_LIMIT), offset: int = Query(0, ge=0), field: str = "",
          reason: str = "", column: str = "", value: str = "", state: ReviewState = Depends(review_state),
          who: str = Depends(reviewer)) -> dict[str, Any]:
    state.refresh()
    filters = Filters(field, reason, column, value)
    holders = state.store.claimed_by_others(who)
    done, total = state.progress(filters)
    page = itertools.islice(state.left(filters), offset, offset + limit)
    return {"total": total - done, "done": done, "queued": total,
            "records": [record_json(row, state, holders) for row in page]}


def _error(message: str, index: int | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "index": index}, status_code=422)


@router.post("/decisions", dependencies=[Depends(check_csrf)])
async def store_decisions(request: Request, state: ReviewState = Depends(review_state),
                          who: str = Depends(reviewer)) -> Any:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return _error("the body is not JSON: send {\"decisions\": [...]}")
    batch = body.get("decisions") if isinstance(body, dict) else None
    if not isinstance(batch, list):
        return _error("the body must be an object with a list \"decisions\"")
    if len(batch) > MAX_BATCH:
        return _error(f"at most {MAX_BATCH} decisions per request")
    # A decision without a reviewer is the caller's own (the session's reviewer, or X-Reviewer).
    batch = [{**item, "reviewer": item.get("reviewer") or who} if isinstance(item, dict) else item
             for item in batch]
    records = {item["id"]: state.queue.row(item["id"]) for item in batch
               if isinstance(item, dict) and isinstance(item.get("id"), str) and state.queue.row(item["id"])}
    try:
        decided = validate(batch, records)
    except DecisionError as error:
        return _error(str(error), error.index)
    return {"stored": state.store_decisions(decided)}


@router.get("/decisions")
def list_decisions(id: str | None = None, holding: bool = False,
                   state: ReviewState = Depends(review_state)) -> dict[str, Any]:
    found = state.store.holding([id] if id else None) if holding else state.store.history(id)
    return {"decisions": [d.as_json() for d in found]}
