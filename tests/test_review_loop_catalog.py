"""People's decisions in the catalogue (issue 26, SPEC §9): each night commits the decisions stored since the
previous one into ``backstamp.reviews``, once; ``latest`` serves them where they hold for the served input.

One warehouse, a tiny GPT-J (4 new tokens) and a handful of prints go through five nights; decisions are
stored between nights the way the workbench stores them (``decisions.validate`` against the served rows,
then ``DecisionStore.add``), plus one about an id the catalogue never held (an import from elsewhere).
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from decisions import Decision, DecisionStore, store_uri_for_warehouse, validate
from pipeline import catalog as cat
from pipeline import decisions_catalog
from pipeline.backfill import run_backfill
from pipeline.latest import read_latest
from tests.tiny_checkpoint import build_tiny_checkpoint

SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                    ("back_ocr", pa.list_(pa.string())), ("language", pa.string())])


def prints(changed: str | None = None) -> list[dict]:
    return [{"id": f"p{i}", "front_ocr": [f"PRINT {i}" + (" RETOUCHED" if f"p{i}" == changed else ""), "OCT 3 1960"],
             "back_ocr": ["KEYSTONE PRESS AGENCY", f"ref {i}"], "language": "en"} for i in range(6)]


def write_input(folder: Path, rows: list[dict]) -> str:
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), folder / "records.parquet")
    return str(folder / "*.parquet")


def night(input_glob: str, warehouse: Path, run_date: str, model: str, *extra: str):
    outcome = run_backfill(["--input", input_glob, "--output", str(warehouse), "--run_date", run_date,
                            "--model", model, "--max_new_tokens", "4", *extra])
    assert outcome.status in ("committed", "already_committed"), outcome.summary
    return outcome


def served(warehouse: Path, as_of: str | None = None) -> dict[str, dict]:
    table, _ = read_latest(cat.resolve_warehouse(str(warehouse), create=False), as_of)
    return {row["id"]: row for row in table.to_pylist()}


def decide(store: DecisionStore, rows: dict[str, dict], batch: list[dict]) -> None:
    store.add(validate(batch, rows))


def reviews(warehouse: Path) -> list[dict]:
    catalog = cat.open_catalog(cat.resolve_warehouse(str(warehouse), create=False))
    return catalog.load_table(decisions_catalog.REVIEWS).scan().to_arrow().to_pylist()


def a_decided_night(tmp_path: Path, checkpoint, decision: dict) -> tuple[Path, str]:
    """A warehouse with the night of 2024-05-01 committed and ann's ``decision`` stored since; and its input."""
    warehouse = tmp_path / "warehouse"
    plain = write_input(tmp_path / "plain", prints())
    night(plain, warehouse, "2024-05-01", str(checkpoint))
    with DecisionStore(store_uri_for_warehouse(str(warehouse))) as store:
        decide(store, served(warehouse), [{**decision, "reviewer": "ann"}])
    return warehouse, plain


@pytest.fixture(scope="module")
def loop(tiny_checkpoint, tmp_path_factory):
    folder = tmp_path_factory.mktemp("loop")
    warehouse = folder / "warehouse"
    v1, v2 = str(tiny_checkpoint), str(build_tiny_checkpoint(folder / "v2", seed=1))
    plain, changed = write_input(folder / "plain", prints()), write_input(folder / "changed", prints("p2"))
    seen: dict[str, object] = {}
    seen["night_1"] = night(plain, warehouse, "2024-05-01", v1)
    seen["after_1"] = rows = served(warehouse)
    store = DecisionStore(store_uri_for_warehouse(str(warehouse)))
    decide(store, rows, [
        {"id": "p0", "field": "title", "decision": "correct", "value": "PRINT ZERO", "reviewer": "ann"},
        {"id": "p1", "field": "date", "decision": "correct", "value": "OCT 3 1960", "reviewer": "ann"},
        {"id": "p2", "field": "title", "decision": "correct", "value": "PRINT TWO", "reviewer": "ann"},
        {"id": "p3", "field": "agency", "decision": "unreadable", "reviewer": "bob"},
        {"id": "p4", "field": "photographer", "decision": "accept", "reviewer": "bob"}])
    decide(store, rows, [{"id": "p0", "field": "title", "decision": "correct", "value": "PRINT 0", "reviewer": "cy"}])
    template = validate([{"id": "p5", "field": "title", "decision": "correct", "value": "X", "reviewer": "dee"}],
                        rows)[0]
    store.add([Decision(**{**template.__dict__, "id": "ghost", "seq": None})])  # an id the catalogue never held
    seen["night_2"] = night(plain, warehouse, "2024-05-02", v1)
    seen["after_2"] = served(warehouse)
    seen["reviews_after_2"] = reviews(warehouse)
    seen["rerun_2"] = night(plain, warehouse, "2024-05-02", v1)
    seen["night_3"] = night(changed, warehouse, "2024-05-03", v1)  # p2's OCR changes: its decision goes stale
    seen["after_3"] = served(warehouse)
    seen["night_4"] = night(changed, warehouse, "2024-05-04", v2)  # a new model reprocesses everything
    seen["after_4"] = served(warehouse)
    seen["as_of_1"] = served(warehouse, "2024-05-01")
    seen["as_of_snapshot_1"] = served(warehouse, str(seen["night_1"].snapshot_id))
    seen["as_of_snapshot_2"] = served(warehouse, str(seen["night_2"].snapshot_id))
    seen["reviews_end"] = reviews(warehouse)
    seen["store_seq"] = store.last_seq()
    store.close()
    seen["warehouse"] = warehouse
    return seen


def test_the_next_night_commits_the_decisions_stored_since_once(loop):
    committed = loop["reviews_after_2"]
    assert sorted((r["id"], r["field"], r["decision"]) for r in committed) == [
        ("p0", "title", "correct"), ("p0", "title", "correct"), ("p1", "date", "correct"),
        ("p2", "title", "correct"), ("p3", "agency", "unreadable"), ("p4", "photographer", "accept")]
    assert {str(r["run_date"]) for r in committed} == {"2024-05-02"}
    assert sorted(r["seq"] for r in loop["reviews_end"]) == sorted(r["seq"] for r in committed)  # nothing twice
    figures = loop["night_2"].manifest["extra"]["decisions"]
    assert (figures["committed"], figures["refused"], figures["through_seq"]) == (6, 1, loop["store_seq"])


def test_decisions_about_ids_the_catalogue_does_not_hold_are_refused(loop):
    assert "ghost" not in {r["id"] for r in loop["reviews_end"]}
    assert loop["night_2"].manifest["extra"]["decisions"]["refused_ids"] == ["ghost"]
    assert "REFUSED 1" in loop["night_2"].summary


def test_latest_serves_the_holding_decision_with_its_origin(loop):
    before, after = loop["after_1"], loop["after_2"]
    assert after["p0"]["title"] == "PRINT 0" and after["p0"]["title_origin"] == "reviewer"  # the newest word
    assert after["p1"]["date"] == "OCT 3 1960" and after["p1"]["date_iso"] == "1960-10-03"
    assert after["p3"]["agency"] == "" and after["p3"]["agency_origin"] == "reviewer"  # unreadable: nothing
    assert after["p4"]["photographer"] == before["p4"]["photographer"]
    assert after["p4"]["photographer_origin"] == "reviewer"
    assert after["p5"]["title"] == before["p5"]["title"] and after["p5"]["title_origin"] == "model"
    assert all(row[f"{f}_origin"] == "model" for row in before.values()
               for f in ("description", "title", "agency", "photographer", "date"))


def test_a_decided_field_leaves_the_queue(loop):
    before, after = loop["after_1"], loop["after_2"]
    for record_id, field in (("p0", "title"), ("p1", "date"), ("p3", "agency")):
        assert field not in after[record_id]["review_fields"]
        assert not any(r.endswith(f":{field}") for r in after[record_id]["review_reasons"])
        assert set(after[record_id]["review_fields"]) == set(before[record_id]["review_fields"]) - {field}
        assert after[record_id]["needs_review"] == bool(after[record_id]["review_fields"])


def test_a_rerun_of_a_committed_night_commits_no_decision_again(loop):
    assert loop["rerun_2"].status == "already_committed"
    assert len(loop["reviews_end"]) == len(loop["reviews_after_2"])


def test_a_decision_about_other_ocr_is_stale_and_the_field_goes_back_to_the_model(loop):
    after_3 = loop["after_3"]
    assert after_3["p2"]["input_hash"] != loop["after_2"]["p2"]["input_hash"]
    assert after_3["p2"]["title_origin"] == "model" and after_3["p2"]["title"] != "PRINT TWO"
    assert "p2" in {r["id"] for r in loop["reviews_end"]}  # the decision stays in history


def test_a_new_model_version_does_not_undo_a_persons_decision(loop):
    after_4 = loop["after_4"]
    assert after_4["p0"]["model_version"] != loop["after_2"]["p0"]["model_version"]  # reprocessed
    assert after_4["p0"]["title"] == "PRINT 0" and after_4["p0"]["title_origin"] == "reviewer"
    assert after_4["p1"]["date"] == "OCT 3 1960"


def test_as_of_applies_to_decisions(loop):
    for before in (loop["as_of_1"], loop["as_of_snapshot_1"]):  # a date, a snapshot id
        assert all(row["title_origin"] == "model" for row in before.values())
        assert before["p0"]["title"] == loop["after_1"]["p0"]["title"]
    assert loop["as_of_snapshot_2"]["p0"]["title"] == "PRINT 0"  # the night that committed the decision
    assert loop["as_of_snapshot_2"]["p2"]["title"] == "PRINT TWO"  # before night 3 made it stale


def test_any_iceberg_reader_reads_the_reviews_table(loop):
    from pyiceberg.expressions import EqualTo

    catalog = cat.open_catalog(cat.resolve_warehouse(str(loop["warehouse"]), create=False))
    table = catalog.load_table(decisions_catalog.REVIEWS)
    assert [f.source_id for f in table.spec().fields] == [table.schema().find_field("run_date").field_id]
    night_2 = table.scan(row_filter=EqualTo("run_date", "2024-05-02")).to_arrow()
    assert night_2.num_rows == 6 and set(night_2.column_names) >= {
        "id", "field", "decision", "value", "model_value", "model_confidence", "input_hash", "model_version",
        "run_id", "kind", "reviewer", "note", "decided_at", "run_date"}
    summary = next(s for s in table.snapshots() if s.summary and s.summary.additional_properties.get(
        cat.SUMMARY_RUN_DATE) == "2024-05-02").summary.additional_properties
    assert (summary[decisions_catalog.SUMMARY_COMMITTED], summary[decisions_catalog.SUMMARY_REFUSED]) == ("6", "1")


def test_review_history_plots_each_nights_review_share_and_spot_check_precision(loop, tmp_path):
    from formats.decision_figures import judged_right
    from pipeline.__main__ import main

    assert main(["review-history", "--warehouse", str(loop["warehouse"]), "--to", str(tmp_path / "h.png"),
                 "--json", str(tmp_path / "h.json")]) == 0
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nights = {n["run_date"]: n for n in json.loads((tmp_path / "h.json").read_text())}
    assert sorted(nights) == ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]
    first = loop["night_1"].manifest
    assert nights["2024-05-01"]["review_share"] == first["review"]["fields"] / (5 * first["records_written"])
    spot = [judged_right(r) for r in loop["reviews_end"] if r["kind"] == "spot_check"]
    assert nights["2024-05-02"]["spot_checks"] == len([s for s in spot if s is not None])
    assert nights["2024-05-04"]["model_version"] != nights["2024-05-03"]["model_version"]


def test_evaluate_decisions_of_a_warehouse(loop, tmp_path, capsys):
    from formats.decision_figures import field_figures
    from pipeline.__main__ import main

    assert main(["evaluate", "--decisions", "--warehouse", str(loop["warehouse"]),
                 "--json", str(tmp_path / "f.json")]) == 0
    figures = json.loads((tmp_path / "f.json").read_text())
    with DecisionStore(store_uri_for_warehouse(str(loop["warehouse"]))) as store:
        expected = field_figures([d.__dict__ for d in store.holding()])
    assert figures["fields"]["title"] == expected["title"].as_json()
    assert figures["decisions"] == 6  # five holding about catalogue ids, and the refused one (still in the store)


def test_duckdb_reads_the_reviews_table_through_its_iceberg_extension(loop):
    """DuckDB's iceberg extension is downloaded at run time unless a package ships it: PyPI's ``duckdb-ext-iceberg``
    does, for duckdb 1.4.4 (declared in the ``dev`` extra, pinned in constraints.txt)."""
    import duckdb
    import duckdb_ext
    catalog = cat.open_catalog(cat.resolve_warehouse(str(loop["warehouse"]), create=False))
    metadata = catalog.load_table(decisions_catalog.REVIEWS).metadata_location.removeprefix("file://")
    with duckdb_ext.init(duckdb.connect()) as connection:
        connection.sql("LOAD iceberg")
        rows = connection.sql(f"SELECT id, field, decision, value, seq, CAST(run_date AS VARCHAR) "
                              f"FROM iceberg_scan('{metadata}') ORDER BY seq").fetchall()
    assert rows == [(r["id"], r["field"], r["decision"], r["value"], r["seq"], str(r["run_date"]))
                    for r in sorted(loop["reviews_end"], key=lambda r: r["seq"])]


def test_a_crash_between_the_records_and_the_reviews_commit_is_completed_once(tiny_checkpoint, tmp_path,
                                                                               monkeypatch):
    warehouse, plain = a_decided_night(tmp_path, tiny_checkpoint, {"id": "p0", "field": "title",
                                                                   "decision": "correct", "value": "ZERO"})
    real = decisions_catalog.commit_pending
    calls = []

    def killed_after_the_records_commit(catalog, store):
        calls.append(1)
        if len(calls) == 1:  # the night's run: its records are committed, then the process dies
            raise KeyboardInterrupt("killed")
        return real(catalog, store)

    monkeypatch.setattr(decisions_catalog, "commit_pending", killed_after_the_records_commit)
    with pytest.raises(KeyboardInterrupt):
        run_backfill(["--input", plain, "--output", str(warehouse), "--run_date", "2024-05-02",
                      "--model", str(tiny_checkpoint), "--max_new_tokens", "4"])
    catalog = cat.open_catalog(cat.resolve_warehouse(str(warehouse), create=False))
    assert cat.committed_night(catalog.load_table(cat.RECORDS), "2024-05-02") is not None
    assert cat.load_table(catalog, decisions_catalog.REVIEWS) is None  # not yet written
    assert served(warehouse)["p0"]["title_origin"] == "model"  # latest serves no decision of a half night
    rerun = night(plain, warehouse, "2024-05-02", str(tiny_checkpoint))
    assert rerun.status == "already_committed"
    assert [(r["id"], r["value"]) for r in reviews(warehouse)] == [("p0", "ZERO")]
    night(plain, warehouse, "2024-05-03", str(tiny_checkpoint))
    assert [(r["id"], r["value"], str(r["run_date"])) for r in reviews(warehouse)] == [("p0", "ZERO", "2024-05-02")]
    assert served(warehouse)["p0"]["title"] == "ZERO"


def test_a_run_that_loses_the_race_for_its_night_commits_no_decision(tiny_checkpoint, tmp_path, monkeypatch):
    from pipeline import backfill

    warehouse, plain = a_decided_night(tmp_path, tiny_checkpoint, {"id": "p1", "field": "date",
                                                                   "decision": "correct", "value": "1960"})
    real_execute, rivals = backfill.execute, []

    def rival_commits_first(*args, **kwargs):
        if not rivals:  # while this run works, another run of the same night commits it (and its decisions)
            rivals.append(None)
            rivals[0] = night(plain, warehouse, "2024-05-02", str(tiny_checkpoint))
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(backfill, "execute", rival_commits_first)
    loser = run_backfill(["--input", plain, "--output", str(warehouse), "--run_date", "2024-05-02",
                          "--model", str(tiny_checkpoint), "--max_new_tokens", "4"])
    assert loser.status == "lost_race"
    committed = reviews(warehouse)
    assert [(r["id"], r["value"]) for r in committed] == [("p1", "1960")]  # once: the winner's
    catalog = cat.open_catalog(cat.resolve_warehouse(str(warehouse), create=False))
    runs = {cat.summary_value(s, cat.SUMMARY_RUN_ID) for s in catalog.load_table(decisions_catalog.REVIEWS).snapshots()}
    assert runs == {rivals[0].manifest["run_id"]}
