"""The nightly backfill: only new work, safe to re-run, never a half-written night (issue 6).

One catalogue of 300 good records (plus 2 that always dead-letter) goes through a series
of nights under one PREFIX with a tiny GPT-J (4 new tokens): the counts each night are
the specification. Other PREFIXes show what a killed run leaves behind and that the next
run of the date finishes the work with the same rows an uninterrupted run writes.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.backfill import committed_partitions, run_backfill
from pipeline.latest import main as latest_main
from pipeline.latest import newest
from tests.tiny_checkpoint import build_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                    ("back_ocr", pa.list_(pa.string())), ("language", pa.string()),
                    ("collection", pa.string())])
CHANGED = [f"p{i:04d}" for i in range(10, 17)]  # 7 records whose OCR is corrected before night 3
NEW = [f"p{i:04d}" for i in range(300, 305)]  # 5 records added before night 3
# Fields that must be the same whichever run (or batch) produced the row: greedy decoding.
GENERATED = ["id", "description", "title", "agency", "photographer", "date", "raw_output", "input_hash",
             "model_version", "output_tokens", "collection"]


def _record(i: int, front: str | None = None) -> dict:
    return {"id": f"p{i:04d}", "front_ocr": [front or f"PRINT {i}", "1964"],
            "back_ocr": ["KEYSTONE PRESS AGENCY", f"ref {i}"], "language": "en", "collection": f"box {i % 4}"}


ALWAYS_DEAD = [{"id": "blank1", "front_ocr": [], "back_ocr": [" "], "language": "en", "collection": None},
               {"id": "blank2", "front_ocr": None, "back_ocr": None, "language": "en", "collection": None}]


def _write_input(folder: Path, rows: list[dict]) -> str:
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), folder / "records.parquet")
    return str(folder / "*.parquet")


def _argv(input_glob: str, prefix: str, run_date: str, model: str, *extra: str) -> list[str]:
    return ["--input", input_glob, "--output", prefix, "--run_date", run_date, "--model", model,
            "--max_new_tokens", "4", *extra]


def _records(partition: str | Path) -> pa.Table:
    return pq.read_table(sorted(Path(partition, "records").glob("*.parquet")))


def _by_id(table: pa.Table) -> dict[str, dict]:
    return {row["id"]: {name: row[name] for name in GENERATED} for row in table.to_pylist()}


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def _latest(prefix: Path, to: Path) -> pa.Table:
    assert latest_main(["--output", str(prefix), "--to", str(to)]) == 0
    return pq.read_table(sorted(to.glob("*.parquet")))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("models")
    return str(build_tiny_checkpoint(folder / "v1", seed=0)), str(build_tiny_checkpoint(folder / "v2", seed=1))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[str, str]:
    """The catalogue before night 3, and after (7 OCR corrections, 5 new prints)."""
    folder = tmp_path_factory.mktemp("inputs")
    before = [_record(i) for i in range(300)] + ALWAYS_DEAD
    after = [_record(i, f"PRINT {i} RETOUCHED") if f"p{i:04d}" in CHANGED else _record(i)
             for i in range(305)] + ALWAYS_DEAD
    return _write_input(folder / "before", before), _write_input(folder / "after", after)


@pytest.fixture(scope="module")
def nights(models, inputs, tmp_path_factory):
    """Six calls under one PREFIX; returns the outcomes, the trees around the re-run and two compactions."""
    v1, v2 = models
    before, after = inputs
    prefix = tmp_path_factory.mktemp("catalogue")
    outcomes = {
        "first": run_backfill(_argv(before, str(prefix), "2024-03-01", v1)),
        "same_input": run_backfill(_argv(before, str(prefix), "2024-03-02", v1)),
        "changed_input": run_backfill(_argv(after, str(prefix), "2024-03-03", v1)),
    }
    tree_before_rerun = _tree(prefix)
    outcomes["rerun_of_night_3"] = run_backfill(_argv(after, str(prefix), "2024-03-03", v1))
    tree_after_rerun = _tree(prefix)
    latest_after_night_3 = _latest(prefix, tmp_path_factory.mktemp("latest") / "after-night-3")
    outcomes["new_model"] = run_backfill(_argv(after, str(prefix), "2024-03-04", v2))
    outcomes["forced"] = run_backfill(_argv(after, str(prefix), "2024-03-05", v2, "--reprocess"))
    latest_after_night_5 = _latest(prefix, tmp_path_factory.mktemp("latest") / "after-night-5")
    return {"prefix": prefix, "outcomes": outcomes, "trees": (tree_before_rerun, tree_after_rerun),
            "latest": (latest_after_night_3, latest_after_night_5)}


def test_first_night_processes_every_record(nights):
    first = nights["outcomes"]["first"]
    assert first.status == "committed"
    assert first.manifest["records_written"] == 300 and first.manifest["records_skipped"] == 0
    assert _records(first.partition).num_rows == 300


def test_second_night_on_the_same_input_processes_nothing(nights):
    same = nights["outcomes"]["same_input"]
    assert same.status == "committed"
    assert same.manifest["records_written"] == 0 and _records(same.partition).num_rows == 0
    assert same.manifest["records_skipped"] == 300


def test_changed_and_new_records_are_the_only_work(nights):
    night_3 = nights["outcomes"]["changed_input"]
    processed = _records(night_3.partition)
    assert night_3.manifest["records_written"] == 12 and night_3.manifest["records_skipped"] == 293
    assert sorted(processed.column("id").to_pylist()) == sorted(CHANGED + NEW)
    first = _by_id(_records(nights["outcomes"]["first"].partition))
    for row in processed.to_pylist():
        if row["id"] in CHANGED:
            assert row["input_hash"] != first[row["id"]]["input_hash"]


def test_rerunning_a_committed_date_changes_nothing_and_says_so(nights):
    rerun = nights["outcomes"]["rerun_of_night_3"]
    assert rerun.status == "already_committed"
    assert "already committed" in rerun.summary and "nothing changed" in rerun.summary
    assert rerun.manifest == nights["outcomes"]["changed_input"].manifest
    before, after = nights["trees"]
    assert before == after


def test_a_new_model_version_or_reprocess_processes_everything(nights):
    outcomes = nights["outcomes"]
    new_model, forced = outcomes["new_model"], outcomes["forced"]
    assert new_model.manifest["model_version"] != outcomes["first"].manifest["model_version"]
    assert new_model.manifest["records_written"] == 305 and new_model.manifest["records_skipped"] == 0
    assert forced.manifest["model_version"] == new_model.manifest["model_version"]
    assert forced.manifest["records_written"] == 305 and forced.manifest["extra"]["reprocess"] is True


def test_every_night_keeps_read_equals_written_plus_dead_lettered_plus_skipped(nights):
    for name, outcome in nights["outcomes"].items():
        manifest = outcome.manifest
        saved = json.loads((Path(outcome.partition) / "manifest.json").read_text())
        assert saved == manifest, name
        assert manifest["records_dead_lettered"] == 2, name  # the two blank prints, every night
        assert manifest["records_read"] == (manifest["records_written"] + manifest["records_dead_lettered"]
                                            + manifest["records_skipped"]), name
        assert manifest["count_invariant_holds"] is True, name
    assert not list((nights["prefix"] / "_staging").rglob("*")), "committed runs leave no staging behind"


def test_latest_gives_one_row_per_id_from_the_newest_run(nights):
    outcomes = nights["outcomes"]
    after_3, after_5 = nights["latest"]
    for table in (after_3, after_5):
        ids = table.column("id").to_pylist()
        assert len(ids) == len(set(ids)) == 305
    night_1, night_3 = _by_id(_records(outcomes["first"].partition)), _by_id(_records(outcomes["changed_input"].partition))
    expected = {**night_1, **night_3}  # night 3 rewrote the changed records and added the new ones
    assert _by_id(after_3) == expected
    run_ids = {row["id"]: row["run_id"] for row in after_3.to_pylist()}
    assert {run_ids[i] for i in CHANGED + NEW} == {outcomes["changed_input"].manifest["run_id"]}
    assert _by_id(after_5) == _by_id(_records(outcomes["forced"].partition))


def test_newest_orders_by_run_date_before_processed_at():
    late_backfill_of_an_old_date = ("2024-03-01", 200, {"id": "a", "v": "old night"})
    newer_night = ("2024-03-02", 100, {"id": "a", "v": "new night"})
    same_night_later = ("2024-03-02", 150, {"id": "a", "v": "new night, later"})
    assert newest([late_backfill_of_an_old_date, newer_night])[2]["v"] == "new night"
    assert newest([newer_night, same_night_later, late_backfill_of_an_old_date])[2]["v"] == "new night, later"


def test_latest_refuses_a_prefix_without_committed_partitions(tmp_path, capsys):
    assert latest_main(["--output", str(tmp_path / "empty"), "--to", str(tmp_path / "latest")]) == 2
    assert "no committed partition" in capsys.readouterr().err


def test_a_killed_run_leaves_nothing_visible_and_the_rerun_finishes_the_work(nights, models, inputs, tmp_path):
    before, _ = inputs
    prefix = tmp_path / "catalogue"
    argv = _argv(before, str(prefix), "2024-03-01", models[0])
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "backfill", *argv], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        # Beam's Parquet sinks create their temp folders in staging when the pipeline starts; inference follows.
        while not list((prefix / "_staging").glob("run_date=2024-03-01/*/records/beam-temp-*")):
            assert process.poll() is None, "the backfill ended before it could be killed"
            assert time.monotonic() < deadline, "no staging output appeared"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    assert committed_partitions(str(prefix)) == []
    assert not (prefix / "run_date=2024-03-01" / "manifest.json").exists()

    rerun = run_backfill(argv)
    assert rerun.status == "committed"
    rows = _records(rerun.partition)
    assert sorted(rows.column("id").to_pylist()) == [f"p{i:04d}" for i in range(300)]
    assert _by_id(rows) == _by_id(_records(nights["outcomes"]["first"].partition))
    assert not list((prefix / "_staging").rglob("*")), "the killed run's staging was cleaned"


def test_a_crash_between_moving_files_and_the_manifest_is_invisible_and_redone(nights, models, inputs, tmp_path,
                                                                               monkeypatch):
    before, _ = inputs
    prefix = tmp_path / "catalogue"
    argv = _argv(before, str(prefix), "2024-03-01", models[0])

    def crash(path: str, text: str) -> None:
        raise OSError("killed before the manifest was written")

    monkeypatch.setattr("pipeline.backfill.write_json", crash)
    with pytest.raises(OSError, match="killed before the manifest"):
        run_backfill(argv)
    monkeypatch.undo()
    partition = prefix / "run_date=2024-03-01"
    assert list(partition.rglob("*.parquet")), "the moved files are there ..."
    assert committed_partitions(str(prefix)) == []  # ... but no reader sees them
    assert latest_main(["--output", str(prefix), "--to", str(tmp_path / "latest")]) == 2

    rerun = run_backfill(argv)
    assert rerun.status == "committed" and rerun.manifest["records_skipped"] == 0
    assert rerun.manifest["extra"]["stale_files_removed"] == 2  # records + dead letter of the crashed commit
    rows = _records(partition)
    assert rows.num_rows == 300 and len(set(rows.column("id").to_pylist())) == 300
    assert _by_id(rows) == _by_id(_records(nights["outcomes"]["first"].partition))
