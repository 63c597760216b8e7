"""Spot checks (SPEC §9): which accepted fields are drawn, and the figures people's decisions give."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from formats.decision_figures import field_figures, format_figures, holding, judged_right, wilson
from formats.spot_checks import DEFAULT_SPOT_CHECK_RATE, is_spot_check, spot_check_draw

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_the_draw_is_fixed_by_id_field_input_and_seed():
    assert spot_check_draw("p1", "title", "h1") == spot_check_draw("p1", "title", "h1")
    draws = {spot_check_draw("p1", "title", "h1"), spot_check_draw("p2", "title", "h1"),
             spot_check_draw("p1", "date", "h1"), spot_check_draw("p1", "title", "h2"),
             spot_check_draw("p1", "title", "h1", seed="other")}
    assert len(draws) == 5  # each part of the key changes the draw


def test_the_share_drawn_is_the_rate():
    keys = [(f"p{i}", field) for i in range(20000) for field in ("title", "date")]
    share = sum(is_spot_check(i, f, "h") for i, f in keys) / len(keys)
    assert DEFAULT_SPOT_CHECK_RATE == 0.02
    assert abs(share - 0.02) < 0.004  # 40,000 draws: the binomial s.d. is 0.0007
    assert not any(is_spot_check(i, f, "h", rate=0.0) for i, f in keys[:1000])
    assert all(is_spot_check(i, f, "h", rate=1.0) for i, f in keys[:1000])


def test_a_higher_rate_keeps_every_field_a_lower_rate_drew():
    low = {i for i in range(5000) if is_spot_check(f"p{i}", "title", "h", 0.02)}
    high = {i for i in range(5000) if is_spot_check(f"p{i}", "title", "h", 0.05)}
    assert low < high


def test_a_rate_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        is_spot_check("p1", "title", "h", rate=1.5)


def decision(i, field="title", word="accept", kind="spot_check", value="X", model_value="X", minutes=0, **extra):
    return {"id": f"p{i}", "field": field, "decision": word, "value": value, "model_value": model_value,
            "kind": kind, "input_hash": "h", "decided_at": T0 + timedelta(minutes=minutes),
            "model_confidence": 0.9, **extra}


def test_wilson_interval_matches_the_textbook_values():
    share = wilson(81, 100)  # 95 % score interval of 81/100: 0.7222 – 0.8749
    assert share.value == pytest.approx(0.81)
    assert share.low == pytest.approx(0.7222, abs=5e-4) and share.high == pytest.approx(0.8749, abs=5e-4)
    assert wilson(10, 10).high == pytest.approx(1.0) and wilson(10, 10).low == pytest.approx(0.7225, abs=5e-4)
    assert wilson(0, 0).value is None


def test_how_a_decision_judges_the_jobs_value():
    assert judged_right(decision(1)) is True
    assert judged_right(decision(1, word="correct", value="Y")) is False
    assert judged_right(decision(1, word="correct", value=" x. ")) is True  # the job's value, typed out
    assert judged_right(decision(1, word="unreadable", value=None)) is None


def test_only_the_newest_decision_per_id_field_and_input_counts():
    first = decision(1, word="correct", value="Y")
    second = decision(1, minutes=5)
    other_input = decision(1, input_hash="h2", word="correct", value="Z")
    assert sorted(map(id, holding([second, first, other_input]))) == sorted(map(id, [second, other_input]))


def test_figures_per_field_with_interval_and_sample_size():
    decisions = ([decision(i) for i in range(18)]
                 + [decision(i, word="correct", value="Y") for i in range(18, 20)]
                 + [decision(i, word="unreadable", value=None) for i in range(20, 23)]
                 + [decision(i, kind="review", word="correct", value="Y") for i in range(30, 33)]
                 + [decision(i, kind="review") for i in range(33, 40)]
                 + [decision(1, field="date", kind="review", word="correct", value="1964")])
    figures = field_figures(decisions)
    title = figures["title"]
    assert (title.accepted_precision.value, title.accepted_precision.n) == (0.9, 20)
    assert title.accepted_precision.low < 0.9 < title.accepted_precision.high
    assert (title.reviewed_corrected.value, title.reviewed_corrected.n) == (0.3, 10)
    assert title.spot_checks_unreadable == 3 and title.reviews_unreadable == 0
    assert figures["date"].reviewed_corrected.value == 1.0 and figures["date"].accepted_precision.n == 0
    table = format_figures(figures)
    assert "0.900 [" in table and "(n=20)" in table and "—  (n=0)" in table


def queue_rows() -> "pa.Table":
    import pyarrow as pa

    rows = []
    for i in range(40):
        rows.append({"id": f"p{i:02d}", "input_hash": f"h{i}", "needs_review": i < 5,
                     "review_fields": ["title"] if i < 5 else [], "review_reasons": ["low_confidence:title"] if i < 5
                     else [], "title_confidence": 0.5 if i < 5 else 0.99, "agency_confidence": 0.99,
                     "photographer_confidence": None, "date_confidence": 0.9,
                     "title_origin": "reviewer" if i == 39 else "model"})
    return pa.Table.from_pylist(rows)


def test_the_queue_adds_the_drawn_accepted_fields_after_the_records_needing_review():
    from formats.queue import review_queue

    records = queue_rows()
    plain = review_queue(records, None)
    assert plain.column("id").to_pylist() == [f"p{i:02d}" for i in range(5)]  # rate 0: review only
    queue = review_queue(records, None, spot_check_rate=0.2, spot_check_seed="s").to_pylist()
    expected = {row["id"]: [f for f in ("description", "title", "agency", "photographer", "date")
                            if f not in row["review_fields"] and not (row["id"] == "p39" and f == "title")
                            and is_spot_check(row["id"], f, row["input_hash"], 0.2, "s")]
                for row in records.to_pylist()}
    assert [row["id"] for row in queue[:5]] == [f"p{i:02d}" for i in range(5)]  # review first
    assert all(not row["needs_review"] and row["spot_check_fields"] for row in queue[5:])
    assert {row["id"]: row["spot_check_fields"] for row in queue} == {
        i: fields for i, fields in expected.items() if fields or i < "p05"}
    assert all("title" not in row["spot_check_fields"] for row in queue if row["id"] < "p05")  # under review
    assert 10 < sum(len(f) for f in expected.values()) < 70  # about a fifth of the 195 accepted fields
    everything = review_queue(records, None, spot_check_rate=1.0).to_pylist()
    assert "title" not in next(r for r in everything if r["id"] == "p39")["spot_check_fields"]  # decided already
