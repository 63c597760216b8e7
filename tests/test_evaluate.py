"""Evaluation (SPEC §7): normalisation, edit similarity, scores on a hand example, the command."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.evaluate import edit_similarity, format_table, levenshtein, main, normalise_text, score

LABELS = [
    {"id": "a", "description": "A street scene.", "title": "Market Day", "agency": "Keystone",
     "photographer": "", "date": "1964"},
    {"id": "b", "description": "abcd", "title": "Café", "agency": "", "photographer": "J. Smith",
     "date": "3 June 1964"},
    {"id": "c", "description": "x", "title": "Lost", "agency": "", "photographer": "", "date": ""},
]
PREDICTIONS = [
    {"id": "a", "description": "a  street scene", "title": "market day!", "agency": "Keystone",
     "photographer": None, "date": "1964", "parse_status": "ok"},
    {"id": "b", "description": "abxd", "title": "Cafe", "agency": "", "photographer": "J. Smith",
     "date": "3 june 1964", "parse_status": "partial"},
    {"id": "b", "description": "ignored duplicate", "title": "Café", "parse_status": "ok"},
    {"id": "z", "description": "no label", "parse_status": "ok"},
]


@pytest.mark.parametrize("raw, normalised", [
    ("  Market  Day! ", "market day"), ("«Café»", "café"), ("Cafe\u0301", "café"), (None, ""), ("J. Smith", "j. smith"),
    ("...", ""),
])
def test_normalise_text(raw, normalised):
    assert normalise_text(raw) == normalised


def test_edit_similarity():
    assert levenshtein("kitten", "sitting") == 3
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert edit_similarity("", "") == 1.0 and edit_similarity("abc", "") == 0.0


def test_score_hand_example():
    scores = score(PREDICTIONS, LABELS)
    assert (scores["n_labels"], scores["n_matched"], scores["n_missing"], scores["n_unlabelled"]) == (3, 2, 1, 1)
    # a matches every exact field; b only agency/photographer/date (accents count); c is missing
    assert scores["exact_match"] == {"title": pytest.approx(1 / 3), "agency": pytest.approx(2 / 3),
                                     "photographer": pytest.approx(2 / 3), "date": pytest.approx(2 / 3)}
    assert scores["description_similarity"] == pytest.approx((1.0 + 0.75 + 0.0) / 3)
    assert scores["parse_failure_rate"] == pytest.approx(2 / 3)  # b partial, c missing
    table = format_table(scores)
    assert "title (exact match)" in table and "0.333" in table and "1 without prediction" in table


def test_score_without_labels():
    scores = score(PREDICTIONS, [])
    assert scores["parse_failure_rate"] is None and "n/a" in format_table(scores)


def test_main_reads_parquet_globs_and_writes_json(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    pq.write_table(pa.Table.from_pylist(PREDICTIONS[:2]), tmp_path / "out" / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(PREDICTIONS[2:]), tmp_path / "out" / "part-1.parquet")
    pq.write_table(pa.Table.from_pylist(LABELS), tmp_path / "labels.parquet")
    argv = ["--predictions", str(tmp_path / "out" / "*.parquet"), "--labels", str(tmp_path / "labels.parquet")]

    assert main(argv) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert json.loads(printed[-1]) == score(PREDICTIONS, LABELS)
    assert printed[0].startswith("metric")

    assert main(argv[:1] + [str(tmp_path / "out")] + argv[2:] + ["--json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text()) == score(PREDICTIONS, LABELS)


def test_main_reports_no_match(tmp_path, capsys):
    assert main(["--predictions", str(tmp_path / "none*.parquet"), "--labels", str(tmp_path / "x.parquet")]) == 2
    assert "no Parquet file" in capsys.readouterr().err
