"""Hostile inputs through the real job (issue 7): every case has its defined outcome, nothing is lost.

One DirectRunner run processes the whole generated corpus (tests/hostile_corpus.py); the
inputs that must stop the job are each checked by preflight, before any work.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.arrow_rows import ns_as_int64
from pipeline.job import main, run
from formats.prompt import build_prompt, prompt_hash, split_ocr
from tests.hostile_corpus import (
    EMPTY_FILES, FILED_ON_DAYS, GOOD, KEPT_OR_DUPLICATE, LONE_SURROGATE, NOTHING, STANDARD, STOPS, TAKEN_AT_NS,
    TAKEN_AT_S, TRUNCATED, WRITTEN, standard_rows, write_corpus,
)

STOP = "stop before any work"
DOCS = Path(__file__).parents[1] / "README.md"


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> str:
    return str(tiny_checkpoint)


@pytest.fixture(scope="module")
def hostile_run(checkpoint, tmp_path_factory):
    """The corpus through the job once; each case's fate found by its carried ``case`` column."""
    folder = tmp_path_factory.mktemp("hostile")
    cases = write_corpus(folder / "in")
    out = folder / "out"
    manifest = run(["--input", str(folder / "in" / "*.parquet"), "--output", str(out), "--model", checkpoint,
                    "--max_batch_size", "16"])
    written = pq.read_table(list((out / "records").glob("*.parquet")))
    # nanosecond columns as their stored integers: Python's datetime types stop at microseconds
    written = written.cast(pa.schema([f.with_type(ns_as_int64(f.type)) for f in written.schema])).to_pylist()
    dead = pq.read_table(list((out / "dead_letter").glob("*.parquet"))).to_pylist()
    return cases, manifest, written, dead


def _fates(written: list[dict], dead: list[dict]) -> Counter:
    fates: Counter = Counter()
    for row in written:
        fates[(row["case"], TRUNCATED if row["truncated"] else WRITTEN)] += 1
    for row in dead:
        fates[(json.loads(row["record_json"])["case"], f"dead letter: {row['stage']}/{row['reason']}")] += 1
    return fates


def test_every_row_is_written_or_dead_lettered_exactly_once(hostile_run):
    cases, manifest, written, dead = hostile_run
    assert manifest.records_read == len(cases)
    assert manifest.records_written == len(written) and manifest.records_dead_lettered == len(dead)
    assert manifest.count_invariant_holds
    fates = _fates(written, dead)
    assert sorted(case for case, _ in fates.elements()) == sorted(case.name for case in cases)


def test_each_case_has_its_defined_outcome(hostile_run):
    cases, _, written, dead = hostile_run
    fates = dict(_fates(written, dead))
    for case in cases:
        if case.outcome != KEPT_OR_DUPLICATE:
            assert fates.get((case.name, case.outcome)) == 1, (case, [f for f in fates if f[0] == case.name])
    duplicates = {case.name for case in cases if case.outcome == KEPT_OR_DUPLICATE}
    outcomes = sorted(outcome for (name, outcome) in fates if name in duplicates)
    assert outcomes == ["dead letter: validate/duplicate_id", WRITTEN]


def test_the_model_saw_cleaned_prompts_with_tags_neutralised(hostile_run):
    """``input_hash`` is the sha256 of the prompt the model got: recompute it from the raw OCR."""
    _, _, written, _ = hostile_run
    by_case = {row["case"]: row for row in written}
    checked = 0
    for case, raw in standard_rows():
        row = by_case.get(case.name)
        if row is None or row["truncated"]:
            continue
        prompt = build_prompt(split_ocr(raw["back_ocr"]), split_ocr(raw["front_ocr"]), row["language"])
        assert row["input_hash"] == prompt_hash(prompt), case
        assert prompt.count("<END>") == 1 and prompt.endswith(" <END>")
        if case.name.startswith("tag-"):  # the OCR's tags are defused; only the layout's own remain
            name = case.name.removeprefix("tag-")
            layout = build_prompt(["x"] * 2, ["x"], row["language"])
            assert f"({name})" in prompt and prompt.count(f"<{name}>") == layout.count(f"<{name}>")
        checked += 1
    assert checked >= 20
    assert by_case["language-case"]["language"] == "fr" and by_case["null-elements"]["language"] == "en"


def test_invalid_utf8_costs_only_its_own_row(hostile_run):
    _, _, written, dead = hostile_run
    by_case = {row["case"]: row for row in written}
    assert by_case["utf8-ok"]["note"] == "kept note"
    replaced = build_prompt(split_ocr([b"KEY\xffSTONE", LONE_SURROGATE + b" 1964"]), ["1964"], "en")
    assert "\ufffd" in replaced and by_case["utf8-bad-ocr"]["input_hash"] == prompt_hash(replaced)
    carried = [row for row in dead if row["reason"] == "bad_encoding"]
    assert [(row["id"], row["stage"]) for row in carried] == [("utf8-bad-carried", "read")]
    assert "note" in carried[0]["detail"]


def test_a_value_python_cannot_represent_costs_only_its_own_row(hostile_run):
    """Epoch ms in a timestamp[s] column and a far-future date32: a dead letter naming the column, with the
    stored number in record_json; the valid row of the same row group is written with its values."""
    _, _, written, dead = hostile_run
    by_case = {row["case"]: row for row in written}
    assert by_case["values-ok"]["taken_at"] == datetime.fromtimestamp(TAKEN_AT_S, timezone.utc).replace(tzinfo=None)
    assert by_case["values-ok"]["filed_on"] == date(1970, 1, 1) + timedelta(days=FILED_ON_DAYS)
    bad = {json.loads(row["record_json"])["case"]: row for row in dead if row["reason"] == "bad_value"}
    assert sorted(bad) == ["date-far-future", "timestamp-ms-as-s"]
    assert {row["stage"] for row in bad.values()} == {"read"}
    assert bad["timestamp-ms-as-s"]["id"] == "timestamp-ms-as-s"
    ms_as_s, far_future = bad["timestamp-ms-as-s"]["detail"], bad["date-far-future"]["detail"]
    assert "column 'taken_at'" in ms_as_s and "out of range" in ms_as_s
    assert "column 'filed_on'" in far_future and "taken_at" not in far_future
    # Parquet has no seconds unit: the column comes back as timestamp[ms], so the stored number is in ms.
    assert json.loads(bad["timestamp-ms-as-s"]["record_json"])["taken_at"] == TAKEN_AT_S * 1000 * 1000
    assert json.loads(bad["date-far-future"]["record_json"])["filed_on"] == 10**8


def test_nanosecond_values_are_carried_unchanged(hostile_run):
    """A pandas- or Spark-exported catalogue's nanosecond columns: written, every nanosecond kept, same types."""
    _, manifest, written, _ = hostile_run
    row = next(row for row in written if row["case"] == "temporal-ns")
    assert (row["scanned_at"], row["scanned_at_utc"], row["scan_time"], row["exposure"]) == \
        (TAKEN_AT_NS, TAKEN_AT_NS, 3_600_000_000_123, 1_234)
    schema = pq.read_schema(next(Path(manifest.output, "records").glob("*.parquet")))
    assert [schema.field(name).type for name in ("scanned_at", "scanned_at_utc", "scan_time", "exposure")] == \
        [pa.timestamp("ns"), pa.timestamp("ns", tz="UTC"), pa.time64("ns"), pa.duration("ns")]


def test_dead_letters_keep_the_raw_row_as_ascii_json(hostile_run):
    _, _, _, dead = hostile_run
    for row in dead:
        assert row["record_json"].isascii() and json.loads(row["record_json"])["case"]
        assert row["detail"] and row["run_id"]


def test_a_column_only_one_file_has_is_carried_with_nulls_elsewhere(hostile_run):
    _, _, written, _ = hostile_run
    extra = {row["case"]: row["extra_only_here"] for row in written}
    assert extra.pop("extra-column") == 7 and set(extra.values()) == {None}


def _good_file(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"case": "good", "id": "g", "front_ocr": ["1964"], "back_ocr": GOOD, "language": "en", "note": None}]
    pq.write_table(pa.Table.from_pylist(rows, STANDARD), folder / "good.parquet")


def _stop_input(kind: str, folder: Path) -> tuple[str, str]:
    """Write the input for a STOPS case; return the --input glob and the expected message pattern."""
    _good_file(folder)
    if kind == "zero-matches":
        return str(folder / "nothing-*.parquet"), r"no input file matches"
    if kind == "zero-bytes":
        (folder / "empty.parquet").write_bytes(b"")
        return str(folder / "*.parquet"), r"empty\.parquet: not a readable Parquet file"
    if kind == "truncated":
        data = (folder / "good.parquet").read_bytes()
        (folder / "cut.parquet").write_bytes(data[: len(data) // 2])
        return str(folder / "*.parquet"), r"cut\.parquet: not a readable Parquet file"
    if kind == "not-parquet":
        (folder / "table.parquet").write_text("id,front_ocr,back_ocr\n1,a,b\n")
        return str(folder / "*.parquet"), r"table\.parquet: not a readable Parquet file"
    if kind == "missing-column":
        pq.write_table(pa.table({"id": ["a"], "front_ocr": ["x"]}), folder / "two-columns.parquet")
        return str(folder / "*.parquet"), r"two-columns\.parquet: missing required column\(s\) back_ocr"
    if kind == "duplicate-column":
        table = pa.table([pa.array(["a"]), pa.array(["b"]), pa.array([["x"]]), pa.array([["y"]])],
                         names=["id", "id", "front_ocr", "back_ocr"])
        pq.write_table(table, folder / "two-ids.parquet")
        return str(folder / "*.parquet"), r"two-ids\.parquet: column\(s\) id appear more than once"
    if kind == "output-name-collision":
        pq.write_table(pa.table({"id": ["a"], "front_ocr": ["x"], "back_ocr": ["y"], "title": ["t"],
                                 "input_title": ["u"]}), folder / "titles.parquet")
        return str(folder / "*.parquet"), r"would be written as 'input_title', which another column already uses"
    if kind == "carried-conflict":
        pq.write_table(pa.table({"id": ["a"], "front_ocr": ["x"], "back_ocr": ["y"], "note": [1]}),
                       folder / "int-note.parquet")
        return str(folder / "*.parquet"), r"files disagree on the type of a carried column"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", sorted(STOPS))
def test_unusable_input_stops_before_any_work_with_a_clear_message(kind, checkpoint, tmp_path, capsys):
    pattern, message = _stop_input(kind, tmp_path / "in")
    assert main(["--input", pattern, "--output", str(tmp_path / "out"), "--model", checkpoint]) == 2
    error = capsys.readouterr().err
    assert re.fullmatch(r"error: [^\n]+\n", error) and re.search(message, error), error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("max_new_tokens", ["256", "100000", "-1"])
def test_a_generation_limit_the_context_cannot_hold_is_refused_before_any_work(max_new_tokens, checkpoint,
                                                                               tmp_path, capsys):
    """The tiny model's context is 256 tokens: 256 new tokens would leave none for the prompt."""
    _good_file(tmp_path / "in")
    argv = ["--input", str(tmp_path / "in" / "*.parquet"), "--output", str(tmp_path / "out"), "--model", checkpoint]
    assert main(argv + ["--max_new_tokens", max_new_tokens]) == 2
    error = capsys.readouterr().err
    assert re.fullmatch(rf"error: --max_new_tokens {max_new_tokens}: [^\n]+ context of 256 tokens\n", error), error
    assert not (tmp_path / "out").exists()


def _docs_table() -> dict[str, str]:
    """``case → outcome`` from the bad-input table of the README (rows starting with a `case`)."""
    row = re.compile(r"^\| `([\w-]+)` \| (?:[^|\\]|\\\|)+ \| ([^|]+?) \|$", re.MULTILINE)
    return dict(row.findall(DOCS.read_text(encoding="utf-8")))


def test_the_docs_table_states_the_outcomes_the_tests_check(tmp_path):
    expected = {case.name: case.outcome for case in write_corpus(tmp_path)}
    expected.update(dict.fromkeys(EMPTY_FILES, NOTHING))
    expected.update(dict.fromkeys(STOPS, STOP))
    assert _docs_table() == expected


def test_a_corrupt_data_page_fails_the_run_cleanly(checkpoint, tmp_path):
    """Footer intact, data damaged: preflight cannot see it; the run fails and commits nothing."""
    _good_file(tmp_path / "in")
    data = bytearray((tmp_path / "in" / "good.parquet").read_bytes())
    data[4:60] = b"\xff" * 56  # the first column chunk's page header, after the "PAR1" magic
    (tmp_path / "in" / "good.parquet").write_bytes(bytes(data))
    with pytest.raises(OSError, match="Deserializing page header failed"):  # pyarrow's error, through Beam
        run(["--input", str(tmp_path / "in" / "*.parquet"), "--output", str(tmp_path / "out"), "--model", checkpoint])
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert list((tmp_path / "out").glob("records/*.parquet")) == []
