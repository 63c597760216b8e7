"""The whole job on DirectRunner: good and bad rows in, Parquet out, nothing lost."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.parse import STATUSES
from formats.schemas import DEAD_LETTER_SCHEMA, OUTPUT_FIELDS
from pipeline.__main__ import main
from pipeline.job import run
from pipeline.preflight import InputError

GOOD_BACK = ["KEYSTONE PRESS AGENCY", "Photo by John Smith", "12 March 1964"]


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> str:
    return str(tiny_checkpoint)


def _write(path: Path, rows: list[dict], schema: pa.Schema) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


STANDARD = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                      ("back_ocr", pa.list_(pa.string())), ("language", pa.string()),
                      ("collection", pa.string())])


@pytest.fixture(scope="module")
def mixed_input(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("input")
    good = [{"id": f"r{i}", "front_ocr": ["1964"], "back_ocr": GOOD_BACK + [f"ref {i}"],
             "language": ["en", "fr", None][i % 3], "collection": "box 7"} for i in range(6)]
    bad = [
        {"id": None, "front_ocr": ["x"], "back_ocr": ["y"], "language": "en", "collection": None},
        {"id": "  ", "front_ocr": ["x"], "back_ocr": ["y"], "language": "en", "collection": None},
        {"id": "empty", "front_ocr": [], "back_ocr": [" ", "\x00"], "language": "en", "collection": None},
        {"id": "r0", "front_ocr": ["another print"], "back_ocr": ["same id"], "language": "en",
         "collection": None},
        {"id": "lang", "front_ocr": ["x"], "back_ocr": ["y"], "language": "english", "collection": None},
    ]
    _write(folder / "part-a.parquet", good + bad, STANDARD)
    # A second file where the OCR is one string per side (split on newlines and " | ").
    strings = pa.schema([("id", pa.string()), ("front_ocr", pa.string()), ("back_ocr", pa.string())])
    _write(folder / "part-b.parquet", [{"id": "s1", "front_ocr": "ME | 1994", "back_ocr": "GLASGOW\nSCOTLAND"}],
           strings)
    # A file whose OCR column holds integers: every row is a bad_type dead letter.
    ints = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.int64())), ("back_ocr", pa.string())])
    _write(folder / "part-c.parquet", [{"id": "ints", "front_ocr": [1, 2], "back_ocr": "x"}], ints)
    return folder


@pytest.fixture(scope="module")
def finished_run(mixed_input, checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "run"
    manifest = run(["--input", str(mixed_input / "*.parquet"), "--output", str(out), "--model", checkpoint,
                    "--max_batch_size", "4"])
    records = pq.read_table(list((out / "records").glob("*.parquet")))
    dead = pq.read_table(list((out / "dead_letter").glob("*.parquet")))
    return manifest, records, dead, out


def test_read_equals_written_plus_dead_lettered(finished_run):
    manifest, records, dead, out = finished_run
    assert manifest.records_read == 13
    assert manifest.records_written == records.num_rows == 7
    assert manifest.records_dead_lettered == dead.num_rows == 6
    saved = json.loads((out / "manifest.json").read_text())
    assert saved["count_invariant_holds"] is True
    assert saved["records_read"] == saved["records_written"] + saved["records_dead_lettered"]


def test_output_schema_is_spec_section_5_plus_carried_columns(finished_run):
    _, records, dead, _ = finished_run
    assert records.schema.names == [f.name for f in OUTPUT_FIELDS] + ["collection"]
    for field in OUTPUT_FIELDS:
        assert records.schema.field(field.name).type == field.type
    assert dead.schema.names == DEAD_LETTER_SCHEMA.names


def test_each_bad_row_gets_its_reason(finished_run):
    _, _, dead, _ = finished_run
    reasons = sorted((str(row["id"]), row["reason"], row["stage"]) for row in dead.to_pylist())
    assert reasons == sorted([
        ("None", "missing_id", "validate"), ("None", "missing_id", "validate"), ("empty", "empty_ocr", "validate"),
        ("r0", "duplicate_id", "validate"), ("lang", "bad_language", "validate"), ("ints", "bad_type", "validate"),
    ])
    by_reason: dict[str, int] = {}
    for row in dead.to_pylist():
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
        assert json.loads(row["record_json"])  # the original row travels with its reason
    assert by_reason == {"missing_id": 2, "empty_ocr": 1, "duplicate_id": 1, "bad_language": 1, "bad_type": 1}


def test_good_rows_carry_prompt_facts_and_default_language(finished_run):
    manifest, records, _, _ = finished_run
    rows = {row["id"]: row for row in records.to_pylist()}
    assert set(rows) == {"r0", "r1", "r2", "r3", "r4", "r5", "s1"}
    assert rows["r2"]["language"] == "en"  # null language → --default_language
    assert rows["r1"]["language"] == "fr"
    assert rows["r1"]["collection"] == "box 7" and rows["s1"]["collection"] is None
    for row in rows.values():
        assert row["model_version"] == manifest.model_version
        assert row["run_id"] == manifest.run_id
        assert len(row["input_hash"]) == 64 and row["prompt_tokens"] > 0
        assert row["parse_status"] in STATUSES


def test_a_file_missing_back_ocr_stops_the_job_before_any_work(mixed_input, checkpoint, tmp_path):
    broken = tmp_path / "in"
    broken.mkdir()
    _write(broken / "no_back.parquet", [{"id": "a", "front_ocr": "x"}],
           pa.schema([("id", pa.string()), ("front_ocr", pa.string())]))
    with pytest.raises(InputError, match=r"no_back\.parquet: missing required column\(s\) back_ocr"):
        run(["--input", str(broken / "*.parquet"), "--output", str(tmp_path / "out"), "--model", checkpoint])
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_parquet_stops_the_cli_with_one_line(checkpoint, tmp_path, capsys):
    (tmp_path / "records.parquet").write_text("id,front_ocr,back_ocr\n1,a,b\n")
    code = main(["run", "--input", str(tmp_path / "records.parquet"), "--output", str(tmp_path / "out"),
                 "--model", checkpoint])
    assert code == 2
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1
    assert "records.parquet: not a readable Parquet file" in message[0]
    assert not (tmp_path / "out").exists()


def test_help_lists_backstamp_and_beam_options(capsys):
    assert main(["run", "--help"]) == 0
    help_text = capsys.readouterr().out
    for flag in ("--input", "--output", "--model", "--engine", "--engine_check", "--max_batch_weight", "--runner",
                 "--project"):
        assert flag in help_text
    assert "--verify_engine" not in help_text  # removed: it stops the job with its replacement
