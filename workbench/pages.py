"""The workbench's pages: the queue, one record at a time with its decisions, login, images, static files.

Server-rendered (Jinja2, autoescaped; one record's parts by ``formats.record_html``, shared
with the static report), each action a plain link or form, so the pages work by keyboard
without a script; ``static/workbench.js`` adds single-key shortcuts. Every form posting
here carries the session's CSRF token.
"""
from __future__ import annotations

import mimetypes
from typing import Any, Mapping
from urllib.parse import urlencode

import fsspec
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from decisions import ACCEPT, CORRECT, Decision, DecisionError, validate
from formats.record_html import (RECORD_STYLE, confidence_html, field_status, heading_html, ocr_html, reasons_html,
                                 source_html, value_html)
from workbench.app import HERE, review_state, reviewer, session
from workbench.security import COOKIE, Session, check_csrf, same_origin, set_session_cookie, token_matches
from workbench.state import Filters, ReviewState, required_fields

router = APIRouter()
PAGE_FIELDS = ("title", "agency", "photographer", "date", "description")  # as a cataloguer reads a print
STATIC = {"workbench.js": "text/javascript", "workbench.css": "text/css"}
MAX_IMAGE_BYTES = 64 * 1024 * 1024


def filters_from(request: Request) -> Filters:
    params = request.query_params
    return Filters(params.get("field", ""), params.get("reason", ""), params.get("column", ""),
                   params.get("value", ""))


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    state: ReviewState = request.app.state.review
    current: Session | None = request.state.session
    base = {"source": state.queue.source, "reviewer": current.reviewer if current else None,
            "csrf": current.csrf if current else "", "can_logout": request.app.state.config.token is not None
            and current is not None}
    html = request.app.state.templates.get_template(template).render(**base, **context)
    return HTMLResponse(html, status_code=status_code)


def login_page(request: Request, error: str | None = None) -> str:
    """The login form (the body of every 401 a browser gets)."""
    return request.app.state.templates.get_template("login.html").render(
        source="", reviewer=None, csrf="", can_logout=False, error=error and str(error))


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name == "record.css":
        return Response(RECORD_STYLE, media_type="text/css")
    if name not in STATIC:
        raise HTTPException(404)
    return FileResponse(HERE / "static" / name, media_type=STATIC[name])


@router.get("/", response_class=HTMLResponse)
def index(request: Request, message: str = "", state: ReviewState = Depends(review_state),
          who: str = Depends(reviewer)) -> HTMLResponse:
    state.refresh()
    filters = filters_from(request)
    done, total = state.progress(filters)
    rows = []
    for row in state.left(filters):
        rows.append(row)
        if len(rows) == 50:
            break
    column = state.queue.filter_columns[0] if state.queue.filter_columns else ""
    return _page(request, "index.html", done=done, total=total, rows=rows, filters=filters,
                 query=urlencode(filters.query()), fields=PAGE_FIELDS, reasons=state.queue.reasons(),
                 column=column, column_values=state.queue.column_values(column) if column else [],
                 claimed=state.store.claimed_by_others(who), message=message,
                 change_reviewer=request.app.state.config.token is None and request.state.session is not None)


def _to_record(row: Mapping[str, Any], filters: Filters, selected: str = "") -> RedirectResponse:
    query = {"id": row["id"], **filters.query(), **({"sel": selected} if selected else {})}
    return RedirectResponse(f"/record?{urlencode(query)}", status_code=303)


def _to_queue(filters: Filters, message: str) -> RedirectResponse:
    return RedirectResponse(f"/?{urlencode({**filters.query(), 'message': message})}", status_code=303)


@router.get("/next")
def next_record(request: Request, after: int = -1, state: ReviewState = Depends(review_state),
                who: str = Depends(reviewer)) -> RedirectResponse:
    filters = filters_from(request)
    row = state.next_for(who, filters, after)
    if row is None:
        return _to_queue(filters, "Nothing left to decide here that another reviewer is not holding.")
    return _to_record(row, filters)


@router.get("/prev")
def previous_record(request: Request, before: int = 0, state: ReviewState = Depends(review_state),
                    who: str = Depends(reviewer)) -> RedirectResponse:
    filters = filters_from(request)
    row = state.previous_for(who, filters, before)
    if row is None:
        return _to_queue(filters, "This is the first record.")
    return _to_record(row, filters)


def held_words(decision: Decision) -> str:
    when = decision.decided_at.strftime("%Y-%m-%d %H:%M UTC")
    if decision.decision == ACCEPT:
        return f"accepted by {decision.reviewer}, {when}"
    if decision.decision == CORRECT:
        return f"corrected to “{decision.value}” by {decision.reviewer}, {when}" if decision.value else \
            f"corrected to none (the print names none) by {decision.reviewer}, {when}"
    return f"unreadable, said {decision.reviewer}, {when}"


def _record_page(request: Request, state: ReviewState, row: Mapping[str, Any], who: str, selected: str = "",
                 error: str | None = None, status_code: int = 200) -> HTMLResponse:
    filters = filters_from(request)
    holder = None if state.store.claim(row["id"], who, state.claim_minutes) else state.holder(row["id"], who)
    held = state.holding(row["id"])
    undecided = [f for f in PAGE_FIELDS if f in required_fields(row) and f not in held]
    selected = selected if selected in PAGE_FIELDS else (undecided[0] if undecided else PAGE_FIELDS[0])
    thresholds = state.queue.thresholds
    fields = []
    for name in PAGE_FIELDS:
        decision = held.get(name)
        fields.append({
            "name": name, "status": field_status(row, name), "value": value_html(row, name),
            "confidence": confidence_html(row, name, thresholds.get(name)),
            "source": source_html(row, name) if name != "description" else "<td></td>",
            "held": decision, "held_words": held_words(decision) if decision else "",
            "current": decision.value if decision and decision.value is not None else (row.get(name) or "")})
    images = [(column, "/image?" + urlencode({"id": row["id"], "column": column}))
              for column in state.queue.image_columns if row.get(column)]
    done, total = state.progress(filters)
    return _page(request, "record.html", status_code=status_code, row=row, heading=heading_html(row),
                 reasons=reasons_html(row), ocr=ocr_html(row), fields=fields, selected=selected, images=images,
                 holder=holder, error=error, filters=filters, query=urlencode(filters.query()),
                 position=state.queue.position[row["id"]], done=done, total=total)


@router.get("/record", response_class=HTMLResponse)
def record(request: Request, id: str, sel: str = "", state: ReviewState = Depends(review_state),
           who: str = Depends(reviewer)) -> HTMLResponse:
    state.refresh()
    row = state.queue.row(id)
    if row is None:
        raise HTTPException(404, "no such record in this queue")
    return _record_page(request, state, row, who, sel)


@router.post("/decide", dependencies=[Depends(check_csrf)])
def decide(request: Request, id: str = Form(...), field: str = Form(...), decision: str = Form(...),
           value: str = Form(""), note: str = Form(""), state: ReviewState = Depends(review_state),
           who: str = Depends(reviewer)) -> Response:
    row = state.queue.row(id)
    if row is None:
        raise HTTPException(404, "no such record in this queue")
    holder = state.holder(id, who)
    if holder is not None:
        return _record_page(request, state, row, who, field, f"{holder} holds this record: not stored.", 409)
    # The form always sends the correction box; only "correct" means it.
    given = {"id": id, "field": field, "decision": decision, "reviewer": who, "note": note,
             "value": value if decision == CORRECT else None}
    try:
        state.store_decisions(validate([given], {id: row}))
    except DecisionError as error:
        return _record_page(request, state, row, who, field, str(error).removeprefix("decision 0: "), 422)
    held = state.holding(id)
    later = [f for f in PAGE_FIELDS[PAGE_FIELDS.index(field) + 1:] + PAGE_FIELDS
             if f in required_fields(row) and f not in held] if field in PAGE_FIELDS else []
    return _to_record(row, filters_from(request), later[0] if later else field)


@router.post("/reviewer", dependencies=[Depends(check_csrf)])
def set_reviewer(request: Request, reviewer_name: str = Form(..., alias="reviewer"),
                 current: Session | None = Depends(session)) -> RedirectResponse:
    name = reviewer_name.strip()
    if current is None or not name:
        raise HTTPException(400, "give a name")
    if name != current.reviewer:
        request.app.state.review.store.release(current.reviewer)
        current.reviewer = name
    return RedirectResponse("/", status_code=303)


@router.post("/login")
def login(request: Request, token: str = Form(""), reviewer_name: str = Form("", alias="reviewer")) -> Response:
    configured = request.app.state.config.token
    if not same_origin(request):
        raise HTTPException(403, "cross-site request refused (Origin is not this server)")
    if configured is None:
        return RedirectResponse("/", status_code=303)
    if not token_matches(token, configured) or not reviewer_name.strip():
        return HTMLResponse(login_page(request, "Wrong token, or no name given."), status_code=401)
    session_id, _ = request.app.state.sessions.open(reviewer_name.strip())
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, request, session_id)
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, current: Session | None = Depends(session)) -> RedirectResponse:
    if current is not None:
        request.app.state.review.store.release(current.reviewer)
    request.app.state.sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/image")
def image(id: str, column: str, state: ReviewState = Depends(review_state)) -> Response:
    """A print's image, read by the server (local path or ``gs://``, through fsspec): the page never
    names an outside URL, so it works offline and the CSP can forbid every other origin."""
    row = state.queue.row(id)
    if row is None or column not in state.queue.image_columns or not row.get(column):
        raise HTTPException(404, "no such image")
    uri = str(row[column])
    media_type, _ = mimetypes.guess_type(uri)
    if not media_type or not media_type.startswith("image/"):
        raise HTTPException(415, f"not an image by its name: {uri}")
    try:
        with fsspec.open(uri, "rb") as handle:
            content = handle.read(MAX_IMAGE_BYTES + 1)
    except (OSError, ValueError) as error:
        raise HTTPException(404, f"cannot read the image ({type(error).__name__})") from None
    if len(content) > MAX_IMAGE_BYTES:
        raise HTTPException(413, "image larger than the workbench serves")
    return Response(content, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})
