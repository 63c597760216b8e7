"""Label rendering: each word of a generated back carries the field it belongs to (``Word.tag``), so
the labels are read off the OCR'd words after noise, never written separately from them.

Label conventions (documented in docs/training.md), chosen so a model can learn them by
copying from the OCR rather than by memorising names:

* ``title`` — the caption's headline, verbatim as OCR'd (line breaks become spaces);
  empty when the print has no headline.
* ``description`` — the caption body, verbatim as OCR'd, lines joined with spaces and
  words hyphenated across a line break re-joined; it is written in the record's
  ``language`` (the caption is in that language).
* ``agency`` — the canonical name of a well-known agency (``KNOWN_AGENCIES``: every
  stamp variant, e.g. "AP WIREPHOTO" or "WIDE WORLD PHOTOS", maps to one name), or, for
  any other agency, its name copied from the stamp; empty without an agency stamp.
* ``photographer`` — the photographer's name as printed, without "Photo by", "(c)",
  "Credit:", "REUTER /" or the address of a freelancer's stamp.
* ``date`` — the date of the photograph as printed (without "Date:", "le", "am", ...);
  dates of receipt or filing ("RECEIVED 14 APR 1962", "Eingang ...") are not the date.
  ``date_iso`` is derived by the parser, not labelled here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from train.synthetic.vocabulary import Agency

LABEL_FIELDS = ("description", "title", "agency", "photographer", "date")

# The description of a print without a caption: what it is, with its agency and date.
NO_CAPTION_DESCRIPTION = {
    "en": "Press photograph", "fr": "Photographie de presse", "de": "Pressefoto", "es": "Fotografía de prensa",
    "it": "Fotografia di stampa",
}


@dataclass
class Word:
    """A word of an OCR line; ``tag`` names the label field it belongs to (or None)."""

    text: str
    tag: str | None = None
    glue: bool = False        # no space before this word when rendered
    hyphen_cont: bool = False  # second half of a word hyphenated across a line break
    tail: str = ""             # trailing punctuation of a date word that is not part of the date


Line = list  # list[Word]


def words(text: str, tag: str | None = None) -> list[Word]:
    return [Word(w, tag) for w in text.split()]


def render(line: Sequence[Word]) -> str:
    out = []
    for i, w in enumerate(line):
        if i and not w.glue:
            out.append(" ")
        out.append(w.text)
    return "".join(out)



def read_labels(lines: list[Line], labels: dict, agency: Agency | None, lang: str, has_caption: bool) -> dict:
    """The labels of a record from its OCR'd ``lines``: each field is the text of the words tagged with it.

    ``labels`` holds what the layout decided (the agency's canonical name, the headline as typed, whether
    there is a credit); the copied fields are replaced by their noisy text as it reads in the OCR.
    """
    spans: dict[str, list[str]] = {"description": [], "title": [], "agency": [], "photographer": [], "date": []}
    for line in lines:
        for w in line:
            if not w.tag:
                continue
            for tag in w.tag.split("+"):
                text = w.text
                if tag == "date" and w.tail:
                    text = text[: -len(w.tail)] if text.endswith(w.tail) else text.rstrip(".,;:")
                target = spans[tag]
                if w.hyphen_cont and target and target[-1].endswith("-"):
                    target[-1] = target[-1][:-1] + text
                elif w.glue and target:
                    target[-1] += text
                else:
                    target.append(text)
    out = dict(labels)
    title_words = spans["title"]
    # A headline repeated on the front margin is the same title: keep the first copy.
    if title_words and labels["title"]:
        n = len(labels["title"].split())
        title_words = title_words[:n] if len(title_words) >= n else title_words
    out["title"] = " ".join(title_words)
    out["description"] = " ".join(spans["description"])
    out["photographer"] = " ".join(spans["photographer"]) if labels["photographer"] else ""
    out["date"] = " ".join(spans["date"]).strip(" ,;:")
    if agency is None and labels["agency"]:
        out["agency"] = " ".join(spans["agency"])
    if not has_caption:
        bits = [NO_CAPTION_DESCRIPTION[lang]]
        if out["agency"]:
            bits.append(out["agency"])
        if out["date"]:
            bits.append(out["date"])
        out["description"] = ", ".join(bits) + "."
    return out
