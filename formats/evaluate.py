"""Per-field scores of predictions against labels (SPEC §7), as a table and as JSON.

``python -m pipeline evaluate --predictions GLOB --labels GLOB [--json PATH]``

Predictions and labels are joined on ``id``. Every labelled record counts: one with no
prediction scores 0 on every field and counts as a parse failure, so a run that drops
rows cannot look better than one that keeps them. Predictions without a label are only
counted. Within each side the first row of an id wins.
"""
from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from typing import Any, Iterable, Mapping, Sequence

import fsspec
import pyarrow.parquet as pq

EXACT_FIELDS = ("title", "agency", "photographer", "date")
LABEL_COLUMNS = ("id", "description", "title", "agency", "photographer", "date")
PREDICTION_COLUMNS = LABEL_COLUMNS + ("parse_status",)


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
    for record_id, label in labelled.items():
        prediction = predicted.get(record_id)
        if prediction is None:
            failures += 1
            continue
        matched += 1
        for field in EXACT_FIELDS:
            exact[field] += normalise_text(prediction.get(field)) == normalise_text(label.get(field))
        similarity += edit_similarity(normalise_text(prediction.get("description")),
                                      normalise_text(label.get("description")))
        failures += prediction.get("parse_status") != "ok"
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
    }


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
    return "\n".join(lines)


def read_rows(pattern: str, columns: Sequence[str]) -> list[dict]:
    """Rows of every Parquet file matching ``pattern`` (local or any fsspec URL, e.g. gs://).

    A folder means every ``*.parquet`` file under it. Only ``columns`` are read; a
    column missing from a file reads as None. Raises FileNotFoundError when nothing matches.
    """
    fs, path = fsspec.core.url_to_fs(pattern)
    if fs.isdir(path):
        paths = [p for p in fs.find(path) if p.endswith(".parquet")]
    else:
        paths = fs.glob(path)
    if not paths:
        raise FileNotFoundError(f"no Parquet file matches {pattern!r}")
    rows: list[dict] = []
    for file_path in sorted(paths):
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
    return 0
