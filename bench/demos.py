"""The two demo models side by side, through the job itself, in one run (issue 27, item 5).

Each model reads three labelled sets with ``pipeline.job.run`` — the synthetic held-out split
(seed 2: review thresholds were chosen on seed 1), ``data/eval/realistic/`` (measuring only)
and the bundled sample — and is scored with ``formats.evaluate.score``: per-field exact match,
description similarity, per-field accepted precision and review share (the job's own routing,
with the thresholds in force for that checkpoint), rows that ran to the token limit, and
records per second of the whole job (model loading and an adapter's merge included) on this
machine. ``--curve`` adds the learning curve of a LoRA run: the adapter of each of its resume
checkpoints on the realistic set, against the training examples it had seen.

    python -m bench.demos [--synthetic_n 100] [--realistic_n 0] [--sample_n 0] \\
        [--curve .cache/train/demo-smollm2/checkpoints] [--curve_n 60]

Writes ``bench/results/demos.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import cpu_machine
from bench.report import markdown_table, write_results
from formats.evaluate import score
from formats.review import REVIEWED_FIELDS
from formats.tags import FIELDS

REPO = Path(__file__).resolve().parents[1]
MODELS = ("data/models/demo-gptj", "data/models/demo-smollm2")
REALISTIC = (REPO / "data/eval/realistic/records.parquet", REPO / "data/eval/realistic/labels.parquet")
SAMPLE = (REPO / "data/sample/records.parquet", REPO / "data/sample/labels.parquet")
SYNTHETIC_SEED = 2
TARGETS = {"title": 0.55, "agency": 0.75, "photographer": 0.75, "date": 0.80, "description": 0.60}  # realistic


def first_rows(records: Path, labels: Path, n: int, folder: Path) -> tuple[Path, Path]:
    """The first ``n`` records of a set (all when ``n`` is 0) and their labels, as Parquet in ``folder``."""
    if not n:
        return records, labels
    table = pq.read_table(records).slice(0, n)
    ids = set(table.column("id").to_pylist())
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "records.parquet")
    label_rows = [row for row in pq.read_table(labels).to_pylist() if row["id"] in ids]
    pq.write_table(pa.Table.from_pylist(label_rows), folder / "labels.parquet")
    return folder / "records.parquet", folder / "labels.parquet"


def measure(model: str, records: Path, labels: Path, out: Path) -> dict[str, Any]:
    """One job run of ``model`` over ``records``, scored against ``labels``."""
    from pipeline.job import run

    started = time.perf_counter()
    manifest = run(["--input", str(records), "--output", str(out), "--model", model])
    seconds = time.perf_counter() - started
    predictions = pq.read_table(list((out / "records").glob("*.parquet"))).to_pylist()
    scores = score(predictions, pq.read_table(labels).to_pylist())
    calibration = scores["calibration"] or {"fields": {}, "records_review_share": None}
    line: dict[str, Any] = {"model": model, "model_version": manifest.model_version, "records": len(predictions)}
    line.update({f: _round(scores["exact_match"][f]) for f in FIELDS if f != "description"})
    line["description"] = _round(scores["description_similarity"])
    line["parse_failure"] = _round(scores["parse_failure_rate"])
    for f in REVIEWED_FIELDS:  # the calibration covers the exact-match fields
        figures = calibration["fields"].get(f, {})
        line[f"{f}_accepted_precision"] = _round(figures.get("accepted_precision"))
        line[f"{f}_review_share"] = _round(figures.get("review_share"))
    line["records_review_share"] = _round(calibration["records_review_share"])
    line["at_token_limit"] = sum("token_limit" in (row.get("review_reasons") or []) for row in predictions)
    in_force = manifest.extra.get("review_thresholds", {})  # field -> {"threshold", "from"}
    line["thresholds"] = ", ".join(f"{f} {t['threshold']} ({t['from']})" for f, t in in_force.items())
    line["seconds"] = round(seconds, 1)
    line["records_per_s"] = round(len(predictions) / seconds, 3)
    return line


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def learning_curve(checkpoints: Path, records: Path, labels: Path, folder: Path) -> list[dict[str, Any]]:
    """The realistic scores of the adapter in each resume checkpoint of a LoRA run, by examples seen."""
    points = []
    for step_dir in sorted(p for p in checkpoints.iterdir() if (p / "adapter" / "adapter_config.json").is_file()):
        saved = json.loads((step_dir / "progress.json").read_text())
        args = saved["args"]["train"]
        steps = saved["progress"]["step"]
        examples = steps * args["per_device_train_batch_size"] * args["gradient_accumulation_steps"]
        line = measure(str(step_dir / "adapter"), records, labels, folder / step_dir.name)
        points.append({"step": steps, "examples_seen": examples,
                       "train_minutes": round(saved["progress"]["train_seconds"] / 60, 1), **line})
    return points


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--synthetic_n", type=int, default=100, help="records of the synthetic held-out split")
    parser.add_argument("--realistic_n", type=int, default=0, help="first N realistic records (0: all)")
    parser.add_argument("--sample_n", type=int, default=0, help="first N sample records (0: all)")
    parser.add_argument("--curve", default=None, help="a LoRA run's checkpoint folder: its adapters' learning curve")
    parser.add_argument("--curve_n", type=int, default=0, help="first N realistic records for the curve (0: all)")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        from train.synthetic import write_split

        sets = {"synthetic held-out": write_split(folder / "synthetic", args.synthetic_n, seed=SYNTHETIC_SEED,
                                                  split="heldout"),
                "realistic": first_rows(*REALISTIC, args.realistic_n, folder / "realistic"),
                "sample": first_rows(*SAMPLE, args.sample_n, folder / "sample")}
        for name, (records, labels) in sets.items():
            for model in args.models:
                line = measure(model, records, labels, folder / "runs" / f"{Path(model).name}-{name.split()[0]}")
                rows.append({"set": name, **line})
                print(json.dumps(rows[-1]), flush=True)
        if args.curve:
            records, labels = first_rows(*REALISTIC, args.curve_n, folder / "curve")
            curve = learning_curve(Path(args.curve), records, labels, folder / "curve_runs")
    meta = {"synthetic": f"held-out split, seed {SYNTHETIC_SEED}, {args.synthetic_n} records",
            "realistic_n": args.realistic_n or "all", "sample_n": args.sample_n or "all",
            "curve_n": args.curve_n or "all", "targets_realistic": TARGETS, "machine": cpu_machine()}
    columns = ["set", "model", "records", "title", "agency", "photographer", "date", "description",
               "parse_failure", "at_token_limit", "records_review_share", "records_per_s"]
    trust = ["set", "model"] + [f"{f}_{kind}" for f in REVIEWED_FIELDS
                                for kind in ("accepted_precision", "review_share")]
    thresholds = [{"model": row["model"], "thresholds": row["thresholds"]} for row in rows if row["set"] == "sample"]
    text = (f"Both demos through the job, one run ({json.dumps(meta['machine'])}). Exact match per field, "
            f"description edit similarity; records/s of the whole job, model loading included.\n\n"
            + markdown_table(rows, columns)
            + "\n\nAccepted precision (values the job did not send to review, empty ones included) and review "
              "share, per field, with each checkpoint's thresholds in force:\n\n" + markdown_table(rows, trust)
            + "\n\nThresholds in force (and where each came from):\n\n"
            + markdown_table(thresholds, ["model", "thresholds"]))
    if curve:
        text += ("\n\nLearning curve of the SmolLM2 LoRA run on the realistic set (the adapter of each resume "
                 "checkpoint):\n\n" + markdown_table(curve, ["step", "examples_seen", "train_minutes", "title",
                                                              "agency", "photographer", "date", "description",
                                                              "at_token_limit", "records"]))
    write_results("demos", {"meta": meta, "rows": rows, "learning_curve": curve}, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
