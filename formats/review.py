"""Which fields the job vouches for, and which go to a person (SPEC §5b). Pure: no Beam, no torch.

Per field (title, agency, photographer, date):

* ``confidence``: how sure the job is that the value is right. The model's own probability
  over the field's tokens (``FieldTokens``, recorded during the greedy decode), aggregated by
  ``AGGREGATE`` (chosen by measurement, bench/results/confidence_*.md), times
  ``NOT_IN_OCR_FACTOR`` when the OCR holds no evidence of the value that fits the field.
* ``source``: where the value was found in the OCR (formats/evidence.py), in a line whose kind
  fits the field (formats/roles.py) when there is one.

A field goes to review (reason codes in formats/reasons.py) with

* ``low_confidence:<field>`` below its threshold;
* ``not_in_ocr:<field>`` when no OCR line holds the value with all of its digits;
* ``role_mismatch:<field>`` when every line holding it is of a kind that says it is something
  else: a photographer in an agency stamp, a caption or a received stamp; an agency in a caption;
  a title in a credit or a stamp; a date only in a RECEIVED/filed stamp while a dateline or a
  caption dates the photo. A photographer equal to the title is the subject (SPEC §4b: never the
  subject) and is a ``role_mismatch`` too;
* ``missed:<field>`` when the field is empty although the OCR holds a line of the kind that
  carries it (an agency stamp or credit, a photographer's credit, a caption, any dated line but an
  address, filing mark or notice — a RECEIVED stamp's date is the date when nothing else dates the
  print), however sure the model was: "this print names no agency" is a claim the catalogue
  would take on trust;
* ``date_unreadable`` for a date the job cannot read (``date_iso`` null).

An empty field the OCR gives no sign of is still a claim, so it goes to review as ``low_confidence``
below its threshold: written empty, by its tag and closing token; left out (SPEC §4: an empty field
is left out with its tag), by the token that skipped it (``skip_probability``), while its
``confidence`` column stays null as §5b says. The description gets ``description_confidence``
(formats/description_trust.py) and ``low_confidence:description`` below its threshold.
Record-level reasons (``loop``, ``token_limit``, ``parse_partial``, ``truncated``) send every
written field of the record. ``needs_review`` is any field or reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from formats.description_trust import description_confidence
from formats.evidence import EVIDENCE_THRESHOLD, Evidence, all_evidence, processed
from formats.parse import OK
from formats.reasons import DATE_UNREADABLE, LOW_CONFIDENCE, MISSED, NOT_IN_OCR, ROLE_MISMATCH, reason
from formats.roles import (ADDRESS, CAPTION, CREDIT, DATELINE, EXPECTED, FILING, NOTICE, RECEIVED, contradicts,
                           is_date_text, is_name_line, roles_of)
from formats.tags import FIELDS, REVIEWED_FIELDS

DESCRIPTION = "description"
# The fields with a review threshold: the four routed ones and the description.
THRESHOLD_FIELDS: tuple[str, ...] = REVIEWED_FIELDS + (DESCRIPTION,)


@dataclass(frozen=True)
class FieldTokens:
    """The log-probabilities of one field as the model wrote it.

    ``tag``: its opening tag token; ``values``: the value's tokens; ``end``: the token that
    closed it (the next tag or end-of-text), None when the output ran out inside the field.
    """

    field: str
    tag: float
    values: tuple[float, ...]
    end: float | None


def _min_prob(tokens: FieldTokens) -> float:
    return math.exp(min(tokens.values, default=tokens.tag))


def _mean_prob(tokens: FieldTokens) -> float:
    """Geometric mean of the value tokens' probabilities (exp of the mean log-probability)."""
    return math.exp(sum(tokens.values) / len(tokens.values)) if tokens.values else math.exp(tokens.tag)


def _first_prob(tokens: FieldTokens) -> float:
    return math.exp(tokens.values[0] if tokens.values else tokens.tag)


def _min_prob_with_bounds(tokens: FieldTokens) -> float:
    """The least likely of the tag, the value tokens and the token that ended the value."""
    bounds = (tokens.tag,) + tokens.values + (() if tokens.end is None else (tokens.end,))
    return math.exp(min(bounds))


AGGREGATES: dict[str, Callable[[FieldTokens], float]] = {
    "min_prob": _min_prob,
    "mean_prob": _mean_prob,
    "first_prob": _first_prob,
    "min_prob_with_bounds": _min_prob_with_bounds,
}

# The aggregate and the thresholds the job uses by default, chosen on one synthetic held-out split and
# reported on another (bench/results/confidence_synthetic.md): the aggregate with the best AUROC on three
# of the four fields; per field the lowest threshold from 0.5 up whose accepted values, empty ones
# counted, are ≥ 99 % right on seed 1 (800 records; descriptions: ≥ 95 % within edit similarity 0.8),
# by `python -m bench.confidence --name synthetic --choose` on the demo model gptj-0f50eac019bb2f43.
# The other split (seed 2) and the realistic set only measure them (bench/results/confidence_*.md).
AGGREGATE = "min_prob_with_bounds"
# A value found nowhere in the OCR keeps this share of its token confidence: the check separates
# right from wrong agencies better than the probabilities do (AUROC 0.92 → 0.98 on the synthetic
# split), and a value the print does not back should not read as sure.
NOT_IN_OCR_FACTOR = 0.5
DEFAULT_THRESHOLDS: dict[str, float] = {"title": 0.96, "agency": 0.65, "photographer": 0.92, "date": 0.5,
                                        "description": 0.87}


@dataclass(frozen=True)
class ReviewConfig:
    """The review options (``--review_threshold_<field>``, ``--evidence_threshold``)."""

    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    evidence_threshold: float = EVIDENCE_THRESHOLD
    aggregate: str = AGGREGATE

    def __post_init__(self) -> None:
        if set(self.thresholds) != set(THRESHOLD_FIELDS) or not all(0 <= t <= 1 for t in self.thresholds.values()):
            raise ValueError(f"review thresholds must give each of {THRESHOLD_FIELDS} a value in [0, 1]: "
                             f"{dict(self.thresholds)}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"unknown confidence aggregate {self.aggregate!r}; choose one of {sorted(AGGREGATES)}")

    def in_force(self) -> dict[str, object]:
        """Everything that decides routing, for the run manifest (thresholds, defaults included)."""
        return {"thresholds": dict(self.thresholds), "evidence_threshold": self.evidence_threshold,
                "aggregate": self.aggregate, "not_in_ocr_factor": NOT_IN_OCR_FACTOR,
                "description_aggregate": "mean_prob"}


@dataclass(frozen=True)
class FieldTrust:
    """SPEC §5b per field: ``confidence`` (None when the model did not write the field) and ``source``."""

    confidence: float | None
    source: str


@dataclass(frozen=True)
class Review:
    trust: dict[str, FieldTrust]
    review_fields: tuple[str, ...]
    review_reasons: tuple[str, ...]
    description_confidence: float | None = None

    @property
    def needs_review(self) -> bool:
        return bool(self.review_fields or self.review_reasons)

    def columns(self) -> dict[str, object]:
        """The SPEC §5b output columns of one row."""
        row: dict[str, object] = {}
        for name in REVIEWED_FIELDS:
            row[f"{name}_confidence"] = self.trust[name].confidence
            row[f"{name}_source"] = self.trust[name].source
        row["description_confidence"] = self.description_confidence
        row.update(review_fields=list(self.review_fields), review_reasons=list(self.review_reasons),
                   needs_review=self.needs_review)
        return row


@dataclass(frozen=True)
class ReviewInput:
    """What routing needs to know about one written record."""

    values: Mapping[str, str]  # the parsed fields
    date_iso: str | None
    tokens: Sequence[FieldTokens]  # as recorded during generation
    back: Sequence[str]  # cleaned OCR lines (formats.prompt.clean_lines)
    front: Sequence[str]
    parse_status: str
    truncated: bool
    looped: bool
    hit_limit: bool


def skip_probability(name: str, tokens: Sequence[FieldTokens]) -> float | None:
    """How sure the model was to leave field ``name`` out: the probability of the token it wrote
    where the field's tag would go (the next written field's tag, or the token that ended the
    output after the last one). None when nothing was written before or after the field.

    Tried and not kept: that probability against the field's own tag alone, p(written) /
    (p(written) + p(tag)), which sets aside the model's doubt about writing more of the field
    before. ``python -m bench.confidence`` (``skip``: AUROC over left-out fields), this → that:
    synthetic title 0.66 → 0.79, agency 0.93 → 0.97, photographer 0.96 → 0.89, yet at the job's
    thresholds no more wrong ones caught (1,200 records: title 12 → 12 accepted wrong,
    photographer 5 → 8); realistic agency 0.82 → 0.73, photographer 0.65 → 0.63, and accepted
    agency precision, empty fields counted, 0.90 → 0.83."""
    written = {t.field: t for t in tokens}
    position = FIELDS.index(name)
    after = next((written[f] for f in FIELDS[position + 1:] if f in written), None)
    if after is not None:
        return math.exp(after.tag)
    before = next((written[f] for f in reversed(FIELDS[:position]) if f in written), None)
    return math.exp(before.end) if before is not None and before.end is not None else None


def route(item: ReviewInput, config: ReviewConfig = ReviewConfig()) -> Review:
    """Confidence, source and review decision of one record (the rules in the module doc)."""
    by_field = {tokens.field: tokens for tokens in item.tokens}
    record_reasons = [code for code, applies in (
        ("loop", item.looped), ("token_limit", item.hit_limit),
        ("parse_partial", item.parse_status != OK), ("truncated", item.truncated)) if applies]
    roles = {f"{side}:{i}": kinds
             for side, lines in (("back", item.back), ("front", item.front)) for i, kinds in enumerate(roles_of(lines))}
    trust: dict[str, FieldTrust] = {}
    field_reasons: list[tuple[str, str]] = []
    for name in REVIEWED_FIELDS:
        value = item.values.get(name, "")
        tokens = by_field.get(name)
        confidence = AGGREGATES[config.aggregate](tokens) if tokens is not None else None
        if not value:
            trust[name] = FieldTrust(confidence, "")
            sure_empty = confidence if tokens is not None else skip_probability(name, item.tokens)
            if sure_empty is not None and sure_empty < config.thresholds[name]:
                field_reasons.append((name, reason(LOW_CONFIDENCE, name)))
            if _expected_line(name, roles, item):
                field_reasons.append((name, reason(MISSED, name)))
            continue
        if confidence is None:  # a value the token map could not place: no ground to vouch for it
            confidence = 0.0
        found = all_evidence(name, value, item.back, item.front, config.evidence_threshold)
        fitting = [evidence for evidence in found if not _wrong_kind(name, evidence, roles, item)]
        mismatch = bool(found) and not fitting or (name == "photographer" and _is_the_subject(value, fitting, roles, item))
        source = (fitting or found or [Evidence("", 0.0)])[0].source
        if not found or mismatch:
            confidence *= NOT_IN_OCR_FACTOR
        trust[name] = FieldTrust(confidence, source)
        if confidence < config.thresholds[name]:
            field_reasons.append((name, reason(LOW_CONFIDENCE, name)))
        if not found:
            field_reasons.append((name, reason(NOT_IN_OCR, name)))
        elif mismatch:
            field_reasons.append((name, reason(ROLE_MISMATCH, name)))
        if name == "date" and item.date_iso is None:
            field_reasons.append((name, DATE_UNREADABLE))
    description = item.values.get(DESCRIPTION, "")
    described = by_field.get(DESCRIPTION)
    soundness = description_confidence(description, _mean_prob(described) if described is not None else 0.0,
                                       [*item.back, *item.front])
    if soundness is not None and soundness < config.thresholds[DESCRIPTION]:
        field_reasons.append((DESCRIPTION, reason(LOW_CONFIDENCE, DESCRIPTION)))
    fields = THRESHOLD_FIELDS if record_reasons else tuple(dict.fromkeys(name for name, _ in field_reasons))
    return Review(trust, tuple(name for name in THRESHOLD_FIELDS if name in fields),
                  tuple(record_reasons) + tuple(code for _, code in field_reasons), soundness)


def _wrong_kind(name: str, evidence: Evidence, roles: Mapping[str, frozenset[str]], item: ReviewInput) -> bool:
    """Whether the line of ``evidence`` is of a kind that says a ``name`` value in it is something else.

    A date in a RECEIVED stamp is the print's, not the photo's, only when the print tells them
    apart: another line, a dateline or a caption, gives a date."""
    if evidence.source not in roles:  # "canonical": a stamp of the agency itself
        return False
    if not contradicts(name, roles[evidence.source]):
        return False
    return name != "date" or _dated_elsewhere(roles, item)


def _is_the_subject(value: str, fitting: list[Evidence], roles: Mapping[str, frozenset[str]],
                    item: ReviewInput) -> bool:
    """A photographer who is also the title, and whom no credit line names, is the print's subject
    (SPEC §4b: never the subject; §4's WILLIAM DOIG). Credited, the name is the photographer's and
    it is the title that is wrong (a print naming nothing else)."""
    return processed(value) == processed(item.values.get("title", "")) and not any(
        CREDIT in roles.get(evidence.source, ()) for evidence in fitting)


# Lines whose numbers are not a photo's date: an address or telephone, a filing mark, a notice.
UNDATING = frozenset({ADDRESS, FILING, NOTICE})


def _dated_elsewhere(roles: Mapping[str, frozenset[str]], item: ReviewInput) -> bool:
    return any(RECEIVED not in kinds and kinds & {DATELINE, CAPTION} and is_date_text(line)
               for line, kinds in zip([*item.back, *item.front], roles.values()))


def _dated_anywhere(roles: Mapping[str, frozenset[str]], item: ReviewInput) -> bool:
    """Whether any line holds a date that may be the field's: every dated line but an address, filing
    mark or notice alone (a telephone number, a negative number, a copyright year). A RECEIVED stamp's
    date counts: when nothing else dates the print, SPEC §4b makes it the date (the print does not
    tell them apart), so an empty date beside it is a miss, not evidence of absence."""
    return any(is_date_text(line) and not kinds <= UNDATING
               for line, kinds in zip([*item.back, *item.front], roles.values()))


def _expected_line(name: str, roles: Mapping[str, frozenset[str]], item: ReviewInput) -> bool:
    """Whether the OCR holds a line of the kind that carries ``name`` (``missed:<field>``): for the
    date, any dated line that may give it (``_dated_anywhere``); for the title, a caption, or a line
    that reads as a name or subject and is not another field's value."""
    if name == "date":
        return _dated_anywhere(roles, item)
    if name == "title" and any(is_name_line(line) for line in _lines_but_values(item)):
        return True
    return any(EXPECTED[name] in kinds for kinds in roles.values())


def _lines_but_values(item: ReviewInput) -> list[str]:
    """The OCR lines that do not hold the agency's or the photographer's value."""
    values = [processed(item.values.get(other, "")) for other in ("agency", "photographer")]
    return [line for line in (*item.back, *item.front)
            if not any(value and value in processed(line) for value in values)]
