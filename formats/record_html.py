"""One record of the review queue as HTML: the rendering the report and the workbench share.

The static report (``pipeline report``) lays these pieces out read-only; the workbench
(``workbench``) puts its decision controls beside the same pieces. Each function returns
HTML with every value from the run escaped (OCR, values, ids and reasons are hostile input)
and no ``style`` attribute or script, so the workbench's Content-Security-Policy can forbid
inline styles and scripts: the confidence bar is a ``<meter>``, sized by ``RECORD_STYLE``.
"""
from __future__ import annotations

import html
import re
from typing import Any, Mapping, Sequence

from formats.evidence import match_span
from formats.queue import CHANGED
from formats.reasons import describe_reason

FIELDS: tuple[str, ...] = ("title", "agency", "photographer", "date")  # the fields with confidence and source
SOURCE = re.compile(r"^(back|front):(\d+)$")

RECORD_STYLE = """
article.record{background:#fff;border:1px solid #d5dae0;border-left:5px solid #c9472b;margin:14px 0;padding:10px 14px}
article.record h3{margin:0 0 6px;font-size:15px}.pos{color:#7a8590;font-weight:400}
.record-id{font-family:ui-monospace,"DejaVu Sans Mono",monospace;background:#eef1f4;padding:1px 5px}
.meta{color:#5a6570;font-size:12px;font-weight:400;margin-left:8px}
ul.reasons{list-style:none;padding:0;margin:4px 0 8px}ul.reasons li{display:inline-block;background:#fbe3dd;
color:#8a2a15;border:1px solid #efb9aa;border-radius:3px;padding:0 6px;margin:0 4px 3px 0;font-size:12px}
ul.reasons code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;color:#a0533f;margin-left:4px}
.cols{display:grid;grid-template-columns:minmax(320px,1fr) minmax(320px,1fr);gap:16px}
table.fields{border-collapse:collapse;width:100%}table.fields th,table.fields td{text-align:left;padding:3px 6px;
border-bottom:1px solid #eceff2;vertical-align:top}table.fields th{font-size:12px;color:#5a6570;font-weight:600}
td.field{white-space:nowrap}tr.to-review td.field{color:#8a2a15;font-weight:600}tr.to-review td.field::after{content:" \\2691";}
tr.accepted td.field{color:#2b7a4b}tr.spot-check td.field{color:#6b4a00;font-weight:600}
tr.spot-check td.field::after{content:" (spot check)";font-weight:400;font-size:11px}td.value{font-weight:600;white-space:pre-wrap;word-break:break-word}
td.empty{color:#98a1aa;font-style:italic;font-weight:400}
meter.conf{width:54px;height:10px;margin-right:5px;vertical-align:middle}.src-missing{color:#8a2a15}
.threshold{color:#5a6570;font-size:12px;margin-left:4px}
.ocr h4{margin:0 0 2px;font-size:12px;color:#5a6570;text-transform:uppercase;letter-spacing:.04em}
ol.lines{list-style:none;margin:0 0 8px;padding:0;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
ol.lines li{padding:1px 4px;white-space:pre-wrap;word-break:break-word;border-left:3px solid transparent}
ol.lines .n{color:#98a1aa;display:inline-block;min-width:4.2em;margin-right:.6em}td.conf-cell{white-space:nowrap}
ol.lines li.evidence{border-left-color:#e0a100}ol.lines mark{background:#ffe58a;padding:0 1px}
.ev-tag{font-family:system-ui,sans-serif;font-size:11px;background:#e0a100;color:#fff;border-radius:3px;
padding:0 4px;margin-left:6px}.none{color:#98a1aa;font-style:italic}
.ocr-changed{background:#fbe3dd;border:1px solid #c9472b;color:#8a2a15;padding:6px 10px;font-weight:600}
details{margin-top:6px;font-size:12px}details pre{white-space:pre-wrap;word-break:break-word;background:#f4f5f7;padding:6px}
"""


def e(value: Any) -> str:
    """HTML-escaped text of ``value`` (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def evidence_spans(row: Mapping[str, Any]) -> dict[tuple[str, int], list[tuple[int, int, str]]]:
    """``{(side, line): [(start, end, field)]}``: the text of each field's value in the OCR
    (``formats.evidence.match_span``). A value wrapped over two lines is marked in both; a canonical
    agency where its stamp form stands; a source line where the span cannot be placed, whole."""
    sides = {side: list(row.get(f"{side}_ocr_lines") or []) for side in ("back", "front")}
    spans: dict[tuple[str, int], list[tuple[int, int, str]]] = {}

    def mark(side: str, n: int, field: str) -> None:
        found = match_span(field, row.get(field) or "", sides[side][n])
        if found:
            spans.setdefault((side, n), []).append((*found, field))

    for field in FIELDS:
        value, source = row.get(field) or "", row.get(f"{field}_source") or ""
        located = SOURCE.match(source)
        if located and int(located.group(2)) < len(sides[located.group(1)]):
            side, n = located.group(1), int(located.group(2))
            line = sides[side][n]
            found = match_span(field, value, line)
            spans.setdefault((side, n), []).append((*(found or (0, len(line))), field))
            if (found is None or found[1] - found[0] < len(value.strip())) and n + 1 < len(sides[side]):
                mark(side, n + 1, field)  # the rest of a value wrapped onto the next line
        elif source == "canonical":
            for side, lines in sides.items():
                for n in range(len(lines)):
                    mark(side, n, field)
    return spans


def _marked(line: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """``line`` escaped, with each span (merged where they overlap) in ``<mark>``."""
    merged: list[list[int]] = []
    for start, end, _ in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out.append(f"{e(line[at:start])}<mark>{e(line[start:end])}</mark>")
        at = end
    return "".join(out) + e(line[at:])


def _ocr_side(side: str, lines: Sequence[str] | None, spans: Mapping[tuple[str, int], list[tuple[int, int, str]]]
              ) -> str:
    if lines is None:
        return f'<h4>{side}</h4><p class="none">OCR not available</p>'
    if not lines:
        return f'<h4>{side}</h4><p class="none">no lines</p>'
    items = []
    for n, line in enumerate(lines):
        marked = spans.get((side, n))
        number = f'<span class="n">{side}:{n}</span>'
        if marked:
            fields = list(dict.fromkeys(field for _, _, field in marked))
            tags = "".join(f'<span class="ev-tag">{e(f)}</span>' for f in fields)
            items.append(f'<li class="evidence" data-source="{side}:{n}" data-fields="{e(" ".join(fields))}">'
                         f'{number}{_marked(line, marked)}{tags}</li>')
        else:
            items.append(f'<li data-source="{side}:{n}">{number}{e(line)}</li>')
    return f'<h4>{side}</h4><ol class="lines">{"".join(items)}</ol>'


def ocr_html(row: Mapping[str, Any]) -> str:
    """Both sides' OCR lines, numbered as ``<field>_source`` counts them, the lines holding a field's value
    marked; a warning first when the input OCR changed since the run."""
    if "back_ocr_lines" not in row:
        return '<p class="none">OCR left out (--without_ocr)</p>'
    spans = evidence_spans(row)
    ocr = _ocr_side("back", row.get("back_ocr_lines"), spans) + _ocr_side("front", row.get("front_ocr_lines"), spans)
    if row.get("ocr_status") == CHANGED:
        ocr = ('<p class="ocr-changed">The input OCR of this record changed since the run: the fields were '
               'generated from other OCR than shown here. Rerun the record before judging them.</p>' + ocr)
    return ocr


def source_line(row: Mapping[str, Any], field: str) -> str | None:
    """The text of the OCR line a field's ``<field>_source`` points to, if any."""
    located = SOURCE.match(row.get(f"{field}_source") or "")
    if not located:
        return None
    lines = row.get(f"{located.group(1)}_ocr_lines") or []
    n = int(located.group(2))
    return lines[n] if n < len(lines) else None


def reasons_html(row: Mapping[str, Any]) -> str:
    """The record's review reasons in plain words (``formats.reasons``), each with its code."""
    items = []
    for code in row.get("review_reasons") or []:
        field = code.partition(":")[2]
        words = describe_reason(code, source_line(row, field) if field else None)
        items.append(f'<li class="reason" data-code="{e(code)}">{e(words)} <code>{e(code)}</code></li>')
    return "".join(items)


def value_html(row: Mapping[str, Any], field: str) -> str:
    """The ``<td>`` of a field's value (its ISO form beside a date)."""
    value = row.get(field) or ""
    if not value:
        return '<td class="value empty">empty</td>'
    iso = (f' <span class="meta">ISO {e(row.get("date_iso") or "unreadable")}</span>' if field == "date" else "")
    return f'<td class="value">{e(value)}{iso}</td>'


def confidence_html(row: Mapping[str, Any], field: str, threshold: float | None = None) -> str:
    """The ``<td>`` of a field's confidence, as a bar and a number, with the threshold it was held to."""
    confidence = row.get(f"{field}_confidence")
    held = f' <span class="threshold">/ {threshold:.2f}</span>' if threshold is not None else ""
    if confidence is None:
        return f"<td>n/a{held}</td>"
    shown = max(0.0, min(1.0, float(confidence)))
    bounds = f' low="{threshold:.3f}" high="{threshold:.3f}" optimum="1"' if threshold is not None else ""
    return (f'<td class="conf-cell"><meter class="conf" min="0" max="1" value="{shown:.3f}"{bounds}></meter>'
            f"{confidence:.2f}{held}</td>")


def source_html(row: Mapping[str, Any], field: str) -> str:
    """The ``<td>`` of where a field's value was found in the OCR."""
    source = row.get(f"{field}_source") or ""
    if source:
        return f"<td>{e(source)}</td>"
    return '<td class="src-missing">not in OCR</td>' if row.get(field) else "<td></td>"


def field_status(row: Mapping[str, Any], field: str) -> str:
    """``to-review`` for a field the job sent to a person, ``spot-check`` for an accepted one drawn to be
    checked, ``accepted`` for one it vouches for."""
    if field in (row.get("review_fields") or []):
        return "to-review"
    return "spot-check" if field in (row.get("spot_check_fields") or []) else "accepted"


def fields_html(row: Mapping[str, Any], thresholds: Mapping[str, float] | None = None) -> str:
    """The read-only table of the record's fields (the report's)."""
    thresholds = thresholds or {}
    cells = [f'<tr class="{field_status(row, field)}" data-field="{field}"><td class="field">{field}</td>'
             f"{value_html(row, field)}{confidence_html(row, field, thresholds.get(field))}"
             f"{source_html(row, field)}</tr>" for field in FIELDS]
    description = row.get("description") or ""
    cells.append(f'<tr data-field="description"><td class="field">description</td>'
                 f'<td class="value" colspan="3">{e(description) or "<span class=none>empty</span>"}</td></tr>')
    return ('<table class="fields"><tr><th>field</th><th>value</th><th>confidence</th><th>evidence</th></tr>'
            + "".join(cells) + "</table>")


def heading_html(row: Mapping[str, Any]) -> str:
    """The record's position, id and what the job did with it."""
    return (f'<span class="pos">#{e(row.get("queue_position"))}</span> <span class="record-id">{e(row["id"])}</span>'
            f'<span class="meta">language {e(row.get("language"))} · parse {e(row.get("parse_status"))} · '
            f'{e(row.get("output_tokens"))} tokens generated</span>')


def record_html(row: Mapping[str, Any], thresholds: Mapping[str, float] | None = None) -> str:
    """The whole record, read-only (the report's ``<article>``)."""
    return (f'<article class="record" id="record-{e(row.get("queue_position"))}" data-record-id="{e(row["id"])}">'
            f"<h3>{heading_html(row)}</h3>"
            f'<ul class="reasons">{reasons_html(row)}</ul>'
            f'<div class="cols"><div>{fields_html(row, thresholds)}</div><div class="ocr">{ocr_html(row)}</div></div>'
            f'<details><summary>model output</summary><pre>{e(row.get("raw_output"))}</pre></details></article>')


def thresholds_of(manifest: Mapping[str, Any] | None) -> dict[str, float]:
    """The review thresholds a run's manifest records as in force (``review.thresholds``, or
    ``extra.review_thresholds`` of the job before it), field → threshold; empty when it records none."""
    manifest = manifest or {}
    recorded = ((manifest.get("review") or {}).get("thresholds")
                or (manifest.get("extra") or {}).get("review_thresholds") or {})
    found = {}
    for field, entry in recorded.items():
        threshold = entry.get("threshold") if isinstance(entry, Mapping) else entry
        if isinstance(threshold, (int, float)):
            found[field] = float(threshold)
    return found
