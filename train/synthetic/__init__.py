"""Seeded, deterministic generator of press-photo OCR records and their catalogue labels.

What it imitates: the back of a press print as an archive's OCR sees it — an agency
stamp with its address and conditions of use, a photographer's credit or rubber stamp,
a date stamp, a typed or pasted caption (often a headline and a body wrapped to a narrow
column), archive references, phone numbers, "RETURN TO LIBRARY"-style library marks and
pencil scribbles — and a front with edge print, a caption strip or a few garbled
fragments, with OCR errors on top.

Modules: ``vocabulary`` (pools split train/held-out, agencies, dates, word tables),
``layouts`` (the pieces of a back, as lines of label-tagged words), ``noise`` (OCR errors),
``labels`` (the label conventions: labels are read off the noisy tagged words) and
``generator`` (one record from a seed; Parquet files; the CLI).

CLI: ``python -m train.synthetic --n N --seed S --out DIR [--split train|heldout]``
writes ``DIR/records.parquet`` (SPEC §2 columns plus a carried-through ``collection``)
and ``DIR/labels.parquet`` (``id, description, title, agency, photographer, date,
language``).
"""
from train.synthetic.generator import Generator, Record, main, write_split
from train.synthetic.labels import LABEL_FIELDS
from train.synthetic.layouts import LAYOUTS, UNCUED_CREDITS
from train.synthetic.vocabulary import KNOWN_AGENCIES, LANGUAGES, SPLITS, Agency, pools, split_of

__all__ = ["Agency", "Generator", "KNOWN_AGENCIES", "LABEL_FIELDS", "LANGUAGES", "LAYOUTS", "Record", "SPLITS", "UNCUED_CREDITS",
           "main", "pools", "split_of", "write_split"]
