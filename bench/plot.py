"""Plot records/s of (c) against the batch token budget, with (a) and (b) as reference lines.

Reads ``bench/results/throughput.json`` (from ``bench.throughput``) and writes
``bench/results/throughput_vs_budget.png``.
"""
from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display on CI or workers
import matplotlib.pyplot as plt  # noqa: E402

from bench.report import RESULTS  # noqa: E402


def main(name: str = "throughput") -> int:
    data = json.loads((RESULTS / f"{name}.json").read_text())
    swept = [s for s in data["sweep"] if s["budget"] is not None]
    references = [s for s in data["sweep"] if s["budget"] is None]
    figure, axis = plt.subplots(figsize=(7, 4.2))
    axis.plot([s["budget"] for s in swept], [s["records_per_s"] for s in swept], "o-", label="(c) ours")
    for reference, style in zip(references, ("--", ":")):
        axis.axhline(reference["records_per_s"], linestyle=style, color="grey", label=reference["strategy"])
    axis.set_xscale("log", base=2)
    axis.set_xlabel("batch token budget (--max_batch_weight: prompt + max_new_tokens per record)")
    axis.set_ylabel("records / s")
    axis.set_title(f"CPU model loop, {swept[0]['records']} records, {data['meta']['model']}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / f"{name}_vs_budget.png", dpi=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
