"""Parquet footers, read through Beam's filesystems: a file's schema and row count without its rows.

The one place the job opens a Parquet footer, so that the input check (``preflight``), the
manifest's counts and the backfill's commit read local and ``gs://`` files the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


@dataclass(frozen=True)
class Footer:
    schema: pa.Schema  # as Arrow reads it (the stored Arrow schema, when the writer kept one)
    num_rows: int


def read_footer(path: str) -> Footer:
    """The footer of one file; raises what pyarrow or the filesystem raises for a file that is not Parquet."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        parquet = pq.ParquetFile(handle)
        return Footer(schema=parquet.schema_arrow, num_rows=parquet.metadata.num_rows)


def rows_per_file(pattern: str) -> dict[str, int]:
    """Rows of every Parquet file matching ``pattern``, by path."""
    return {metadata.path: read_footer(metadata.path).num_rows
            for metadata in FileSystems.match([pattern])[0].metadata_list}


def count_parquet_rows(pattern: str) -> int:
    """Rows in every Parquet file matching ``pattern`` (0 when none matches)."""
    return sum(rows_per_file(pattern).values())
