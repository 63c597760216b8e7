"""Review thresholds: chosen from people's decisions, and resolved field by field when the job starts."""
from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from formats.review import DEFAULT_THRESHOLDS
from formats.threshold_choice import Chosen, Side, TooFew, choose_threshold, required_decisions
from formats.thresholds import ThresholdsError, document, read_document, resolve
from model.checkpoint import read_metadata, write_metadata
from pipeline.options import BackstampOptions
from pipeline.preflight import InputError

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def decisions(n_spot: int, n_review: int, seed: int = 0, field: str = "title", skill: float = 1.0) -> list[dict]:
    """Decisions whose value is right with probability ``skill`` × its confidence (1: a calibrated job).

    Accepted fields (spot checks) have confidence in [0.8, 1), reviewed ones in [0, 0.8): the job's
    threshold in force was 0.8."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_spot + n_review):
        kind = "spot_check" if i < n_spot else "review"
        confidence = rng.uniform(0.8, 1.0) if kind == "spot_check" else rng.uniform(0.0, 0.8)
        right = rng.random() < skill * confidence
        rows.append({"id": f"p{i}", "field": field, "input_hash": "h", "decided_at": T0, "kind": kind,
                     "decision": "accept" if right else "correct", "value": "A" if right else "B",
                     "model_value": "A", "model_confidence": confidence})
    return rows


def test_the_chosen_threshold_is_the_lowest_whose_expected_precision_reaches_the_target():
    chosen = choose_threshold("title", decisions(2000, 2000), Side(accepted=20000, reviewed=2000), target=0.95)
    assert isinstance(chosen, Chosen) and chosen.reached
    assert chosen.precision.value >= 0.95 and chosen.precision.low < 0.95 < chosen.precision.high
    # A calibrated job with confidences uniform on [0.8, 1) is 95 % right above 0.9 (mean of [0.9, 1)).
    assert 0.88 < chosen.threshold < 0.92
    # Accepted fields stand for 10 each (20,000 / 2,000), reviewed ones for 1: below t lies (t - 0.8) / 0.2
    # of the accepted side, plus every reviewed field.
    expected = ((chosen.threshold - 0.8) / 0.2 * 20000 + 2000) / 22000
    assert chosen.review_share.low < expected < chosen.review_share.high
    lower = choose_threshold("title", decisions(2000, 2000), Side(accepted=20000, reviewed=2000), target=0.9)
    assert lower.threshold < chosen.threshold  # an easier target reviews less


def test_unweighted_decisions_would_understate_the_accepted_sides_precision():
    # Equal populations: every decision stands for one field, so the review side's wrong values weigh as much.
    heavy = choose_threshold("title", decisions(400, 400), Side(accepted=400, reviewed=400), target=0.95)
    light = choose_threshold("title", decisions(400, 400), Side(accepted=20000, reviewed=400), target=0.95)
    assert heavy.review_share.value > light.review_share.value


def test_no_threshold_reaching_the_target_reviews_everything_but_certainties_and_says_so():
    chosen = choose_threshold("title", decisions(400, 400, skill=0.9), Side(20000, 400), target=0.95)
    assert (chosen.threshold, chosen.reached) == (1.0, False)


def test_too_few_decisions_are_refused_with_how_many_more_are_needed():
    assert required_decisions(0.95, 0.05) == 83  # a share of 0.95 of 83 has a Wilson interval 0.0999 wide
    assert required_decisions(0.95, 0.03) > required_decisions(0.95, 0.05) > required_decisions(0.95, 0.1)
    refused = choose_threshold("title", decisions(30, 100), Side(20000, 100), target=0.95, margin=0.05)
    assert isinstance(refused, TooFew)
    assert (refused.more_spot_checks, refused.more_reviews) == (53, 0)
    assert "needs 53 more spot checks and 0 more reviews" in str(refused)


def test_unreadable_and_unscored_decisions_judge_nothing():
    rows = decisions(90, 90)
    extra = [{**rows[0], "id": "u", "decision": "unreadable", "value": None},
             {**rows[1], "id": "v", "model_confidence": None}]
    chosen = choose_threshold("title", rows + extra, Side(20000, 90))
    assert (chosen.spot_checks, chosen.reviews) == (90, 90)


def test_a_document_is_read_and_checked():
    doc = document({"title": 0.9, "description": 0.5}, chosen_on="run X", target=0.95, figures={})
    assert read_document(json.loads(json.dumps(doc)), "f") == {"title": 0.9, "description": 0.5}
    for bad in ({"title": 0.9}, {"thresholds": {"title": 1.5}}, {"thresholds": {"title": "high"}}, []):
        with pytest.raises(ThresholdsError, match="f:"):
            read_document(bad, "f")


def test_each_field_takes_the_most_specific_source():
    in_force = resolve({"title": 0.97, "agency": 0.77, "photographer": 0.83, "date": 0.5},
                       options={"title": 0.6, "agency": None},
                       config_file={"title": 0.1, "agency": 0.7, "description": 0.4},
                       checkpoint={"agency": 0.2, "photographer": 0.3})
    assert {k: (v.threshold, v.source) for k, v in in_force.items()} == {
        "title": (0.6, "option"), "agency": (0.7, "review_config"), "photographer": (0.3, "checkpoint"),
        "date": (0.5, "default")}


def write_input(tmp_path) -> str:
    rows = [{"id": f"r{i}", "front_ocr": ["OCT 3 1963"], "back_ocr": ["AP WIREPHOTO", f"ref {i}"],
             "language": "en"} for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    return str(tmp_path / "in.parquet")


def test_the_job_runs_with_the_resolved_thresholds_and_the_manifest_says_where_each_came_from(tmp_path,
                                                                                              tiny_checkpoint):
    from pipeline.job import run

    model = tmp_path / "model"
    shutil.copytree(tiny_checkpoint, model)
    write_metadata(model, {**read_metadata(model), "review": {"thresholds": {"photographer": 0.31, "date": 0.32}}})
    config = tmp_path / "thresholds.json"
    config.write_text(json.dumps(document({"title": 0.11, "agency": 0.12, "date": 0.13}, "test", 0.95)))
    manifest = run(["--input", write_input(tmp_path), "--output", str(tmp_path / "out"), "--model", str(model),
                    "--review_config", str(config), "--review_threshold_title", "0.01"])
    saved = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert saved["extra"]["review_thresholds"] == manifest.extra["review_thresholds"] == {
        "title": {"threshold": 0.01, "from": "option"}, "agency": {"threshold": 0.12, "from": "review_config"},
        "photographer": {"threshold": 0.31, "from": "checkpoint"}, "date": {"threshold": 0.13, "from": "review_config"},
        "description": {"threshold": DEFAULT_THRESHOLDS["description"], "from": "default"}}
    assert saved["options"]["review_config"] == str(config)


def test_without_any_source_the_defaults_hold(tmp_path, tiny_checkpoint):
    from pipeline.job import plan_job

    options = PipelineOptions(["--input", write_input(tmp_path), "--output", str(tmp_path / "out"),
                               "--model", str(tiny_checkpoint)]).view_as(BackstampOptions)
    plan = plan_job(options)
    assert dict(plan.review.thresholds) == DEFAULT_THRESHOLDS
    assert {t.source for t in plan.thresholds_in_force.values()} == {"default"}


@pytest.mark.parametrize("content", ["not json", '{"thresholds": {"title": 2}}', None])
def test_a_bad_review_config_stops_the_job_before_any_work(tmp_path, tiny_checkpoint, content):
    from pipeline.job import plan_job

    config = tmp_path / "thresholds.json"
    if content is not None:
        config.write_text(content)
    options = PipelineOptions(["--input", write_input(tmp_path), "--output", str(tmp_path / "out"),
                               "--model", str(tiny_checkpoint), "--review_config", str(config)]
                              ).view_as(BackstampOptions)
    with pytest.raises(InputError, match="--review_config"):
        plan_job(options)


def write_run_with_decisions(folder, n_spot: int, n_review: int, seed: int = 0) -> str:
    """A run folder (records with the §5b columns) and its store, with decisions about every field:
    the job accepted values of confidence ≥ 0.8 (spot-checked) and sent the rest to review."""
    from decisions import Decision, DecisionStore, store_uri_for_run
    from formats.review import THRESHOLD_FIELDS

    run = folder / "run"
    (run / "records").mkdir(parents=True)
    rows, stored = [], []
    for field in THRESHOLD_FIELDS:
        for d in decisions(n_spot, n_review, seed, field):
            stored.append(Decision(**{**d, "id": f"{field}-{d['id']}", "input_hash": "h", "model_version": "m",
                                      "run_id": "r", "reviewer": "ann", "note": ""}))
    for i in range(4 * (n_spot + n_review)):  # the populations: 3 of 4 values accepted
        rows.append({"id": f"row{i}", "needs_review": i % 4 == 0, "review_fields": list(THRESHOLD_FIELDS) if i % 4 == 0
                     else [], **{f"{f}_confidence": 0.5 if i % 4 == 0 else 0.9 for f in THRESHOLD_FIELDS},
                     "review_reasons": [], "input_hash": "h"})
    pq.write_table(pa.Table.from_pylist(rows), run / "records" / "part-0.parquet")
    with DecisionStore(store_uri_for_run(str(run))) as store:
        store.add(stored)
    return str(run)


def test_thresholds_command_writes_the_file_the_job_reads(tmp_path, capsys):
    from pipeline.__main__ import main

    run = write_run_with_decisions(tmp_path, 600, 600)
    to = tmp_path / "thresholds.json"
    assert main(["thresholds", "--decisions", "--run", run, "--target", "0.95", "--to", str(to)]) == 0
    out = capsys.readouterr().out
    doc = json.loads(to.read_text())
    chosen = read_document(doc, str(to))
    assert set(chosen) == {"title", "agency", "photographer", "date", "description"}
    assert all(0.85 < t < 0.95 for t in chosen.values())  # 95 % above ~0.9 for a calibrated job (see above)
    assert doc["target"] == 0.95 and "holding decisions" in doc["chosen_on"]
    held_out = doc["figures"]["title"]["held_out"]
    assert held_out["precision"]["n"] > 0 and held_out["precision"]["low"] < held_out["precision"]["value"]
    assert "measured on the other half" in out and "precision 0.9" in out
    in_force = resolve(DEFAULT_THRESHOLDS, {}, chosen)
    assert {t.source for t in in_force.values()} == {"review_config"}


def test_thresholds_command_refuses_too_few_decisions_and_says_how_many_more(tmp_path, capsys):
    from pipeline.__main__ import main

    run = write_run_with_decisions(tmp_path, 100, 300)
    to = tmp_path / "thresholds.json"
    assert main(["thresholds", "--decisions", "--run", run, "--to", str(to)]) == 2
    err = capsys.readouterr().err
    assert not to.exists()
    assert "title: 100 spot checks and 300 reviews judged; needs 66 more spot checks and 0 more reviews" in err


def test_evaluate_decisions_reports_precision_and_corrections_with_intervals(tmp_path, capsys):
    from formats.decision_figures import field_figures
    from pipeline.__main__ import main

    run = write_run_with_decisions(tmp_path, 200, 100, seed=3)
    assert main(["evaluate", "--decisions", "--run", run, "--json", str(tmp_path / "figures.json")]) == 0
    out = capsys.readouterr().out
    figures = json.loads((tmp_path / "figures.json").read_text())["fields"]
    expected = field_figures(decisions(200, 100, 3))["title"]
    assert figures["title"]["accepted_precision"]["value"] == round(expected.accepted_precision.value, 4)
    assert figures["title"]["accepted_precision"]["n"] == 200 and figures["title"]["reviewed_corrected"]["n"] == 100
    assert "accepted precision (spot checks)" in out and "(n=200)" in out


def test_a_run_nobody_reviewed_is_a_clear_error_and_no_store_is_created(tmp_path, capsys):
    from pipeline.__main__ import main

    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"id": "r0", "needs_review": False, "review_fields": [],
                                          "review_reasons": [], "title_confidence": 0.9}]),
                   run / "records" / "part-0.parquet")
    assert main(["evaluate", "--decisions", "--run", str(run)]) == 2
    assert "no decisions store at" in capsys.readouterr().err and not (run / "reviews.db").exists()
