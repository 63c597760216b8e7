"""The backfill with a gs:// warehouse (a real GCS JSON API on loopback) and a SQLite catalog by URI.

Beam writes the night's files to gs:// through its GCS filesystem; pyiceberg reads their
footers and the table's metadata through gcsfs (FsspecFileIO, FACTS.md). The nights, the
no-op re-run, a race of two processes and ``latest`` behave as on a local warehouse.
"""
from __future__ import annotations

import uuid

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import catalog as cat
from pipeline.backfill import run_backfill
from pipeline.latest import main as latest_main
from tests.gcs_emulator import BUCKET
from tests.test_backfill import (ALWAYS_DEAD, SCHEMA, argv, assert_one_winner, night_rows, night_snapshots, race,
                                 record, tables)

CHANGED, NEW = ["p0003", "p0007"], ["p0012"]


@pytest.fixture(scope="module")
def setup(gcs_emulator, tiny_checkpoint, tmp_path_factory) -> dict[str, str]:
    """Inputs on gs:// before and after two OCR corrections and one new print; a gs:// warehouse."""
    folder = tmp_path_factory.mktemp("gcs-backfill")
    root = f"gs://{BUCKET}/backfill-{uuid.uuid4().hex[:8]}"
    inputs = {}
    for name, rows in (("before", [record(i) for i in range(12)]),
                       ("after", [record(i, f"PRINT {i} RETOUCHED" if f"p{i:04d}" in CHANGED else None)
                                  for i in range(13)])):
        local = folder / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows + ALWAYS_DEAD, schema=SCHEMA), local)
        gcs_emulator.upload(local, f"{root}/input/{name}/records.parquet")
        inputs[name] = f"{root}/input/{name}/*.parquet"
    return {"model": str(tiny_checkpoint), "root": root, "warehouse": f"{root}/warehouse",
            "catalog_uri": f"sqlite:///{folder}/catalog.db", **inputs}


def gcs_argv(setup: dict[str, str], input_name: str, run_date: str, *extra: str) -> list[str]:
    return argv(setup[input_name], setup["warehouse"], run_date, setup["model"],
                "--catalog_uri", setup["catalog_uri"], *extra)


def rows_of(setup: dict[str, str], run_date: str, table: str = cat.RECORDS) -> list[dict]:
    return night_rows(setup["warehouse"], run_date, table, catalog_uri=setup["catalog_uri"])


def test_a_gs_warehouse_needs_a_catalog_uri(setup, capsys):
    from pipeline.backfill import main

    assert main(argv(setup["before"], setup["warehouse"], "2024-03-01", setup["model"])) == 2
    assert "needs --catalog_uri" in capsys.readouterr().err


def test_nights_rerun_race_and_latest_on_gcs(setup, gcs_emulator):
    first = run_backfill(gcs_argv(setup, "before", "2024-03-01"))
    assert first.status == "committed"
    assert sorted(r["id"] for r in rows_of(setup, "2024-03-01")) == [f"p{i:04d}" for i in range(12)]
    assert len(rows_of(setup, "2024-03-01", cat.DEAD_LETTER)) == 2
    assert all(path.startswith(f"{setup['warehouse']}/") for path in cat.data_files(tables(
        setup["warehouse"], setup["catalog_uri"])[0], cat.night_filter("2024-03-01")))

    second = run_backfill(gcs_argv(setup, "before", "2024-03-02"))
    assert (second.manifest["records_written"], second.manifest["records_skipped"]) == (0, 12)
    third = run_backfill(gcs_argv(setup, "after", "2024-03-03"))
    assert sorted(r["id"] for r in rows_of(setup, "2024-03-03")) == sorted(CHANGED + NEW)
    assert run_backfill(gcs_argv(setup, "after", "2024-03-03")).status == "already_committed"
    for outcome in (first, second, third):
        manifest = outcome.manifest
        assert manifest["records_read"] == manifest["records_written"] + manifest["records_dead_lettered"] + \
            manifest["records_skipped"]

    # Two processes reprocess night 4 at once: one commits all 13 rows, the other nothing.
    results = race(gcs_argv(setup, "after", "2024-03-04", "--reprocess"), env=gcs_emulator.env)
    assert_one_winner(results, rows_of(setup, "2024-03-04"), [f"p{i:04d}" for i in range(13)])
    records, _ = tables(setup["warehouse"], setup["catalog_uri"])
    assert len([s for s in night_snapshots(records, "2024-03-04") if s.summary.operation.value == "append"]) == 1
    fs, _ = fsspec.core.url_to_fs(setup["root"])
    fs.invalidate_cache()
    run_folders = {p.rsplit("/", 1)[-1] for p in fs.ls(f"{setup['warehouse']}/backstamp/records/data/run_date=2024-03-04")}
    assert run_folders == {f"run-{rows_of(setup, '2024-03-04')[0]['run_id']}"}, "the loser removed its objects"

    to = f"{setup['root']}/latest"
    assert latest_main(["--output", setup["warehouse"], "--catalog_uri", setup["catalog_uri"], "--to", to]) == 0
    fs.invalidate_cache()
    with fs.open(f"{to}/latest.parquet", "rb") as handle:
        served = {row["id"]: row for row in pq.read_table(handle).to_pylist()}
    assert sorted(served) == [f"p{i:04d}" for i in range(13)]
    assert {row["run_id"] for row in served.values()} == {rows_of(setup, "2024-03-04")[0]["run_id"]}
