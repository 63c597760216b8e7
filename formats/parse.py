"""The model's continuation → catalogue fields (SPEC §4). Never raises.

The continuation is read as a sequence of tags, each owning the text up to the next
tag. What counts as a tag:

* a well-formed ``<name>`` of the closed set: ``<language>``, the completion tags
  (``<rewrite> <title> <agency> <photographer> <date>``), ``<END>``, and the prompt
  tags ``<back> <front> <b>``, which do not belong in an answer ("unknown_tag");
* a *malformed* reserved tag: wrong case or inner spaces (``<Title>``, ``< title >``,
  ``<tit le>``) or no closing bracket (``<title WILLIAM``) — "malformed_tag"; when it
  names a completion tag its text is still taken for that field, since the intent is
  clear, but the row is flagged;
* any other one-word ``<word>`` or ``<|...|>`` — "unknown_tag"; its text is dropped.

Reading stops at ``<|endoftext|>``, ``<END>``, or a ``<language>`` that is not the first
tag (the model starting a new record). The first occurrence of a field wins; a repeat is
"repeated_tag". Text before the first tag is "untagged_text". Values are the stripped
slices of the input, so every value is a substring of what the model wrote.

``status``: ``unparsed`` when no completion tag was found; ``ok`` when there is a title
or a description and no anomaly; ``partial`` otherwise — including a clean answer with
neither title nor description (e.g. only ``<date>``), which a cataloguer must look at.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, NamedTuple

from formats.dates import normalise_date
from formats.tags import END_OF_TEXT, FIELD_BY_TAG, RESERVED_TAGS, TAG_START

# ``parse_status`` of an output row (SPEC §4); the job's counters and the scores use these names.
OK, PARTIAL, UNPARSED = "ok", "partial", "unparsed"
STATUSES = (OK, PARTIAL, UNPARSED)
ANOMALIES = ("untagged_text", "repeated_tag", "unknown_tag", "malformed_tag", "token_limit", "parser_error")

_CLOSED = re.compile(r"<([^<>]{1,40})>")
_OPEN_NAME = re.compile(r"<\s*([A-Za-z]+)")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_CANONICAL = {name.casefold(): name for name in RESERVED_TAGS}
# "<b" unclosed is too common in ordinary text ("a<b") to call it a malformed tag.
_UNCLOSED_NAMES = {key: name for key, name in _CANONICAL.items() if len(key) > 1}


@dataclass(frozen=True)
class ParsedCompletion:
    """Fields of one answer; strings are "" when absent."""

    description: str
    title: str
    agency: str
    photographer: str
    date: str
    date_iso: str | None
    status: str
    anomalies: tuple[str, ...]


class _Tag(NamedTuple):
    start: int
    end: int
    name: str | None  # canonical reserved name, or None for an unknown tag
    malformed: bool


def _tags(text: str) -> Iterator[_Tag]:
    """Tag-like sequences in order of position."""
    position = 0
    while (found := TAG_START.search(text, position)) is not None:
        start = found.start()
        tag = _classify(text, start)
        if tag is None:
            position = start + 1
            continue
        yield tag
        position = tag.end


def _classify(text: str, start: int) -> _Tag | None:
    if text.startswith(END_OF_TEXT, start):
        return _Tag(start, start + len(END_OF_TEXT), END_OF_TEXT, False)
    closed = _CLOSED.match(text, start)
    if closed:
        inner = closed[1]
        if inner in RESERVED_TAGS:
            return _Tag(start, closed.end(), inner, False)
        squeezed = "".join(inner.split()).casefold()
        if squeezed in _CANONICAL:
            return _Tag(start, closed.end(), _CANONICAL[squeezed], True)
        if _WORD.fullmatch(inner.strip()) or inner.startswith("|"):
            return _Tag(start, closed.end(), None, False)
    opened = _OPEN_NAME.match(text, start)
    if opened and opened[1].casefold() in _UNCLOSED_NAMES:
        return _Tag(start, opened.end(), _UNCLOSED_NAMES[opened[1].casefold()], True)
    return None


def answer_columns(parsed: ParsedCompletion, raw_output: str, output_tokens: int) -> dict[str, object]:
    """The SPEC §5 columns that come from the model's answer.

    One definition for the job's output rows (``pipeline.transforms``) and training's
    evaluation rows (``train.evaluation``), so training scores what the job writes.
    """
    return {"description": parsed.description, "title": parsed.title, "agency": parsed.agency,
            "photographer": parsed.photographer, "date": parsed.date, "date_iso": parsed.date_iso,
            "parse_status": parsed.status, "raw_output": raw_output, "output_tokens": output_tokens}


def parse_completion(text: str, language: str = "en", hit_token_limit: bool = False) -> ParsedCompletion:
    """Fields from the continuation only (the caller strips the prompt). Never raises."""
    try:
        return _parse(text if isinstance(text, str) else "", language, hit_token_limit)
    except Exception:  # defensive: a parser bug must not lose the row
        return ParsedCompletion("", "", "", "", "", None, UNPARSED, ("parser_error",))


def _parse(text: str, language: str, hit_token_limit: bool) -> ParsedCompletion:
    values: dict[str, str] = {}
    anomalies: list[str] = []
    field: str | None = None  # the field the current text belongs to, if any
    value_start = 0
    seen_language = False
    first_tag_at = len(text)
    for tag in _tags(text):
        first_tag_at = min(first_tag_at, tag.start)
        if field is not None:
            values[field] = text[value_start:tag.start].strip()
        field, value_start = None, tag.end

        if tag.name in (END_OF_TEXT, "END") and not tag.malformed:
            break
        if tag.name == "language" and not tag.malformed:
            if seen_language or values:  # the model started another record
                break
            seen_language = True
            continue
        if tag.malformed:
            anomalies.append("malformed_tag")
        elif tag.name not in FIELD_BY_TAG:
            anomalies.append("unknown_tag")
        if tag.name in FIELD_BY_TAG:
            if FIELD_BY_TAG[tag.name] in values:
                anomalies.append("repeated_tag")
            else:
                field = FIELD_BY_TAG[tag.name]
                values[field] = ""  # claimed now, so a repeat cannot take it
    if text[:first_tag_at].strip():
        anomalies.insert(0, "untagged_text")

    if field is not None:  # the text ran out inside a field
        values[field] = text[value_start:].strip()
    if hit_token_limit:
        anomalies.append("token_limit")

    date = values.get("date", "")
    if not values:
        status = UNPARSED
    elif anomalies or not (values.get("title") or values.get("description")):
        status = PARTIAL
    else:
        status = OK
    return ParsedCompletion(
        description=values.get("description", ""),
        title=values.get("title", ""),
        agency=values.get("agency", ""),
        photographer=values.get("photographer", ""),
        date=date,
        date_iso=normalise_date(date, language) if date else None,
        status=status,
        anomalies=tuple(dict.fromkeys(anomalies)),
    )
