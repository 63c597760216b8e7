"""bench.confidence's ceiling: the least review at which any threshold would reach a precision on the set
itself, so a report can say that thresholds alone cannot meet a target with a given model."""
from __future__ import annotations

from bench.confidence import ceiling


def _row(field: str, confidence: float | None, right: bool, other_reasons: bool = False, skip: float | None = None):
    return {"field": field, "confidence": confidence, "skip": skip, "right": right, "other_reasons": other_reasons}


def test_the_lowest_threshold_reaching_the_target_gives_the_least_review():
    rows = [_row("title", c, right) for c, right in [(0.2, False), (0.5, True), (0.6, False), (0.7, True),
                                                      (0.8, True), (0.9, True)]]
    rows.append(_row("title", 0.95, False, other_reasons=True))  # sent by another reason at any threshold
    rows.append(_row("title", None, True, skip=0.99))  # left out, sure of it: judged by its skip probability
    rows += [_row(name, 0.9, True) for name in ("agency", "photographer", "date")]
    table = {line["field"]: line for line in ceiling(rows, 0.93)}
    # From 0.7 up: 0.7, 0.8, 0.9 and the skipped one are accepted, all right; 0.2, 0.5, 0.6 and the other reason go.
    assert table["title"] == {"target": 0.93, "field": "title", "least_review_share": 0.5, "threshold": 0.7,
                              "accepted": 4, "accepted_precision": 1.0}
    assert table["agency"]["least_review_share"] == 0.0
    assert table["four fields: review share mean"]["least_review_share"] == 0.125


def test_a_field_no_threshold_can_make_precise_leaves_the_mean_unknown():
    rows = [_row("title", 0.99, False), _row("title", 0.5, True)] + [
        _row(name, 0.9, True) for name in ("agency", "photographer", "date")]
    table = {line["field"]: line for line in ceiling(rows, 0.93)}
    assert table["title"]["least_review_share"] is None and table["title"]["accepted"] == 0
    assert table["four fields: review share mean"]["least_review_share"] is None
