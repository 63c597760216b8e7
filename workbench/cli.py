"""``python -m pipeline workbench (--run RUN | --warehouse W) [--store URI] [--host] [--port] [--token]``.

Loads the queue, opens the store and serves the app with uvicorn. Safe by default: it
listens on 127.0.0.1; on any other address it refuses to start without a token (``--token``
or, to keep it out of the process list, ``BACKSTAMP_WORKBENCH_TOKEN``).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from decisions import DEFAULT_CLAIM_MINUTES, DecisionStore, StoreError, default_store_uri
from formats.queue import ReviewError
from workbench.source import add_queue_arguments, load_source, queue_from
from workbench.security import LOOPBACK

DEFAULT_PORT = 8750
TOKEN_VARIABLE = "BACKSTAMP_WORKBENCH_TOKEN"
MIN_TOKEN_CHARS = 16


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipeline workbench",
        description="Serve a review queue as web pages cataloguers work through by keyboard; every decision "
                    "is stored when made (SPEC §9).")
    add_queue_arguments(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; any other needs a token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--token", default=None,
                   help=f"the token reviewers log in with (Authorization: Bearer T for the API); "
                        f"default: ${TOKEN_VARIABLE}. Required unless --host is a loopback address")
    p.add_argument("--image_columns", default="",
                   help="comma-separated input columns holding the print's image URIs (local paths or gs://), "
                        "shown beside the OCR, e.g. front_image,back_image")
    p.add_argument("--filter_column", default="",
                   help="an input column to filter the queue by (a collection, a box)")
    p.add_argument("--claim_minutes", type=float, default=DEFAULT_CLAIM_MINUTES,
                   help=f"how long a reviewer holds a record they opened (default {DEFAULT_CLAIM_MINUTES:g})")
    p.add_argument("--reviewer", default="",
                   help="the reviewer's name without a token (default: the user running the server)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline workbench`` (``argv`` are the arguments after ``workbench``)."""
    args = parser().parse_args(argv)
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if token is None and args.host not in LOOPBACK:
        print(f"workbench: refusing to listen on {args.host} without a token: pass --token or set "
              f"{TOKEN_VARIABLE} (reviewers then log in with it)", file=sys.stderr)
        return 2
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        print(f"workbench: the token must have at least {MIN_TOKEN_CHARS} characters "
              "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')", file=sys.stderr)
        return 2
    try:
        queue = queue_from(load_source(args), image_columns=[c for c in args.image_columns.split(",") if c],
                           filter_columns=[args.filter_column] if args.filter_column else [])
        store = DecisionStore(args.store or default_store_uri(args.run, args.warehouse))
    except (ReviewError, StoreError) as error:
        print(f"workbench: {error}", file=sys.stderr)
        return 2
    import uvicorn

    from workbench.app import WorkbenchConfig, create_app
    from workbench.state import ReviewState

    app = create_app(ReviewState(queue, store, args.claim_minutes),
                     WorkbenchConfig(token=token, reviewer=args.reviewer, claim_minutes=args.claim_minutes))
    print(f"workbench: {len(queue.rows)} records in the queue ({queue.source}); decisions stored in "
          f"{store.engine.url.render_as_string(hide_password=True)}; http://{args.host}:{args.port}/", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        store.close()
    return 0
