"""Where a field's value occurs in the OCR (SPEC §4b, §5b). Pure: rapidfuzz, no Beam, no torch.

Extractive fields (title, photographer, date, and agency apart from canonical names) appear
in the OCR up to OCR noise, so a value found nowhere is a sign of a wrong field. The search:

1. each OCR line (back first, then front), scored with rapidfuzz after ``processed``
   (``default_process``: lower case, punctuation to spaces; then spaces collapsed): ``partial_ratio``, the best alignment of the value
   inside a longer line, which tolerates a few wrong characters (``W1LLIAM DOIG``); a line
   shorter than the value is compared whole (``ratio``), since ``partial_ratio`` would find
   the line inside the value. Values are written as printed (SPEC §4b), so word order is not
   forgiven. Short values (fewer than ``SHORT`` characters once processed: ``AP``, ``1964``)
   must appear as whole words, since a fuzzy match of a few characters is found in almost any line;
2. when no single line reaches the threshold, each pair of adjacent lines joined (a name or
   a caption wrapped over two lines); the source is the pair's first line;
3. for an agency written in its canonical form (``Associated Press``), the stamp variants of
   ``AGENCY_STAMPS`` (``AP WIREPHOTO``, ``(AP)``, ``AP/``...) as whole words, exactly: variants
   of different agencies are too alike for a fuzzy match (``AP TELEPHOTO`` / ``UPI TELEPHOTO``
   score 92). Found → source ``canonical``.

Digits are exact: a fuzzy score forgives a wrong character, and in a date or a number that
character is the fact (``12 MAR 1969`` scores 95 against ``12 MAR 1967``). So a line counts only
when every digit run of the value (``12``, ``1969``; leading zeros aside) is a digit run of that
line. A year the OCR spaced out (``1 9 6 6``) is joined first, on both sides. No OCR confusion
(``O``/``0``, ``l``/``1``) is forgiven inside digits: none could be measured safe, since the
synthetic labels are read off the noisy OCR (a value copies ``1O66`` as printed) and the realistic
set only measures; a confusion is allowed only once a labelled set shows it lets no wrong value in.

``source`` is ``back:N`` / ``front:N`` with N the 0-based index among the record's cleaned
OCR lines (the lines the prompt shows, empty lines dropped), ``canonical``, or ``""``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator, Sequence

from rapidfuzz import fuzz, utils

# Lowest similarity (0-100) that counts as found; measured on the synthetic held-out split
# (bench/results/confidence.md): right values' best-line scores against wrong values'.
EVIDENCE_THRESHOLD = 90.0
SHORT = 5  # processed values shorter than this must match whole words
_SPACED_YEAR = re.compile(r"(?<!\d)(?<!\d )\d(?: \d){3}(?! ?\d)")  # 1 9 6 6, not 3 1 9 6 6
_DIGIT_RUN = re.compile(r"\d+")

# Canonical agency name → how its stamps and credits print it (upper or lower case alike).
AGENCY_STAMPS: dict[str, tuple[str, ...]] = {
    "Associated Press": ("ASSOCIATED PRESS", "AP WIREPHOTO", "AP PHOTO", "AP LASERPHOTO", "AP TELEPHOTO", "AP", "A.P."),
    "United Press International": ("UNITED PRESS INTERNATIONAL", "UPI TELEPHOTO", "UPI PHOTO", "UNIFAX",
                                   "UPI", "U.P.I.", "UNITED PRESS"),
    "Wide World Photos": ("WIDE WORLD PHOTOS", "WIDE WORLD"),
    "Acme Newspictures": ("ACME NEWSPICTURES", "ACME TELEPHOTO", "ACME PHOTO"),
    "International News Photos": ("INTERNATIONAL NEWS PHOTOS", "INTERNATIONAL NEWS PHOTO", "INP", "I.N.P."),
    "Keystone": ("KEYSTONE PRESS AGENCY", "KEYSTONE VIEW", "KEYSTONE"),
    "Reuters": ("REUTERS", "REUTER", "REUTERPHOTO"),
    "Agence France-Presse": ("AGENCE FRANCE PRESSE", "AGENCE FRANCE-PRESSE", "AFP", "A.F.P."),
    "dpa": ("DEUTSCHE PRESSE AGENTUR", "DEUTSCHE PRESSE-AGENTUR", "DPA BILD", "DPA", "D.P.A."),
    "ANSA": ("AGENZIA ANSA", "FOTO ANSA", "ANSA"),
    "EFE": ("AGENCIA EFE", "FOTO EFE", "EFE"),
    "Press Association": ("PRESS ASSOCIATION", "P.A. PHOTO", "PA PHOTO"),
    "Central Press Photos": ("CENTRAL PRESS PHOTOS", "CENTRAL PRESS"),
    "Fox Photos": ("FOX PHOTOS",),
    "Planet News": ("PLANET NEWS",),
    "Topical Press Agency": ("TOPICAL PRESS AGENCY", "TOPICAL"),
    "Sport & General": ("SPORT & GENERAL", "SPORT AND GENERAL", "S. & G."),
    "Underwood & Underwood": ("UNDERWOOD & UNDERWOOD", "UNDERWOOD AND UNDERWOOD"),
    "Bettmann Archive": ("BETTMANN ARCHIVE", "BETTMANN"),
    "Popperfoto": ("POPPERFOTO", "PAUL POPPER"),
    "Camera Press": ("CAMERA PRESS",),
    "Black Star": ("BLACK STAR",),
    "Magnum Photos": ("MAGNUM PHOTOS", "MAGNUM"),
    "Gamma": ("AGENCE GAMMA", "GAMMA"),
    "Sygma": ("AGENCE SYGMA", "SYGMA"),
    "Sipa Press": ("SIPA PRESS", "SIPA"),
    "Roger-Viollet": ("ROGER VIOLLET", "ROGER-VIOLLET"),
    "Ullstein Bild": ("ULLSTEIN BILDERDIENST", "ULLSTEIN BILD", "ULLSTEIN"),
    "Süddeutscher Verlag": ("SÜDDEUTSCHER VERLAG", "SUDDEUTSCHER VERLAG", "SV BILDERDIENST"),
    "Publifoto": ("PUBLIFOTO",),
    "Europa Press": ("EUROPA PRESS",),
    "Hulton Archive": ("HULTON ARCHIVE", "HULTON PICTURE LIBRARY", "HULTON DEUTSCH", "HULTON"),
    "Getty Images": ("GETTY IMAGES", "GETTY"),
    "Bundesarchiv": ("BUNDESARCHIV",),
}
_CANONICAL = {utils.default_process(name): name for name in AGENCY_STAMPS}


@dataclass(frozen=True)
class Evidence:
    """Where a value was found (``source``, "" when nowhere) and how closely (``score``, 0-100)."""

    source: str
    score: float


NOT_FOUND = Evidence("", 0.0)


@lru_cache(maxsize=65536)
def processed(text: str) -> str:
    """rapidfuzz's ``default_process`` (lower case, punctuation to spaces) with spaces collapsed and a
    spaced-out year joined, so ``oct. 3, 1963`` reads ``oct 3 1963``."""
    return " ".join(utils.default_process(join_spaced_years(text)).split())


def join_spaced_years(text: str) -> str:
    """``text`` with a year the OCR spaced out joined (``1 9 6 6`` → ``1966``)."""
    return _SPACED_YEAR.sub(lambda match: match.group().replace(" ", ""), text)


@lru_cache(maxsize=65536)
def digit_runs(text: str) -> frozenset[int]:
    """The numbers written in ``text``: its digit runs, a spaced-out year joined."""
    return frozenset(int(run) for run in _DIGIT_RUN.findall(join_spaced_years(text)))


def digits_stand_in(value_digits: frozenset[int], line: str) -> bool:
    """Whether every number of the value is written in ``line`` (see the module doc)."""
    return value_digits <= digit_runs(line) if value_digits else True


def canonical_agency(value: str) -> str | None:
    """The canonical name of ``value`` when it is one of ``AGENCY_STAMPS``' names, else None."""
    return _CANONICAL.get(utils.default_process(value))


def similarity(value: str, line: str) -> float:
    """How well processed ``value`` occurs in processed ``line`` (0-100), see the module doc."""
    if len(value) < SHORT:
        return 100.0 if _has_words(line, value) else 0.0
    if len(line) < len(value):  # partial_ratio would look for the line inside the value
        return fuzz.ratio(value, line)
    return fuzz.partial_ratio(value, line)


def _has_words(line: str, words: str) -> bool:
    return f" {words} " in f" {line} "


@dataclass(frozen=True)
class _Line:
    source: str
    text: str  # as printed: its digits are read from it
    processed: str


def _numbered(back: Sequence[str], front: Sequence[str]) -> list[_Line]:
    return [_Line(f"{side}:{i}", line, processed(line))
            for side, lines in (("back", back), ("front", front)) for i, line in enumerate(lines)]


def _pairs(lines: list[_Line]) -> Iterator[_Line]:
    """Adjacent lines of the same side, joined (``back:3`` + ``back:4`` → source ``back:3``)."""
    for line, after in zip(lines, lines[1:]):
        if line.source.split(":")[0] == after.source.split(":")[0]:
            yield _Line(line.source, f"{line.text} {after.text}", f"{line.processed} {after.processed}")


def _scored(value: str, digits: frozenset[int], lines: Iterable[_Line]) -> list[Evidence]:
    """Each line's score; 0 for a line lacking one of the value's numbers."""
    return [Evidence(line.source, similarity(value, line.processed) if digits_stand_in(digits, line.text) else 0.0)
            for line in lines]


def all_evidence(field: str, value: str, back: Sequence[str], front: Sequence[str],
                 threshold: float = EVIDENCE_THRESHOLD) -> list[Evidence]:
    """Every line that is evidence of ``value`` at ``threshold``, best first (ties: back before front, in order).

    Lines one by one; when none reaches the threshold, adjacent pairs; for a canonical agency
    whose name is found nowhere, ``[Evidence("canonical", 100)]`` when one of its stamps is.
    An empty value has nothing to look for: ``[]``.
    """
    return _search(field, value, back, front, threshold)[0]


def find_evidence(field: str, value: str, back: Sequence[str], front: Sequence[str],
                  threshold: float = EVIDENCE_THRESHOLD) -> Evidence:
    """The best evidence of ``value`` (a ``field`` value) in the OCR lines; below ``threshold`` its
    source is "" and its score the best one seen (``NOT_FOUND`` for an empty value)."""
    found, best = _search(field, value, back, front, threshold)
    return found[0] if found else Evidence("", best)


def _search(field: str, value: str, back: Sequence[str], front: Sequence[str],
            threshold: float) -> tuple[list[Evidence], float]:
    words = processed(value or "")
    if not words:
        return [], 0.0
    digits = digit_runs(value)
    lines = _numbered(back, front)
    scored = _scored(words, digits, lines)
    if not any(evidence.score >= threshold for evidence in scored):
        scored += _scored(words, digits, _pairs(lines))
    found = sorted((evidence for evidence in scored if evidence.score >= threshold),
                   key=lambda evidence: -evidence.score)
    if not found:
        canonical = canonical_agency(value) if field == "agency" else None
        if canonical is not None and _has_stamp(canonical, lines):
            found = [Evidence("canonical", 100.0)]
    return found, max((evidence.score for evidence in scored), default=0.0)


def _has_stamp(canonical: str, lines: list[_Line]) -> bool:
    return any(_has_words(line.processed, utils.default_process(stamp)) for stamp in AGENCY_STAMPS[canonical]
               for line in lines)


def _positional(line: str) -> str:
    """``default_process`` without its strip, one character for one, so positions stay the line's."""
    return "".join(lower if char.isalnum() and len(lower := char.lower()) == 1 else (char if char.isalnum() else " ")
                   for char in line)


def match_span(field: str, value: str, line: str, threshold: float = EVIDENCE_THRESHOLD) -> tuple[int, int] | None:
    """Where ``value`` (a ``field`` value) stands in ``line``: (start, end) character offsets into the
    line as given, so that ``line[start:end]`` is the matched text; None when it is not there.

    For a renderer that marks the matched text of a ``<field>_source`` line rather than the whole
    line. The same alignment as ``find_evidence``: a canonical agency by the first of its stamp
    forms in the line; short values as whole words (a spaced-out year too); longer ones by
    rapidfuzz's best partial alignment at ``threshold`` (OCR noise inside the span allowed). A
    value wrapped over two lines (a source that is the first of a pair) gives the part in each
    line: a line that is only part of the value is marked whole when it aligns inside the value.
    """
    words = processed(value or "")
    if not words or not line:
        return None
    text = _positional(line)
    canonical = canonical_agency(value) if field == "agency" else None
    for stamp in AGENCY_STAMPS[canonical] if canonical is not None else ():
        if span := _words_span(utils.default_process(stamp), text):
            return _trimmed(line, *span)
    if len(words) < SHORT:
        span = _words_span(words, text) or (_words_span(" ".join(words), text) if words.isdigit() else None)
        return _trimmed(line, *span) if span else None
    if len(text.strip()) < len(words):
        inside = fuzz.partial_ratio_alignment(text.strip(), words)
        return _trimmed(line, 0, len(line)) if inside.score >= threshold else None
    aligned = fuzz.partial_ratio_alignment(words, text)
    return _trimmed(line, aligned.dest_start, aligned.dest_end) if aligned.score >= threshold else None


def _words_span(words: str, text: str) -> tuple[int, int] | None:
    match = re.search(r"(?<!\S)" + re.escape(words).replace(r"\ ", r"\s+") + r"(?!\S)", text)
    return match.span() if match else None


def _trimmed(line: str, start: int, end: int) -> tuple[int, int] | None:
    """The span without the spaces and punctuation at its edges."""
    while start < end and not line[start].isalnum():
        start += 1
    while end > start and not line[end - 1].isalnum():
        end -= 1
    return (start, end) if start < end else None
