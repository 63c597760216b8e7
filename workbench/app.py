"""The workbench's FastAPI application: security middleware, the pages, the JSON API, static files.

``create_app`` takes a loaded ``ReviewState`` (queue + store), so tests and the benchmark build
the app in-process and serve it with TestClient or uvicorn alike. The dependencies in this
module hand routes the state and the acting reviewer.
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.templating import Jinja2Templates

from decisions import DEFAULT_CLAIM_MINUTES
from workbench.security import Session, Sessions, authentication_middleware
from workbench.state import ReviewState

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class WorkbenchConfig:
    """How the app lets people in: ``token`` None only on a loopback address (``workbench.cli`` checks)."""

    token: str | None = None
    reviewer: str = ""  # who a session acts for until the reviewer gives a name (no-token mode)
    claim_minutes: float = DEFAULT_CLAIM_MINUTES


def default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def review_state(request: Request) -> ReviewState:
    """Dependency: the queue and store this app serves."""
    return request.app.state.review


def session(request: Request) -> Session | None:
    """Dependency: the browser session (None for a Bearer-authenticated request)."""
    return request.state.session


def reviewer(request: Request) -> str:
    """Dependency: who acts: the session's reviewer, else (Bearer) the ``X-Reviewer`` header, else ``api``."""
    current: Session | None = request.state.session
    return current.reviewer if current is not None else (request.headers.get("x-reviewer") or "api").strip()


def create_app(state: ReviewState, config: WorkbenchConfig = WorkbenchConfig()) -> FastAPI:
    """The app serving ``state`` under ``config``."""
    from workbench import api, pages

    app = FastAPI(title="Backstamp review workbench", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.review = state
    app.state.config = config
    app.state.sessions = Sessions()
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.middleware("http")(authentication_middleware(config.token, config.reviewer or default_reviewer(),
                                                     app.state.sessions, pages.login_page))
    app.include_router(pages.router)
    app.include_router(api.router)
    return app
