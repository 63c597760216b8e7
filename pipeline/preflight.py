"""Checks on the input files before the job does any work (SPEC §2).

A file that is not Parquet, lacks a required column, names a column twice, or carries a
column whose output name another column already has, stops the job with one line that
names the file and the problem (exit status 2), instead of failing workers an hour into a
run. Only the Parquet footers are read, through Beam's filesystems so that gs:// works the
same.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from formats.records import ColumnNames
from formats.schemas import output_schema
from pipeline.errors import InputError  # noqa: F401 - raised here, and imported from here by callers
from pipeline.footers import read_footer


@dataclass(frozen=True)
class InputPlan:
    """What the job will read: the matched files and the columns carried to the output."""

    files: tuple[str, ...]
    carried_schema: pa.Schema


def check_inputs(pattern: str, columns: ColumnNames) -> InputPlan:
    matches = FileSystems.match([pattern])[0].metadata_list
    files = tuple(sorted(m.path for m in matches))
    if not files:
        raise InputError(f"{pattern}: no input file matches")
    required = {columns.id, columns.front, columns.back}
    carried: list[pa.Schema] = []
    for path in files:
        schema = _read_schema(path)
        twice = sorted({name for name in schema.names if schema.names.count(name) > 1})
        if twice:  # rows are dicts by column name: one of the two values would be lost
            raise InputError(f"{path}: column(s) {', '.join(twice)} appear more than once")
        missing = sorted(required - set(schema.names))
        if missing:
            raise InputError(f"{path}: missing required column(s) {', '.join(missing)}")
        known = required | {columns.language}
        carried.append(pa.schema([f for f in schema if f.name not in known]))
    try:
        carried_schema = pa.unify_schemas(carried)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InputError(f"{pattern}: files disagree on the type of a carried column ({error})") from None
    try:
        output_schema(carried_schema)
    except ValueError as error:  # e.g. both title and input_title: one output name for two columns
        raise InputError(f"{pattern}: {error}") from None
    return InputPlan(files=files, carried_schema=carried_schema)


def _read_schema(path: str) -> pa.Schema:
    try:
        return read_footer(path).schema
    except Exception as error:  # any failure to read the footer means "not a usable Parquet file"
        raise InputError(f"{path}: not a readable Parquet file ({type(error).__name__}: {error})") from None
