"""Precision and review share over nights (docs/review.md), from the catalogue's snapshot summaries.

Per night: the share of written fields the job sent to review (the night's manifest in its
``backstamp.records`` commit: review ``fields`` over five fields per written record) and the
precision of what it accepted, measured by the spot checks its ``backstamp.reviews`` commit holds
(``backstamp.spot_checks_right`` of ``backstamp.spot_checks``, with a Wilson interval). The
chart puts both on one time axis, so a drifting model (precision falling) or a threshold set too
strict (review share climbing) shows at a glance. Pure: figures in, PNG bytes out.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from formats.decision_figures import Share, wilson
from formats.tags import FIELDS


@dataclass(frozen=True)
class Night:
    run_date: str
    model_version: str
    records_written: int
    fields_to_review: int
    spot_checks: int  # judged spot checks committed that night
    spot_checks_right: int

    @property
    def review_share(self) -> float | None:
        written = self.records_written * len(FIELDS)
        return self.fields_to_review / written if written else None

    @property
    def precision(self) -> Share:
        return wilson(self.spot_checks_right, self.spot_checks)


def history_png(nights: Sequence[Night]) -> bytes:
    """One chart: spot-check precision (with its interval) and review share, night by night."""
    figure = Figure(figsize=(max(5.0, 0.6 * len(nights) + 3), 3.6), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    x = list(range(len(nights)))
    measured = [(i, n.precision) for i, n in zip(x, nights) if n.precision.value is not None]
    if measured:
        axes.errorbar([i for i, _ in measured], [p.value for _, p in measured],
                      yerr=[[p.value - p.low for _, p in measured], [p.high - p.value for _, p in measured]],
                      marker="o", color="#2b7a4b", capsize=3, label="precision of accepted fields (spot checks, 95 %)")
    shares = [(i, n.review_share) for i, n in zip(x, nights) if n.review_share is not None]
    axes.plot([i for i, _ in shares], [s for _, s in shares], marker="s", color="#c9472b",
              label="share of fields sent to review")
    for i, (before, after) in enumerate(zip(nights, nights[1:]), start=1):
        if before.model_version != after.model_version:
            axes.axvline(i - 0.5, color="grey", linestyle=":", linewidth=1)
            axes.text(i - 0.45, 0.02, "new model", color="grey", fontsize=7, rotation=90, va="bottom")
    axes.set_xticks(x, [n.run_date for n in nights], rotation=45, ha="right", fontsize=8)
    axes.set_ylim(0, 1.02)
    axes.set_ylabel("share")
    axes.set_title("Review over nights", fontsize=10)
    axes.legend(fontsize=7, loc="lower left")
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()
