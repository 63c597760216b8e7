"""The catalogue tables (SPEC §8): where they live, their schemas, and one atomic commit per night.

Two Iceberg tables, written with pyiceberg: ``backstamp.records`` (output rows) and
``backstamp.dead_letter``, both partitioned by ``run_date``. Beam writes a night's Parquet
files under a folder of its own run (``<table>/data/run_date=D/run-RUN_ID/``); nothing
there is visible until the driver registers the files in one commit (``add_files``) that
also replaces whatever the night held (``delete(run_date = D)``), with the manifest's
figures in the snapshot summary.

Concurrency: the tables are created with ``commit.retry.num-retries=0``, so any concurrent
commit makes ours fail instead of being silently rebased (two rebased ``add_files`` would
both land, FACTS.md). ``commit_night`` then reloads the table and decides itself: if a
snapshot of the same night appeared since this run started, it lost and commits nothing
(``LostRace``); if only other nights moved, it commits again on the new snapshot.
"""
from __future__ import annotations

import os
import re
import time
import warnings
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (CommitFailedException, NoSuchTableError, ResolveError, TableAlreadyExistsError,
                                  ValidationException)
from pyiceberg.expressions import BooleanExpression, EqualTo, NotEqualTo
from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids, schema_to_pyarrow
from pyiceberg.schema import Schema, promote
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of
from pyiceberg.types import IcebergType

from formats.schemas import (CARRIED_PREFIX, CATALOG_NAMES, DEAD_LETTER_SCHEMA, OUTPUT_FIELDS, OUTPUT_NAMES,
                             RUN_DATE_FIELD, WITHDRAWN_FIELD, carried_name)
from pipeline.preflight import InputError

NAMESPACE = "backstamp"
RECORDS = f"{NAMESPACE}.records"
DEAD_LETTER = f"{NAMESPACE}.dead_letter"
CATALOG_NAME = "backstamp"  # PYICEBERG_CATALOG__BACKSTAMP__<PROPERTY> variables add catalog properties
SUMMARY_RUN_DATE = "backstamp.run_date"
SUMMARY_RUN_ID = "backstamp.run_id"
# Our own commit loop decides what a conflict means (module docstring); pyiceberg must not rebase for us.
TABLE_PROPERTIES = {"commit.retry.num-retries": "0"}
COMMIT_ATTEMPTS = 20
_GLOB_CHARS = re.compile(r"[*?\[\]{}]")


class LostRace(Exception):
    """Another run committed this night after this run started; this run committed nothing."""

    def __init__(self, run_date: str, rival_run_id: Optional[str]):
        self.run_date = run_date
        self.rival_run_id = rival_run_id
        super().__init__(f"run_date={run_date} was committed by another run ({rival_run_id or 'unknown'}) "
                         "while this one ran")


@dataclass(frozen=True)
class Warehouse:
    """A warehouse and its catalog: ``location`` as pyiceberg names it, ``catalog_uri`` SQLAlchemy or REST."""

    location: str
    catalog_uri: str

    @property
    def remote(self) -> bool:
        return not self.location.startswith("file://")


def resolve_warehouse(path: str, catalog_uri: Optional[str] = None, create: bool = True) -> Warehouse:
    """Check ``--output``/``--catalog_uri`` before anything is read or written.

    A path with glob characters is refused: Beam's file sinks match their own output
    paths as globs, so ``bs[ab]`` would look for (and clean) files of ``bsa``/``bsb``.
    """
    if _GLOB_CHARS.search(path):
        raise InputError(f"--output {path!r}: glob characters (* ? [ ] {{ }}) are not allowed in a warehouse path "
                         "(Beam would read them as a pattern); choose a plain path")
    path = path.rstrip("/")
    if "://" in path and not path.startswith("file://"):
        if not catalog_uri:
            raise InputError(f"--output {path}: a remote warehouse needs --catalog_uri (a SQLAlchemy URL such as "
                             "postgresql+psycopg2://..., or an Iceberg REST catalog https://...); docs/backfill.md")
        return Warehouse(location=path, catalog_uri=catalog_uri)
    folder = os.path.abspath(path.removeprefix("file://"))
    if not create and not os.path.isdir(folder):
        raise InputError(f"--output {folder}: no such warehouse folder")
    os.makedirs(folder, exist_ok=True)
    return Warehouse(location=f"file://{folder}", catalog_uri=catalog_uri or f"sqlite:///{folder}/catalog.db")


def open_catalog(warehouse: Warehouse) -> Catalog:
    """The catalog of ``warehouse``: SQL (SQLite by default) or REST, by the URI's scheme."""
    properties = {"uri": warehouse.catalog_uri, "warehouse": warehouse.location,
                  "type": "rest" if warehouse.catalog_uri.startswith(("http://", "https://")) else "sql"}
    if warehouse.location.startswith("gs://"):
        # gcsfs: the PyArrow FileIO hangs on gs:// unless given host, token and expiry together (FACTS.md).
        properties["py-io-impl"] = "pyiceberg.io.fsspec.FsspecFileIO"
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            properties["gcs.oauth2.token"] = "anon"
    for attempt in range(3):  # two first runs may race to create the SQL catalog's own tables
        try:
            return load_catalog(CATALOG_NAME, **properties)
        except Exception as error:  # noqa: BLE001 - drivers, servers and SQL dialects all fail differently
            if attempt < 2 and properties["type"] == "sql" and "exists" in str(error).lower():
                time.sleep(0.2)
                continue
            raise InputError(f"--catalog_uri {warehouse.catalog_uri}: cannot open the catalog "
                             f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None
    raise AssertionError("unreachable")


def load_table(catalog: Catalog, name: str) -> Optional[Table]:
    try:
        return catalog.load_table(name)
    except NoSuchTableError:
        return None


def load_or_create(catalog: Catalog, name: str, schema: pa.Schema) -> Table:
    """The table ``name``; created, partitioned by ``run_date``, if it does not exist yet."""
    table = load_table(catalog, name)
    if table is not None:
        return table
    _create_namespace(catalog)
    try:
        with catalog.create_table_transaction(name, schema=table_schema(schema),
                                              properties=TABLE_PROPERTIES) as create:
            create.update_spec().add_identity(RUN_DATE_FIELD.name).commit()
    except (TableAlreadyExistsError, CommitFailedException):  # a concurrent first run created it
        pass
    return catalog.load_table(name)


def _create_namespace(catalog: Catalog) -> None:
    """Create ``NAMESPACE`` unless it exists, tolerating a concurrent first run that creates it too.

    The SQL catalog checks, then inserts: of two first runs, the slower one's insert fails on the
    unique key (an SQLAlchemy ``IntegrityError``, not ``NamespaceAlreadyExistsError``). That is
    harmless once the namespace exists, so only a failure that leaves no namespace is raised.
    """
    try:
        catalog.create_namespace_if_not_exists(NAMESPACE)
    except Exception:
        if not catalog.namespace_exists(NAMESPACE):
            raise


def table_schema(schema: pa.Schema) -> pa.Schema:
    """Every column optional in the table (files may still declare them required).

    So a column added to the output later can be added to the table, old files reading null.
    """
    return pa.schema([field.with_nullable(True) for field in schema])


@dataclass(frozen=True)
class RecordsLayout:
    """How tonight's output rows are stored: the files' schema, and carried columns renamed to fit."""

    schema: pa.Schema
    renames: dict[str, str]  # output column name -> stored column name


def records_layout(current: Optional[Schema], carried: pa.Schema) -> RecordsLayout:
    """The schema of tonight's record files, given the table's ``current`` schema (None: no table yet).

    A carried column keeps the table's type when tonight's promotes to it (int → long),
    widens the table when the table's promotes to tonight's, and otherwise (e.g. string
    then int) is stored as a new column ``<name>__<type>``: old rows keep their values,
    and no night is refused. An input column named like a catalogue column becomes
    ``input_<name>``, as the output names do.
    """
    fields = list(OUTPUT_FIELDS)
    taken = set(OUTPUT_NAMES | CATALOG_NAMES)
    renames: dict[str, str] = {}
    for column in carried:
        name = carried_name(column.name)
        wanted = CARRIED_PREFIX + name if name in CATALOG_NAMES else name
        stored = _fit(current, pa.field(wanted, column.type, nullable=True, metadata=column.metadata))
        if stored.name in taken:
            raise InputError(f"carried input column {column.name!r} would be stored as {stored.name!r}, "
                             "which another column already uses; rename one of them")
        taken.add(stored.name)
        if stored.name != name:
            renames[name] = stored.name
        fields.append(stored)
    return RecordsLayout(pa.schema(fields + [RUN_DATE_FIELD, WITHDRAWN_FIELD]), renames)


DEAD_LETTER_LAYOUT = pa.schema(list(DEAD_LETTER_SCHEMA) + [RUN_DATE_FIELD])


def _iceberg_type(arrow_type: pa.DataType) -> IcebergType:
    return _pyarrow_to_schema_without_ids(pa.schema([pa.field("x", arrow_type)])).fields[0].field_type


def _fit(current: Optional[Schema], field: pa.Field) -> pa.Field:
    if current is None:
        return field
    try:
        existing = current.find_field(field.name).field_type
    except ValueError:  # a new column: added at commit
        return field
    ours = _iceberg_type(field.type)
    if ours == existing:
        return field
    try:
        promote(ours, existing)  # tonight's values fit the table's wider type
        return pa.field(field.name, schema_to_pyarrow(existing), nullable=True)
    except ResolveError:
        pass
    try:
        promote(existing, ours)  # the table's column widens at commit (update_schema)
        return field
    except ResolveError:
        slug = re.sub(r"[^0-9a-z]+", "_", str(field.type).lower()).strip("_")
        return _fit(current, pa.field(f"{field.name}__{slug}", field.type, nullable=True))


def beam_path(location: str) -> str:
    """A table location as Beam's FileSystems take it (local paths without ``file://``)."""
    return location.removeprefix("file://")


def run_folder(table: Table, run_date: str, run_id: str) -> str:
    """Where one run writes a night's files for ``table``: invisible until committed, removed if not."""
    return f"{beam_path(table.location())}/data/run_date={run_date}/run-{run_id}"


def ancestors(table: Table, snapshot: Optional[Snapshot] = None) -> Iterator[Snapshot]:
    """``snapshot`` (default: the current one) and its ancestors, newest first."""
    return ancestors_of(snapshot or table.current_snapshot(), table.metadata)


def summary_value(snapshot: Snapshot, key: str) -> Optional[str]:
    return snapshot.summary.additional_properties.get(key) if snapshot.summary else None


def committed_night(table: Optional[Table], run_date: str) -> Optional[Snapshot]:
    """The newest snapshot that committed ``run_date``, or None (a night with no rows has one too)."""
    if table is None:
        return None
    return next((s for s in ancestors(table) if summary_value(s, SUMMARY_RUN_DATE) == run_date), None)


def night_filter(run_date: str) -> BooleanExpression:
    return EqualTo(RUN_DATE_FIELD.name, run_date)


def data_files(table: Optional[Table], row_filter: BooleanExpression) -> list[str]:
    """Paths of the data files a scan with ``row_filter`` reads (partition pruning only, as Beam paths)."""
    if table is None or table.current_snapshot() is None:
        return []
    tasks = list(table.scan(row_filter=row_filter).plan_files())
    if any(task.delete_files for task in tasks):  # we only ever drop whole partitions
        raise RuntimeError(f"{table.name()}: delete files found; the backfill reads data files directly")
    return [beam_path(task.file.file_path) for task in tasks]


def other_nights(table: Optional[Table], run_date: str) -> list[str]:
    return data_files(table, NotEqualTo(RUN_DATE_FIELD.name, run_date))


def rival_commit(table: Table, base_snapshot_id: Optional[int], run_date: str) -> Optional[LostRace]:
    """The ``LostRace`` if a run committed ``run_date`` to ``table`` after snapshot ``base_snapshot_id``."""
    for snapshot in ancestors(table):
        if snapshot.snapshot_id == base_snapshot_id:
            return None
        if summary_value(snapshot, SUMMARY_RUN_DATE) == run_date:
            return LostRace(run_date, summary_value(snapshot, SUMMARY_RUN_ID))
    return None


def commit_night(catalog: Catalog, name: str, base_snapshot_id: Optional[int], run_date: str, run_id: str,
                 files: Sequence[str], schema: pa.Schema, summary: dict[str, str]) -> Snapshot:
    """Make ``files`` the whole of night ``run_date`` in table ``name``, in one commit.

    ``base_snapshot_id`` is the snapshot this run started from: a commit of the same night
    after it means another run won (``LostRace``). Returns the snapshot that holds the night.
    """
    summary = {**summary, SUMMARY_RUN_DATE: run_date, SUMMARY_RUN_ID: run_id}
    location_files = [path if "://" in path else f"file://{path}" for path in files]
    for attempt in range(COMMIT_ATTEMPTS):
        table = catalog.load_table(name)
        lost = rival_commit(table, base_snapshot_id, run_date)
        if lost is not None:
            raise lost
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                with table.transaction() as transaction:
                    with transaction.update_schema() as update:
                        update.union_by_name(table_schema(schema))
                    transaction.delete(night_filter(run_date), snapshot_properties=summary)
                    transaction.add_files(location_files, snapshot_properties=summary)
        except CommitFailedException:  # someone committed meanwhile: look again at what
            time.sleep(min(0.05 * 2 ** attempt, 2.0))
            continue
        except ValidationException as error:  # files of this night were added meanwhile
            raise LostRace(run_date, None) from error
        table = catalog.load_table(name)
        return next(s for s in ancestors(table) if summary_value(s, SUMMARY_RUN_ID) == run_id)
    raise CommitFailedException(f"{name}: {COMMIT_ATTEMPTS} commit attempts met concurrent commits")
