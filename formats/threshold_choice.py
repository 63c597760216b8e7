"""Review thresholds chosen from people's decisions (SPEC §9; ``python -m pipeline thresholds``).

A field's threshold splits its values by ``model_confidence``: at or above it the job vouches
for the value, below it a person looks. People's decisions say which values were right, in two
samples of different size: **review** decisions cover (part of) the fields the job sent to
review, **spot checks** a seeded share of the fields it accepted. Each decision therefore stands
for ``population / decided`` fields of its side (``Side``), the inverse of its side's sampling
fraction; without that weighting the few spot checks would count as little as the many reviews
and the precision of the accepted side would look far worse than it is.

For a candidate threshold t the expected **precision** is the weighted share right among the
decisions with confidence ≥ t, the expected **review share** the weighted share below t; both get
a Wilson interval on Kish's effective sample size ((Σw)² / Σw²). The chosen threshold is the lowest
candidate (fewest fields to review) such that it and every candidate above it whose accepted side
rests on at least ``required_decisions`` decisions reach ``target`` in expected precision (scanned
from the top, so one noisy early crossing does not choose); when none does, 1.0 (review all but
certainties) and ``reached`` is False.

Too few decisions: a field needs ``required_decisions(target, margin, level)`` judged spot checks
and as many judged reviews (the n at which a Wilson interval around ``target`` is ±``margin``
wide); otherwise it is refused with how many more of each it needs. ``unreadable``
decisions and decisions without a model confidence (an empty field the model left out) judge
nothing here and are left out. Pure: no I/O.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from formats.decision_figures import DEFAULT_LEVEL, REVIEW, SPOT_CHECK, Share, holding, judged_right, wilson

DEFAULT_TARGET = 0.95
DEFAULT_MARGIN = 0.05


def required_decisions(target: float = DEFAULT_TARGET, margin: float = DEFAULT_MARGIN,
                       level: float = DEFAULT_LEVEL) -> int:
    """The fewest decisions per side at which the Wilson interval of a share equal to ``target`` is at
    most ±``margin`` wide (Wilson, not the normal approximation, which needs almost nothing near 1)."""
    def narrow(n: int) -> bool:
        share = wilson(target * n, n, level)
        return share.high - share.low <= 2 * margin

    low, high = 1, 1
    while not narrow(high):
        low, high = high, high * 2
    while low < high:  # the width shrinks as n grows: bisect for the first narrow n
        middle = (low + high) // 2
        low, high = (low, middle) if narrow(middle) else (middle + 1, high)
    return high


@dataclass(frozen=True)
class Side:
    """How many fields of one field name the job accepted and sent to review (the populations sampled)."""

    accepted: int
    reviewed: int


@dataclass(frozen=True)
class Chosen:
    field: str
    threshold: float
    precision: Share
    review_share: Share
    reached: bool  # False: no candidate reached the target; the threshold sends all but certainties to review
    spot_checks: int
    reviews: int

    def as_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "precision": self.precision.as_json(),
                "review_share": self.review_share.as_json(), "reached": self.reached,
                "spot_checks": self.spot_checks, "reviews": self.reviews}


@dataclass(frozen=True)
class TooFew:
    field: str
    spot_checks: int
    reviews: int
    required: int

    @property
    def more_spot_checks(self) -> int:
        return max(0, self.required - self.spot_checks)

    @property
    def more_reviews(self) -> int:
        return max(0, self.required - self.reviews)

    def __str__(self) -> str:
        return (f"{self.field}: {self.spot_checks} spot checks and {self.reviews} reviews judged; needs "
                f"{self.more_spot_checks} more spot checks and {self.more_reviews} more reviews "
                f"({self.required} of each)")


def _weighted(right: float, total: float, squares: float, level: float) -> Share:
    """Wilson interval of a weighted share: ``right`` of ``total`` weight, on Kish's effective n."""
    if total <= 0:
        return Share(None, None, None, 0, level)
    effective = total * total / squares
    return wilson(right / total * effective, effective, level)


class _Curve:
    """Weighted precision and review share of one field's judged decisions at any threshold."""

    def __init__(self, field: str, decisions: Sequence[Mapping[str, Any]], side: Side, level: float):
        judged = sorted((float(d["model_confidence"]), bool(right), d["kind"]) for d in holding(decisions)
                        if d["field"] == field and d.get("model_confidence") is not None
                        and (right := judged_right(d)) is not None)
        self.confidences = [c for c, *_ in judged]
        self.spot_checks = sum(1 for *_, kind in judged if kind == SPOT_CHECK)
        self.reviews = sum(1 for *_, kind in judged if kind == REVIEW)
        self.level = level
        # Each side's decisions stand for that side's population (module doc).
        weight = {SPOT_CHECK: max(side.accepted, self.spot_checks) / max(1, self.spot_checks),
                  REVIEW: max(side.reviewed, self.reviews) / max(1, self.reviews)}
        n = len(judged)
        # Suffix sums: index i holds the sums over judged[i:], the decisions at or above judged[i]'s confidence.
        self.total, self.squares, self.right = [0.0] * (n + 1), [0.0] * (n + 1), [0.0] * (n + 1)
        for i in range(n - 1, -1, -1):
            w = weight[judged[i][2]]
            self.total[i], self.squares[i] = self.total[i + 1] + w, self.squares[i + 1] + w * w
            self.right[i] = self.right[i + 1] + (w if judged[i][1] else 0.0)

    def start(self, threshold: float) -> int:
        """The index of the first decision at or above ``threshold``."""
        return bisect_left(self.confidences, threshold)

    def precision(self, start: int) -> Share:
        return _weighted(self.right[start], self.total[start], self.squares[start], self.level)

    def review_share(self, start: int) -> Share:
        return _weighted(self.total[0] - self.total[start], self.total[0], self.squares[0], self.level)


def choose_threshold(field: str, decisions: Sequence[Mapping[str, Any]], side: Side,
                     target: float = DEFAULT_TARGET, margin: float = DEFAULT_MARGIN,
                     level: float = DEFAULT_LEVEL, required: int | None = None) -> Chosen | TooFew:
    """The threshold of ``field`` from its holding ``decisions`` (module doc); ``required`` overrides
    the decisions each side needs."""
    curve = _Curve(field, decisions, side, level)
    required = required_decisions(target, margin, level) if required is None else required
    if curve.spot_checks < required or curve.reviews < required:
        return TooFew(field, curve.spot_checks, curve.reviews, required)
    # From the top down: the lowest threshold above which every threshold with enough decisions behind it
    # reaches the target. Scanning up for the first crossing instead would stop at a noisy early crossing.
    chosen: Chosen | None = None
    for threshold in sorted(set(curve.confidences) | {1.0}, reverse=True):
        start = curve.start(threshold)
        if len(curve.confidences) - start < required:
            continue
        precision = curve.precision(start)
        if precision.value < target:
            break
        chosen = Chosen(field, threshold, precision, curve.review_share(start), True, curve.spot_checks,
                        curve.reviews)
    if chosen is None:  # nothing reaches the target: all but certainties go to review
        start = curve.start(1.0)
        chosen = Chosen(field, 1.0, curve.precision(start), curve.review_share(start), False, curve.spot_checks,
                        curve.reviews)
    return chosen


def measure(field: str, decisions: Sequence[Mapping[str, Any]], side: Side, threshold: float,
            level: float = DEFAULT_LEVEL) -> tuple[Share, Share]:
    """Expected precision and review share of ``field`` at ``threshold`` on ``decisions`` (e.g. a held-out
    half: a threshold chosen on some decisions is reported on others)."""
    curve = _Curve(field, decisions, side, level)
    start = curve.start(threshold)
    return curve.precision(start), curve.review_share(start)
