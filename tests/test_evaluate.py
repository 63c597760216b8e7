"""Evaluation (SPEC §7): normalisation, edit similarity, scores on a hand example, the command;
field-trust calibration (SPEC §5b): accepted precision, review share, AUROC, reliability plot."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from formats.evaluate import (auroc, edit_similarity, format_table, levenshtein, main, normalise_text,
                              reliability_bins, score, wilson_interval)

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
    """c has no prediction: in every figure it is a value the job accepted, wrong, at confidence 1.0."""
    trust = score(TRUST_PREDICTIONS, TRUST_LABELS)["calibration"]
    assert trust["n_records"] == 4 and trust["n_missing"] == 1 and trust["records_review_share"] == 0.5
    title, agency, photographer, date = (trust["fields"][f] for f in ("title", "agency", "photographer", "date"))
    # title: a accepted and right, d accepted and wrong, c missing (wrong), b (wrong) sent to review
    assert (title["n_accepted"], title["n_review"]) == (3, 1)
    assert title["accepted_precision"] == pytest.approx(1 / 3) and title["review_share"] == 0.25
    assert (title["n_right"], title["n_wrong"]) == (1, 3)
    assert title["auroc"] == pytest.approx(1 / 3)  # right 0.9 beats wrong 0.3 only, not 0.95 nor c's 1.0
    # agency: the empty value accepted for b is right too; only a's is non-empty; c is wrong
    assert agency["accepted_precision"] == pytest.approx(2 / 3) and agency["accepted_nonempty_precision"] == 1.0
    assert agency["auroc"] == 0.5  # right 0.95 beats d's 0.4, not c's 1.0
    # photographer: the accepted values are empty (right) and c (wrong)
    assert photographer["accepted_precision"] == pytest.approx(2 / 3)
    assert photographer["accepted_nonempty_precision"] is None
    assert photographer["auroc"] == 0.0 and photographer["n_with_confidence"] == 2
    assert date["review_share"] == 0.0 and date["accepted_precision"] == 0.75 and date["auroc"] == 0.0


def test_accepted_precision_has_a_wilson_interval():
    title = score(TRUST_PREDICTIONS, TRUST_LABELS)["calibration"]["fields"]["title"]
    low, high = title["accepted_precision_95ci"]
    assert low == pytest.approx(0.0615, abs=1e-4) and high == pytest.approx(0.7924, abs=1e-4)  # Wilson, 1 of 3
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(98, 100)
    assert low == pytest.approx(0.9300, abs=1e-4) and high == pytest.approx(0.9945, abs=1e-4)


def test_a_run_that_drops_its_hardest_rows_does_not_look_better():
    """Dropping b (sent to review, wrong title) and d (accepted, wrong title) must not raise any title figure."""
    full = score(TRUST_PREDICTIONS, TRUST_LABELS)["calibration"]["fields"]["title"]
    dropped = score(TRUST_PREDICTIONS[:1], TRUST_LABELS)["calibration"]["fields"]["title"]
    assert dropped["accepted_precision"] <= full["accepted_precision"]
    assert dropped["n"] == full["n"] == 4 and dropped["n_missing"] == 3
    assert dropped["auroc"] == 0.0 <= full["auroc"]  # every dropped row is a wrong value above the right one


def test_reliability_bins_and_calibration_error():
    title = score(TRUST_PREDICTIONS, TRUST_LABELS)["calibration"]["fields"]["title"]
    occupied = {b["lower"]: b for b in title["reliability"] if b["n"]}
    assert len(title["reliability"]) == 10 and set(occupied) == {0.3, 0.9}
    assert occupied[0.9]["n"] == 3 and occupied[0.9]["accuracy"] == pytest.approx(1 / 3)  # a, d and c's 1.0
    assert occupied[0.9]["mean_confidence"] == pytest.approx(0.95)
    assert title["ece"] == pytest.approx((1 * 0.3 + 3 * abs(1 / 3 - 0.95)) / 4)
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
    assert "accepted precision" in table and "records sent to review: 0.500 of 4" in table
    assert "0.061-0.792" in table  # the title's Wilson interval
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["calibration"]["fields"]["agency"]["auroc"] == 0.5
    plot = read_png(tmp_path / "scores.reliability.png")  # the default: beside the JSON
    assert plot.shape[1] > plot.shape[0] > 100 and plot.std() > 0  # four panels side by side, not blank

    assert main(argv + ["--plot", str(tmp_path / "elsewhere.png")]) == 0
    assert read_png(tmp_path / "elsewhere.png").std() > 0


def read_png(path):
    from matplotlib.image import imread

    return imread(path)
