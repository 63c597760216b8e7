"""Per-field scores of predictions against labels (SPEC §7), as a table and as JSON.

``python -m pipeline evaluate --predictions GLOB --labels GLOB [--json PATH] [--plot PATH]``

Predictions and labels are joined on ``id``. Every labelled record counts: one with no
prediction scores 0 on every field and counts as a parse failure, so a run that drops
rows cannot look better than one that keeps them. Predictions without a label are only
counted. Within each side the first row of an id wins.

When the predictions carry the SPEC §5b review columns, ``calibration`` says how far the
job's trust can be trusted, per field: the precision of the values it accepted (not in
``review_fields``) with its 95 % Wilson interval, the share it sent to review, the AUROC of
``<field>_confidence`` for right against wrong values, and reliability bins (confidence
against accuracy) for the plot that ``formats.plots`` draws. A labelled record without a
prediction counts there too, as the worst case: a wrong value that was accepted, at confidence
1.0 (nothing flagged it, and the catalogue has nothing right for it), so a run that drops its
hardest rows cannot look better in any figure. The numbers here are pure; only ``main`` does I/O.
"""
from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from typing import Any, Iterable, Mapping, Sequence

import fsspec
import numpy as np
import pyarrow.parquet as pq
from scipy.stats import binomtest, mannwhitneyu

from formats.parse import OK

EXACT_FIELDS = ("title", "agency", "photographer", "date")
LABEL_COLUMNS = ("id", "description", "title", "agency", "photographer", "date")
REVIEW_COLUMNS = tuple(f"{field}_confidence" for field in EXACT_FIELDS) + ("review_fields", "needs_review")
PREDICTION_COLUMNS = LABEL_COLUMNS + ("parse_status",) + REVIEW_COLUMNS
RELIABILITY_BINS = 10


def normalise_text(text: str | None) -> str:
    """Case-folded, white space collapsed, surrounding punctuation stripped; accents kept.

    NFC first, so a composed and a decomposed "é" compare equal; accents themselves are
    significant in names and titles, so they are not stripped.
    """
    text = " ".join(unicodedata.normalize("NFC", text or "").casefold().split())
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_edge(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute), one DP row at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def edit_similarity(a: str, b: str) -> float:
    """1 - distance / length of the longer string; two empty strings are identical (1.0)."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def _by_id(rows: Iterable[Mapping[str, Any]]) -> dict[Any, Mapping[str, Any]]:
    indexed: dict[Any, Mapping[str, Any]] = {}
    for row in rows:
        indexed.setdefault(row.get("id"), row)
    return indexed


def score(predictions: list[dict], labels: list[dict]) -> dict:
    """Scores over the labelled records (rates are None when there is no label)."""
    predicted = _by_id(predictions)
    labelled = _by_id(labels)
    exact = dict.fromkeys(EXACT_FIELDS, 0)
    similarity = 0.0
    failures = matched = 0
    pairs: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
    for record_id, label in labelled.items():
        prediction = predicted.get(record_id)
        if prediction is None:
            failures += 1
            continue
        matched += 1
        pairs.append((prediction, label))
        for field in EXACT_FIELDS:
            exact[field] += normalise_text(prediction.get(field)) == normalise_text(label.get(field))
        similarity += edit_similarity(normalise_text(prediction.get("description")),
                                      normalise_text(label.get("description")))
        failures += prediction.get("parse_status") != OK
    n = len(labelled)

    def rate(count: float) -> float | None:
        return count / n if n else None

    return {
        "n_labels": n,
        "n_predictions": len(predicted),
        "n_matched": matched,
        "n_missing": n - matched,
        "n_unlabelled": sum(record_id not in labelled for record_id in predicted),
        "exact_match": {field: rate(exact[field]) for field in EXACT_FIELDS},
        "description_similarity": rate(similarity),
        "parse_failure_rate": rate(failures),
        "calibration": calibration(pairs, missing=n - matched),
    }


def is_right(prediction: Mapping[str, Any], label: Mapping[str, Any], field: str) -> bool:
    """The field's value equals the label's after ``normalise_text`` (an empty value is right for an empty label)."""
    return normalise_text(prediction.get(field)) == normalise_text(label.get(field))


def calibration(pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], missing: int = 0) -> dict | None:
    """Per-field trust figures over (prediction, label) pairs whose prediction has SPEC §5b columns,
    and ``missing`` labelled records without a prediction (the module doc: each an accepted wrong
    value at confidence 1.0).

    None when no prediction has them (output of a job from before §5b), so old predictions
    score as before. Per field:
    ``accepted_precision``: right among the values the job vouched for (field not in
    ``review_fields``), an empty value included, since the catalogue takes "no agency" on
    trust too, with ``accepted_precision_95ci`` its Wilson interval; ``accepted_nonempty_precision``
    the same over non-empty values only; ``review_share``: share of records whose field went to
    review; ``auroc``: probability that a right value has a higher confidence than a wrong one,
    over values with a confidence (None unless both kinds occur); ``reliability``: confidence bins
    against accuracy, and ``ece`` their weighted gap.
    """
    reviewed = [(p, label) for p, label in pairs if p.get("review_fields") is not None]
    if not reviewed:
        return None
    n = len(reviewed) + missing
    fields = {}
    for field in EXACT_FIELDS:
        accepted_right = nonempty_right = nonempty = sent = 0
        accepted = missing
        confidences: list[float] = [1.0] * missing
        correct: list[bool] = [False] * missing
        for prediction, label in reviewed:
            right = is_right(prediction, label, field)
            if field in prediction["review_fields"]:
                sent += 1
            else:
                accepted += 1
                accepted_right += right
                if normalise_text(prediction.get(field)):
                    nonempty += 1
                    nonempty_right += right
            confidence = prediction.get(f"{field}_confidence")
            if confidence is not None and not np.isnan(confidence):
                confidences.append(float(confidence))
                correct.append(right)
        bins = reliability_bins(confidences, correct)
        fields[field] = {
            "n": n,
            "n_missing": missing,
            "n_accepted": accepted,
            "n_review": sent,
            "review_share": sent / n,
            "accepted_precision": accepted_right / accepted if accepted else None,
            "accepted_precision_95ci": wilson_interval(accepted_right, accepted),
            "accepted_nonempty_precision": nonempty_right / nonempty if nonempty else None,
            "n_with_confidence": len(confidences),
            "n_right": sum(correct),
            "n_wrong": len(correct) - sum(correct),
            "auroc": auroc([c for c, r in zip(confidences, correct) if r],
                           [c for c, r in zip(confidences, correct) if not r]),
            "ece": expected_calibration_error(bins),
            "reliability": bins,
        }
    return {
        "n_records": n,
        "n_missing": missing,
        "records_review_share": sum(bool(p.get("needs_review")) for p, _ in reviewed) / n,
        "fields": fields,
    }


def wilson_interval(right: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of the proportion ``right / n`` (scipy); None when ``n`` is 0.

    Wilson rather than the normal approximation: accepted precision sits near 1, where the
    normal interval runs past 1 and is too narrow on the few hundred fields of an evaluation."""
    if not n:
        return None
    interval = binomtest(right, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def auroc(right: Sequence[float], wrong: Sequence[float]) -> float | None:
    """Area under the ROC curve of confidence separating right from wrong values (ties count half).

    The Mann-Whitney U of the right values divided by the number of (right, wrong) pairs;
    None when either group is empty, where the area is undefined.
    """
    if not right or not wrong:
        return None
    statistic = mannwhitneyu(right, wrong, alternative="two-sided", method="asymptotic").statistic
    return float(statistic) / (len(right) * len(wrong))


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool],
                     bins: int = RELIABILITY_BINS) -> list[dict]:
    """Equal-width confidence bins over [0, 1]: count, mean confidence and accuracy (None when empty).

    A confidence of exactly 1.0 falls in the last bin.
    """
    values = np.asarray(confidences, dtype=float)
    hits = np.asarray(correct, dtype=float)
    index = np.minimum((values * bins).astype(int), bins - 1) if values.size else values.astype(int)
    rows = []
    for b in range(bins):
        members = index == b
        n = int(members.sum())
        rows.append({"lower": b / bins, "upper": (b + 1) / bins, "n": n,
                     "mean_confidence": float(values[members].mean()) if n else None,
                     "accuracy": float(hits[members].mean()) if n else None})
    return rows


def expected_calibration_error(bins: Sequence[Mapping[str, Any]]) -> float | None:
    """Mean |accuracy - confidence| over the bins, weighted by their counts; None without values."""
    total = sum(b["n"] for b in bins)
    if not total:
        return None
    return sum(b["n"] * abs(b["accuracy"] - b["mean_confidence"]) for b in bins if b["n"]) / total


def format_table(scores: Mapping[str, Any]) -> str:
    """A plain-text table of ``score``'s result."""
    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    rows = [(f"{field} (exact match)", cell(scores["exact_match"][field])) for field in EXACT_FIELDS]
    rows.append(("description (edit similarity)", cell(scores["description_similarity"])))
    rows.append(("parse failure rate", cell(scores["parse_failure_rate"])))
    width = max(len(name) for name, _ in rows)
    lines = [f"{'metric'.ljust(width)}  score", f"{'-' * width}  -----"]
    lines += [f"{name.ljust(width)}  {value}" for name, value in rows]
    lines.append(f"records: {scores['n_labels']} labelled, {scores['n_matched']} matched, "
                 f"{scores['n_missing']} without prediction, {scores['n_unlabelled']} predictions without label")
    if scores.get("calibration"):
        lines += ["", format_calibration(scores["calibration"])]
    return "\n".join(lines)


def format_calibration(calibrated: Mapping[str, Any]) -> str:
    """A plain-text table of ``calibration``'s result, one row per field."""
    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    def interval(bounds: Sequence[float] | None) -> str:
        return "n/a" if bounds is None else f"{bounds[0]:.3f}-{bounds[1]:.3f}"

    header = ("field", "accepted precision", "95% CI", "non-empty", "sent to review", "AUROC", "ECE", "wrong/right")
    rows = [header] + [
        (field, cell(f["accepted_precision"]), interval(f["accepted_precision_95ci"]),
         cell(f["accepted_nonempty_precision"]), cell(f["review_share"]), cell(f["auroc"]), cell(f["ece"]),
         f"{f['n_wrong']}/{f['n_right']}")
        for field, f in calibrated["fields"].items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append(f"records sent to review: {cell(calibrated['records_review_share'])} "
                 f"of {calibrated['n_records']} (accepted = not in review_fields; AUROC over values with a confidence; "
                 f"{calibrated['n_missing']} labelled records without a prediction count as accepted wrong values "
                 f"at confidence 1.0)")
    return "\n".join(lines)


def parquet_paths(pattern: str) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """The filesystem and sorted paths of ``pattern``: a glob, a file, or a folder (its ``*.parquet`` files).

    Local or any fsspec URL (gs://...). Raises FileNotFoundError when nothing matches.
    """
    fs, path = fsspec.core.url_to_fs(pattern)
    if fs.isdir(path):
        paths = [p for p in fs.find(path) if p.endswith(".parquet")]
    else:
        paths = fs.glob(path)
    if not paths:
        raise FileNotFoundError(f"no Parquet file matches {pattern!r}")
    return fs, sorted(paths)


def read_rows(pattern: str, columns: Sequence[str]) -> list[dict]:
    """Rows of every Parquet file matching ``pattern`` (local or any fsspec URL, e.g. gs://).

    A folder means every ``*.parquet`` file under it. Only ``columns`` are read; a
    column missing from a file reads as None. Raises FileNotFoundError when nothing matches.
    """
    fs, paths = parquet_paths(pattern)
    rows: list[dict] = []
    for file_path in paths:
        present = set(pq.read_schema(file_path, filesystem=fs).names)
        table = pq.read_table(file_path, filesystem=fs, columns=[c for c in columns if c in present])
        rows += [{column: row.get(column) for column in columns} for row in table.to_pylist()]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline evaluate`` (``argv`` are the arguments after ``evaluate``)."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline evaluate",
        description="Score predictions against labels: exact match after normalisation for title, agency, "
                    "photographer and date; normalised edit similarity for description; parse failure rate.")
    parser.add_argument("--predictions", required=True,
                        help="output Parquet files: a glob, a folder, or an fsspec URL (gs://...)")
    parser.add_argument("--labels", required=True,
                        help="label Parquet files with columns id, description, title, agency, photographer, date")
    parser.add_argument("--json", metavar="PATH",
                        help="write the scores as JSON here (default: one JSON line after the table)")
    parser.add_argument("--plot", metavar="PATH",
                        help="write the reliability plot (PNG) here when the predictions carry confidences "
                             "(default: beside --json as NAME.reliability.png; none without --json)")
    args = parser.parse_args(argv)
    try:
        predictions = read_rows(args.predictions, PREDICTION_COLUMNS)
        labels = read_rows(args.labels, LABEL_COLUMNS)
    except (FileNotFoundError, OSError, ValueError) as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    scores = score(predictions, labels)
    print(format_table(scores))
    if args.json:
        with fsspec.open(args.json, "w") as handle:
            json.dump(scores, handle, indent=2)
            handle.write("\n")
    else:
        print(json.dumps(scores))
    plot_path = args.plot or (reliability_plot_path(args.json) if args.json else None)
    if plot_path and scores["calibration"]:
        from formats.plots import reliability_png

        with fsspec.open(plot_path, "wb") as handle:
            handle.write(reliability_png(scores["calibration"]))
        print(f"reliability plot: {plot_path}", file=sys.stderr)
    return 0


def reliability_plot_path(json_path: str) -> str:
    """``scores.json`` → ``scores.reliability.png`` in the same folder."""
    return json_path.removesuffix(".json") + ".reliability.png"
