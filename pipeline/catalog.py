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
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Iterator, Optional, Sequence

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
from sqlalchemy.engine import URL

from formats.schemas import (CARRIED_PREFIX, CATALOG_NAMES, DEAD_LETTER_SCHEMA, OUTPUT_FIELDS, OUTPUT_NAMES,
                             RUN_DATE_FIELD, WITHDRAWN_FIELD, carried_name)
from pipeline.errors import InputError

NAMESPACE = "backstamp"
RECORDS = f"{NAMESPACE}.records"
DEAD_LETTER = f"{NAMESPACE}.dead_letter"
CATALOG_NAME = "backstamp"  # PYICEBERG_CATALOG__BACKSTAMP__<PROPERTY> variables add catalog properties
SUMMARY_RUN_DATE = "backstamp.run_date"
SUMMARY_RUN_ID = "backstamp.run_id"
SUMMARY_DROPPED = "backstamp.dropped_run_date"  # a --drop_night snapshot
# Our own commit loop decides what a conflict means (module docstring); pyiceberg must not rebase for us.
TABLE_PROPERTIES = {"commit.retry.num-retries": "0"}
COMMIT_ATTEMPTS = 20
_GLOB_CHARS = re.compile(r"[*?\[\]{}]")
# Iceberg metadata names files by URI: ``#`` starts a fragment (pyiceberg dropped the rest of the path and
# wrote outside the warehouse) and ``%`` an escape that other engines decode (another folder's files).
_URI_CHARS = re.compile(r"[#%]")


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
    paths as globs, so ``bs[ab]`` would look for (and clean) files of ``bsa``/``bsb``. So is
    one with ``#`` or ``%``: the tables' metadata holds URIs, which readers cut at ``#`` or
    decode at ``%`` (``_URI_CHARS``). Nothing is created before these checks. The default
    SQLite URI is built by SQLAlchemy, so other characters of a folder name reach it as they are.
    """
    if _GLOB_CHARS.search(path):
        raise InputError(f"--output {path!r}: glob characters (* ? [ ] {{ }}) are not allowed in a warehouse path "
                         "(Beam would read them as a pattern); choose a plain path")
    if _URI_CHARS.search(path.removeprefix("file://")):
        raise InputError(f"--output {path!r}: '#' and '%' are not allowed in a warehouse path (Iceberg records "
                         "file locations as URIs, which read '#' as a fragment and '%' as an escape); "
                         "choose a path without them")
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
    default_uri = URL.create("sqlite", database=os.path.join(folder, "catalog.db")).render_as_string()
    return Warehouse(location=f"file://{folder}", catalog_uri=catalog_uri or default_uri)


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


def check_writable(catalog: Catalog, run_id: str) -> None:
    """Refuse a catalog this run could not commit to, before any work (a read-only database or server).

    The probe is a real write, the namespace property ``backstamp.last_run_started``: the only
    way to know that every catalog kind (SQL, REST) accepts writes is to make one. Two runs
    starting together may collide on it (a unique key), so only a write that fails three
    times is a catalog that cannot be written.
    """
    for attempt in range(3):
        try:
            _create_namespace(catalog)
            catalog.update_namespace_properties(NAMESPACE, updates={"backstamp.last_run_started": run_id})
            return
        except Exception as error:  # noqa: BLE001 - each catalog kind and driver says "read-only" differently
            failure = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            time.sleep(0.1 * (attempt + 1))
    raise InputError(f"the catalog cannot be written ({failure}); nothing was done: check its permissions or "
                     "--catalog_uri")


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


Convert = Callable[[Any], Any]


def _ns_to_us(value: int) -> int:
    """Nanoseconds (how ``pipeline.read`` passes on every ns-unit value) as microseconds, or ValueError."""
    if value % 1000:
        raise ValueError(f"{value} ns has a sub-microsecond part ({value % 1000} ns) that the catalogue's "
                         "microsecond column cannot hold; round it to microseconds in the input")
    return value // 1000


def _duration_us(value: Any) -> int:
    """A duration (``timedelta``, or nanoseconds as an int) as whole microseconds."""
    return _ns_to_us(value) if isinstance(value, int) else value // timedelta(microseconds=1)


def _ns_datetime(value: int) -> datetime:
    """Nanoseconds since the epoch as a UTC datetime (only whole microseconds)."""
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=_ns_to_us(value))


@dataclass(frozen=True)
class _Each:
    """Converts each item of a list (a map's items are (key, value) pairs: ``pair``)."""

    item: Convert
    pair: bool = False

    def __call__(self, values: list) -> list:
        if self.pair:
            return [(key, None if value is None else self.item(value)) for key, value in values]
        return [None if value is None else self.item(value) for value in values]


@dataclass(frozen=True)
class _Fields:
    """Converts the named fields of a struct value."""

    fields: tuple[tuple[str, Convert], ...]

    def __call__(self, value: dict) -> dict:
        value = dict(value)
        for name, convert in self.fields:
            if value.get(name) is not None:
                value[name] = convert(value[name])
        return value


class UnstorableType(Exception):
    """An Arrow type with no faithful Iceberg type; the message says what to cast it to."""


def storage(arrow_type: pa.DataType) -> tuple[pa.DataType, Optional[Convert]]:
    """The Iceberg-storable Arrow type a carried column of ``arrow_type`` is stored as, and how each of its
    (non-null) Python values is converted (None: as it is). Raises UnstorableType.

    Lossless only: timestamps → microseconds (a time zone → UTC, the same instant), ``date64`` →
    date, ``time32``/``time64`` → time (µs), ``duration`` → long microseconds, ``float16`` →
    float, unsigned integers → the next signed width and ``uint64`` → decimal(20, 0), ``decimal256``
    of precision ≤ 38 → decimal, large and view strings/binaries → string/binary, dictionaries →
    their values; lists, structs and maps element-wise. A nanosecond value with a sub-microsecond
    part fails its conversion (the backfill dead-letters that row, never rounds it silently).
    """
    t = arrow_type
    if pa.types.is_null(t):
        return pa.string(), None  # inside a list or struct; a null-typed column is handled by records_layout
    if pa.types.is_dictionary(t):
        return storage(t.value_type)
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None), (_ns_datetime if t.unit == "ns" else None)
    if pa.types.is_date64(t):
        return pa.date32(), None
    if pa.types.is_time(t):
        return pa.time64("us"), (_ns_to_us if t.unit == "ns" else None)
    if pa.types.is_duration(t):
        return pa.int64(), _duration_us
    if pa.types.is_float16(t):
        return pa.float32(), float
    if pa.types.is_unsigned_integer(t):
        return {8: (pa.int32(), None), 16: (pa.int32(), None), 32: (pa.int64(), None),
                64: (pa.decimal128(20, 0), Decimal)}[t.bit_width]
    if pa.types.is_decimal256(t):
        if t.precision > 38:
            raise UnstorableType(f"{t}: Iceberg decimals hold at most 38 digits; cast it to string in the input")
        return pa.decimal128(t.precision, t.scale), None
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string(), None
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary(), None
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) \
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        item, convert = storage(t.value_type)
        return pa.list_(t.value_field.with_type(item)), convert and _Each(convert)
    if pa.types.is_map(t):
        key, key_convert = storage(t.key_type)
        item, convert = storage(t.item_type)
        if key_convert is not None:
            raise UnstorableType(f"{t}: a map whose keys need converting; cast its keys to string in the input")
        return pa.map_(key, t.item_field.with_type(item)), convert and _Each(convert, pair=True)
    if pa.types.is_struct(t):
        stored = [(f, *storage(f.type)) for f in t]
        converts = tuple((f.name, convert) for f, _, convert in stored if convert is not None)
        return pa.struct([f.with_type(item) for f, item, _ in stored]), _Fields(converts) if converts else None
    try:
        _iceberg_type(t)
    except Exception as error:  # noqa: BLE001 - pyiceberg raises several types for "no such type"
        raise UnstorableType(f"{t} has no Iceberg type ({str(error).splitlines()[0]}); cast it to a number, "
                             "string or timestamp in the input, or drop the column") from None
    return t, None


@dataclass(frozen=True)
class RecordsLayout:
    """How tonight's output rows are stored: the files' schema, carried columns renamed or converted to fit,
    and null-typed carried columns the table does not have (nothing to store: not stored)."""

    schema: pa.Schema
    renames: dict[str, str]  # output column name -> stored column name
    conversions: dict[str, Convert] = field(default_factory=dict)  # output column name -> value conversion
    not_stored: tuple[str, ...] = ()


def records_layout(current: Optional[Schema], carried: pa.Schema) -> RecordsLayout:
    """The schema of tonight's record files, given the table's ``current`` schema (None: no table yet).

    A carried column is first given a type Iceberg holds (``storage``; a type it cannot hold is
    refused here, before any work, naming the column). It then keeps the table's type when
    tonight's promotes to it (int → long), widens the table when the table's promotes to
    tonight's, and otherwise (e.g. string then int) is stored as a new column
    ``<name>__<type>``: old rows keep their values, and no night is refused. A null-typed
    column (what pandas writes for an all-None column) takes the table's type, or is not
    stored while the table has no such column. An input column named like a catalogue
    column becomes ``input_<name>``, as the output names do.
    """
    fields = list(OUTPUT_FIELDS)
    taken = set(OUTPUT_NAMES | CATALOG_NAMES)
    renames: dict[str, str] = {}
    conversions: dict[str, Convert] = {}
    not_stored: list[str] = []
    for column in carried:
        name = carried_name(column.name)
        wanted = CARRIED_PREFIX + name if name in CATALOG_NAMES else name
        if pa.types.is_null(column.type):
            existing = _existing_type(current, wanted)
            if existing is None:
                not_stored.append(name)
                continue
            stored_type, convert = existing, None
        else:
            try:
                stored_type, convert = storage(column.type)
            except UnstorableType as error:
                raise InputError(f"carried input column {column.name!r} cannot be stored in the catalogue: "
                                 f"{error}") from None
        if convert is not None:
            conversions[name] = convert
        stored = _fit(current, pa.field(wanted, stored_type, nullable=True, metadata=column.metadata))
        if stored.name in taken:
            raise InputError(f"carried input column {column.name!r} would be stored as {stored.name!r}, "
                             "which another column already uses; rename one of them")
        taken.add(stored.name)
        if stored.name != name:
            renames[name] = stored.name
        fields.append(stored)
    return RecordsLayout(pa.schema(fields + [RUN_DATE_FIELD, WITHDRAWN_FIELD]), renames, conversions,
                         tuple(not_stored))


DEAD_LETTER_LAYOUT = pa.schema(list(DEAD_LETTER_SCHEMA) + [RUN_DATE_FIELD])


def _iceberg_type(arrow_type: pa.DataType) -> IcebergType:
    return _pyarrow_to_schema_without_ids(pa.schema([pa.field("x", arrow_type)])).fields[0].field_type


def _existing_type(current: Optional[Schema], name: str) -> Optional[pa.DataType]:
    """The Arrow type of the table's column ``name``, or None."""
    try:
        return schema_to_pyarrow(current.find_field(name).field_type) if current is not None else None
    except ValueError:
        return None


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
    """The newest snapshot that committed ``run_date``, or None (a night with no rows has one too; a dropped
    night has none, until committed again)."""
    if table is None:
        return None
    for snapshot in ancestors(table):
        if summary_value(snapshot, SUMMARY_DROPPED) == run_date:
            return None
        if summary_value(snapshot, SUMMARY_RUN_DATE) == run_date:
            return snapshot
    return None


def drop_night(catalog: Catalog, name: str, run_date: str) -> Optional[int]:
    """Delete night ``run_date`` from table ``name`` in one commit; the rows removed, None if it had none."""
    for attempt in range(COMMIT_ATTEMPTS):
        table = load_table(catalog, name)
        if table is None or table.current_snapshot() is None:
            return None
        rows = table.scan(row_filter=night_filter(run_date), selected_fields=(RUN_DATE_FIELD.name,)).count()
        if not rows:
            return None
        try:
            table.delete(night_filter(run_date), snapshot_properties={SUMMARY_DROPPED: run_date})
        except CommitFailedException:  # another commit came first: look again
            time.sleep(min(0.05 * 2 ** attempt, 2.0))
            continue
        return rows
    raise CommitFailedException(f"{name}: {COMMIT_ATTEMPTS} commit attempts met concurrent commits")


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
