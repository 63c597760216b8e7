"""Arrow tables from Beam's Parquet source → row dicts, without crashing on invalid UTF-8.

Beam's ``ReadFromParquet`` turns each row group into rows with ``Table.to_pydict()``, which
raises ``UnicodeDecodeError`` for the whole row group when one string value is not valid
UTF-8 (Parquet writers do not all validate it; a lone surrogate written by a careless
encoder is the usual culprit). That would stop the job mid-run. So the job reads with
``ReadFromParquetBatched`` (Beam's source, same splitting) and converts here:

* a column that decodes is converted as Beam would;
* a column that does not is re-read as bytes (``string`` → ``binary``, also inside lists
  and structs), row by row:

  - in ``id``, OCR and ``language`` the bytes go to validation, which has a policy for
    bytes already (records.py: a non-UTF-8 ``id`` or ``language`` is ``bad_type``, OCR is
    decoded with replacement characters);
  - in a carried column, a row whose value does not decode is dead-lettered here with
    reason ``bad_encoding`` (stage ``read``): writing it would fail the Parquet sink, and
    carried values are passed through unchanged, never repaired; the other rows of that
    column get their text back.
"""
from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from pipeline.dead_letter import METRICS_NAMESPACE
from formats.records import ColumnNames, record_json
from pipeline.dead_letter import DEAD, dead_letter


def as_binary_type(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type`` with every string replaced by binary (the same bytes, not decoded)."""
    if pa.types.is_string(arrow_type):
        return pa.binary()
    if pa.types.is_large_string(arrow_type):
        return pa.large_binary()
    if pa.types.is_list(arrow_type):
        return pa.list_(as_binary_type(arrow_type.value_type))
    if pa.types.is_large_list(arrow_type):
        return pa.large_list(as_binary_type(arrow_type.value_type))
    if pa.types.is_struct(arrow_type):
        return pa.struct([field.with_type(as_binary_type(field.type)) for field in arrow_type])
    return arrow_type


def decode_text(value: Any) -> Any:
    """``value`` with bytes decoded as UTF-8 (in lists and dicts too); raises UnicodeDecodeError."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [decode_text(item) for item in value]
    if isinstance(value, dict):
        return {key: decode_text(item) for key, item in value.items()}
    return value


def _text_or_none(value: Any) -> str | None:
    """An id for the dead letter: text as is, UTF-8 bytes decoded, anything else None."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def _column_values(column: pa.ChunkedArray) -> tuple[list[Any], bool]:
    """The column as Python values, and whether it had to be read as bytes."""
    try:
        return column.to_pylist(), False
    except UnicodeDecodeError:
        return column.cast(as_binary_type(column.type)).to_pylist(), True


class TableToRows(beam.DoFn):
    """One Arrow table (a row group) → one dict per row, or a ``bad_encoding`` dead letter."""

    def __init__(self, columns: ColumnNames, run_id: str):
        self._id = columns.id
        self._own = frozenset((columns.id, columns.front, columns.back, columns.language))
        self._run_id = run_id
        self._read = Metrics.counter(METRICS_NAMESPACE, "records_read")

    def process(self, table: pa.Table) -> Iterable[Any]:
        values: dict[str, list[Any]] = {}
        as_bytes: list[str] = []  # carried columns read as bytes, to decode per row
        for name in table.column_names:
            values[name], undecodable = _column_values(table.column(name))
            if undecodable and name not in self._own:
                as_bytes.append(name)
        for n in range(table.num_rows):
            row = {name: column[n] for name, column in values.items()}
            bad = []
            for name in as_bytes:
                try:
                    row[name] = decode_text(row[name])
                except UnicodeDecodeError:
                    bad.append(name)
            if bad:
                self._read.inc()  # ValidateRecords counts the rows it sees; this one stops here
                yield beam.pvalue.TaggedOutput(DEAD, dead_letter(
                    "read", "bad_encoding", f"carried column(s) {', '.join(bad)} hold text that is not UTF-8",
                    _text_or_none(row.get(self._id)), record_json(row), self._run_id))
            else:
                yield row
