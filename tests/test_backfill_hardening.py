"""Hostile but ordinary backfill inputs (issue 23, items 1, 4 and 6): warehouse paths that URIs misread,
impossible nights and how to drop a committed one, a read-only catalog, an impossible ``--as_of``."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import catalog as cat
from pipeline.backfill import EXIT_BAD_INPUT, EXIT_OK
from pipeline.backfill import main as backfill_main
from pipeline.latest import main as latest_main
from tests.test_backfill import tables, tree


def write_input(folder: Path, front: str) -> str:
    folder.mkdir(parents=True)
    rows = [{"id": f"p{i}", "front_ocr": f"{front} {i}", "back_ocr": "KEYSTONE PRESS", "language": "en"}
            for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")
    return str(folder / "*.parquet")


def backfill(input_glob: str, warehouse: Path | str, run_date: str, model: Path, *extra: str) -> int:
    return backfill_main(["--input", input_glob, "--output", str(warehouse), "--run_date", run_date,
                          "--model", str(model), "--max_new_tokens", "4", *extra])


def latest(warehouse: Path | str, to: Path, *extra: str) -> dict[str, dict]:
    assert latest_main(["--output", str(warehouse), "--to", str(to), *extra]) == EXIT_OK
    return {row["id"]: row for row in pq.read_table(to / "latest.parquet").to_pylist()}


# --- item 1: warehouse paths -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["hash#tag", "pct%41x"])
def test_a_warehouse_path_with_hash_or_percent_is_refused_before_anything_is_written(name, tiny_checkpoint,
                                                                                    tmp_path, capsys):
    source = write_input(tmp_path / "input", "PRINT")
    (tmp_path / "pctAx" / "wh").mkdir(parents=True)  # what '%41' decodes to: another warehouse's folder
    before = tree(tmp_path)
    assert backfill(source, tmp_path / name / "wh", "2024-03-01", tiny_checkpoint) == EXIT_BAD_INPUT
    assert latest_main(["--output", str(tmp_path / name / "wh"), "--to", str(tmp_path / "l")]) == EXIT_BAD_INPUT
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all("'#' and '%' are not allowed" in line for line in errors)
    assert tree(tmp_path) == before and not (tmp_path / name).exists() and not (tmp_path / "hash").exists()


def test_other_characters_of_a_folder_name_stay_inside_the_warehouse(tiny_checkpoint, tmp_path):
    source = write_input(tmp_path / "input", "PRINT")
    warehouse = tmp_path / "a b;c=d+e@f,g'h&i$j!k~l:m" / "wh"
    assert backfill(source, warehouse, "2024-03-01", tiny_checkpoint) == EXIT_OK
    assert sorted(latest(warehouse, tmp_path / "l")) == ["p0", "p1", "p2"]
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and warehouse not in p.parents
               and not p.is_relative_to(tmp_path / "input") and not p.is_relative_to(tmp_path / "l")]
    assert outside == []
    records, _ = tables(str(warehouse))
    assert records.location() == f"file://{warehouse}/backstamp/records"


# --- item 4: impossible nights, and dropping a committed one ----------------------------------------------------

@pytest.mark.parametrize("night", ["2204-03-02", "9999-12-31", "0001-01-01", "1999-12-31"])
def test_a_night_far_from_today_is_refused_before_any_work(night, tiny_checkpoint, tmp_path, capsys):
    source = write_input(tmp_path / "input", "PRINT")
    assert backfill(source, tmp_path / "wh", night, tiny_checkpoint) == EXIT_BAD_INPUT
    assert "--allow_any_run_date" in capsys.readouterr().err
    records, dead = tables(str(tmp_path / "wh"))
    assert records is None and dead is None


def test_tomorrow_in_utc_is_still_a_night(tiny_checkpoint, tmp_path):
    # a night started before midnight UTC where the local date is already tomorrow
    tomorrow = (datetime.now(timezone.utc).date() + timedelta(days=1)).isoformat()
    source = write_input(tmp_path / "input", "PRINT")
    assert backfill(source, tmp_path / "wh", tomorrow, tiny_checkpoint) == EXIT_OK


def test_a_typo_night_allowed_on_purpose_can_be_dropped_and_latest_serves_the_nights_before(tiny_checkpoint,
                                                                                          tmp_path, capsys):
    real, typo = write_input(tmp_path / "real", "PRINT"), write_input(tmp_path / "typo", "RETOUCHED")
    warehouse = tmp_path / "wh"
    assert backfill(real, warehouse, "2024-03-01", tiny_checkpoint) == EXIT_OK
    assert backfill(typo, warehouse, "2204-03-02", tiny_checkpoint, "--allow_any_run_date") == EXIT_OK
    served = latest(warehouse, tmp_path / "with-typo")
    assert {row["run_date"].isoformat() for row in served.values()} == {"2204-03-02"}  # it outranks every night

    capsys.readouterr()
    assert backfill_main(["--output", str(warehouse), "--run_date", "2204-03-02", "--drop_night"]) == EXIT_OK
    assert "run_date=2204-03-02 dropped: 3 rows from backstamp.records" in capsys.readouterr().out
    served = latest(warehouse, tmp_path / "dropped")
    assert {row["run_date"].isoformat() for row in served.values()} == {"2024-03-01"}
    records, _ = tables(str(warehouse))
    assert cat.committed_night(records, "2204-03-02") is None and cat.committed_night(records, "2024-03-01")
    # dropping it again says there is nothing to drop; the next real night re-runs only what changed
    assert backfill_main(["--output", str(warehouse), "--run_date", "2204-03-02", "--drop_night"]) == \
        EXIT_BAD_INPUT
    assert backfill(real, warehouse, "2024-03-02", tiny_checkpoint) == EXIT_OK
    assert "records skipped       3" in capsys.readouterr().out


# --- item 6: a read-only catalog, an impossible --as_of ----------------------------------------------------------

def test_a_read_only_catalog_is_refused_before_any_work(tiny_checkpoint, tmp_path, capsys):
    source = write_input(tmp_path / "input", "PRINT")
    warehouse = tmp_path / "wh"
    assert backfill(source, warehouse, "2024-03-01", tiny_checkpoint) == EXIT_OK
    before = tree(warehouse)
    read_only = f"sqlite:///file:{warehouse}/catalog.db?mode=ro&uri=true"
    assert backfill(source, warehouse, "2024-03-02", tiny_checkpoint, "--reprocess", "--catalog_uri",
                    read_only) == EXIT_BAD_INPUT
    assert "the catalog cannot be written" in capsys.readouterr().err
    assert tree(warehouse) == before  # no run folder, no metadata: nothing was done
    assert sorted(latest(warehouse, tmp_path / "l", )) == ["p0", "p1", "p2"]  # reading it still works


def test_an_impossible_as_of_date_is_a_clear_error(tiny_checkpoint, tmp_path, capsys):
    warehouse = tmp_path / "wh"
    assert backfill(write_input(tmp_path / "input", "PRINT"), warehouse, "2024-03-01", tiny_checkpoint) == EXIT_OK
    assert latest_main(["--output", str(warehouse), "--to", str(tmp_path / "l"), "--as_of", "2024-02-30"]) == \
        EXIT_BAD_INPUT
    assert "--as_of 2024-02-30: not a date of the calendar" in capsys.readouterr().err
