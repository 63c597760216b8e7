"""Who may use the workbench, and how a page from elsewhere is kept from acting in a reviewer's name.

* **Authentication** (a middleware, so no route can forget it): with no token (allowed only on
  a loopback address, ``workbench.cli`` refuses otherwise) every request is let in and given a
  session. With a token, a request is let in when it carries ``Authorization: Bearer TOKEN``
  or the cookie of a session opened by the login form (``POST /login`` with the token and the
  reviewer's name); any other request gets 401 and, for a browser, the login form — never data.
* **Cross-site request forgery**: a state-changing request made with a session cookie must
  carry the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``), and
  its ``Origin`` (or ``Referer``), when sent, must be this server. A Bearer request needs
  neither: browsers never attach that header on their own. Cookies are ``HttpOnly`` and
  ``SameSite=Strict``.
* **What a page may load**: a Content-Security-Policy allowing only the app's own scripts,
  styles and images, no framing, forms posting only here.

Sessions live in this process's memory: a restarted server asks reviewers to log in again
(their decisions are in the store, nothing is lost).
"""
from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from fastapi import HTTPException, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

COOKIE = "backstamp_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}
LOOPBACK = frozenset(("127.0.0.1", "localhost", "::1"))


@dataclass
class Session:
    """One browser's session: the reviewer it acts for and its CSRF token."""

    reviewer: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


class Sessions:
    """Session id (the cookie, 256 random bits) → Session, in memory."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, reviewer: str) -> tuple[str, Session]:
        session_id, session = secrets.token_urlsafe(32), Session(reviewer)
        with self._lock:
            self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        return self._by_id.get(session_id) if session_id else None

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison, so the token cannot be guessed a character at a time."""
    return given is not None and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")


def unauthenticated(request: Request, login_page: Callable[[Request], str]) -> Response:
    """401: JSON for the API, the login form for a browser; a Bearer challenge either way."""
    headers = {"WWW-Authenticate": 'Bearer realm="backstamp workbench"', **SECURITY_HEADERS}
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": "authentication required: Authorization: Bearer TOKEN, or log in"},
                            status_code=401, headers=headers)
    return HTMLResponse(login_page(request), status_code=401, headers=headers)


def authentication_middleware(token: str | None, default_reviewer: str, sessions: Sessions,
                              login_page: Callable[[Request], str]):
    """The middleware: sets ``request.state.session`` (None for a Bearer request) and
    ``request.state.bearer``; answers 401 to whatever is not authenticated."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        session_id = request.cookies.get(COOKIE)
        session = sessions.get(session_id)
        request.state.bearer = False
        new_session_id = None
        if token is None:
            if session is None:
                new_session_id, session = sessions.open(default_reviewer)
        elif token_matches(bearer(request), token):
            request.state.bearer = True
        elif session is None and not (request.url.path == "/login" and request.method == "POST"):
            return unauthenticated(request, login_page)
        request.state.session = session
        response = await call_next(request)
        if new_session_id:
            set_session_cookie(response, request, new_session_id)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return middleware


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (else ``Referer``), when sent, is this server."""
    here = f"{request.url.scheme}://{request.headers.get('host', '')}"
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == here
    referer = request.headers.get("referer")
    return referer is None or referer == here or referer.startswith(here + "/")


async def check_csrf(request: Request) -> None:
    """The dependency every state-changing route has: 403 unless the request is Bearer-authenticated or
    carries its session's CSRF token from this server's own pages."""
    if request.state.bearer:
        return
    session: Session | None = request.state.session
    if not same_origin(request):
        raise HTTPException(403, "cross-site request refused (Origin is not this server)")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        given = (await request.form()).get(CSRF_FIELD)
    if session is None or not isinstance(given, str) or not hmac.compare_digest(given, session.csrf):
        raise HTTPException(403, "cross-site request refused: missing or wrong CSRF token "
                                 f"(send the session's token as {CSRF_FIELD} or the {CSRF_HEADER} header)")
