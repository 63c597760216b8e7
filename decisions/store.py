"""The decisions store (SPEC §9): every decision kept, in one SQL database, through SQLAlchemy Core.

An SQLite file by default (``RUN/reviews.db`` for a run, ``WAREHOUSE/reviews.db`` for a
warehouse), a PostgreSQL URL for a team. A decision is stored when it is made, in its own
transaction; nothing is ever updated or deleted, so the history is the table. Per (``id``,
``field``, ``input_hash``) the decision with the highest ``seq`` holds: ``seq`` is the
order decisions were stored (``decided_at`` comes from clocks that may disagree across
servers), and what the nightly backfill commits as "decisions after seq N".

Claims live in the same database, so two workbench processes serving one queue (two
uvicorn workers, two hosts on one PostgreSQL) never show one record to two reviewers at once.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

from sqlalchemy import (Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text, and_, create_engine,
                        delete, event, func, insert, or_, select, update)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

from decisions.model import Decision

STORE_FILE = "reviews.db"
DEFAULT_CLAIM_MINUTES = 15.0

metadata = MetaData()
decisions_table = Table(
    "decisions", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String, nullable=False),
    Column("field", String(16), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("value", Text, nullable=True),
    Column("model_value", Text, nullable=True),
    Column("model_confidence", Float, nullable=True),
    Column("input_hash", String, nullable=False),
    Column("model_version", String, nullable=False),
    Column("run_id", String, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reviewer", String, nullable=False),
    Column("note", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Index("decisions_by_key", "id", "field", "input_hash", "seq"),
)
claims_table = Table(
    "claims", metadata,
    Column("record_id", String, primary_key=True),
    Column("reviewer", String, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
COLUMNS = tuple(c.name for c in decisions_table.columns if c.name != "seq")


class StoreError(Exception):
    """A store that cannot be opened where asked; the message says what to pass instead."""


def engine_url(uri: str) -> str:
    """``uri`` as SQLAlchemy wants it: a plain ``postgresql://`` (or ``postgres://``) URL gets the pg8000
    driver that is installed, a bare path becomes an SQLite URL."""
    if "://" not in uri:
        return f"sqlite:///{os.path.abspath(uri)}"
    for plain in ("postgresql://", "postgres://"):
        if uri.startswith(plain):
            return "postgresql+pg8000://" + uri[len(plain):]
    return uri


def _store_uri_in(folder: str) -> str:
    if "://" in folder and not folder.startswith("file://"):
        raise StoreError(f"{folder!r} is not a local folder, so it cannot hold the SQLite store {STORE_FILE}: "
                         "pass --store URI (e.g. postgresql://user@host/db, or a local SQLite path)")
    path = os.path.join(folder.removeprefix("file://"), STORE_FILE)
    return f"sqlite:///{os.path.abspath(path)}"


def store_uri_for_run(run: str) -> str:
    """The default store of a run: ``RUN/reviews.db`` (SQLite)."""
    return _store_uri_in(run)


def store_uri_for_warehouse(warehouse: str) -> str:
    """The default store of a warehouse: ``WAREHOUSE/reviews.db`` (SQLite)."""
    return _store_uri_in(warehouse)


def default_store_uri(run: str | None = None, warehouse: str | None = None) -> str:
    """The store of ``--run`` or ``--warehouse`` when no ``--store`` is given."""
    return store_uri_for_run(run) if run else store_uri_for_warehouse(warehouse or "")


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time in the store is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class DecisionStore:
    """The decisions and claims of one queue, in the database at ``uri`` (tables created when missing).

    Thread-safe (SQLAlchemy's pool); one per process is enough.
    """

    def __init__(self, uri: str):
        self.uri = engine_url(uri)
        url = make_url(self.uri)
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
            self.engine: Engine = create_engine(self.uri, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.uri, pool_pre_ping=True)
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> "DecisionStore":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # decisions -----------------------------------------------------------------------------------

    def add(self, batch: Sequence[Decision]) -> int:
        """Store ``batch`` (already validated, ``decisions.validate``) in one transaction; the count stored.

        All or nothing: a failure stores none of it."""
        if not batch:
            return 0
        with self.engine.begin() as connection:
            connection.execute(insert(decisions_table), [{name: getattr(d, name) for name in COLUMNS} for d in batch])
        return len(batch)

    def history(self, record_id: str | None = None) -> list[Decision]:
        """Every decision stored (of ``record_id`` when given), in the order stored."""
        query = select(decisions_table).order_by(decisions_table.c.seq)
        if record_id is not None:
            query = query.where(decisions_table.c.id == record_id)
        return self._decisions(query)

    def after(self, seq: int) -> list[Decision]:
        """The decisions stored after ``seq`` (0: all), in the order stored: what a backfill night commits."""
        return self._decisions(select(decisions_table).where(decisions_table.c.seq > seq)
                               .order_by(decisions_table.c.seq))

    def holding(self, ids: Iterable[str] | None = None) -> list[Decision]:
        """Per (``id``, ``field``, ``input_hash``) the newest decision, the one that holds; of ``ids`` when given."""
        newest = select(func.max(decisions_table.c.seq)).group_by(
            decisions_table.c.id, decisions_table.c.field, decisions_table.c.input_hash)
        query = select(decisions_table).where(decisions_table.c.seq.in_(newest.scalar_subquery()))
        if ids is not None:
            query = query.where(decisions_table.c.id.in_(list(ids)))
        return self._decisions(query.order_by(decisions_table.c.seq))

    def last_seq(self) -> int:
        """The ``seq`` of the newest decision stored (0 when none)."""
        with self.engine.connect() as connection:
            return connection.execute(select(func.max(decisions_table.c.seq))).scalar() or 0

    def _decisions(self, query) -> list[Decision]:
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [Decision(**{**{name: row[name] for name in COLUMNS}, "decided_at": _utc(row["decided_at"])},
                         seq=row["seq"]) for row in rows]

    # claims --------------------------------------------------------------------------------------

    def claim(self, record_id: str, reviewer: str, minutes: float = DEFAULT_CLAIM_MINUTES,
              now: datetime | None = None) -> bool:
        """Claim ``record_id`` for ``reviewer`` for ``minutes``; False when another reviewer holds a live claim.

        A reviewer holds one record at a time: a new claim releases their others. Safe across
        processes: the claim is taken by one conditional UPDATE or one INSERT on the record's
        primary key, so of two reviewers racing for a record exactly one wins.
        """
        now = _utc(now or datetime.now(timezone.utc))
        expires = now + timedelta(minutes=minutes)
        table = claims_table
        others = delete(table).where(and_(table.c.reviewer == reviewer, table.c.record_id != record_id))
        with self.engine.begin() as connection:
            taken = connection.execute(update(table).where(and_(
                table.c.record_id == record_id, or_(table.c.reviewer == reviewer, table.c.expires_at <= now)))
                .values(reviewer=reviewer, expires_at=expires)).rowcount
            if taken:
                connection.execute(others)
        if taken:
            return True
        try:
            with self.engine.begin() as connection:  # a refused INSERT rolls back, keeping the reviewer's own claim
                connection.execute(insert(table).values(record_id=record_id, reviewer=reviewer, expires_at=expires))
                connection.execute(others)
            return True
        except IntegrityError:  # someone else's live claim (or one won a moment ago)
            return False

    def release(self, reviewer: str) -> None:
        """Drop ``reviewer``'s claim (they left the queue)."""
        with self.engine.begin() as connection:
            connection.execute(delete(claims_table).where(claims_table.c.reviewer == reviewer))

    def claimed_by_others(self, reviewer: str, now: datetime | None = None) -> dict[str, str]:
        """Record id → reviewer of every live claim not ``reviewer``'s."""
        now = _utc(now or datetime.now(timezone.utc))
        with self.engine.connect() as connection:
            rows = connection.execute(select(claims_table.c.record_id, claims_table.c.reviewer).where(and_(
                claims_table.c.reviewer != reviewer, claims_table.c.expires_at > now))).all()
        return {record_id: holder for record_id, holder in rows}

    def size_bytes(self) -> int | None:
        """The store's size on disk (SQLite file) or in the server (PostgreSQL tables); None if unknown."""
        url = make_url(self.uri)
        if url.get_backend_name() == "sqlite":  # the file and its write-ahead log
            files = [f"{url.database}{suffix}" for suffix in ("", "-wal")] if url.database else []
            return sum(os.path.getsize(f) for f in files if os.path.exists(f)) if files else None
        with self.engine.connect() as connection:
            return connection.exec_driver_sql(
                "SELECT pg_total_relation_size('decisions') + pg_total_relation_size('claims')").scalar()


def _sqlite_pragmas(connection, _record) -> None:
    """WAL: readers do not block the writer, so a reviewer's page loads while another stores a decision."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
