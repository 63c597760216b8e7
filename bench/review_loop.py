"""The nightly cycle with review in it, on the sample: do spot checks measure what the job accepts?

``python -m bench.review_loop [--nights 5] [--per_night 50] [--spot_check_rate 0.5]``

The sample's 250 prints arrive ``--per_night`` at a time into one warehouse, one backfill night
each (the demo model). After each night a simulated cataloguer works through the queue the
workbench would show (``formats.queue.review_queue`` on ``latest``, spot checks drawn at
``--spot_check_rate``): for each field to review or spot-check, ``accept`` when the job's value
equals the sample's label after the evaluator's normalisation, else ``correct`` to the label.
Decisions go through ``decisions.validate`` into the warehouse's store, as the API stores them;
the next night commits them. The sample's labels stand in for a person here only to measure; the
job never sees them.

Per night it writes the review share, the precision of accepted fields that the night's committed
spot checks estimate (Wilson 95 %), and the true precision of the same nights' accepted fields
against the labels, side by side, to ``bench/results/review_loop.md``/``.json``, and the chart of
``python -m pipeline review-history`` to ``docs/review-history.png``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import cpu_machine
from decisions import DecisionStore, store_uri_for_warehouse, validate
from formats.decision_figures import wilson
from formats.evaluate import normalise_text
from formats.queue import review_queue
from formats.tags import FIELDS
from pipeline import catalog as cat
from pipeline.__main__ import main as pipeline_main
from pipeline.backfill import run_backfill
from pipeline.decision_commands import history
from pipeline.latest import read_latest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def decide(rows: pa.Table, labels: dict[str, dict], rate: float) -> list[dict]:
    """The simulated cataloguer's decisions on the queue of ``rows``."""
    batch = []
    for row in review_queue(rows, None, spot_check_rate=rate).to_pylist():
        for field in list(row["review_fields"]) + list(row["spot_check_fields"]):
            truth = labels[row["id"]][field] or ""
            right = normalise_text(row[field]) == normalise_text(truth)
            batch.append({"id": row["id"], "field": field, "decision": "accept" if right else "correct",
                          "value": None if right else truth, "reviewer": "simulated-from-labels"})
    return batch


def true_precision(rows: list[dict], labels: dict[str, dict]) -> tuple[int, int]:
    """Accepted fields of ``rows`` (not in review_fields) and how many equal their label."""
    accepted = [(row, f) for row in rows for f in FIELDS if f not in row["review_fields"]]
    right = sum(normalise_text(row[f]) == normalise_text(labels[row["id"]][f] or "") for row, f in accepted)
    return len(accepted), right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=5)
    parser.add_argument("--per_night", type=int, default=50)
    parser.add_argument("--spot_check_rate", type=float, default=0.5,
                        help="Higher than the job's default 0.02 so 50 prints a night give a figure at all.")
    args = parser.parse_args()
    records = pq.read_table(ROOT / "data" / "sample" / "records.parquet")
    labels = {row["id"]: row for row in pq.read_table(ROOT / "data" / "sample" / "labels.parquet").to_pylist()}
    folder = Path(tempfile.mkdtemp(prefix="review_loop-"))
    warehouse = folder / "warehouse"
    truth: dict[str, tuple[int, int]] = {}
    started = time.monotonic()
    for night in range(args.nights + 1):  # the last night only commits the previous night's decisions
        run_date = f"2024-06-{night + 1:02d}"
        arrived = records.slice(0, min(records.num_rows, args.per_night * (night + 1)))
        pq.write_table(arrived, folder / f"input-{night}.parquet")
        outcome = run_backfill(["--input", str(folder / f"input-{night}.parquet"), "--output", str(warehouse),
                                "--run_date", run_date, "--model", str(ROOT / "data" / "models" / "demo-gptj")])
        assert outcome.status == "committed", outcome.summary
        served, _ = read_latest(cat.resolve_warehouse(str(warehouse), create=False), with_decisions=False)
        new = [row for row in served.to_pylist() if str(row["run_date"]) == run_date]
        truth[run_date] = true_precision(new, labels)
        if night < args.nights:
            rows, _ = read_latest(cat.resolve_warehouse(str(warehouse), create=False))
            with DecisionStore(store_uri_for_warehouse(str(warehouse))) as store:
                store.add(validate(decide(rows, labels, args.spot_check_rate),
                                   {row["id"]: row for row in rows.to_pylist()}))
    nights = history(cat.open_catalog(cat.resolve_warehouse(str(warehouse), create=False)))
    chart = ROOT / "docs" / "review-history.png"
    assert pipeline_main(["review-history", "--warehouse", str(warehouse), "--to", str(chart)]) == 0
    # A night's spot checks judge the previous night's accepted fields: put them side by side.
    table = []
    for before, after in zip(nights, nights[1:]):
        accepted, right = truth[before.run_date]
        table.append({"night_processed": before.run_date, "review_share": before.review_share,
                      "spot_check_precision": after.precision.as_json(),
                      "true_precision_vs_labels": wilson(right, accepted).as_json()})
    result = {"machine": cpu_machine(), "args": vars(args), "wall_seconds": round(time.monotonic() - started, 1),
              "nights": table}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "review_loop.json").write_text(json.dumps(result, indent=2))
    lines = ["# The nightly cycle with review (bench/review_loop.py)", "",
             f"Sample prints, {args.per_night} new a night, demo model, spot-check rate {args.spot_check_rate}; "
             "decisions simulated from the sample's labels. Machine: "
             f"{result['machine']['cpu']}, {result['machine']['cores_usable']} cores usable, finished "
             f"{result['machine']['finished']}; {result['wall_seconds']} s.", "",
             "| night | review share | precision of accepted, spot checks (95 % Wilson, n) "
             "| precision of accepted, all vs labels (n) |", "|---|---|---|---|"]
    for row in table:
        s, t = row["spot_check_precision"], row["true_precision_vs_labels"]
        spot = "—" if s["value"] is None else f"{s['value']:.3f} [{s['low']:.3f}, {s['high']:.3f}] ({s['n']})"
        share = "—" if row["review_share"] is None else f"{row['review_share']:.3f}"
        lines.append(f"| {row['night_processed']} | {share} | {spot} | "
                     f"{'—' if t['value'] is None else format(t['value'], '.3f')} ({t['n']}) |")
    (RESULTS / "review_loop.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
