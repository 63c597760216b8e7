"""The realistic evaluation set (issue 14, data/eval/realistic/): hand-written press-photo backs and fronts
in five languages, labelled per SPEC §4b. These tests keep the committed Parquet files in step with the
hand-written source and check the labels against the conventions a cataloguer can check mechanically."""
import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rapidfuzz import fuzz

SET_DIR = Path(__file__).resolve().parents[1] / "data" / "eval" / "realistic"

# Extractive values must occur in the OCR up to OCR noise. partial_ratio (0-100) scores the best-matching
# window of the OCR text. 75 lets the shortest values, four-character years, carry one misread character
# ("196O" for "1960" scores 75) and longer values two or more, while a value absent from the print scores
# far lower (a name typed from outside the OCR scores about 50 against a whole back). The check guards against
# values that are not on the print; it cannot tell a right printed value from a wrong one (a year one digit off
# also scores 75, a RECEIVED stamp's date scores 100): which printed value is right is what the labels decide.
MIN_PARTIAL_RATIO = 75

# Canonical agency names (SPEC §4b) and the stamp variants that justify them on a print. A canonical name is
# exempt from the fuzzy check but must have one of its variants in the OCR.
CANONICAL_AGENCY_VARIANTS = {
    "Associated Press": r"associated press|\bap\b|apwirephoto",
    "United Press International": r"united press|\bupi\b",
    "Agence France-Presse": r"agence france-presse|\bafp\b|a\.f\.p\.",
    "Deutsche Presse-Agentur": r"deutsche presse-agentur|\bdpa\b",
    "ANSA": r"\ba\.?n\.?s\.?a\.?(?!\w)",
    "Reuters": r"\breuters?\b",
    "EFE": r"\befe\b",
    "Keystone": r"\bkeystone\b",
    "Magnum Photos": r"\bmagnum\b",
    "Camera Press": r"camera press",
    "Sygma": r"\bsygma\b",
    "Gamma": r"\bgamma\b",
    "Ullstein Bild": r"\bullstein",
    "Fox Photos": r"fox photos",
    "Central Press Photos": r"central press",
    "Topical Press Agency": r"topical press",
    "Planet News": r"planet news",
    "Acme Newspictures": r"\bacme\b",
}
LANGUAGES = ("en", "fr", "de", "es", "it")
EXTRACTIVE = ("title", "photographer", "date", "agency")


def _build_module():
    spec = importlib.util.spec_from_file_location("realistic_build", SET_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _build_module()
RECORDS = BUILD.load_records()


def _ocr_texts(record: dict) -> list[str]:
    """The OCR as one case-folded text, and the same without white space (OCR splits and joins words)."""
    text = " ".join(record["back_ocr"] + record["front_ocr"]).casefold()
    return [text, re.sub(r"\s+", "", text)]


def test_parquet_files_equal_what_build_py_produces():
    inputs, labels = BUILD.build_tables(RECORDS)
    assert pq.read_table(SET_DIR / "records.parquet").equals(inputs)
    assert pq.read_table(SET_DIR / "labels.parquet").equals(labels)


def test_parquet_schemas_match_the_sample():
    sample = SET_DIR.parents[1] / "sample"
    sample_inputs = pq.read_schema(sample / "records.parquet")
    ours = pq.read_schema(SET_DIR / "records.parquet")
    for name in ("id", "front_ocr", "back_ocr", "language"):
        assert ours.field(name).type == sample_inputs.field(name).type
    assert pq.read_schema(SET_DIR / "labels.parquet").equals(pq.read_schema(sample / "labels.parquet"))


def test_ids_are_unique():
    ids = [r["id"] for r in RECORDS]
    assert len(ids) == len(set(ids))


def test_at_least_130_records_and_20_per_language():
    counts = Counter(r["language"] for r in RECORDS)
    assert len(RECORDS) >= 130
    assert set(counts) == set(LANGUAGES)
    assert min(counts.values()) >= 20, counts


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["id"])
def test_extractive_labels_occur_in_the_ocr(record):
    texts = _ocr_texts(record)
    for field in EXTRACTIVE:
        value = record[field]
        if not value:
            continue
        if field == "agency" and value in CANONICAL_AGENCY_VARIANTS:
            assert re.search(CANONICAL_AGENCY_VARIANTS[value], texts[0]), \
                f"{field} {value!r}: no stamp variant of the canonical name in the OCR"
            continue
        needle = value.casefold()
        best = max(fuzz.partial_ratio(needle, texts[0]), fuzz.partial_ratio(re.sub(r"\s+", "", needle), texts[1]))
        assert best >= MIN_PARTIAL_RATIO, f"{field} {value!r} not in the OCR (partial_ratio {best:.0f})"


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["id"])
def test_labels_follow_the_conventions(record):
    assert record["description"].strip() and record["description"].rstrip().endswith("."), \
        "description: one or two finished sentences"
    assert record["title"] or record["description"], "a record names something"
    if record["photographer"] and record["photographer"].casefold() == record["title"].casefold():
        assert record["layout"] == "stamp_only", "photographer is never the subject unless a stamp is all there is"
    for prefix in ("photo by", "photo:", "foto:", "foto ", "(c)", "©", "credit:"):
        assert not record["photographer"].casefold().startswith(prefix), "photographer without credit prefix"
    assert len(record["title"]) <= 60, "title is short: a name or a few words"


def test_the_original_models_example_is_included_with_spec_labels():
    example = next(r for r in RECORDS if r["back_ocr"][:1] == ["WILLIAM DOIG (NUJ 03:"])
    assert example["front_ocr"] == ["ME", "1994: :::", "RES", "ALL CALL AND MUSEUM"]
    assert (example["description"], example["title"], example["agency"], example["photographer"], example["date"]) \
        == ("1994 - WILLIAM DOIG (NUJ 03: Scotland, Glasgow. Museum and Art Galleries, Kelvingrove.",
            "WILLIAM DOIG", "", "", "1994")


def test_the_set_holds_the_variety_archives_hold():
    layouts = Counter(r["layout"] for r in RECORDS)
    assert len(layouts) >= 8 and min(layouts.values()) >= 5, layouts
    assert sum(not r["front_ocr"] for r in RECORDS) >= 3
    assert sum(len(r["back_ocr"]) >= 14 for r in RECORDS) >= 3, "a few backs with a page of notes"
    for language in LANGUAGES:
        per_language = Counter(r["layout"] for r in RECORDS if r["language"] == language)
        assert len(per_language) >= 6, (language, per_language)


def test_the_jsonl_is_one_object_a_line():
    lines = (SET_DIR / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(RECORDS)
    assert all(isinstance(json.loads(line), dict) for line in lines)
