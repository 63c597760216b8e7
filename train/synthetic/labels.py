"""Label rendering per SPEC §4b: each word of a generated print carries the field it belongs to
(``Word.tag``), so the labels are read off the OCR'd words after noise, never written apart from them.

* ``title`` — the subject as the print names it: the caption's first line (a name, mostly in capitals,
  or an event or place), or without one the subject's name in the caption text, a label's "Subject:",
  a note naming the subject; on a print whose only name is a freelancer's stamp, that name (SPEC §4).
  Empty only when the print names no subject.
* ``description`` — the ``<rewrite>``: date first where the print gives one, then the dateline's place,
  then the caption text (lines joined, hyphenated words re-joined, the "on 12 March 1962" that moved to
  the front left out): ``12 March 1962 - LONDON. John Smith arrives at the airport.`` Without a caption,
  the print's words restated as in SPEC §4's example: ``DATE - SUBJECT: PLACE. INSTITUTION.``, or where
  no subject is named ``DATE - AGENCY STAMP. PHOTOGRAPHER.`` (``DATE - Press photograph.`` in the
  record's language when not even a stamp is there).
* ``agency`` — the canonical name of a well-known agency whose stamp, credit or wire code is on the
  print (``KNOWN_AGENCIES``: "AP WIREPHOTO", "(AP)" -> "Associated Press"), else the name as stamped,
  without address or phone.
* ``photographer`` — the credited name as printed, without "Photo by", "(c)", "AP Photo/" or a stamp's
  address; never the subject.
* ``date`` — the date taken (or of the event) as printed, without "Date:", "le", "am"; never a
  "RECEIVED"/filing date. ``date_iso`` is derived by the parser, not labelled here.

Copied fields keep their OCR noise (the model copies what it reads); words of a field are joined by
single spaces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from train.synthetic.vocabulary import Agency

LABEL_FIELDS = ("description", "title", "agency", "photographer", "date")

# The description of a print that names nothing: no caption, subject, stamp or credit.
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


TAGS = ("description", "title", "agency", "canonical", "stamp", "photographer", "date", "place", "note")


def read_labels(lines: list[Line], lang: str, agency: Agency | None) -> dict[str, str]:
    """The labels of a print from its OCR'd ``lines``: each field from the words tagged with it.

    ``agency``: the well-known agency of the scene, labelled by its canonical name when a word tagged
    ``canonical`` (its stamp, credit or wire code) is on the print.
    """
    spans: dict[str, list[str]] = {tag: [] for tag in TAGS}
    for line in lines:
        for w in line:
            if not w.tag:
                continue
            tags = w.tag.split("+")
            for tag in tags:
                text = w.text
                if tag != "description" and w.tail:  # punctuation that follows a name or date in a sentence
                    text = text[: -len(w.tail)] if text.endswith(w.tail) else text.rstrip(".,;:)")
                target = spans[tag]
                if w.hyphen_cont and target and target[-1].endswith("-"):
                    target[-1] = target[-1][:-1] + text
                elif w.glue and target:
                    target[-1] += text
                else:
                    target.append(text)
            if tags == ["date"] and w.tail and spans["description"]:
                spans["description"][-1] += w.tail  # a date moved out of a sentence leaves its full stop
    field = {tag: " ".join(spans[tag]).strip(" ,;:") for tag in TAGS}
    agency_label = agency.canonical if agency is not None and spans["canonical"] else field["agency"]
    return {
        "description": describe(lang, field), "title": field["title"], "agency": agency_label,
        "photographer": field["photographer"], "date": field["date"],
    }


def describe(lang: str, field: dict[str, str]) -> str:
    """The rewrite: date first, then place, then what the print says the photo shows."""
    head = f"{field['date']} - " if field["date"] else ""
    if field["description"]:
        return head + (f"{field['place']}. " if field["place"] else "") + field["description"]
    if field["title"]:
        note = f" {field['note']}." if field["note"] else ""
        return head + field["title"] + (f": {field['place']}" if field["place"] else "") + "." + note
    restated = [value.rstrip(".") for value in (field["stamp"], field["photographer"]) if value]  # as printed
    return head + (". ".join(restated) if restated else NO_CAPTION_DESCRIPTION[lang]) + "."
