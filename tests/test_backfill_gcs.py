"""The backfill's nights, commit protocol and compaction on gs:// (a real GCS API on loopback).

GCS has no folders and no atomic rename (Beam copies then deletes), so this checks the
parts of the protocol that differ from local disks: listing committed partitions,
moving staged objects, cleaning leftovers, and the manifest as the only commit marker.
"""
from __future__ import annotations

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.backfill import committed_partitions, run_backfill
from pipeline.latest import main as latest_main
from tests.gcs_emulator import BUCKET
from tests.test_backfill import ALWAYS_DEAD, SCHEMA, _record
from tests.tiny_checkpoint import build_tiny_checkpoint

PREFIX = f"gs://{BUCKET}/catalogue"
CHANGED = ["p0003", "p0007"]


@pytest.fixture(scope="module")
def setup(gcs_emulator, tmp_path_factory) -> dict[str, str]:
    """A local tiny model, and the input on gs:// before and after two OCR corrections."""
    folder = tmp_path_factory.mktemp("gcs-backfill")
    model = str(build_tiny_checkpoint(folder / "model"))
    inputs = {}
    for name, changed in (("before", []), ("after", CHANGED)):
        rows = [_record(i, f"PRINT {i} RETOUCHED" if f"p{i:04d}" in changed else None) for i in range(20)]
        local = folder / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows + ALWAYS_DEAD, schema=SCHEMA), local)
        gcs_emulator.upload(local, f"gs://{BUCKET}/input/{name}/records.parquet")
        inputs[name] = f"gs://{BUCKET}/input/{name}/*.parquet"
    return {"model": model, **inputs}


def _argv(setup: dict[str, str], input_name: str, run_date: str) -> list[str]:
    return ["--input", setup[input_name], "--output", PREFIX, "--run_date", run_date, "--model", setup["model"],
            "--max_new_tokens", "4"]


def _objects(pattern: str) -> list[str]:
    fs, _ = fsspec.core.url_to_fs(f"gs://{BUCKET}")
    fs.invalidate_cache()
    return fs.glob(pattern)


def _rows(pattern: str) -> list[dict]:
    fs, _ = fsspec.core.url_to_fs(f"gs://{BUCKET}")
    fs.invalidate_cache()
    return pa.concat_tables(pq.read_table(path, filesystem=fs) for path in fs.glob(pattern)).to_pylist()


def test_nights_crash_and_latest_on_gcs(setup, monkeypatch, tmp_path):
    first = run_backfill(_argv(setup, "before", "2024-03-01"))
    assert first.status == "committed" and first.manifest["records_written"] == 20
    second = run_backfill(_argv(setup, "before", "2024-03-02"))
    assert (second.manifest["records_written"], second.manifest["records_skipped"]) == (0, 20)
    assert run_backfill(_argv(setup, "before", "2024-03-01")).status == "already_committed"

    # Night 3 dies after moving its objects but before its manifest: nobody sees it.
    def crash(path: str, text: str) -> None:
        raise OSError("killed before the manifest was written")

    monkeypatch.setattr("pipeline.backfill.write_json", crash)
    with pytest.raises(OSError):
        run_backfill(_argv(setup, "after", "2024-03-03"))
    monkeypatch.undo()
    assert _objects(f"{BUCKET}/catalogue/run_date=2024-03-03/records/*.parquet")
    assert [p.run_date for p in committed_partitions(PREFIX)] == ["2024-03-01", "2024-03-02"]

    third = run_backfill(_argv(setup, "after", "2024-03-03"))
    assert third.status == "committed" and third.manifest["extra"]["stale_files_removed"] == 2
    assert sorted(row["id"] for row in _rows(f"{BUCKET}/catalogue/run_date=2024-03-03/records/*.parquet")) == CHANGED
    for outcome in (first, second, third):
        manifest = outcome.manifest
        assert manifest["records_read"] == 22 and manifest["count_invariant_holds"] is True
    assert _objects(f"{BUCKET}/catalogue/_staging/**") == []

    assert latest_main(["--output", PREFIX, "--to", f"gs://{BUCKET}/latest"]) == 0
    latest = {row["id"]: row for row in _rows(f"{BUCKET}/latest/*.parquet")}
    assert len(latest) == 20
    assert {latest[i]["run_id"] for i in CHANGED} == {third.manifest["run_id"]}
    assert {row["run_id"] for i, row in latest.items() if i not in CHANGED} == {first.manifest["run_id"]}
