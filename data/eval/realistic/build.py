"""Build the realistic evaluation set's Parquet files from the hand-written records.jsonl.

records.jsonl is the source of truth (one record a line, written by hand); the Parquet files are what the
job (`python -m pipeline run`) and `python -m pipeline evaluate` read, in the same schemas as
data/sample/*.parquet (with `layout` in place of the sample's `collection`). The test
tests/test_realistic_eval_set.py checks that the committed Parquet files equal what this script builds.

Usage: python data/eval/realistic/build.py [--out DIR]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "records.jsonl"
LANGUAGES = ("en", "fr", "de", "es", "it")
LABEL_FIELDS = ("description", "title", "agency", "photographer", "date")

RECORDS_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("front_ocr", pa.list_(pa.string())),
    ("back_ocr", pa.list_(pa.string())),
    ("language", pa.string()),
    ("layout", pa.string()),
])
LABELS_SCHEMA = pa.schema([("id", pa.string()), *[(f, pa.string()) for f in LABEL_FIELDS],
                           ("language", pa.string())])


def load_records(path: Path = SOURCE) -> list[dict]:
    """Read and check the hand-written records; a malformed line stops the build with its line number."""
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        rec = json.loads(line)
        where = f"{path.name}:{n} ({rec.get('id')!r})"
        if not isinstance(rec.get("id"), str) or not rec["id"]:
            raise ValueError(f"{where}: id must be a non-empty string")
        if rec.get("language") not in LANGUAGES:
            raise ValueError(f"{where}: language must be one of {LANGUAGES}")
        if not isinstance(rec.get("layout"), str) or not rec["layout"]:
            raise ValueError(f"{where}: layout must be a non-empty string")
        for side in ("back_ocr", "front_ocr"):
            if not isinstance(rec.get(side), list) or not all(isinstance(s, str) for s in rec[side]):
                raise ValueError(f"{where}: {side} must be a list of strings")
        for field in LABEL_FIELDS:
            if not isinstance(rec.get(field), str):
                raise ValueError(f"{where}: label {field} must be a string ('' when absent)")
        records.append(rec)
    return records


def build_tables(records: list[dict]) -> tuple[pa.Table, pa.Table]:
    """The input table (what the job reads) and the labels table (what evaluate compares with)."""
    inputs = pa.Table.from_pylist(
        [{k: r[k] for k in RECORDS_SCHEMA.names} for r in records], schema=RECORDS_SCHEMA)
    labels = pa.Table.from_pylist(
        [{k: r[k] for k in LABELS_SCHEMA.names} for r in records], schema=LABELS_SCHEMA)
    return inputs, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for records.parquet and labels.parquet")
    args = parser.parse_args()
    inputs, labels = build_tables(load_records())
    args.out.mkdir(parents=True, exist_ok=True)
    pq.write_table(inputs, args.out / "records.parquet")
    pq.write_table(labels, args.out / "labels.parquet")
    print(f"wrote {inputs.num_rows} records to {args.out}")


if __name__ == "__main__":
    main()
