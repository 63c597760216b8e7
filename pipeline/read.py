"""Arrow tables from Beam's Parquet source → row dicts, without one row's value stopping the job.

Beam's ``ReadFromParquet`` turns each row group into rows with ``Table.to_pydict()``, which
raises for the whole row group when one value cannot become a Python object: a string that
is not valid UTF-8 (``UnicodeDecodeError``; Parquet writers do not all validate it), a
``timestamp[s]`` column holding epoch milliseconds or a far-future ``date32``
(``OverflowError: date value out of range``), a nanosecond timestamp beyond ``datetime``'s
range (``ValueError``), a time zone Python does not know. That would stop the job mid-run,
and every later run on the same input. So the job reads with ``ReadFromParquetBatched``
(Beam's source, same splitting) and converts column by column (``formats/arrow_rows.py``,
Beam-free, so the review queue reads an input exactly as the job does):

* a column that converts is taken as Beam would take it;
* one that does not is re-read with its strings as bytes (``string`` → ``binary``, also
  inside lists and structs), and, if that still fails, value by value, so each failure is
  pinned to its row:

  - a value that cannot be converted at all makes its row a dead letter with reason
    ``bad_value`` (stage ``read``) naming the column, its Arrow type and the error; in
    ``record_json`` the value is the stored number for dates, times and timestamps
    (what a person needs to repair it), else null;
  - bytes in ``id``, OCR and ``language`` go to validation, which has a policy for bytes
    already (records.py: a non-UTF-8 ``id`` or ``language`` is ``bad_type``, OCR is decoded
    with replacement characters);
  - bytes in a carried column that do not decode make the row a dead letter with reason
    ``bad_encoding``: carried values are passed through unchanged, never repaired;

* a carried value is passed on only if it converts back to its column's Arrow type (what
  the Parquet sink does with every row), checked once per column and row by row only when
  that fails: a value the sink cannot write would otherwise fail the whole run at the end.
"""
from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from formats.arrow_rows import BAD_ENCODING, BAD_VALUE, table_rows
from formats.records import ColumnNames, record_json
from pipeline.dead_letter import DEAD, METRICS_NAMESPACE, dead_letter


def _text_or_none(value: Any) -> str | None:
    """An id for the dead letter: text as is, UTF-8 bytes decoded, anything else None."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


class TableToRows(beam.DoFn):
    """One Arrow table (a row group) → one dict per row, or a ``bad_value``/``bad_encoding`` dead letter."""

    def __init__(self, columns: ColumnNames, run_id: str):
        self._columns = columns
        self._run_id = run_id
        self._read = Metrics.counter(METRICS_NAMESPACE, "records_read")

    def process(self, table: pa.Table) -> Iterable[Any]:
        for row, found in table_rows(table, self._columns):
            if not found:
                yield row
                continue
            self._read.inc()  # ValidateRecords counts the rows it sees; this one stops here
            reason = BAD_VALUE if any(p.reason == BAD_VALUE for p in found.values()) else BAD_ENCODING
            detail = "; ".join(f"column {name!r}: {problem.detail}" for name, problem in found.items())
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(
                "read", reason, detail, _text_or_none(row.get(self._columns.id)), record_json(row), self._run_id))
