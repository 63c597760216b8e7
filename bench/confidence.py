"""Which confidence separates right from wrong field values, and where to put the thresholds.

Runs the job's own prompt building and generation (with the loop guard) over a labelled set,
records for every reviewed field the candidate confidences (each ``formats.review.AGGREGATES``,
from the model's probabilities before the tag grammar and after it) and the OCR evidence,
then reports per field the AUROC of each candidate for right against wrong values, and, for
the chosen confidence, the precision of accepted values and the share sent to review at the
job's thresholds. ``--choose`` also picks per-field thresholds: the lowest one whose accepted
precision reaches ``--target`` (run it on the synthetic held-out split only; the realistic
set measures). Writes ``bench/results/confidence_<name>.{json,md}``.

    python -m bench.confidence --name synthetic --choose          # held-out split, seed 1, 400 records
    python -m bench.confidence --name realistic --records data/eval/realistic/records.parquet \
        --labels data/eval/realistic/labels.parquet
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Sequence

import pyarrow.parquet as pq
import torch
from scipy.stats import mannwhitneyu

from bench.common import cpu_machine, prompted
from bench.report import markdown_table, write_results
from formats.evaluate import normalise_text
from formats.evidence import find_evidence
from formats.parse import parse_completion
from formats.review import (AGGREGATE, AGGREGATES, DEFAULT_THRESHOLDS, NOT_IN_OCR_FACTOR, REVIEWED_FIELDS, ReviewConfig,
                            ReviewInput, route, skip_probability)
from model.checkpoint import model_version, read_metadata, resolve_checkpoint
from model.generation import generate_batch
from model.loading import load_model, load_tokenizer

MODES = ("model", "decoded")  # probabilities before / after the tag grammar
BATCH = 32
EVIDENCE_GRID = (70, 80, 85, 90, 95, 100)
ALL_BUT_LOW_CONFIDENCE = ReviewConfig(thresholds=dict.fromkeys(REVIEWED_FIELDS, 0.0))  # every other reason
GRID = [i / 100 for i in range(0, 100)] + [0.995, 0.999]


def auroc(right: Sequence[float], wrong: Sequence[float]) -> float | None:
    """P(a right value scores higher than a wrong one), ties counting half (Mann-Whitney U / n1 n2)."""
    if not right or not wrong:
        return None
    return round(float(mannwhitneyu(right, wrong).statistic) / (len(right) * len(wrong)), 4)


def collect(records, labels: dict, model, tokenizer, max_new_tokens: int) -> tuple[list[dict], dict]:
    """One row per (record, reviewed field) with every candidate confidence, and generation totals."""
    ordered = sorted(records, key=lambda r: len(r.input_ids))
    by_mode = {}
    totals = {}
    for mode in MODES:
        start, out = time.perf_counter(), {}
        for i in range(0, len(ordered), BATCH):
            batch = ordered[i:i + BATCH]
            gens = generate_batch(model, tokenizer, [r.input_ids for r in batch], max_new_tokens, probabilities=mode)
            out.update({r.id: g for r, g in zip(batch, gens)})
        by_mode[mode] = out
        totals[mode] = {"seconds": round(time.perf_counter() - start, 2),
                        "generated_tokens": sum(g.output_tokens for g in out.values()),
                        "looped": sum(g.looped for g in out.values()),
                        "hit_limit": sum(g.hit_limit for g in out.values())}
    rows = []
    for record in records:
        generation = by_mode["model"][record.id]
        assert by_mode["decoded"][record.id] == generation  # the mode changes probabilities, not outputs
        parsed = parse_completion(generation.text, record.language, generation.hit_limit)
        values = {name: getattr(parsed, name) for name in REVIEWED_FIELDS}
        item = ReviewInput(values, parsed.date_iso, generation.fields, record.back_lines, record.front_lines,
                           parsed.status, record.truncated, generation.looped, generation.hit_limit)
        review = route(item, ALL_BUT_LOW_CONFIDENCE)
        for name in REVIEWED_FIELDS:
            label = labels[record.id].get(name) or ""
            row = {"id": record.id, "field": name, "value": values[name], "label": label,
                   "right": normalise_text(values[name]) == normalise_text(label),
                   "source": review.trust[name].source, "confidence": review.trust[name].confidence,
                   "skip": skip_probability(name, generation.fields) if not values[name] else None,
                   "other_reasons": name in review.review_fields,
                   "looped": generation.looped, "hit_limit": generation.hit_limit}
            for threshold in EVIDENCE_GRID:
                found = find_evidence(name, values[name], record.back_lines, record.front_lines, threshold)
                row[f"found@{threshold}"] = bool(found.source)
            for mode in MODES:
                tokens = {t.field: t for t in by_mode[mode][record.id].fields}.get(name)
                for aggregate, function in AGGREGATES.items():
                    row[f"{mode}:{aggregate}"] = function(tokens) if tokens is not None else None
            rows.append(row)
    return rows, totals


def separation(rows: list[dict]) -> list[dict]:
    """AUROC per field of every candidate, over the fields the model wrote (empty ones too: they are routed),
    and of ``skip_probability`` over the fields it left out (``skip``)."""
    table = []
    candidates = [f"{mode}:{aggregate}" for mode in MODES for aggregate in AGGREGATES]
    for name in REVIEWED_FIELDS:
        values = [r for r in rows if r["field"] == name and r[candidates[0]] is not None]
        line = {"field": name, "written": len(values), "empty": sum(not r["value"] for r in values),
                "wrong": sum(not r["right"] for r in values)}
        for candidate in candidates:
            line[candidate] = auroc([r[candidate] for r in values if r["right"]],
                                    [r[candidate] for r in values if not r["right"]])
        line["job"] = auroc([r["confidence"] for r in values if r["right"]],
                            [r["confidence"] for r in values if not r["right"]])
        left_out = [r for r in rows if r["field"] == name and r["confidence"] is None and r["skip"] is not None]
        line.update(left_out=len(left_out), left_out_wrong=sum(not r["right"] for r in left_out),
                    skip=auroc([r["skip"] for r in left_out if r["right"]], [r["skip"] for r in left_out if not r["right"]]))
        written = [r for r in values if r["value"]]
        for threshold in EVIDENCE_GRID:  # right values found / wrong values not found, at each threshold
            line[f"evidence@{threshold}"] = (f"{sum(r[f'found@{threshold}'] for r in written if r['right'])}/"
                                             f"{sum(not r[f'found@{threshold}'] for r in written if not r['right'])}")
        table.append(line)
    return table


def accepted(rows: list[dict], name: str, threshold: float) -> tuple[list[dict], int, int]:
    """(the accepted fields, fields sent to review, fields) at ``threshold``, as ``route`` decides.

    Accepted: not sent to review by any reason, an empty value included (the catalogue takes
    "no agency" on trust too, like ``python -m pipeline evaluate``). A field goes to review below
    the threshold: by its confidence, or when the model left it out, by the token that skipped it.
    """
    field_rows = [r for r in rows if r["field"] == name]
    kept = []
    for r in field_rows:
        sure = r["confidence"] if r["confidence"] is not None else r["skip"]
        if not (r["other_reasons"] or (sure is not None and sure < threshold)):
            kept.append(r)
    return kept, len(field_rows) - len(kept), len(field_rows)


def _precision(rows: list[dict]) -> float | None:
    return round(sum(r["right"] for r in rows) / len(rows), 4) if rows else None


def trust_table(rows: list[dict], thresholds: dict[str, float]) -> list[dict]:
    table = []
    for name in REVIEWED_FIELDS:
        kept, reviewed, fields = accepted(rows, name, thresholds[name])
        values = [r for r in rows if r["field"] == name and r["value"]]
        table.append({"field": name, "threshold": thresholds[name], "non_empty_values": len(values),
                      "wrong_values": sum(not r["right"] for r in values), "accepted": len(kept),
                      "accepted_precision": _precision(kept),
                      "accepted_nonempty_precision": _precision([r for r in kept if r["value"]]),
                      "review_share": round(reviewed / fields, 4) if fields else None,
                      "exact_match": round(sum(r["right"] for r in rows if r["field"] == name) / fields, 4)})
    return table


def choose(rows: list[dict], target: float, floor: float) -> dict[str, float]:
    """Per field, the lowest threshold from ``floor`` up whose accepted values (non-empty) reach ``target``.

    Non-empty: where the model writes a field empty it is mostly sure of it (the tag and the
    token closing it), wrong or not, so counting empties would raise every threshold, sending
    more values to review, without catching those empties.
    """
    chosen = {}
    for name in REVIEWED_FIELDS:
        for threshold in (t for t in GRID if t >= floor):
            kept = [r for r in accepted(rows, name, threshold)[0] if r["value"]]
            if not kept or _precision(kept) >= target:
                chosen[name] = threshold
                break
        else:
            chosen[name] = GRID[-1]
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--records", default=None, help="records Parquet (default: the synthetic held-out split)")
    parser.add_argument("--labels", default=None)
    parser.add_argument("--n", type=int, default=400, help="synthetic held-out records (seed 1)")
    parser.add_argument("--name", default="synthetic")
    parser.add_argument("--choose", action="store_true", help="pick thresholds reaching --target on this set")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--floor", type=float, default=0.5,
                        help="lowest threshold considered: below 0.5 the model put more weight on other "
                             "tokens than on one it wrote")
    parser.add_argument("--torch_threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint)["max_new_tokens"]
    model, tokenizer = load_model(checkpoint, "cpu"), load_tokenizer(checkpoint)
    with tempfile.TemporaryDirectory() as folder:
        if args.records is None:
            from train.synthetic import write_split
            records_path, labels_path = write_split(folder, args.n, seed=1, split="heldout")
        else:
            records_path, labels_path = Path(args.records), Path(args.labels)
        labels = {row["id"]: row for row in pq.read_table(labels_path).to_pylist()}
        records = prompted(records_path, checkpoint, model.config.n_positions - max_new_tokens)
    rows, totals = collect(records, labels, model, tokenizer, max_new_tokens)
    thresholds = choose(rows, args.target, args.floor) if args.choose else DEFAULT_THRESHOLDS
    results = {"meta": {"model": args.model, "model_version": model_version(checkpoint), "records": len(records),
                        "set": args.name, "aggregate": AGGREGATE, "target": args.target if args.choose else None,
                        "floor": args.floor if args.choose else None,
                        "machine": cpu_machine()},
               "generation": totals, "separation": separation(rows), "trust": trust_table(rows, thresholds),
               "thresholds": thresholds}
    separation_columns = ["field", "written", "empty", "wrong"] + [f"{m}:{a}" for m in MODES for a in AGGREGATES] + [
        "job", "left_out", "left_out_wrong", "skip"] + [f"evidence@{t}" for t in EVIDENCE_GRID]
    text = (f"Confidence on the {args.name} set ({len(records)} records, {args.model}). AUROC of each candidate "
            f"for right vs wrong fields the model wrote, empty ones included (model: probabilities before the tag grammar; decoded: after; "
            f"job: the confidence the job writes, {AGGREGATE} × {NOT_IN_OCR_FACTOR} when the value is not in the "
            f"OCR). skip: AUROC of skip_probability over the fields the model left out (left_out; left_out_wrong of them should have been written). "
            f"evidence@T: right non-empty values found / wrong ones not found in the OCR at rapidfuzz threshold T."
            f"\n\n" + markdown_table(results["separation"], separation_columns)
            + f"\n\nAt thresholds {json.dumps(thresholds)} on the job's confidence, with every other review reason "
              f"(accepted: fields not sent to review, empty ones included; review_share: of all records):\n\n"
            + markdown_table(results["trust"], list(results["trust"][0]))
            + f"\n\nGeneration: {json.dumps(totals)}\n")
    write_results(f"confidence_{args.name}", {**results, "values": rows}, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
