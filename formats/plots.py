"""Charts of field trust as PNG bytes: evaluate's reliability plot and the review report's charts.

matplotlib's object API on the Agg canvas, never pyplot: no global backend is switched,
no display is needed, and a caller's own matplotlib state is left alone. Functions take
plain numbers and return PNG bytes; callers decide where the bytes go (a file, or a
base64 ``data:`` URI so the review report stays one offline file).
"""
from __future__ import annotations

import io
from typing import Any, Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

ACCEPTED_COLOUR = "#2b7a4b"
REVIEW_COLOUR = "#c9472b"


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def reliability_png(calibration: Mapping[str, Any]) -> bytes:
    """One panel per field: accuracy per confidence bin against the diagonal of perfect calibration.

    ``calibration`` is ``formats.evaluate.calibration``'s result. Each bar sits on its
    bin and is labelled with its count, so a bin of three values is not read as evidence.
    """
    fields = calibration["fields"]
    figure = Figure(figsize=(3.2 * len(fields), 3.4), layout="constrained")
    for i, (field, figures) in enumerate(fields.items()):
        axes = figure.add_subplot(1, len(fields), i + 1)
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        for b in figures["reliability"]:
            if not b["n"]:
                continue
            width = b["upper"] - b["lower"]
            axes.bar(b["lower"], b["accuracy"], width=width, align="edge", color="#3b6ea8",
                     edgecolor="white", alpha=0.85)
            axes.text(b["lower"] + width / 2, min(b["accuracy"] + 0.02, 0.97), str(b["n"]),
                      ha="center", va="bottom", fontsize=7)
        auroc = "n/a" if figures["auroc"] is None else f"{figures['auroc']:.2f}"
        axes.set_title(f"{field}\nAUROC {auroc}, {figures['n_wrong']} wrong / {figures['n_right']} right",
                       fontsize=9)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.05)
        axes.set_xlabel("confidence", fontsize=8)
        if i == 0:
            axes.set_ylabel("share of values right", fontsize=8)
        axes.tick_params(labelsize=7)
    return _png(figure)


def confidence_histogram_png(values: Mapping[str, Sequence[tuple[float, bool]]], bins: int = 20) -> bytes:
    """One panel per field: the confidences of its values, accepted and sent to review stacked.

    ``values`` maps a field to ``(confidence, sent_to_review)`` pairs (values without a
    confidence left out by the caller).
    """
    figure = Figure(figsize=(3.0 * max(len(values), 1), 2.6), layout="constrained")
    edges = [i / bins for i in range(bins + 1)]
    for i, (field, pairs) in enumerate(values.items()):
        axes = figure.add_subplot(1, len(values), i + 1)
        axes.set_title(f"{field} ({len(pairs)} values)", fontsize=9)
        axes.set_xlim(0, 1)
        axes.set_xlabel("confidence", fontsize=8)
        axes.tick_params(labelsize=7)
        if pairs:
            accepted = [c for c, review in pairs if not review]
            review = [c for c, review in pairs if review]
            axes.hist([accepted, review], bins=edges, stacked=True, color=[ACCEPTED_COLOUR, REVIEW_COLOUR])
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            axes.set_yticks([])
            axes.text(0.5, 0.5, "no value written", ha="center", va="center", fontsize=8, color="grey")
        if i == 0:
            axes.set_ylabel("values", fontsize=8)
    figure.legend(handles=[Patch(color=ACCEPTED_COLOUR, label="accepted"), Patch(color=REVIEW_COLOUR, label="to review")],
                  loc="outside upper right", ncols=2, fontsize=7, frameon=False)
    return _png(figure)


def reasons_bar_png(counts: Mapping[str, int]) -> bytes:
    """Horizontal bars: how many records each review reason sent to review, most frequent on top."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    figure = Figure(figsize=(6.0, 0.3 * max(len(ordered), 1) + 1.2), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    names = [name for name, _ in reversed(ordered)]
    numbers = [n for _, n in reversed(ordered)]
    bars = axes.barh(range(len(names)), numbers, color=REVIEW_COLOUR)
    axes.bar_label(bars, fontsize=7, padding=2)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_xlabel("records", fontsize=8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(axis="x", labelsize=7)
    axes.set_title("review reasons", fontsize=9)
    return _png(figure)
