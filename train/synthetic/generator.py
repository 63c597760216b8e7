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

from train.synthetic.labels import LABEL_FIELDS, read_labels, render, words
from train.synthetic.layouts import (
    BUILDERS, LAYOUTS, UNCUED_CREDITS, Scene, name_as_printed, pencil_note, ref, unknown_agency,
)
from train.synthetic.noise import GARBAGE, ocr
from train.synthetic.vocabulary import (
    COLLECTIONS, DISTRACTOR_PREFIXES, EVENT_CAPTIONS, FILM_EDGE, KNOWN_AGENCIES, LANGUAGE_WEIGHTS, LANGUAGES,
    LIBRARY_MARKS, SPLITS, WIRE_CODES, WIRE_HOME, Names, format_date, random_date, wire_date,
)

AGENCY_BY_NAME = {agency.canonical: agency for agency in KNOWN_AGENCIES}
# Per layout: shares of (well-known, other, no) agency; share of prints crediting a photographer; share
# with a "RECEIVED"/filing stamp of a later date.
AGENCY_SHARES = {"typed_slip": (0.6, 0.22, 0.18), "stamped_back": (0.6, 0.3, 0.1), "clipping": (0.4, 0.2, 0.4),
                 "museum_label": (0.3, 0.15, 0.55), "no_caption": (0.6, 0.3, 0.1)}
CREDIT_SHARE = {"typed_slip": 0.75, "wire_caption": 0.6, "stamped_back": 0.85, "clipping": 0.65, "museum_label": 0.7}
RECEIVED_SHARE = {"typed_slip": 0.14, "wire_caption": 0.35, "stamped_back": 0.6, "clipping": 0.15,
                  "museum_label": 0.05, "no_caption": 0.15}


@dataclass
class Record:
    """One generated print: the SPEC §2 input row (plus a carried-through ``collection``) and its labels."""

    id: str
    language: str
    back_ocr: list[str] | None
    front_ocr: list[str] | None
    collection: str
    labels: dict[str, str] = field(default_factory=dict)
    layout: str = ""                                      # which of LAYOUTS (not written to the files)
    facts: dict = field(default_factory=dict)             # subject as printed, RECEIVED dates, people shown

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
        layout = rng.choices(tuple(LAYOUTS), tuple(LAYOUTS.values()))[0]
        scene = self._scene(rng, lang, layout)
        sheet = BUILDERS[layout](rng, self.names, scene, self.uncued_credits)

        # Over every layout: a receipt stamp with its own later date, library marks, references, pencil.
        blocks = list(sheet.blocks)
        received = []
        if sheet.dated and rng.random() < RECEIVED_SHARE[layout]:
            y, m, d = scene.ymd
            later = date.fromordinal(min(date(y, m, d).toordinal() + rng.randint(1, 400), date(2009, 12, 31).toordinal()))
            text = format_date(rng, lang if rng.random() < 0.6 else "en", later.year, later.month, later.day, "day")
            received.append(text)
            blocks.append([words(f"{rng.choice(DISTRACTOR_PREFIXES[lang])} {text}")])
        for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):
            blocks.append([words(rng.choice(LIBRARY_MARKS))])
        for _ in range(rng.choice((0, 1, 1, 2))):
            blocks.append([words(ref(rng))])
        if rng.random() < 0.1:
            blocks.append([words(rng.choice(COLLECTIONS).upper())])
        if rng.random() < 0.3:
            blocks += [[pencil_note(rng)] for _ in range(rng.randint(1, 3))]

        # The back: blocks in random order, the caption where its layout puts it.
        rng.shuffle(blocks)
        if sheet.caption:
            pos = {"first": 0, "last": len(blocks), "any": rng.randint(0, len(blocks))}[sheet.caption_at]
            blocks.insert(pos, sheet.caption)
        back = [line for block in blocks for line in block]

        # The front: what the layout put there, else film edge print, garbled fragments or nothing.
        front = list(sheet.front)
        if not front:
            r = rng.random()
            if r < 0.2:
                front = [words(rng.choice(FILM_EDGE))]
            elif r < 0.65:
                front = [words(rng.choice(GARBAGE)) for _ in range(rng.randint(1, 4))]
        if not back and not front:
            back = [words(rng.choice(LIBRARY_MARKS))]

        # OCR errors.
        level = rng.choices((0.0, 0.025, 0.07), (0.3, 0.5, 0.2))[0] * self.noise_scale
        back = ocr(rng, back, level)
        front = ocr(rng, front, level)
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            back.insert(rng.randint(0, len(back)), words(rng.choice(GARBAGE)))

        labels = read_labels(back + front, lang, scene.agency)
        back_lines = [render(line) for line in back]
        front_lines = [render(line) for line in front]
        return Record(
            id=f"{self.id_prefix}-{index:07d}", language=lang,
            back_ocr=back_lines if back_lines or rng.random() < 0.5 else None,
            front_ocr=front_lines if front_lines or rng.random() < 0.5 else None,
            collection=rng.choice(COLLECTIONS), labels=labels, layout=layout,
            facts={"subject": sheet.subject, "received": received,
                   "people": [f"{first} {last}" for first, last, _ in scene.people]},
        )

    def _scene(self, rng: random.Random, lang: str, layout: str) -> Scene:
        """The print's facts: who or what it shows, where, when, which agency, which photographer."""
        names = self.names
        people = [names.person(rng, lang) for _ in range(3)]
        c, c2 = names.place(rng, lang), names.place(rng, lang)
        event = rng.choice(sorted(EVENT_CAPTIONS[lang])) if rng.random() < 0.25 else None
        y, m, d = random_date(rng)
        if layout == "wire_caption":
            precision, date_text = "day", wire_date(rng, lang, y, m, d)
        else:
            precision = rng.choices(("day", "month", "year"), (0.75, 0.13, 0.12))[0]
            date_text = format_date(rng, lang, y, m, d, precision)
        scene = Scene(lang, people, c, c2, event, (y, m, d), date_text, precision)

        if layout == "wire_caption":  # a wire service: mostly the language's own
            home = WIRE_HOME[lang] if rng.random() < 0.7 else tuple(WIRE_CODES)
            scene.agency = AGENCY_BY_NAME[rng.choice(home)]
        else:
            kind = rng.choices(("known", "unknown", "none"), AGENCY_SHARES[layout])[0]
            if kind == "known":
                scene.agency = rng.choice(KNOWN_AGENCIES)
            elif kind == "unknown":
                scene.agency_name = unknown_agency(rng, names, lang)

        # The photographer: never one of the people the print shows (SPEC §4b).
        if layout == "no_caption" or rng.random() < CREDIT_SHARE[layout]:
            shown_people = {(f, l) for f, l, _ in people}
            for _ in range(10):
                first, last, _ = names.person(rng, lang)
                if (first, last) not in shown_people and all(last != l for _, l, _ in people):
                    break
            scene.photographer = name_as_printed(rng, first, last)
        return scene

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
