"""The whole loop (issue 26, SPEC §9) on a tiny model: a night, decisions through the workbench's JSON API, the
next night commits them, ``decisions export --training``, a fine-tune on the exported rows, and the new model's
night, which reprocesses every print (a new ``model_version``) while the people's values still hold in ``latest``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from decisions import DecisionStore, store_uri_for_warehouse
from pipeline import catalog as cat
from pipeline.__main__ import main as pipeline_main
from pipeline.backfill import run_backfill
from pipeline.latest import read_latest

TOKEN = "loop-token-loop-token-loop"
FIELDS = ("description", "title", "agency", "photographer", "date")
SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                    ("back_ocr", pa.list_(pa.string())), ("language", pa.string())])
# What the cataloguer writes for the three prints they decide in full (the print's own words).
PERSON = {f"p{i}": {"description": f"Print {i}, Keystone, 3 October 1960.", "title": f"PRINT {i}",
                    "agency": "Keystone Press Agency", "photographer": "", "date": "OCT 3 1960"} for i in range(3)}


def night(input_glob: str, warehouse: Path, run_date: str, model: str):
    outcome = run_backfill(["--input", input_glob, "--output", str(warehouse), "--run_date", run_date,
                            "--model", model, "--max_new_tokens", "4"])
    assert outcome.status == "committed", outcome.summary
    return outcome


def served(warehouse: Path) -> dict[str, dict]:
    table, _ = read_latest(cat.resolve_warehouse(str(warehouse), create=False))
    return {row["id"]: row for row in table.to_pylist()}


def api_client(warehouse: Path) -> TestClient:
    """The workbench over the warehouse, as ``python -m pipeline workbench --warehouse W --token T`` builds it
    (the queue from ``latest``, spot checks at the default rate; decisions in WAREHOUSE/reviews.db)."""
    from workbench.app import WorkbenchConfig, create_app
    from workbench.source import open_source, queue_from
    from workbench.state import ReviewState

    queue = queue_from(open_source(warehouse=str(warehouse), with_ocr=False))
    return TestClient(create_app(ReviewState(queue, DecisionStore(store_uri_for_warehouse(str(warehouse))), 15.0),
                                 WorkbenchConfig(token=TOKEN, reviewer="ann")))


@pytest.fixture(scope="module")
def loop(tiny_checkpoint, tmp_path_factory):
    from train.args import DataArguments, ModelArguments, TrainArguments
    from train.finetune import train

    folder = tmp_path_factory.mktemp("review_loop")
    warehouse = folder / "warehouse"
    (folder / "input").mkdir()
    pq.write_table(pa.Table.from_pylist(
        [{"id": f"p{i}", "front_ocr": [f"PRINT {i}", "OCT 3 1960"], "back_ocr": ["KEYSTONE PRESS AGENCY", f"ref {i}"],
          "language": "en"} for i in range(6)], schema=SCHEMA), folder / "input" / "records.parquet")
    input_glob = str(folder / "input" / "*.parquet")
    seen: dict = {"first": night(input_glob, warehouse, "2024-07-01", str(tiny_checkpoint))}
    seen["before"] = served(warehouse)

    client = api_client(warehouse)
    bearer = {"Authorization": f"Bearer {TOKEN}", "X-Reviewer": "ann"}
    seen["queue"] = client.get("/api/queue?limit=100", headers=bearer).json()
    decisions = [{"id": record_id, "field": field, "decision": "correct", "value": value}
                 for record_id, fields in PERSON.items() for field, value in fields.items()]
    decisions.append({"id": "p3", "field": "title", "decision": "correct", "value": "PRINT 3"})  # not in full
    seen["stored"] = client.post("/api/decisions", json={"decisions": decisions}, headers=bearer).json()
    seen["refused"] = client.post("/api/decisions", json={"decisions": [
        {"id": "nowhere", "field": "title", "decision": "accept"}]}, headers=bearer)

    seen["second"] = night(input_glob, warehouse, "2024-07-02", str(tiny_checkpoint))
    seen["after"] = served(warehouse)
    seen["queue_after"] = api_client(warehouse).get("/api/queue?limit=100", headers=bearer).json()

    exported = folder / "reviewed.parquet"
    assert pipeline_main(["decisions", "export", "--warehouse", str(warehouse), "--to", str(exported), "--training",
                          "--input", input_glob]) == 0
    seen["exported"] = pq.read_table(exported).to_pylist()

    base = folder / "base"
    shutil.copytree(tiny_checkpoint, base)
    new_model = folder / "next"
    train(ModelArguments(model_name_or_path=str(base)),
          DataArguments(reviewed_file=str(exported), reviewed_weight=2, max_new_tokens=16),
          TrainArguments(output_dir=str(new_model), per_device_train_batch_size=2, gradient_accumulation_steps=1,
                         max_steps=2, warmup_steps=1, learning_rate=1e-3, logging_steps=1, torch_threads=1))
    seen["metadata"] = json.loads((new_model / "backstamp.json").read_text())
    seen["third"] = night(input_glob, warehouse, "2024-07-03", str(new_model))
    seen["final"] = served(warehouse)
    return seen


def test_decisions_made_through_the_api_are_stored_and_unknown_ids_refused(loop):
    assert loop["queue"]["total"] == 6  # a random tiny model: every print has a field to review
    assert loop["stored"] == {"stored": 16}
    assert loop["refused"].status_code == 422 and "nowhere" in loop["refused"].json()["error"]


def test_the_next_night_commits_them_and_latest_serves_the_persons_values(loop):
    figures = loop["second"].manifest["extra"]["decisions"]
    assert (figures["committed"], figures["refused"]) == (16, 0)
    for record_id, fields in PERSON.items():
        for field, value in fields.items():
            assert loop["after"][record_id][field] == value and loop["after"][record_id][f"{field}_origin"] == "reviewer"
        assert loop["after"][record_id]["review_fields"] == [] and not loop["after"][record_id]["needs_review"]
    assert loop["after"]["p3"]["title"] == "PRINT 3" and loop["after"]["p3"]["agency_origin"] == "model"


def test_the_next_queue_leaves_out_the_fields_already_decided(loop):
    queued = {record["id"]: record for record in loop["queue_after"]["records"]}
    assert not set(PERSON) & set(queued)  # every field of p0-p2 decided
    assert "title" not in queued["p3"]["review_fields"] and "p3" in queued  # p3's other fields still to review


def test_export_training_writes_the_fully_decided_records(loop):
    rows = {row["id"]: row for row in loop["exported"]}
    assert set(rows) == set(PERSON)  # p3 has one decided field only
    for record_id, fields in PERSON.items():
        assert {f: rows[record_id][f] for f in FIELDS} == fields
        assert rows[record_id]["front_ocr"] == [f"PRINT {record_id[1:]}", "OCT 3 1960"]


def test_the_new_model_records_how_many_reviewed_records_it_learned_from(loop):
    mix = loop["metadata"]["training"]["data_mix"]
    assert (mix["reviewed_records"], mix["reviewed_weight"]) == (3, 2)
    assert loop["metadata"]["training"]["examples"]  # trained on the six (3 × 2) reviewed examples


def test_the_new_models_night_reprocesses_while_the_persons_values_hold(loop):
    final, after = loop["final"], loop["after"]
    assert loop["third"].manifest["records_skipped"] == 0 and loop["third"].manifest["records_written"] == 6
    assert {row["model_version"] for row in final.values()} != {row["model_version"] for row in after.values()}
    for record_id, fields in PERSON.items():
        assert {f: final[record_id][f] for f in FIELDS} == fields
        assert all(final[record_id][f"{f}_origin"] == "reviewer" for f in FIELDS)
    assert final["p3"]["title"] == "PRINT 3"
    assert all(final["p5"][f"{f}_origin"] == "model" for f in FIELDS)


def test_reviewed_rows_train_beside_synthetic_ones_in_the_chosen_mix(tmp_path):
    from train.args import DataArguments
    from train.finetune import data_mix, prepare_samples

    reviewed = tmp_path / "reviewed.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": record_id, "front_ocr": ["PRINT"], "back_ocr": ["KEYSTONE"],
                                          "language": "en", **fields} for record_id, fields in PERSON.items()]),
                   reviewed)
    args = DataArguments(reviewed_file=str(reviewed), reviewed_weight=3, synthetic_train_examples=4)
    samples, _ = prepare_samples(args)
    assert len(samples) == 3 * 3 + 4
    assert [s.fields["title"] for s in samples[:3]] == ["PRINT 0", "PRINT 1", "PRINT 2"]
    mix = data_mix(args, len(samples) - 4, 4)
    assert (mix["reviewed_records"], mix["reviewed_weight"], mix["synthetic_examples"], mix["train_file_examples"]) \
        == (3, 3, 4, 0)
