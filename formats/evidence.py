"""Where a field's value occurs in the OCR (SPEC §4b, §5b). Pure: rapidfuzz, no Beam, no torch.

Extractive fields (title, photographer, date, and agency apart from canonical names) appear
in the OCR up to OCR noise, so a value found nowhere is a sign of a wrong field. The search:

1. each OCR line (back first, then front), scored with rapidfuzz after its ``default_process``
   (lower case, punctuation to spaces): ``partial_ratio``, the best alignment of the value
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

``source`` is ``back:N`` / ``front:N`` with N the 0-based index among the record's cleaned
OCR lines (the lines the prompt shows, empty lines dropped), ``canonical``, or ``""``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from rapidfuzz import fuzz, utils

# Lowest similarity (0-100) that counts as found; measured on the synthetic held-out split
# (bench/results/confidence.md): right values' best-line scores against wrong values'.
EVIDENCE_THRESHOLD = 90.0
SHORT = 5  # processed values shorter than this must match whole words

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


def _numbered(back: Sequence[str], front: Sequence[str]) -> list[tuple[str, str]]:
    return [(f"back:{i}", utils.default_process(line)) for i, line in enumerate(back)] + \
           [(f"front:{i}", utils.default_process(line)) for i, line in enumerate(front)]


def _pairs(lines: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Adjacent lines of the same side, joined (``back:3`` + ``back:4`` → source ``back:3``)."""
    for (source, text), (next_source, next_text) in zip(lines, lines[1:]):
        if source.split(":")[0] == next_source.split(":")[0]:
            yield source, f"{text} {next_text}"


def _best(value: str, lines: Sequence[tuple[str, str]] | Iterator[tuple[str, str]]) -> Evidence:
    best = NOT_FOUND
    for source, text in lines:
        score = similarity(value, text)
        if score > best.score:
            best = Evidence(source, score)
    return best


def find_evidence(field: str, value: str, back: Sequence[str], front: Sequence[str],
                  threshold: float = EVIDENCE_THRESHOLD) -> Evidence:
    """The best evidence of ``value`` (a ``field`` value) in the OCR lines; ``NOT_FOUND`` below ``threshold``.

    An empty value has nothing to look for and is ``NOT_FOUND``.
    """
    processed = utils.default_process(value or "")
    if not processed:
        return NOT_FOUND
    lines = _numbered(back, front)
    found = _best(processed, lines)
    if found.score < threshold:
        found = max(found, _best(processed, _pairs(lines)), key=lambda evidence: evidence.score)
    if found.score >= threshold:
        return found
    canonical = canonical_agency(value) if field == "agency" else None
    if canonical is not None and _has_stamp(canonical, lines):
        return Evidence("canonical", 100.0)
    return Evidence("", found.score)


def _has_stamp(canonical: str, lines: list[tuple[str, str]]) -> bool:
    return any(_has_words(text, utils.default_process(stamp)) for stamp in AGENCY_STAMPS[canonical]
               for _, text in lines)
