"""The nightly backfill into the Iceberg catalogue tables (issue 17, SPEC §8).

One catalogue of 30 good prints (plus 2 that always dead-letter) goes through a series of
nights in one warehouse with a tiny GPT-J (4 new tokens); what each night commits is the
specification. Separate warehouses show a carried column changing type, a refused commit,
a SIGKILLed run, two runs of one night racing, and a warehouse path with glob characters.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import BeamIOError
from pyiceberg.table import Transaction

from pipeline import backfill
from pipeline import catalog as cat
from pipeline.backfill import EXIT_BAD_INPUT, EXIT_LOST_RACE, EXIT_OK, run_backfill
from pipeline.backfill import main as backfill_main
from pipeline.latest import main as latest_main
from tests.tiny_checkpoint import build_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                    ("back_ocr", pa.list_(pa.string())), ("language", pa.string()),
                    ("collection", pa.string())])
N = 30
CHANGED = [f"p{i:04d}" for i in range(10, 17)]  # 7 prints whose OCR is corrected before night 3
NEW = [f"p{i:04d}" for i in range(N, N + 5)]  # 5 prints added before night 3
FLIPPED, WITHDRAWN, BLANKED = "p0000", "p0001", "p0002"  # night 4: OCR B, gone, OCR empty; night 5: back
# Fields that are the same whichever run (or batch) produced the row: greedy decoding.
GENERATED = ["id", "description", "title", "agency", "photographer", "date", "raw_output", "input_hash",
             "model_version", "output_tokens", "collection"]


def record(i: int, front: str | None = None, **extra) -> dict:
    return {"id": f"p{i:04d}", "front_ocr": [front or f"PRINT {i}", "1964"],
            "back_ocr": ["KEYSTONE PRESS AGENCY", f"ref {i}"], "language": "en", "collection": f"box {i % 4}",
            **extra}


ALWAYS_DEAD = [{"id": "blank1", "front_ocr": [], "back_ocr": [" "], "language": "en", "collection": None},
               {"id": "blank2", "front_ocr": None, "back_ocr": None, "language": "en", "collection": None}]


def write_input(folder: Path, rows: list[dict], schema: pa.Schema = SCHEMA) -> str:
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "records.parquet")
    return str(folder / "*.parquet")


def argv(input_glob: str, warehouse: str | Path, run_date: str, model: str, *extra: str) -> list[str]:
    return ["--input", input_glob, "--output", str(warehouse), "--run_date", run_date, "--model", model,
            "--max_new_tokens", "4", *extra]


def tables(warehouse: str, catalog_uri: str | None = None):
    catalog = cat.open_catalog(cat.resolve_warehouse(warehouse, catalog_uri))
    return cat.load_table(catalog, cat.RECORDS), cat.load_table(catalog, cat.DEAD_LETTER)


def night_rows(warehouse: str, run_date: str, table: str = cat.RECORDS, snapshot_id: int | None = None,
               catalog_uri: str | None = None) -> list[dict]:
    """The rows of one night as a reader of the table sees them (a pyiceberg scan)."""
    records, dead = tables(warehouse, catalog_uri)
    chosen = records if table == cat.RECORDS else dead
    return chosen.scan(row_filter=cat.night_filter(run_date), snapshot_id=snapshot_id).to_arrow().to_pylist()


def night_snapshots(table, run_date: str) -> list:
    return [s for s in table.snapshots() if cat.summary_value(s, cat.SUMMARY_RUN_DATE) == run_date]


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {row["id"]: {name: row[name] for name in GENERATED} for row in rows}


def latest(warehouse: Path, to: Path, *extra: str) -> dict[str, dict]:
    assert latest_main(["--output", str(warehouse), "--to", str(to), *extra]) == 0
    return {row["id"]: row for row in pq.read_table(to / "latest.parquet").to_pylist()}


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def models(tiny_checkpoint, tmp_path_factory) -> tuple[str, str]:
    """The session's tiny model, and a second one with other weights (a new model_version)."""
    return str(tiny_checkpoint), str(build_tiny_checkpoint(tmp_path_factory.mktemp("models") / "v2", seed=1))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("inputs")
    before = [record(i) for i in range(N)] + ALWAYS_DEAD
    after = [record(i, f"PRINT {i} RETOUCHED") if f"p{i:04d}" in CHANGED else record(i)
             for i in range(N + 5)] + ALWAYS_DEAD
    night_4 = [record(0, "PRINT 0 SECOND READING") if row["id"] == FLIPPED
               else {**row, "front_ocr": [], "back_ocr": []} if row["id"] == BLANKED else row
               for row in after if row["id"] != WITHDRAWN]
    return {"before": write_input(folder / "before", before), "after": write_input(folder / "after", after),
            "night_4": write_input(folder / "night_4", night_4)}


@pytest.fixture(scope="module")
def nights(models, inputs, tmp_path_factory):
    """Seven nights and a re-run in one warehouse; the outcomes, the tree around the re-run, latest views."""
    v1, v2 = models
    warehouse = tmp_path_factory.mktemp("warehouse")
    outcomes = {
        "first": run_backfill(argv(inputs["before"], warehouse, "2024-03-01", v1)),
        "same_input": run_backfill(argv(inputs["before"], warehouse, "2024-03-02", v1)),
        "changed_input": run_backfill(argv(inputs["after"], warehouse, "2024-03-03", v1)),
    }
    tree_before_rerun = tree(warehouse)
    outcomes["rerun_of_night_3"] = run_backfill(argv(inputs["after"], warehouse, "2024-03-03", v1))
    tree_after_rerun = tree(warehouse)
    views = {"after_3": latest(warehouse, tmp_path_factory.mktemp("latest") / "after-3")}
    outcomes["flip_withdraw_blank"] = run_backfill(argv(inputs["night_4"], warehouse, "2024-03-04", v1))
    views["after_4"] = latest(warehouse, tmp_path_factory.mktemp("latest") / "after-4")
    outcomes["back_again"] = run_backfill(argv(inputs["after"], warehouse, "2024-03-05", v1))
    views["after_5"] = latest(warehouse, tmp_path_factory.mktemp("latest") / "after-5")
    outcomes["new_model"] = run_backfill(argv(inputs["after"], warehouse, "2024-03-06", v2))
    outcomes["forced"] = run_backfill(argv(inputs["after"], warehouse, "2024-03-07", v2, "--reprocess"))
    views["as_of_3"] = latest(warehouse, tmp_path_factory.mktemp("latest") / "as-of-3", "--as_of", "2024-03-03")
    views["snapshot_3"] = latest(warehouse, tmp_path_factory.mktemp("latest") / "snapshot-3", "--as_of",
                                 str(outcomes["changed_input"].snapshot_id))
    return {"warehouse": warehouse, "outcomes": outcomes, "trees": (tree_before_rerun, tree_after_rerun),
            "latest": views}


def test_first_night_commits_every_record_and_its_dead_letters_in_one_snapshot(nights):
    first = nights["outcomes"]["first"]
    assert first.status == "committed" and first.exit_code == EXIT_OK
    records, dead = tables(str(nights["warehouse"]))
    [snapshot] = [s for s in night_snapshots(records, "2024-03-01") if s.summary.operation.value == "append"]
    assert snapshot.snapshot_id == first.snapshot_id
    rows = night_rows(str(nights["warehouse"]), "2024-03-01", snapshot_id=first.snapshot_id)
    assert sorted(row["id"] for row in rows) == [f"p{i:04d}" for i in range(N)]
    assert {str(row["run_date"]) for row in rows} == {"2024-03-01"} and not any(row["withdrawn"] for row in rows)
    assert sorted(r["id"] for r in night_rows(str(nights["warehouse"]), "2024-03-01", cat.DEAD_LETTER)) == \
        ["blank1", "blank2"]
    summary = snapshot.summary.additional_properties
    assert (summary["backstamp.records_written"], summary["backstamp.records_dead_lettered"]) == ("30", "2")
    assert summary["backstamp.run_id"] == first.manifest["run_id"]


def test_second_night_on_the_same_input_commits_no_row(nights):
    same = nights["outcomes"]["same_input"]
    assert same.status == "committed"
    assert same.manifest["records_written"] == 0 and same.manifest["records_skipped"] == N
    assert night_rows(str(nights["warehouse"]), "2024-03-02") == []
    records, _ = tables(str(nights["warehouse"]))
    assert night_snapshots(records, "2024-03-02"), "an empty night is committed too (its snapshot says so)"


def test_seven_changed_and_five_new_records_are_exactly_the_work(nights):
    rows = night_rows(str(nights["warehouse"]), "2024-03-03")
    assert sorted(row["id"] for row in rows) == sorted(CHANGED + NEW)
    assert nights["outcomes"]["changed_input"].manifest["records_skipped"] == N - len(CHANGED)
    first = by_id(night_rows(str(nights["warehouse"]), "2024-03-01"))
    assert all(row["input_hash"] != first[row["id"]]["input_hash"] for row in rows if row["id"] in CHANGED)


def test_rerunning_a_committed_night_changes_nothing_and_says_so(nights):
    rerun = nights["outcomes"]["rerun_of_night_3"]
    assert rerun.status == "already_committed" and rerun.exit_code == EXIT_OK
    assert "already committed" in rerun.summary and "nothing changed" in rerun.summary
    assert rerun.snapshot_id == nights["outcomes"]["changed_input"].snapshot_id
    before, after = nights["trees"]
    assert before == after


def test_a_new_model_version_or_reprocess_processes_everything(nights):
    outcomes = nights["outcomes"]
    new_model, forced = outcomes["new_model"], outcomes["forced"]
    assert new_model.manifest["model_version"] != outcomes["first"].manifest["model_version"]
    assert len(night_rows(str(nights["warehouse"]), "2024-03-06")) == N + 5
    assert new_model.manifest["records_skipped"] == 0
    assert forced.manifest["model_version"] == new_model.manifest["model_version"]
    assert len(night_rows(str(nights["warehouse"]), "2024-03-07")) == N + 5
    assert forced.manifest["extra"]["reprocess"] is True


def test_every_night_counts_from_the_committed_files_read_equals_written_plus_dead_plus_skipped(nights):
    warehouse = str(nights["warehouse"])
    for name, outcome in nights["outcomes"].items():
        if outcome.status != "committed":
            continue
        rows = night_rows(warehouse, outcome.run_date, snapshot_id=outcome.snapshot_id)
        written = sum(not row["withdrawn"] for row in rows)
        dead = len(night_rows(warehouse, outcome.run_date, cat.DEAD_LETTER))
        manifest = outcome.manifest
        assert (manifest["records_written"], manifest["records_dead_lettered"]) == (written, dead), name
        assert manifest["records_read"] == written + dead + manifest["records_skipped"], name
        assert manifest["count_invariant_holds"] is True, name


def test_latest_serves_each_ids_newest_row(nights):
    warehouse, outcomes, views = str(nights["warehouse"]), nights["outcomes"], nights["latest"]
    expected = {**by_id(night_rows(warehouse, "2024-03-01")), **by_id(night_rows(warehouse, "2024-03-03"))}
    assert {i: {k: row[k] for k in GENERATED} for i, row in views["after_3"].items()} == expected
    assert {views["after_3"][i]["run_id"] for i in CHANGED + NEW} == {outcomes["changed_input"].manifest["run_id"]}
    # --as_of a date, or the snapshot of night 3, sees the catalogue as night 3 left it
    for view in ("as_of_3", "snapshot_3"):
        assert {i: row["run_id"] for i, row in views[view].items()} == \
            {i: row["run_id"] for i, row in views["after_3"].items()}, view


def test_ocr_going_a_b_a_serves_the_third_nights_row(nights):
    views, outcomes = nights["latest"], nights["outcomes"]
    a_hash = views["after_3"][FLIPPED]["input_hash"]
    assert views["after_4"][FLIPPED]["input_hash"] != a_hash  # B
    served = views["after_5"][FLIPPED]
    assert served["input_hash"] == a_hash and served["run_id"] == outcomes["back_again"].manifest["run_id"]


def test_a_withdrawn_id_is_not_served_until_it_returns(nights):
    views, outcomes = nights["latest"], nights["outcomes"]
    night_4 = night_rows(str(nights["warehouse"]), "2024-03-04")
    [marker] = [row for row in night_4 if row["withdrawn"]]
    assert marker["id"] == WITHDRAWN and outcomes["flip_withdraw_blank"].manifest["extra"]["records_withdrawn"] == 1
    assert WITHDRAWN not in views["after_4"]
    assert views["after_5"][WITHDRAWN]["run_id"] == outcomes["back_again"].manifest["run_id"]


def test_a_dead_lettered_id_is_not_served_and_is_retried_next_night(nights):
    views, outcomes, warehouse = nights["latest"], nights["outcomes"], str(nights["warehouse"])
    assert BLANKED in [row["id"] for row in night_rows(warehouse, "2024-03-04", cat.DEAD_LETTER)]
    assert BLANKED not in views["after_4"]
    assert views["after_5"][BLANKED]["run_id"] == outcomes["back_again"].manifest["run_id"]
    assert sorted(row["id"] for row in night_rows(warehouse, "2024-03-05")) == sorted([FLIPPED, WITHDRAWN, BLANKED])


def test_secrets_on_the_command_line_reach_no_output_log_or_snapshot(models, tmp_path, secret_watch):
    input_glob = write_input(tmp_path / "in", [record(i) for i in range(3)] + ALWAYS_DEAD)
    warehouse = tmp_path / "warehouse"
    assert backfill_main(argv(input_glob, warehouse, "2024-07-01", models[0], *secret_watch.flags)) == EXIT_OK
    assert latest_main(["--output", str(warehouse), "--to", str(tmp_path / "latest")]) == EXIT_OK
    # stdout, stderr, logs, and every file of the warehouse: data, table metadata (snapshot summaries), catalog
    text = secret_watch.assert_clean(warehouse, tmp_path / "latest")
    assert "committed             run_date=2024-07-01" in text
    assert '\\"s3_secret_access_key\\": \\"<redacted>\\"' in text, "the snapshot summary holds the options, redacted"


def test_secrets_in_a_signed_input_or_a_catalog_password_stay_out_of_the_errors(tmp_path, models, secret_watch):
    signed = secret_watch.signed(str(tmp_path / "missing" / "*.parquet"))
    assert backfill_main(argv(signed, tmp_path / "w1", "2024-07-01", models[0], *secret_watch.flags)) == \
        EXIT_BAD_INPUT
    uri = secret_watch.with_password("postgresql://127.0.0.1:9/catalogue")
    assert backfill_main(argv(signed, tmp_path / "w2", "2024-07-01", models[0], "--catalog_uri", uri)) == \
        EXIT_BAD_INPUT
    assert "cannot open the catalog" in secret_watch.assert_clean(tmp_path)


def test_a_warehouse_path_with_glob_characters_touches_nothing(inputs, models, tmp_path, capsys):
    neighbour = tmp_path / "bsa"
    neighbour.mkdir()
    (neighbour / "keep.parquet").write_bytes(b"not touched")
    before = tree(tmp_path)
    code = backfill_main(argv(inputs["before"], tmp_path / "bs[ab]", "2024-03-01", models[0]))
    assert code == EXIT_BAD_INPUT and "glob characters" in capsys.readouterr().err
    assert latest_main(["--output", str(tmp_path / "bs[ab]"), "--to", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    assert tree(tmp_path) == before and not (tmp_path / "bs[ab]").exists()


def test_counts_that_disagree_commit_nothing(models, inputs, tmp_path, monkeypatch):
    import pipeline.job

    counters = pipeline.job._counters
    monkeypatch.setattr(pipeline.job, "_counters",
                        lambda result: {**counters(result), "records_read": counters(result)["records_read"] + 1})
    outcome = run_backfill(argv(inputs["before"], tmp_path / "w", "2024-03-01", models[0]))
    assert outcome.status == "not_committed" and outcome.exit_code == 1
    records, dead = tables(str(tmp_path / "w"))
    assert records.current_snapshot() is None and dead.current_snapshot() is None


@pytest.fixture(scope="module")
def retyped(models, tmp_path_factory):
    """Night 1 carries ``shelf`` as text; night 2 (reprocessed) as an integer, and a new column ``box``."""
    folder = tmp_path_factory.mktemp("retyped")
    text = pa.schema(list(SCHEMA) + [("shelf", pa.string())])
    number = pa.schema(list(SCHEMA) + [("shelf", pa.int64()), ("box", pa.int32())])
    night_1 = write_input(folder / "n1", [record(i, shelf=f"S-{i}") for i in range(6)], text)
    night_2 = write_input(folder / "n2", [record(i, shelf=i, box=i * 10) for i in range(3)] +
                          [record(i, shelf=i) for i in range(3, 6)], number)
    warehouse = folder / "warehouse"
    outcomes = [run_backfill(argv(night_1, warehouse, "2024-04-01", models[0])),
                run_backfill(argv(night_2, warehouse, "2024-04-02", models[0], "--reprocess"))]
    return warehouse, outcomes, latest(warehouse, folder / "latest"), latest(warehouse, folder / "old", "--as_of",
                                                                             "2024-04-01")


def test_a_carried_column_changing_type_keeps_latest_working(retyped):
    warehouse, outcomes, served, old = retyped
    assert [o.status for o in outcomes] == ["committed", "committed"]
    assert outcomes[1].manifest["extra"]["stored_as"] == {"shelf": "shelf__int64"}
    records, _ = tables(str(warehouse))
    assert str(records.schema().find_field("shelf").field_type) == "string"
    assert str(records.schema().find_field("shelf__int64").field_type) == "long"
    assert {i: (row["shelf"], row["shelf__int64"], row["box"]) for i, row in served.items()} == {
        f"p{i:04d}": (None, i, i * 10 if i < 3 else None) for i in range(6)}
    assert {i: (row["shelf"], row["shelf__int64"]) for i, row in old.items()} == {
        f"p{i:04d}": (f"S-{i}", None) for i in range(6)}


def backfill_process(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "backfill", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def race(args: list[str], env: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """Start two runs of one night at once; their (exit code, stdout + stderr), sorted by exit code."""
    processes = [backfill_process(args, env) for _ in range(2)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        results.append((process.returncode, out + err))
    return sorted(results)


def assert_one_winner(results: list[tuple[int, str]], rows: list[dict], expected_ids: list[str]) -> None:
    (won, won_out), (lost, lost_out) = results
    assert (won, lost) == (EXIT_OK, EXIT_LOST_RACE), lost_out[-3000:]
    assert "committed             run_date=" in won_out
    assert "NOT committed" in lost_out and "was committed by another run" in lost_out
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(expected_ids)
    assert len({row["run_id"] for row in rows}) == 1


def test_two_concurrent_runs_of_one_night_commit_it_once(models, tmp_path):
    input_glob = write_input(tmp_path / "in", [record(i) for i in range(10)] + ALWAYS_DEAD)
    warehouse = tmp_path / "warehouse"
    results = race(argv(input_glob, warehouse, "2024-05-01", models[0]))
    rows = night_rows(str(warehouse), "2024-05-01")
    assert_one_winner(results, rows, [f"p{i:04d}" for i in range(10)])
    records, dead = tables(str(warehouse))
    assert len([s for s in night_snapshots(records, "2024-05-01") if s.summary.operation.value == "append"]) == 1
    assert len(night_rows(str(warehouse), "2024-05-01", cat.DEAD_LETTER)) == 2
    runs = list((warehouse / "backstamp" / "records" / "data" / "run_date=2024-05-01").iterdir())
    assert [p.name for p in runs] == [f"run-{rows[0]['run_id']}"], "the loser removed its files"


EARLIER_RUN, LATER_RUN = "20240501T000000Z-aaaaaaaa", "20240501T000001Z-bbbbbbbb"


@pytest.mark.parametrize("rival_commits", ["after_this_run_wrote", "while_this_run_adds_its_files"])
def test_a_run_whose_files_the_winner_removed_reports_the_lost_race(models, tmp_path, monkeypatch, rival_commits):
    """The winner of a night removes the folders of earlier uncommitted runs (orphans of killed runs),
    so a slower rival can find its files gone anywhere before its own commit: it must exit 4, not 1-3."""
    input_glob = write_input(tmp_path / "in", [record(i) for i in range(6)] + ALWAYS_DEAD)
    warehouse = tmp_path / "warehouse"
    rival = argv(input_glob, warehouse, "2024-05-01", models[0], "--run_id", LATER_RUN)
    rival_outcomes = []

    def rival_wins_once() -> None:
        if not rival_outcomes:
            rival_outcomes.append(None)
            rival_outcomes[0] = run_backfill(rival)

    if rival_commits == "after_this_run_wrote":
        real_execute = backfill.execute

        def execute_then_rival(*args):
            manifest = real_execute(*args)
            rival_wins_once()
            return manifest
        monkeypatch.setattr(backfill, "execute", execute_then_rival)
    else:  # inside this run's commit transaction: after it checked for rivals, before add_files reads its files
        real_add_files = Transaction.add_files

        def rival_then_add_files(self, *args, **kwargs):
            rival_wins_once()
            return real_add_files(self, *args, **kwargs)
        monkeypatch.setattr(Transaction, "add_files", rival_then_add_files)

    outcome = run_backfill(argv(input_glob, warehouse, "2024-05-01", models[0], "--run_id", EARLIER_RUN))

    assert rival_outcomes[0].status == "committed" and rival_outcomes[0].manifest["extra"]["orphan_runs_removed"] == 2
    assert (outcome.status, outcome.exit_code) == ("lost_race", EXIT_LOST_RACE)
    assert f"committed by another run ({LATER_RUN})" in outcome.summary
    rows = night_rows(str(warehouse), "2024-05-01")
    assert sorted(row["id"] for row in rows) == [f"p{i:04d}" for i in range(6)]
    assert {row["run_id"] for row in rows} == {LATER_RUN}
    runs = list((warehouse / "backstamp" / "records" / "data" / "run_date=2024-05-01").iterdir())
    assert [p.name for p in runs] == [f"run-{LATER_RUN}"]


def test_a_sigkilled_run_leaves_the_table_unchanged(models, inputs, tmp_path):
    warehouse = tmp_path / "warehouse"
    assert run_backfill(argv(inputs["before"], warehouse, "2024-03-01", models[0])).status == "committed"
    records, _ = tables(str(warehouse))
    snapshots_before = [s.snapshot_id for s in records.snapshots()]
    night = warehouse / "backstamp" / "records" / "data" / "run_date=2024-03-02"
    process = backfill_process(argv(inputs["after"], warehouse, "2024-03-02", models[0]))
    try:
        deadline = time.monotonic() + 300
        # Beam's Parquet sinks create their temp folders in the run's folder when the pipeline starts.
        while not list(night.glob("run-*/beam-temp-*")):
            assert process.poll() is None, "the backfill ended before it could be killed"
            assert time.monotonic() < deadline, "no run folder appeared"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    [killed_folder] = list(night.iterdir())
    records, _ = tables(str(warehouse))
    assert [s.snapshot_id for s in records.snapshots()] == snapshots_before
    assert night_rows(str(warehouse), "2024-03-02") == []

    rerun = run_backfill(argv(inputs["after"], warehouse, "2024-03-02", models[0]))
    assert rerun.status == "committed" and rerun.manifest["extra"]["orphan_runs_removed"] >= 1
    assert sorted(row["id"] for row in night_rows(str(warehouse), "2024-03-02")) == sorted(CHANGED + NEW)
    # in both tables' data folders (the dead-letter sink may not have started when the kill came)
    assert not list(warehouse.glob(f"backstamp/*/data/run_date=2024-03-02/{killed_folder.name}")), \
        "the killed run's files were removed by the night's commit"


def test_an_orphan_folder_that_cannot_be_removed_yet_does_not_fail_the_commit(models, inputs, tmp_path,
                                                                               monkeypatch):
    """Removing earlier runs' folders is cleanup after the commit: a folder that changes under the
    deletion (its run is alive and still writing) stays for the night's next commit to remove."""
    warehouse = tmp_path / "warehouse"
    orphan = warehouse / "backstamp" / "records" / "data" / "run_date=2024-03-01" / "run-20000101T000000Z-00000000"
    orphan.mkdir(parents=True)
    (orphan / "part-00000-of-00001.parquet").write_bytes(b"an earlier run's file")
    real_delete_tree = backfill.delete_tree

    def busy_folder(folder: str) -> None:
        raise BeamIOError("Delete operation failed", {folder: IOError("a file vanished while deleting")})
    monkeypatch.setattr(backfill, "delete_tree", busy_folder)
    first = run_backfill(argv(inputs["before"], warehouse, "2024-03-01", models[0]))
    assert first.status == "committed" and first.manifest["extra"]["orphan_runs_removed"] == 0
    assert orphan.exists()

    monkeypatch.setattr(backfill, "delete_tree", real_delete_tree)
    rerun = run_backfill(argv(inputs["before"], warehouse, "2024-03-01", models[0], "--reprocess"))
    assert rerun.status == "committed" and rerun.manifest["extra"]["orphan_runs_removed"] == 1
    assert not orphan.exists()


def test_a_crash_between_the_two_commits_is_completed_by_the_next_run_of_the_night(models, tmp_path, monkeypatch):
    input_glob = write_input(tmp_path / "in", [record(i) for i in range(4)] + ALWAYS_DEAD)
    warehouse = tmp_path / "warehouse"
    commit_night = cat.commit_night

    def crash_on_dead_letters(catalog, name, *args, **kwargs):
        if name == cat.DEAD_LETTER:
            raise OSError("killed between the records commit and the dead-letter commit")
        return commit_night(catalog, name, *args, **kwargs)

    monkeypatch.setattr(cat, "commit_night", crash_on_dead_letters)
    with pytest.raises(OSError, match="killed between"):
        run_backfill(argv(input_glob, warehouse, "2024-06-01", models[0]))
    monkeypatch.undo()
    assert len(night_rows(str(warehouse), "2024-06-01")) == 4
    assert night_rows(str(warehouse), "2024-06-01", cat.DEAD_LETTER) == []

    rerun = run_backfill(argv(input_glob, warehouse, "2024-06-01", models[0]))
    assert rerun.status == "already_committed" and "2 dead-lettered" in rerun.summary
    assert sorted(r["id"] for r in night_rows(str(warehouse), "2024-06-01", cat.DEAD_LETTER)) == ["blank1", "blank2"]
    assert len(night_rows(str(warehouse), "2024-06-01")) == 4, "the records were not redone"
