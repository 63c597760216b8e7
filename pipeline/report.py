"""The review report: one self-contained HTML file a person opens in a browser (SPEC §5b).

``python -m pipeline report --run OUT [--to FILE.html] [--input GLOB | --without_ocr] [--max_records N]``

It holds the run summary (``manifest.json``), charts of the fields' confidence and of the
review reasons, and the review queue (``formats.queue``, same order; each record drawn by
``formats.record_html``, as the workbench draws it): for each record the
back and front OCR beside the extracted fields, the line each field was found on
highlighted, and the reasons it needs review. The OCR comes from the run's input, joined
by id as the queue does (``--input`` or the manifest's input glob); a record whose input OCR
changed since the run (``ocr_status`` ``changed``) says so above its OCR and in the summary.

Offline and inert by construction: no script, no external URL (charts are PNG ``data:``
URIs, styles inline), and a Content-Security-Policy that forbids scripts and every network
fetch, so even a rendering mistake cannot run OCR text. All text from the run (OCR, values,
ids, reasons) is HTML-escaped: OCR is hostile input.
"""
from __future__ import annotations

import argparse
import base64
import sys
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import fsspec
import pyarrow as pa

from formats.evaluate import EXACT_FIELDS
from formats.plots import confidence_histogram_png, reasons_bar_png
from formats.queue import CHANGED, ReviewError, Run, build_queue, join
from formats.record_html import RECORD_STYLE, e, record_html, thresholds_of
from pipeline.review import add_source_arguments

DEFAULT_MAX_RECORDS = 200
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d232a;
background:#f4f5f7}
header{background:#23303f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d3de;font-size:13px}main{padding:16px 24px;max-width:1400px}
h2{font-size:17px;margin:22px 0 8px}section{margin-bottom:10px}
table.summary{border-collapse:collapse;background:#fff}table.summary th,table.summary td{padding:3px 10px;
border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}table.summary th{font-weight:600;color:#46525f;white-space:nowrap}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0;background:#fff;padding:8px;border:1px solid #dde1e6}
.charts img{max-width:100%;height:auto}.charts figcaption{font-size:12px;color:#5a6570}
.omitted{background:#fff6d9;border:1px solid #e8d58b;padding:8px 12px}
""" + RECORD_STYLE


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def reason_counts(records: Iterable[Mapping[str, Any]]) -> Counter:
    """Records per review reason (a reason counted once per record)."""
    counts: Counter = Counter()
    for row in records:
        counts.update(set(row.get("review_reasons") or []))
    return counts


def field_counts(records: Iterable[Mapping[str, Any]]) -> Counter:
    """Records per field sent to review."""
    counts: Counter = Counter()
    for row in records:
        counts.update(set(row.get("review_fields") or []))
    return counts


def _summary_rows(run: Run, queue: pa.Table) -> list[tuple[str, str]]:
    """(label, already-escaped HTML) rows of the run summary."""
    m = run.manifest or {}
    written = run.records.num_rows

    def counts(mapping: Mapping[str, Any] | None) -> str:
        return ", ".join(f"{e(k)}: {e(v)}" for k, v in (mapping or {}).items()) or "none"

    rows = [("run id", e(m.get("run_id") or ", ".join(sorted(set(run.records.column("run_id").to_pylist()))))),
            ("model version", e(m.get("model_version", "")))]
    if m:
        rows += [("input", e(m.get("input"))), ("output", e(m.get("output"))),
                 ("finished", f"{e(m.get('finished_at'))} ({e(m.get('wall_seconds'))} s)"),
                 ("records read", e(m.get("records_read"))),
                 ("records written", e(m.get("records_written"))),
                 ("records dead-lettered", f"{e(m.get('records_dead_lettered'))} "
                                           f"({counts(m.get('dead_letter_reasons'))})"),
                 ("records skipped", e(m.get("records_skipped", 0))),
                 ("count invariant", "holds" if m.get("count_invariant_holds") else "<strong>BROKEN</strong>"),
                 ("parse status", counts(m.get("parse_status"))),
                 ("prompts truncated", e(m.get("truncated")))]
    records = run.records.select([c for c in ("review_fields", "review_reasons") if c in run.records.column_names])
    listed = records.to_pylist()
    share = f" ({queue.num_rows / written:.1%})" if written else ""
    rows += [("records to review", f"<strong>{queue.num_rows}</strong> of {written} written{share}"),
             ("fields to review", counts(dict(sorted(field_counts(listed).items())))),
             ("review reasons", counts(dict(reason_counts(listed).most_common())))]
    if "ocr_status" in queue.column_names:
        changed = queue.column("ocr_status").to_pylist().count(CHANGED)
        rows.append(("OCR changed since the run", f"<strong>{changed}</strong> records" if changed else "none"))
    counted = m.get("review")
    if isinstance(counted, Mapping) and "records" in counted:  # the job's own counters, checked against the files
        agrees = "agrees with the records" if counted["records"] == queue.num_rows else \
            "<strong>differs from the records</strong>"
        rows.append(("manifest review counts", f"{e(counted['records'])} records, {e(counted.get('fields'))} fields "
                                               f"({agrees})"))
    return rows


def _charts(run: Run) -> list[tuple[str, str]]:
    """(caption, data URI) of the confidence histogram and the review-reason bars."""
    columns = [c for c in ("review_fields", "review_reasons", *(f"{f}_confidence" for f in EXACT_FIELDS))
               if c in run.records.column_names]
    rows = run.records.select(columns).to_pylist()
    values = {field: [(row[f"{field}_confidence"], field in (row.get("review_fields") or []))
                      for row in rows if row.get(f"{field}_confidence") is not None]
              for field in EXACT_FIELDS if f"{field}_confidence" in columns}
    charts = [("Confidence of each field's values over all written records, accepted and sent to review",
               data_uri(confidence_histogram_png(values)))]
    reasons = reason_counts(rows)
    if reasons:
        charts.append(("Records sent to review, by reason (a record can have several)",
                       data_uri(reasons_bar_png(reasons))))
    return charts


def render(run: Run, queue: pa.Table, max_records: int = DEFAULT_MAX_RECORDS) -> str:
    """The report's HTML: summary, charts, and the first ``max_records`` records of ``queue``."""
    run_id = (run.manifest or {}).get("run_id", "")
    summary = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in _summary_rows(run, queue))
    charts = "".join(f'<figure><img src="{uri}" alt="{e(caption)}"><figcaption>{e(caption)}</figcaption></figure>'
                     for caption, uri in _charts(run))
    shown = queue.slice(0, max_records).to_pylist()
    omitted = queue.num_rows - len(shown)
    note = (f'<p class="omitted" id="omitted">{omitted} more records need review and are not shown here '
            f"(shown: the first {len(shown)}, lowest confidence first). Raise --max_records, or work through the "
            f"whole queue with <code>python -m pipeline review</code>.</p>") if omitted else ""
    thresholds = thresholds_of(run.manifest)
    records = "".join(record_html(row, thresholds) for row in shown) or '<p class="none">No record needs review.</p>'
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Backstamp review: run {e(run_id)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>Backstamp review report</h1><p>run {e(run_id)} · {e(run.path)}</p></header><main>"
            f'<section id="summary"><h2>Run summary</h2><table class="summary">{summary}</table></section>'
            f'<section id="charts"><h2>Confidence and review reasons</h2><div class="charts">{charts}</div></section>'
            f'<section id="queue"><h2>Records that need review ({queue.num_rows})</h2>'
            f"<p>Fields marked ⚑ need a person's check; the others the job vouches for. Highlighted OCR lines are "
            f"where each field's value was found.</p>{note}{records}</section></main></body></html>\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline report`` (``argv`` are the arguments after ``report``)."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline report",
        description="Write one self-contained HTML review report of a run (works offline): the run summary, "
                    "charts of confidence and review reasons, and each record that needs review with its OCR.")
    add_source_arguments(parser)
    parser.add_argument("--to", metavar="FILE.html", help="where to write the report (default: RUN/review.html)")
    parser.add_argument("--max_records", type=int, default=DEFAULT_MAX_RECORDS,
                        help=f"show at most this many records (default {DEFAULT_MAX_RECORDS}); the report says "
                             "how many it leaves out")
    args = parser.parse_args(argv)
    if args.max_records < 0:
        parser.error("--max_records must be 0 or more")
    try:
        run, queue = build_queue(args.run, args.input, not args.without_ocr)
    except ReviewError as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    target = args.to or join(args.run, "review.html")
    with fsspec.open(target, "w", encoding="utf-8") as handle:
        handle.write(render(run, queue, args.max_records))
    shown = min(queue.num_rows, args.max_records)
    print(f"review report written to {target}: {queue.num_rows} of {run.records.num_rows} records need review, "
          f"{shown} shown")
    return 0
