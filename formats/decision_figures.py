"""What people's decisions say about the job (SPEC §9): per field, the precision of what it accepts
(from spot checks) and the share of reviewed fields people corrected, each with a Wilson interval.

A decision is a mapping in the SPEC §9 columns (``decisions.Decision.as_json()``, a row of
``backstamp.reviews``). Only *holding* decisions count (per id, field and input_hash the newest):
a person who changed their mind is counted once, with their last word.

How a decision judges the job's value:

* ``accept`` — right;
* ``correct`` — wrong, unless the person's value equals the job's after the evaluator's
  normalisation (case, spacing, edge punctuation: ``formats.evaluate.normalise_text``), which is
  a confirmation typed out;
* ``unreadable`` — neither: the print cannot tell whether the value is right. Such decisions are
  counted apart (``unreadable``) and left out of both shares, so a pile of illegible prints does
  not pass for precision or for error.

Wilson's interval rather than the normal approximation: shares near 1 from a few dozen spot checks
are exactly where the normal interval runs past 1 and is too narrow. Pure: no I/O.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

from scipy.stats import norm

from formats.evaluate import normalise_text
from formats.tags import FIELDS

ACCEPT, CORRECT, UNREADABLE = "accept", "correct", "unreadable"
REVIEW, SPOT_CHECK = "review", "spot_check"
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Share:
    """A share with its Wilson interval at ``level``; ``n`` decisions behind it (None values when n is 0)."""

    value: float | None
    low: float | None
    high: float | None
    n: float
    level: float = DEFAULT_LEVEL

    def as_json(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        if self.value is None:
            return "—  (n=0)"
        n = int(self.n) if float(self.n).is_integer() else round(self.n, 1)
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={n})"


def z_value(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def wilson(successes: float, n: float, level: float = DEFAULT_LEVEL) -> Share:
    """Wilson score interval of ``successes`` out of ``n`` (``n`` may be an effective, weighted count)."""
    if n <= 0:
        return Share(None, None, None, 0, level)
    z = z_value(level)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Share(p, max(0.0, centre - half), min(1.0, centre + half), n, level)


def holding(decisions: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Per (id, field, input_hash) the newest decision (by ``decided_at``, then ``seq`` when present)."""
    newest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for decision in decisions:
        key = (decision["id"], decision["field"], decision.get("input_hash") or "")
        order = (decision["decided_at"], decision.get("seq") or 0)
        held = newest.get(key)
        if held is None or order >= (held["decided_at"], held.get("seq") or 0):
            newest[key] = decision
    return list(newest.values())


def judged_right(decision: Mapping[str, Any]) -> bool | None:
    """Whether the decision says the job's value was right; None for ``unreadable`` (module doc)."""
    if decision["decision"] == ACCEPT:
        return True
    if decision["decision"] == CORRECT:
        return normalise_text(decision.get("value")) == normalise_text(decision.get("model_value"))
    return None


@dataclass(frozen=True)
class FieldFigures:
    """One field: precision of accepted values (spot checks), share of reviewed values corrected."""

    field: str
    accepted_precision: Share
    reviewed_corrected: Share
    spot_checks_unreadable: int
    reviews_unreadable: int

    def as_json(self) -> dict[str, Any]:
        return {"accepted_precision": self.accepted_precision.as_json(),
                "reviewed_corrected": self.reviewed_corrected.as_json(),
                "spot_checks_unreadable": self.spot_checks_unreadable, "reviews_unreadable": self.reviews_unreadable}


def field_figures(decisions: Sequence[Mapping[str, Any]], level: float = DEFAULT_LEVEL) -> dict[str, FieldFigures]:
    """Per field of ``FIELDS`` the figures of the holding ``decisions`` (module doc)."""
    figures: dict[str, FieldFigures] = {}
    held = holding(decisions)
    for name in FIELDS:
        judged = {kind: [judged_right(d) for d in held if d["field"] == name and d["kind"] == kind]
                  for kind in (SPOT_CHECK, REVIEW)}
        spot = [j for j in judged[SPOT_CHECK] if j is not None]
        reviewed = [j for j in judged[REVIEW] if j is not None]
        figures[name] = FieldFigures(
            field=name, accepted_precision=wilson(sum(spot), len(spot), level),
            reviewed_corrected=wilson(len(reviewed) - sum(reviewed), len(reviewed), level),
            spot_checks_unreadable=judged[SPOT_CHECK].count(None), reviews_unreadable=judged[REVIEW].count(None))
    return figures


def format_figures(figures: Mapping[str, FieldFigures]) -> str:
    """The figures as a text table (shares with their interval and sample size)."""
    level = next(iter(figures.values())).accepted_precision.level if figures else DEFAULT_LEVEL
    header = (f"{'field':<13} {'accepted precision (spot checks)':<36} {'reviewed corrected':<36} unreadable\n"
              f"{'':<13} {f'share [{level:.0%} Wilson] (n)':<36} {f'share [{level:.0%} Wilson] (n)':<36} spot/review")
    lines = [header]
    for name, f in figures.items():
        lines.append(f"{name:<13} {str(f.accepted_precision):<36} {str(f.reviewed_corrected):<36} "
                     f"{f.spot_checks_unreadable}/{f.reviews_unreadable}")
    return "\n".join(lines)
