"""The generator: one record = a layout of a back and a front, OCR noise on top, labels read off the
noisy words. Record ``i`` of ``(split, seed)`` depends only on those three values (its own
``random.Random`` seeded with a string, which Python hashes with SHA-512), so a stream can be
generated in any order or in parallel and is identical across runs and platforms (for a given
Faker version, whose lists are the pools).
"""
from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterator, Sequence

from train.synthetic.labels import LABEL_FIELDS, Line, read_labels, render, words
from train.synthetic.layouts import UNCUED_CREDITS, address, caption, credit, name_as_printed, phone, ref
from train.synthetic.noise import GARBAGE, ocr
from train.synthetic.vocabulary import (
    COLLECTIONS, CONDITIONS, DATE_PREFIXES, DISTRACTOR_PREFIXES, FILM_EDGE, KNOWN_AGENCIES, LANGUAGE_WEIGHTS,
    LANGUAGES, LIBRARY_MARKS, SPLITS, UNKNOWN_AGENCY_PATTERNS, Agency, Names, random_date, format_date,
)



@dataclass
class Record:
    """One generated print: the SPEC §2 input row (plus a carried-through ``collection``) and its labels."""

    id: str
    language: str
    back_ocr: list[str] | None
    front_ocr: list[str] | None
    collection: str
    labels: dict[str, str] = field(default_factory=dict)

    def record_row(self) -> dict:
        return {"id": self.id, "front_ocr": self.front_ocr, "back_ocr": self.back_ocr,
                "language": self.language, "collection": self.collection}

    def label_row(self) -> dict:
        return {"id": self.id, **{k: self.labels[k] for k in LABEL_FIELDS}, "language": self.language}



class Generator:
    """Records of one ``split`` and ``seed``; ``record(i)`` is a pure function of (split, seed, i)."""

    def __init__(self, seed: int = 0, split: str = "train", id_prefix: str | None = None,
                 noise_scale: float = 1.0, uncued_credits: float = UNCUED_CREDITS):
        if not 0.0 < uncued_credits < 1.0:
            raise ValueError(f"uncued_credits must be between 0 and 1, not {uncued_credits}")
        self.seed = seed
        self.split = split
        self.names = Names.of(split)
        self.id_prefix = id_prefix if id_prefix is not None else f"syn-{split}-{seed}"
        self.noise_scale = noise_scale
        self.uncued_credits = uncued_credits

    def records(self, n: int, start: int = 0) -> Iterator[Record]:
        for i in range(start, start + n):
            yield self.record(i)

    def record(self, index: int) -> Record:
        rng = random.Random(f"backstamp:{self.split}:{self.seed}:{index}")
        lang = rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0]
        blocks: list[list[Line]] = []   # back blocks; a block's lines stay together
        front: list[Line] = []
        labels = {"description": "", "title": "", "agency": "", "photographer": "", "date": ""}

        # Date of the photograph and where it is printed.
        y, m, d = random_date(rng)
        precision = rng.choices(("day", "month", "year"), (0.75, 0.13, 0.12))[0]
        date_text = format_date(rng, lang, y, m, d, precision)
        date_where = rng.choices(("stamp", "prefixed", "caption", "none"), (0.36, 0.2, 0.29, 0.15))[0]
        if date_where == "caption" and precision == "year":
            date_where = "stamp"

        # Agency.
        agency_kind = rng.choices(("known", "unknown", "none"), (0.6, 0.22, 0.18))[0]
        agency: Agency | None = None
        if agency_kind == "known":
            agency = rng.choice(KNOWN_AGENCIES)
            labels["agency"] = agency.canonical
            lines = [words(rng.choice(agency.stamps))]
            if agency.addresses and rng.random() < 0.6:
                lines += [words(a) for a in rng.choice(agency.addresses)]
            if rng.random() < 0.45:
                conds = CONDITIONS[agency.lang if rng.random() < 0.7 else lang]
                lines += [words(c) for c in rng.sample(conds, rng.choice((1, 1, 2)))]
            if rng.random() < 0.2:
                lines.append(words(phone(rng)))
            blocks.append(lines)
        elif agency_kind == "unknown":
            surname = self.names.surname(rng, self.names.culture(rng, lang))
            pattern = rng.choice(UNKNOWN_AGENCY_PATTERNS[lang if rng.random() < 0.75 else "en"])
            name = pattern.format(L=surname, L2=self.names.surname(rng, "en"), C=self.names.place(rng, lang))
            if pattern.isupper() or (pattern.split()[0].isupper() and rng.random() < 0.5):
                name = name.upper()
            labels["agency"] = name
            lines = [words(name, "agency")]
            lines += address(rng, self.names, lang)
            if rng.random() < 0.5:
                lines.append(words(phone(rng)))
            if rng.random() < 0.3:
                lines.append(words(rng.choice(CONDITIONS[lang])))
            blocks.append(lines)

        # Photographer credit.
        if rng.random() < 0.72:
            first, last, _ = self.names.person(rng, lang)
            shown = name_as_printed(rng, first, last)
            labels["photographer"] = shown
            blocks.append(credit(rng, self.names, lang, shown, agency, self.uncued_credits))

        # Caption (headline + body) on the back, or on a front caption strip.
        people = [self.names.person(rng, lang) for _ in range(3)]
        c, c2 = self.names.place(rng, lang), self.names.place(rng, lang)
        has_caption = rng.random() < 0.95
        caption_lines: list[Line] = []
        if has_caption:
            caption_lines, title, caption_date = caption(rng, lang, people, c, c2,
                                                          date_text if date_where == "caption" else None)
            labels["title"] = title
            if date_where == "caption" and not caption_date:
                date_where = "stamp"
        elif date_where == "caption":
            date_where = "stamp"

        # Date printed outside the caption.
        if date_where == "stamp":
            blocks.append([words(date_text, "date")])
        elif date_where == "prefixed":
            prefix = rng.choice(DATE_PREFIXES[lang])
            blocks.append([words(prefix) + words(date_text, "date")])
        if date_where != "none" and rng.random() < 0.14:
            # A receipt/filing stamp: a later date that is not the photograph's date.
            later = date.fromordinal(min(date(y, m, d).toordinal() + rng.randint(1, 400), date(2009, 12, 31).toordinal()))
            other = format_date(rng, lang if rng.random() < 0.6 else "en", later.year, later.month, later.day, "day")
            blocks.append([words(f"{rng.choice(DISTRACTOR_PREFIXES[lang])} {other}")])

        # Library marks, references, phone numbers.
        for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
            blocks.append([words(rng.choice(LIBRARY_MARKS))])
        for _ in range(rng.choice((0, 1, 1, 2))):
            blocks.append([words(ref(rng))])
        if rng.random() < 0.1:
            blocks.append([words(rng.choice(COLLECTIONS).upper())])

        # Assemble the back: blocks in random order, the caption usually first or last.
        rng.shuffle(blocks)
        caption_on_front = has_caption and rng.random() < 0.2
        if has_caption and not caption_on_front:
            pos = rng.choice((0, 0, len(blocks), len(blocks), rng.randint(0, len(blocks))))
            blocks.insert(pos, caption_lines)
        back = [line for block in blocks for line in block]

        # Front: film edge print, garbled fragments, or the caption strip.
        if caption_on_front:
            front = caption_lines + ([words(rng.choice(FILM_EDGE))] if rng.random() < 0.3 else [])
        else:
            r = rng.random()
            if r < 0.35:
                front = []
            elif r < 0.55:
                front = [words(rng.choice(FILM_EDGE))]
            else:
                front = [words(rng.choice(GARBAGE)) for _ in range(rng.randint(1, 4))]
            if rng.random() < 0.08 and labels["title"]:
                # the headline written in the margin of the front too (not a different title)
                front.append(words(labels["title"]))
        if not back and not front:
            back = [words(rng.choice(LIBRARY_MARKS))]

        # OCR errors.
        level = rng.choices((0.0, 0.025, 0.07), (0.3, 0.5, 0.2))[0] * self.noise_scale
        back = ocr(rng, back, level)
        front = ocr(rng, front, level)
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            back.insert(rng.randint(0, len(back)), words(rng.choice(GARBAGE)))

        labels = read_labels(back + front, labels, agency, lang, has_caption)
        back_lines = [render(line) for line in back]
        front_lines = [render(line) for line in front]
        return Record(
            id=f"{self.id_prefix}-{index:07d}", language=lang,
            back_ocr=back_lines if back_lines or rng.random() < 0.5 else None,
            front_ocr=front_lines if front_lines or rng.random() < 0.5 else None,
            collection=rng.choice(COLLECTIONS), labels=labels,
        )

    # -- pieces ------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# Files


def write_split(out_dir: str | Path, n: int, seed: int, split: str = "train", id_prefix: str | None = None) -> tuple[Path, Path]:
    """Write ``records.parquet`` and ``labels.parquet`` for ``n`` records; returns their paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = list(Generator(seed, split, id_prefix).records(n))
    record_schema = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                               ("back_ocr", pa.list_(pa.string())), ("language", pa.string()),
                               ("collection", pa.string())])
    label_schema = pa.schema([(name, pa.string()) for name in ("id", *LABEL_FIELDS, "language")])
    rec_path, lab_path = out / "records.parquet", out / "labels.parquet"
    pq.write_table(pa.Table.from_pylist([r.record_row() for r in records], schema=record_schema), rec_path)
    pq.write_table(pa.Table.from_pylist([r.label_row() for r in records], schema=label_schema), lab_path)
    return rec_path, lab_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.synthetic", description="Write seeded synthetic press-photo OCR records and their catalogue labels.")
    parser.add_argument("--n", type=int, required=True, help="number of records")
    parser.add_argument("--seed", type=int, required=True, help="seed; the same seed gives the same files")
    parser.add_argument("--out", required=True, help="output folder (records.parquet, labels.parquet)")
    parser.add_argument("--split", choices=SPLITS, default="train",
                        help="which partition of the name/place pools to draw from (default: train)")
    parser.add_argument("--id_prefix", default=None, help="record id prefix (default syn-SPLIT-SEED)")
    args = parser.parse_args(argv)
    rec, lab = write_split(args.out, args.n, args.seed, args.split, args.id_prefix)
    print(f"wrote {args.n} records to {rec} and labels to {lab}")
    return 0
