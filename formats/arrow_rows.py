"""Arrow tables → the rows the job reads, one value's failure pinned to its row (see ``pipeline/read.py``).

Beam-free, so that whatever reads an input as the job does (the Beam job's ``TableToRows``,
the review queue's OCR join, the workbench) shares one conversion: a column that converts is
taken as it is; one that does not is re-read with its strings as bytes, and then value by
value; a value that cannot be converted is a ``bad_value`` problem of its row, undecodable
bytes in a carried column a ``bad_encoding`` one, and a carried value that would not convert
back to its column's type (as the Parquet sink converts) a ``bad_value`` too. A nanosecond
timestamp, time or duration passes as its stored integer (``ns_as_int64``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow as pa

from formats.records import ColumnNames

BAD_VALUE, BAD_ENCODING = "bad_value", "bad_encoding"


@dataclass(frozen=True)
class Unconvertible:
    """Stands for a value Arrow could not turn into a Python object."""

    error: str
    stored: Any  # the stored integer of a date/time/timestamp/duration, else None


@dataclass(frozen=True)
class Problem:
    """Why one value of a row cannot be passed on: ``reason`` is ``bad_value`` or ``bad_encoding``."""

    reason: str
    detail: str


def ns_as_int64(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type`` with every nanosecond timestamp, time and duration replaced by int64 (also inside lists
    and structs).

    Python's datetime, time and timedelta stop at microseconds (Arrow needs pandas for more), so such
    a value would be unconvertible; as its stored nanoseconds it passes unchanged, and the Parquet sink
    writes an integer back to the same type as the same value.
    """
    if (pa.types.is_timestamp(arrow_type) or pa.types.is_time64(arrow_type)
            or pa.types.is_duration(arrow_type)) and arrow_type.unit == "ns":
        return pa.int64()
    if pa.types.is_list(arrow_type):
        return pa.list_(arrow_type.value_field.with_type(ns_as_int64(arrow_type.value_type)))
    if pa.types.is_large_list(arrow_type):
        return pa.large_list(arrow_type.value_field.with_type(ns_as_int64(arrow_type.value_type)))
    if pa.types.is_struct(arrow_type):
        return pa.struct([field.with_type(ns_as_int64(field.type)) for field in arrow_type])
    return arrow_type


def as_ns_integers(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` cast to ``ns_as_int64`` of its type; unchanged if that cast is not valid (a struct with a
    field name used twice: its values then fail one by one, see ``column_values``)."""
    plain = ns_as_int64(column.type)
    if plain == column.type:
        return column
    try:
        cast = column.cast(plain)
        cast.validate()
    except pa.ArrowException:
        return column
    return cast


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



def _stored_value(column: pa.ChunkedArray, n: int) -> Any:
    """The integer a date/time/timestamp/duration value is stored as (epoch ms in a ``timestamp[s]``...), else None."""
    if not (pa.types.is_temporal(column.type) and column.type.bit_width in (32, 64)):
        return None
    storage = pa.int32() if column.type.bit_width == 32 else pa.int64()
    return column.slice(n, 1).combine_chunks().view(storage)[0].as_py()


def _one_value(column: pa.ChunkedArray, n: int) -> Any:
    """Value ``n`` as Python, or ``Unconvertible``. Any error converting a single value is that value's fault."""
    try:
        return column[n].as_py()
    except Exception as error:  # OverflowError, ValueError, unknown time zone ... all mean "not convertible"
        return Unconvertible(f"{type(error).__name__}: {error}", _stored_value(column, n))


def column_values(column: pa.ChunkedArray) -> tuple[list[Any], bool]:
    """The column as Python values (``Unconvertible`` where a value is not), and whether strings came as bytes."""
    column = as_ns_integers(column)
    try:
        return column.to_pylist(), False
    except Exception:  # a bad value somewhere in the column: see the module docstring
        pass
    as_bytes = as_binary_type(column.type) != column.type
    if as_bytes:
        try:
            as_binary = column.cast(as_binary_type(column.type))
            # Structs are cast field by field by name: with a name used twice pyarrow builds an invalid
            # array (whose values would abort the process), so the cast is checked before any use.
            as_binary.validate()
        except pa.ArrowException:
            as_bytes = False
        else:
            column = as_binary
            try:
                return column.to_pylist(), True
            except Exception:
                pass
    return [_one_value(column, n) for n in range(len(column))], as_bytes


def _unwritable(values: list[Any], arrow_type: pa.DataType) -> dict[int, str]:
    """Rows whose value would not convert back to ``arrow_type`` (as the Parquet sink converts), with the error."""
    try:
        pa.array(values, type=arrow_type)
        return {}
    except Exception:
        pass
    failures = {}
    for n, value in enumerate(values):
        try:
            pa.array([value], type=arrow_type)
        except Exception as error:  # pyarrow raises several types; each means "this value cannot be written"
            failures[n] = f"{type(error).__name__}: {error}"
    return failures


def convert_column(column: pa.ChunkedArray, carried: bool) -> tuple[list[Any], dict[int, Problem]]:
    """Python values of one column and the problems of its rows (see the module docstring)."""
    values, as_bytes = column_values(column)
    problems: dict[int, Problem] = {}
    for n, value in enumerate(values):
        if isinstance(value, Unconvertible):
            problems[n] = Problem(BAD_VALUE, f"a {column.type} value Python cannot represent ({value.error})")
            values[n] = value.stored
        elif carried and as_bytes:
            try:
                values[n] = decode_text(value)
            except UnicodeDecodeError:
                problems[n] = Problem(BAD_ENCODING, "text that is not UTF-8")
    if carried:
        written = [None if n in problems else value for n, value in enumerate(values)]
        for n, error in _unwritable(written, column.type).items():
            problems[n] = Problem(BAD_VALUE, f"a value that cannot be written back as {column.type} ({error})")
    return values, problems


def table_rows(table: pa.Table, columns: ColumnNames) -> Iterator[tuple[dict[str, Any], dict[str, Problem]]]:
    """Each row of ``table`` as the job reads it, with the problems of its values by column (none: a good row).

    ``pipeline review`` reads the run's input through this too, so it sees the rows the job saw.
    """
    own = frozenset((columns.id, columns.front, columns.back, columns.language))
    values: dict[str, list[Any]] = {}
    problems: dict[str, dict[int, Problem]] = {}
    for index, name in enumerate(table.column_names):  # by index: preflight refuses duplicate names
        values[name], problems[name] = convert_column(table.column(index), carried=name not in own)
    for n in range(table.num_rows):
        yield ({name: column[n] for name, column in values.items()},
               {name: by_row[n] for name, by_row in problems.items() if n in by_row})
