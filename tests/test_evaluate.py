"""Evaluation (SPEC §7): normalisation, edit similarity, scores on a hand example, the command;
field-trust calibration (SPEC §5b): accepted precision, review share, AUROC, reliability plot."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.evaluate import (auroc, edit_similarity, format_table, levenshtein, main, normalise_text,
                              reliability_bins, score)

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


# Field trust (SPEC §5b): records a, b and d carry the review columns; c has no prediction.
TRUST_LABELS = LABELS + [{"id": "d", "description": "", "title": "Harbour", "agency": "", "photographer": "",
                          "date": ""}]
TRUST_PREDICTIONS = [
    {"id": "a", "title": "market day!", "agency": "Keystone", "photographer": None, "date": "1964",
     "parse_status": "ok", "title_confidence": 0.9, "agency_confidence": 0.95, "photographer_confidence": None,
     "date_confidence": 0.8, "review_fields": [], "needs_review": False},
    {"id": "b", "title": "Cafe", "agency": "", "photographer": "J. Smith", "date": "3 june 1964",
     "parse_status": "ok", "title_confidence": 0.3, "agency_confidence": None, "photographer_confidence": 0.6,
     "date_confidence": 0.7, "review_fields": ["title", "photographer"], "needs_review": True},
    {"id": "d", "title": "Pier", "agency": "AP", "photographer": "", "date": "", "parse_status": "ok",
     "title_confidence": 0.95, "agency_confidence": 0.4, "photographer_confidence": None,
     "date_confidence": None, "review_fields": ["agency"], "needs_review": True},
]


def test_calibration_hand_example():
    trust = score(TRUST_PREDICTIONS, TRUST_LABELS)["calibration"]
    assert trust["n_records"] == 3 and trust["records_review_share"] == pytest.approx(2 / 3)
    title, agency, photographer, date = (trust["fields"][f] for f in ("title", "agency", "photographer", "date"))
    # title: a accepted and right, d accepted and wrong, b (wrong) sent to review
    assert (title["n_accepted"], title["n_review"]) == (2, 1)
    assert title["accepted_precision"] == 0.5 and title["review_share"] == pytest.approx(1 / 3)
    assert (title["n_right"], title["n_wrong"]) == (1, 2)
    assert title["auroc"] == 0.5  # right 0.9 beats wrong 0.3 but not wrong 0.95
    # agency: the empty value accepted for b is right too; only a's is non-empty
    assert agency["accepted_precision"] == 1.0 and agency["accepted_nonempty_precision"] == 1.0
    assert agency["auroc"] == 1.0
    # photographer: every accepted value is empty; the only confidence belongs to a right value
    assert photographer["accepted_precision"] == 1.0 and photographer["accepted_nonempty_precision"] is None
    assert photographer["auroc"] is None and photographer["n_with_confidence"] == 1
    assert date["review_share"] == 0.0 and date["accepted_precision"] == 1.0 and date["auroc"] is None


def test_reliability_bins_and_calibration_error():
    title = score(TRUST_PREDICTIONS, TRUST_LABELS)["calibration"]["fields"]["title"]
    occupied = {b["lower"]: b for b in title["reliability"] if b["n"]}
    assert len(title["reliability"]) == 10 and set(occupied) == {0.3, 0.9}
    assert occupied[0.9]["n"] == 2 and occupied[0.9]["accuracy"] == 0.5
    assert occupied[0.9]["mean_confidence"] == pytest.approx(0.925)
    assert title["ece"] == pytest.approx((1 * 0.3 + 2 * abs(0.5 - 0.925)) / 3)
    top = reliability_bins([1.0, 0.0], [True, False])
    assert top[-1]["n"] == 1 and top[0]["n"] == 1  # 1.0 falls in the last bin


def test_auroc_is_the_share_of_right_wrong_pairs_ordered_by_confidence():
    rng = np.random.default_rng(7)
    right = list(rng.integers(0, 20, 60) / 20)  # coarse values, so ties occur
    wrong = list(rng.integers(0, 14, 25) / 20)
    pairs = [(r > w) + 0.5 * (r == w) for r in right for w in wrong]
    assert auroc(right, wrong) == pytest.approx(sum(pairs) / len(pairs))
    assert auroc([0.9, 0.8], [0.1, 0.85]) == 0.75
    assert auroc([0.5], [0.5]) == 0.5
    assert auroc([0.5], []) is None and auroc([], [0.5]) is None


def test_predictions_without_review_columns_have_no_calibration():
    assert score(PREDICTIONS, LABELS)["calibration"] is None
    assert "accepted precision" not in format_table(score(PREDICTIONS, LABELS))


def test_main_prints_calibration_and_writes_the_reliability_plot(tmp_path, capsys):
    pq.write_table(pa.Table.from_pylist(TRUST_PREDICTIONS), tmp_path / "predictions.parquet")
    pq.write_table(pa.Table.from_pylist(TRUST_LABELS), tmp_path / "labels.parquet")
    argv = ["--predictions", str(tmp_path / "predictions.parquet"), "--labels", str(tmp_path / "labels.parquet")]

    assert main(argv + ["--json", str(tmp_path / "scores.json")]) == 0
    table = capsys.readouterr().out
    assert "accepted precision" in table and "records sent to review: 0.667 of 3" in table
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["calibration"]["fields"]["agency"]["auroc"] == 1.0
    plot = read_png(tmp_path / "scores.reliability.png")  # the default: beside the JSON
    assert plot.shape[1] > plot.shape[0] > 100 and plot.std() > 0  # four panels side by side, not blank

    assert main(argv + ["--plot", str(tmp_path / "elsewhere.png")]) == 0
    assert read_png(tmp_path / "elsewhere.png").std() > 0


def read_png(path):
    from matplotlib.image import imread

    return imread(path)
