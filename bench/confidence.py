"""Which confidence separates right from wrong field values, and where to put the thresholds.

Runs the job's own prompt building and generation (with the loop guard) over a labelled set,
records for every reviewed field the candidate confidences (each ``formats.review.AGGREGATES``,
from the model's probabilities before the tag grammar and after it) and the OCR evidence,
then reports per field the AUROC of each candidate for right against wrong values, and, for
the chosen confidence, the precision of accepted values (empty ones counted, with a 95 % Wilson
interval) and the share sent to review at the thresholds. The description is reported the same
way, "right" meaning an edit similarity to its label of at least ``SOUND``.

Thresholds are chosen on one synthetic split and reported on another: ``--choose`` picks per
field the lowest threshold whose accepted precision (empty fields counted) reaches ``--target``
on the held-out split of seed ``--choose_seed``, and the figures that count are those on seed
``--seed``, which the choice never saw (both are written). The realistic set only measures,
at the thresholds the job runs the checkpoint with (its ``backstamp.json``'s, else the built-in
defaults). A last table gives the ceiling: the least review at which any threshold would reach
issue 24's bars on the reported records themselves — whether thresholds alone could meet them
with this model, never a threshold to use. Writes ``bench/results/confidence_<name>.{json,md}``.

    python -m bench.confidence --name synthetic --choose   # chosen on seed 1 (800), reported on seed 2 (400)
    python -m bench.confidence --name realistic --records data/eval/realistic/records.parquet \
        --labels data/eval/realistic/labels.parquet
    python -m bench.confidence --name realistic_smollm2 --model data/models/demo-smollm2 --records ... --labels ...
"""
from __future__ import annotations

import argparse
import json
import pickle
import tempfile
import time
from pathlib import Path
from typing import Sequence

import pyarrow.parquet as pq
import torch
from scipy.stats import binomtest, mannwhitneyu

from bench.common import cpu_machine, job_prompt_budget, prompted
from bench.report import markdown_table, write_results
from formats.evaluate import edit_similarity, normalise_text
from formats.evidence import find_evidence
from formats.parse import parse_completion
from formats.review import (AGGREGATE, AGGREGATES, DEFAULT_THRESHOLDS, DESCRIPTION, NOT_IN_OCR_FACTOR, REVIEWED_FIELDS,
                            THRESHOLD_FIELDS, ReviewConfig, ReviewInput, route, skip_probability)
from formats.thresholds import read_document, resolve
from model.checkpoint import model_version, read_metadata, resolve_checkpoint
from model.generation import generate_batch
from model.loading import load_model, load_tokenizer

MODES = ("model", "decoded")  # probabilities before / after the tag grammar
BATCH = 32
EVIDENCE_GRID = (70, 80, 85, 90, 95, 100)
ALL_BUT_LOW_CONFIDENCE = ReviewConfig(thresholds=dict.fromkeys(THRESHOLD_FIELDS, 0.0))  # every other reason
GRID = [i / 100 for i in range(0, 100)] + [0.995, 0.999]
SOUND = 0.8  # a description this close to its label (normalised edit similarity) counts as right
CEILING_TARGETS = (0.93, 0.98)  # issue 24's bars (realistic, synthetic): could any threshold reach them at all?


def auroc(right: Sequence[float], wrong: Sequence[float]) -> float | None:
    """P(a right value scores higher than a wrong one), ties counting half (Mann-Whitney U / n1 n2)."""
    if not right or not wrong:
        return None
    return round(float(mannwhitneyu(right, wrong).statistic) / (len(right) * len(wrong)), 4)


def generate(records, model, tokenizer, max_new_tokens: int) -> tuple[dict, dict]:
    """Per mode (``MODES``) the generation of each record id, and the generation totals."""
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
    return by_mode, totals


def collect(records, labels: dict, by_mode: dict) -> list[dict]:
    """One row per (record, field with a threshold) with every candidate confidence."""
    rows = []
    for record in records:
        generation = by_mode["model"][record.id]
        assert by_mode["decoded"][record.id] == generation  # the mode changes probabilities, not outputs
        parsed = parse_completion(generation.text, record.language, generation.hit_limit)
        values = {name: getattr(parsed, name) for name in THRESHOLD_FIELDS}
        item = ReviewInput(values, parsed.date_iso, generation.fields, record.back_lines, record.front_lines,
                           parsed.status, record.truncated, generation.looped, generation.hit_limit)
        review = route(item, ALL_BUT_LOW_CONFIDENCE)
        label = labels[record.id]
        similarity = edit_similarity(normalise_text(values[DESCRIPTION]), normalise_text(label.get(DESCRIPTION)))
        rows.append({"id": record.id, "field": DESCRIPTION, "value": values[DESCRIPTION],
                     "label": label.get(DESCRIPTION) or "", "similarity": round(similarity, 4),
                     "right": similarity >= SOUND, "confidence": review.description_confidence, "skip": None,
                     "other_reasons": DESCRIPTION in review.review_fields, "reasons": [],
                     "looped": generation.looped, "hit_limit": generation.hit_limit})
        for name in REVIEWED_FIELDS:
            expected = label.get(name) or ""
            row = {"id": record.id, "field": name, "value": values[name], "label": expected,
                   "right": normalise_text(values[name]) == normalise_text(expected),
                   "source": review.trust[name].source, "confidence": review.trust[name].confidence,
                   "skip": skip_probability(name, generation.fields) if not values[name] else None,
                   "other_reasons": name in review.review_fields,
                   "reasons": [r for r in review.review_reasons if r.endswith(f":{name}")],
                   "looped": generation.looped, "hit_limit": generation.hit_limit}
            for threshold in EVIDENCE_GRID:
                found = find_evidence(name, values[name], record.back_lines, record.front_lines, threshold)
                row[f"found@{threshold}"] = bool(found.source)
            for mode in MODES:
                tokens = {t.field: t for t in by_mode[mode][record.id].fields}.get(name)
                for aggregate, function in AGGREGATES.items():
                    row[f"{mode}:{aggregate}"] = function(tokens) if tokens is not None else None
            rows.append(row)
    return rows


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
    described = [r for r in rows if r["field"] == DESCRIPTION and r["confidence"] is not None]
    table.append({"field": DESCRIPTION, "written": len(described), "wrong": sum(not r["right"] for r in described),
                  "job": auroc([r["confidence"] for r in described if r["right"]],
                               [r["confidence"] for r in described if not r["right"]])})
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


def wilson(right: int, n: int) -> list[float] | None:
    """The 95 % Wilson score interval of a proportion ``right / n`` (scipy), None when ``n`` is 0."""
    if not n:
        return None
    interval = binomtest(right, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [round(float(interval.low), 4), round(float(interval.high), 4)]


def trust_table(rows: list[dict], thresholds: dict[str, float]) -> list[dict]:
    """Per field with a threshold: accepted precision (empty fields counted) with its Wilson interval,
    the share sent to review, and which reasons sent them; a last row averages the four reviewed fields."""
    table = []
    for name in THRESHOLD_FIELDS:
        kept, reviewed, fields = accepted(rows, name, thresholds[name])
        values = [r for r in rows if r["field"] == name and r["value"]]
        reasons: dict[str, int] = {}
        for r in rows:
            if r["field"] == name:
                for code in r["reasons"]:
                    reasons[code.split(":")[0]] = reasons.get(code.split(":")[0], 0) + 1
        table.append({"field": name, "threshold": thresholds[name], "non_empty_values": len(values),
                      "wrong_values": sum(not r["right"] for r in values), "accepted": len(kept),
                      "accepted_precision": _precision(kept),
                      "accepted_precision_95ci": wilson(sum(r["right"] for r in kept), len(kept)),
                      "accepted_nonempty_precision": _precision([r for r in kept if r["value"]]),
                      "review_share": round(reviewed / fields, 4) if fields else None,
                      "exact_match": round(sum(r["right"] for r in rows if r["field"] == name) / fields, 4)
                      if fields else None,
                      "reasons": json.dumps(dict(sorted(reasons.items())))})
    shares = [line["review_share"] for line in table if line["field"] in REVIEWED_FIELDS]
    table.append({"field": "four fields: review share mean, accepted precision lowest",
                  "review_share": round(sum(shares) / len(shares), 4),
                  "accepted_precision": min(line["accepted_precision"] or 0 for line in table
                                            if line["field"] in REVIEWED_FIELDS)})
    return table


def choose(rows: list[dict], target: float, floor: float, description_target: float) -> dict[str, float]:
    """Per field, the lowest threshold from ``floor`` up whose accepted values, empty ones counted,
    reach ``target`` (``description_target`` for the description): the catalogue takes an empty
    field on trust like any other."""
    chosen = {}
    for name in THRESHOLD_FIELDS:
        goal = description_target if name == DESCRIPTION else target
        for threshold in (t for t in GRID if t >= floor):
            kept = accepted(rows, name, threshold)[0]
            if not kept or _precision(kept) >= goal:
                chosen[name] = threshold
                break
        else:
            chosen[name] = GRID[-1]
    return chosen


def ceiling(rows: list[dict], target: float) -> list[dict]:
    """Per reviewed field, the least share sent to review at which any one threshold on the job's
    confidence reaches ``target`` accepted precision (empty fields counted, every other reason kept) on
    ``rows`` themselves; a last row averages the four, None when one of them never reaches it.

    A ceiling for this model and these rules on this set, not a result: the threshold is picked on
    the very fields it is measured on. It says whether thresholds alone could meet a target here.
    """
    table = []
    for name in REVIEWED_FIELDS:
        sures = sorted({r["confidence"] if r["confidence"] is not None else r["skip"] for r in rows
                        if r["field"] == name} - {None})
        line = {"target": target, "field": name, "least_review_share": None, "threshold": None, "accepted": 0, "accepted_precision": None}
        for threshold in (0.0, *sures):  # the lowest threshold that reaches the target reviews the least
            kept, reviewed, fields = accepted(rows, name, threshold)
            if kept and _precision(kept) >= target:
                line.update(least_review_share=round(reviewed / fields, 4), threshold=round(threshold, 4),
                            accepted=len(kept), accepted_precision=_precision(kept))
                break
        table.append(line)
    shares = [line["least_review_share"] for line in table]
    table.append({"target": target, "field": "four fields: review share mean",
                  "least_review_share": None if None in shares else round(sum(shares) / len(shares), 4)})
    return table


def measure(records, labels: dict, model, tokenizer, max_new_tokens: int, cache: Path | None) -> tuple[list[dict], dict]:
    """``collect``'s rows of a set; generations are read from / written to ``cache`` when given, so
    that a change of the routing rules is measured again without generating again."""
    if cache is not None and cache.exists():
        by_mode, totals = pickle.loads(cache.read_bytes())
    else:
        by_mode, totals = generate(records, model, tokenizer, max_new_tokens)
        if cache is not None:
            cache.write_bytes(pickle.dumps((by_mode, totals)))
    return collect(records, labels, by_mode), totals


def labelled_set(args, seed: int, n: int, checkpoint, budget: int) -> tuple[list, dict]:
    """The prompted records and labels of ``--records``/``--labels``, or of the synthetic held-out split ``seed``."""
    with tempfile.TemporaryDirectory() as folder:
        if args.records is None:
            from train.synthetic import write_split
            records_path, labels_path = write_split(folder, n, seed=seed, split="heldout")
        else:
            records_path, labels_path = Path(args.records), Path(args.labels)
        labels = {row["id"]: row for row in pq.read_table(labels_path).to_pylist()}
        return prompted(records_path, checkpoint, budget), labels


def report(name: str, rows: list[dict], thresholds: dict[str, float], records: int, model: str) -> str:
    separation_columns = ["field", "written", "empty", "wrong"] + [f"{m}:{a}" for m in MODES for a in AGGREGATES] + [
        "job", "left_out", "left_out_wrong", "skip"] + [f"evidence@{t}" for t in EVIDENCE_GRID]
    trust = trust_table(rows, thresholds)
    return (f"### {name} ({records} records, {model})\n\nAUROC of each candidate for right vs wrong fields the model "
            f"wrote, empty ones included (model: probabilities before the tag grammar; decoded: after; job: the "
            f"confidence the job writes, {AGGREGATE} × {NOT_IN_OCR_FACTOR} when the value is not in the OCR or only "
            f"in a line of the wrong kind). skip: AUROC of skip_probability over the fields the model left out "
            f"(left_out; left_out_wrong of them should have been written). evidence@T: right non-empty values found / "
            f"wrong ones not found in the OCR at rapidfuzz threshold T (digits exact).\n\n"
            + markdown_table(separation(rows), separation_columns)
            + f"\n\nAt thresholds {json.dumps(thresholds)} on the job's confidence, with every other review reason "
              f"(accepted: fields not sent to review, empty ones included, 95 % Wilson interval; review_share: of all "
              f"records; reasons: fields with each reason, thresholds aside; description right = edit similarity "
              f"≥ {SOUND}):\n\n" + markdown_table(trust, list(trust[0]))
            + "\n\nCeiling, not a result: the least review share at which any threshold reaches accepted precision "
              "≥ target on these records themselves (every other reason kept; empty: no threshold does):\n\n"
            + markdown_table([line for target in CEILING_TARGETS for line in ceiling(rows, target)],
                             ["target", "field", "least_review_share", "threshold", "accepted", "accepted_precision"]))


def in_force(checkpoint: str) -> dict[str, float]:
    """The thresholds the job runs this checkpoint with when no option or file is given: those its
    ``backstamp.json`` carries (chosen when it was trained), else the built-in defaults."""
    review = read_metadata(checkpoint).get("review")
    carried = read_document(review, f"{checkpoint}/backstamp.json review") if review is not None else None
    return {name: chosen.threshold for name, chosen in resolve(DEFAULT_THRESHOLDS, {}, None, carried).items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--records", default=None, help="records Parquet (default: synthetic held-out splits)")
    parser.add_argument("--labels", default=None)
    parser.add_argument("--n", type=int, default=400, help="records of the synthetic held-out split reported on")
    parser.add_argument("--choose_n", type=int, default=800, help="records of the split --choose picks thresholds on")
    parser.add_argument("--seed", type=int, default=2, help="the synthetic split the figures are reported on")
    parser.add_argument("--choose_seed", type=int, default=1, help="the synthetic split --choose picks thresholds on")
    parser.add_argument("--name", default="synthetic")
    parser.add_argument("--choose", action="store_true",
                        help="pick thresholds reaching --target on the --choose_seed split (synthetic only)")
    parser.add_argument("--target", type=float, default=0.99,
                        help="accepted precision, empty fields counted, that --choose aims at on its split")
    parser.add_argument("--description_target", type=float, default=0.95,
                        help=f"share of accepted descriptions within edit similarity {SOUND} of their label: a "
                             "rewritten sentence is judged looser than a copied field")
    parser.add_argument("--floor", type=float, default=0.5,
                        help="lowest threshold considered: below 0.5 the model put more weight on other "
                             "tokens than on one it wrote")
    parser.add_argument("--cache", default=None, help="folder to keep generations in between runs (optional)")
    parser.add_argument("--torch_threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.choose and args.records is not None:
        parser.error("--choose picks thresholds on a synthetic split; a given set only measures")
    torch.set_num_threads(args.torch_threads)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint)["max_new_tokens"]
    model, tokenizer = load_model(checkpoint, "cpu"), load_tokenizer(checkpoint)
    budget = job_prompt_budget(checkpoint, max_new_tokens)
    cache = Path(args.cache) if args.cache else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)

    def rows_of(seed: int, n: int, label: str) -> tuple[list, list[dict], dict]:
        records, labels = labelled_set(args, seed, n, checkpoint, budget)
        rows, totals = measure(records, labels, model, tokenizer, max_new_tokens,
                               cache / f"{args.name}-{label}-{seed}-{n}.pickle" if cache else None)
        return records, rows, totals

    meta = {"model": args.model, "model_version": model_version(checkpoint), "set": args.name, "aggregate": AGGREGATE,
            "sound_description": SOUND, "machine": cpu_machine()}
    sections, results = [], {"meta": meta}
    thresholds = in_force(checkpoint)
    if args.choose:
        records, rows, totals = rows_of(args.choose_seed, args.choose_n, "choose")
        thresholds = choose(rows, args.target, args.floor, args.description_target)
        meta.update(target=args.target, description_target=args.description_target, floor=args.floor,
                    chosen_on=f"synthetic held-out split, seed {args.choose_seed}, {len(records)} records")
        sections.append(report(f"Chosen on: synthetic held-out seed {args.choose_seed} (in-sample, for reference)",
                               rows, thresholds, len(records), args.model))
        results["chosen_on"] = {"generation": totals, "trust": trust_table(rows, thresholds)}
    label = "synthetic held-out seed %d (thresholds not chosen on it)" % args.seed if args.records is None else args.name
    records, rows, totals = rows_of(args.seed, args.n, "report")
    sections.append(report(f"Reported on: {label}", rows, thresholds, len(records), args.model))
    meta.update(records=len(records), reported_on=label)
    results.update(generation=totals, separation=separation(rows), trust=trust_table(rows, thresholds),
                   thresholds=thresholds,
                   ceiling=[line for target in CEILING_TARGETS for line in ceiling(rows, target)])
    text = (f"Confidence on the {args.name} set; thresholds {json.dumps(thresholds)}"
            + (f", chosen on {meta['chosen_on']} for accepted precision ≥ {args.target}" if args.choose else
               " (those the job runs this checkpoint with: its backstamp.json's, else the built-in defaults)")
            + ".\n\n" + "\n\n".join(sections)
            + f"\n\nGeneration: {json.dumps(totals)}\n")
    write_results(f"confidence_{args.name}", {**results, "values": rows}, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
