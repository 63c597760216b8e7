"""Carried columns of ordinary Arrow types (issue 23, items 2 and 3): ``run`` passes every temporal type
through unchanged, nanoseconds included; the backfill stores each type Iceberg can hold without loss and
refuses the others before any work."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.backfill import EXIT_BAD_INPUT, EXIT_OK
from pipeline.backfill import main as backfill_main
from tests.test_backfill import night_rows, tables

NS = 1700000000123456789  # 2023-11-14 22:13:20.123456789: a sub-microsecond part
TEMPORAL = {
    "ts_s": (pa.timestamp("s"), 1700000000), "ts_ms": (pa.timestamp("ms"), 1700000000123),
    "ts_us": (pa.timestamp("us"), 1700000000123456), "ts_ns": (pa.timestamp("ns"), NS),
    "ts_ns_utc": (pa.timestamp("ns", tz="UTC"), NS), "ts_us_paris": (pa.timestamp("us", tz="Europe/Paris"), 5),
    "ts_ns_tokyo": (pa.timestamp("ns", tz="Asia/Tokyo"), NS),
    "date32": (pa.date32(), 19000), "date64": (pa.date64(), 19000 * 86_400_000),
    "time32_s": (pa.time32("s"), 3600), "time32_ms": (pa.time32("ms"), 3_600_123),
    "time64_us": (pa.time64("us"), 3_600_000_123), "time64_ns": (pa.time64("ns"), 3_600_000_123_456),
    "dur_s": (pa.duration("s"), 90), "dur_ms": (pa.duration("ms"), 1500), "dur_us": (pa.duration("us"), 7),
    "dur_ns": (pa.duration("ns"), 1234),
}


def ocr_columns(n: int) -> dict[str, pa.Array]:
    return {"id": pa.array([f"p{i}" for i in range(n)]), "front_ocr": pa.array([f"PRINT {i}" for i in range(n)]),
            "back_ocr": pa.array(["KEYSTONE PRESS"] * n)}


def write(folder: Path, table: pa.Table) -> str:
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0.parquet")
    return str(folder / "*.parquet")


def backfill(input_glob: str, warehouse: Path, model: Path, run_date: str = "2024-03-01") -> int:
    return backfill_main(["--input", input_glob, "--output", str(warehouse), "--run_date", run_date,
                          "--model", str(model), "--max_new_tokens", "4"])


# --- item 3: run ------------------------------------------------------------------------------------------------

def test_run_carries_every_temporal_type_unchanged_nanoseconds_included(tiny_checkpoint, tmp_path):
    from pipeline.job import run as run_job

    # row 0: the values above; row 1: nulls; row 2: the epoch (0 of every unit)
    table = pa.table({**ocr_columns(3), **{name: pa.array([value, None, 0], arrow_type)
                                           for name, (arrow_type, value) in TEMPORAL.items()}})
    source = write(tmp_path / "input", table)
    run_job(["--input", source, "--output", str(tmp_path / "out"), "--model", str(tiny_checkpoint),
             "--max_new_tokens", "4"])
    written = pq.read_table(tmp_path / "out" / "records").sort_by("id")
    assert written.num_rows == 3  # read = written: no row dead-lettered
    for name, (arrow_type, _) in TEMPORAL.items():  # Parquet itself keeps timestamp[s] as [ms]: compared cast
        assert written.column(name).cast(arrow_type).equals(table.column(name)), name
    assert [written.schema.field(name).type.unit for name in ("ts_ns", "ts_ns_tokyo", "time64_ns", "dur_ns")] == \
        ["ns"] * 4


# --- item 2: backfill -------------------------------------------------------------------------------------------

def test_backfill_stores_ordinary_carried_types_without_loss(tiny_checkpoint, tmp_path):
    columns = {
        **ocr_columns(3),
        "ts_ns": pa.array([NS // 1000 * 1000, NS, None], pa.timestamp("ns")),  # row p1: a sub-microsecond part
        "ts_paris": pa.array([1_700_000_000_123_456, None, 5], pa.timestamp("us", tz="Europe/Paris")),
        "all_none": pa.array([None] * 3, pa.null()),  # what pandas writes for an all-None column
        "date64": pa.array([19000 * 86_400_000, None, 0], pa.date64()),
        "duration": pa.array([1500, None, 7], pa.duration("ms")),
        "time_ns": pa.array([3_600_000_000_000, None, 1000], pa.time64("ns")),
        "dec256": pa.array([Decimal("1.25"), None, Decimal("-3.00")], pa.decimal256(10, 2)),
        "half": pa.array(np.array([1.5, 0.25, 2.0], np.float16)),
        "u64": pa.array([2**64 - 1, 2**63, 1], pa.uint64()),
        "u32": pa.array([2**32 - 1, 0, 1], pa.uint32()),
    }
    warehouse = tmp_path / "wh"
    assert backfill(write(tmp_path / "input", pa.table(columns)), warehouse, tiny_checkpoint) == EXIT_OK
    records, _ = tables(str(warehouse))
    stored = {f.name: str(f.field_type) for f in records.schema().fields if f.name in columns and f.name != "id"}
    assert stored == {"ts_ns": "timestamp", "ts_paris": "timestamptz", "date64": "date", "duration": "long",
                      "time_ns": "time", "dec256": "decimal(10, 2)", "half": "float", "u64": "decimal(20, 0)",
                      "u32": "long"}  # all_none: nothing to store until a night gives it a type
    rows = {row["id"]: row for row in night_rows(str(warehouse), "2024-03-01")}
    assert sorted(rows) == ["p0", "p2"] and "all_none" not in rows["p0"]
    assert rows["p0"]["ts_ns"].isoformat() == "2023-11-14T22:13:20.123456"
    assert rows["p0"]["ts_paris"].isoformat() == "2023-11-14T22:13:20.123456+00:00"  # the same instant, in UTC
    assert (rows["p0"]["date64"].isoformat(), rows["p0"]["duration"], rows["p0"]["time_ns"].isoformat()) == \
        ("2022-01-08", 1_500_000, "01:00:00")  # the duration in microseconds
    assert (rows["p0"]["dec256"], rows["p0"]["half"], rows["p0"]["u64"], rows["p0"]["u32"]) == \
        (Decimal("1.25"), 1.5, Decimal(2**64 - 1), 2**32 - 1)
    assert (rows["p2"]["time_ns"].isoformat(), rows["p2"]["u64"]) == ("00:00:00.000001", Decimal(1))
    # the value the table cannot hold without rounding is its row's dead letter, naming the column
    [dead] = night_rows(str(warehouse), "2024-03-01", "backstamp.dead_letter")
    assert (dead["id"], dead["reason"]) == ("p1", "bad_value")
    assert "'ts_ns'" in dead["detail"] and "sub-microsecond part (789 ns)" in dead["detail"]


@pytest.mark.parametrize("arrow_type, value, advice", [
    (pa.decimal256(60, 2), Decimal("1.25"), "at most 38 digits; cast it to string"),
    (pa.map_(pa.timestamp("ns"), pa.string()), [(NS, "taken")], "cast its keys to string"),
])
def test_a_carried_type_iceberg_cannot_hold_is_refused_before_any_work(arrow_type, value, advice, tiny_checkpoint,
                                                                       tmp_path, capsys):
    table = pa.table({**ocr_columns(1), "odd": pa.array([value], arrow_type)})
    warehouse = tmp_path / "wh"
    assert backfill(write(tmp_path / "input", table), warehouse, tiny_checkpoint) == EXIT_BAD_INPUT
    [line] = capsys.readouterr().err.splitlines()
    assert "carried input column 'odd' cannot be stored in the catalogue" in line and advice in line
    assert tables(str(warehouse)) == (None, None) and not list(warehouse.rglob("*.parquet"))
