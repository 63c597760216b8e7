"""A generated corpus of hostile input files (issue 7), each row labelled with its expected outcome.

Every row has a ``case`` column (carried to the output, and inside ``record_json`` in the
dead letter), so a test can find each case's fate. ``OUTCOMES`` is the single source of
the expected outcome per case; the README shows the same table and a test keeps
the two equal.

Invalid UTF-8 in a ``string`` column cannot be written through Python strings, so those
arrays are built as ``binary`` and *viewed* as ``string`` (same buffers, no validation),
which is what a careless Parquet writer produces.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from formats.tags import RESERVED_TAGS

WRITTEN = "written"
TRUNCATED = "written, truncated"
KEPT_OR_DUPLICATE = "one written, the others dead letter: validate/duplicate_id"


def dead(stage: str, reason: str) -> str:
    return f"dead letter: {stage}/{reason}"


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # the input, in words, for the docs table
    outcome: str


STANDARD = pa.schema([("case", pa.string()), ("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                      ("back_ocr", pa.list_(pa.string())), ("language", pa.string()), ("note", pa.string())])
GOOD = ["KEYSTONE PRESS AGENCY", "12 March 1964"]
LONE_SURROGATE = "\ud800".encode("utf-8", "surrogatepass")  # b"\xed\xa0\x80": not valid UTF-8
TAKEN_AT_S, FILED_ON_DAYS = 1_700_000_000, 19_000  # 2023-11-14T22:13:20Z, 2022-01-08
TAKEN_AT_NS = 1_700_000_000_123_456_789  # a sub-microsecond part, as pandas and Spark (INT96) write
NEAR_MISSES = {"spaced": "< title >", "upper": "<TITLE>", "unclosed-b": "a<b c", "closing": "</title>",
               "unclosed-title": "<title WILLIAM", "eot": "<|endoftext|>", "doubled": "<<END>>"}


def standard_rows() -> list[tuple[Case, dict]]:
    def row(case_id, front=None, back=None, language="en", note=None):
        return {"id": case_id, "front_ocr": front, "back_ocr": back, "language": language, "note": note}

    rows = [
        (Case("null-everything", "every column null", dead("validate", "missing_id")),
         row(None, language=None)),
        (Case("empty-id", 'id ""', dead("validate", "missing_id")), row("", back=GOOD)),
        (Case("blank-id", 'id "   " (white space)', dead("validate", "missing_id")), row("   ", back=GOOD)),
        (Case("null-ocr", "both OCR columns null", dead("validate", "empty_ocr")), row("null-ocr")),
        (Case("empty-strings", 'OCR lines "", " " and language ""', dead("validate", "empty_ocr")),
         row("empty-strings", [""], ["", " "], "")),
        (Case("null-elements", "null lines inside the OCR lists, language null (→ default)", WRITTEN),
         row("null-elements", [None, "1964"], [None, *GOOD], None)),
        (Case("controls-only", "OCR of only NUL, control and zero-width characters", dead("validate", "empty_ocr")),
         row("controls-only", ["\x00\x01\x7f"], ["\u200b\x1b", "\x00"])),
        (Case("controls-mixed", "NUL, ESC, DEL, bidi overrides inside text (removed)", WRITTEN),
         row("controls-mixed", ["19\x0064"], ["KEY\x1b[31mSTONE\x7f", "\u202eAGENCY\u202c"])),
        (Case("line-100k", "one OCR line of 100,000 characters", TRUNCATED),
         row("line-100k", ["1964"], ["WORD " * 20_000])),
        (Case("lines-10k", "10,000 OCR lines", TRUNCATED),
         row("lines-10k", ["1964"], [f"line {i}" for i in range(10_000)])),
        (Case("rtl", "Arabic and Hebrew text, language ar", WRITTEN),
         row("rtl", ["١٩٦٤"], ["صورة من وكالة الأنباء", "צילום: יוסי"], "ar")),
        (Case("cjk", "Japanese and Chinese text, language ja", WRITTEN),
         row("cjk", ["昭和39年"], ["共同通信社 1964年3月12日 撮影", "新华社稿"], "ja")),
        (Case("bad-language", 'language "english"', dead("validate", "bad_language")),
         row("bad-language", back=GOOD, language="english")),
        (Case("language-case", 'language " FR " (normalised to fr)', WRITTEN),
         row("language-case", back=GOOD, language=" FR ")),
        (Case("dup-a", "id also used by dup-b in another file", KEPT_OR_DUPLICATE), row("dup", back=GOOD)),
    ]
    for name in RESERVED_TAGS:
        rows.append((Case(f"tag-{name}", f"OCR spelling the reserved tag <{name}> (neutralised)", WRITTEN),
                     row(f"tag-{name}", [f"<{name}> 1999"], [f"x <{name}>", f"<{name.upper()}> y"])))
    for label, text in NEAR_MISSES.items():
        rows.append((Case(f"near-{label}", f"OCR with the near-miss {text!r}", WRITTEN),
                     row(f"near-{label}", [text], GOOD)))
    return rows


def _invalid_utf8_file() -> tuple[list[Case], pa.Table]:
    """One row group mixing good rows with invalid UTF-8 in each kind of string column."""
    cases = [
        Case("utf8-ok", "valid row in the same row group as the ones below", WRITTEN),
        Case("utf8-bad-id", "id with a lone surrogate (invalid UTF-8) in a string column",
             dead("validate", "bad_type")),
        Case("utf8-bad-ocr", "OCR lines with 0xFF and a lone surrogate (→ U+FFFD)", WRITTEN),
        Case("utf8-bad-language", "language with invalid UTF-8", dead("validate", "bad_type")),
        Case("utf8-bad-carried", "a carried string column with invalid UTF-8", dead("read", "bad_encoding")),
    ]
    ids = [b"utf8-ok", b"bad-" + LONE_SURROGATE, b"utf8-bad-ocr", b"utf8-bad-language", b"utf8-bad-carried"]
    backs = [[g.encode() for g in GOOD], [b"x"], [b"KEY\xffSTONE", LONE_SURROGATE + b" 1964"], [b"x"], [b"x"]]
    languages = [b"en", b"en", b"en", b"e\xff", b"en"]
    notes = [b"kept note", None, None, None, b"note " + LONE_SURROGATE]

    def text(values, arrow_type=pa.string()):
        binary = pa.list_(pa.binary()) if pa.types.is_list(arrow_type) else pa.binary()
        return pa.array(values, binary).view(arrow_type)

    table = pa.table({
        "case": pa.array([case.name for case in cases]), "id": text(ids),
        "front_ocr": pa.array([["1964"]] * len(cases), pa.list_(pa.string())),
        "back_ocr": text(backs, pa.list_(pa.string())), "language": text(languages), "note": text(notes),
    })
    return cases, table


def _bad_values_file() -> tuple[list[Case], pa.Table]:
    """One row group whose carried date and timestamp columns hold values Python cannot represent."""
    cases = [
        Case("values-ok", "valid row beside the two below: a timestamp and a date32 in range", WRITTEN),
        Case("timestamp-ms-as-s", "a carried timestamp[s] column holding epoch milliseconds (year 55,000)",
             dead("read", "bad_value")),
        Case("date-far-future", "a carried date32 of 100,000,000 days (year 275,000)", dead("read", "bad_value")),
    ]
    table = pa.table({
        "case": pa.array([case.name for case in cases]), "id": pa.array([case.name for case in cases]),
        "front_ocr": pa.array([["1964"]] * 3), "back_ocr": pa.array([GOOD] * 3),
        "taken_at": pa.array([TAKEN_AT_S, TAKEN_AT_S * 1000, TAKEN_AT_S], pa.timestamp("s")),
        "filed_on": pa.array([FILED_ON_DAYS, FILED_ON_DAYS, 10**8], pa.date32()),
    })
    return cases, table


def _nanosecond_file() -> tuple[list[Case], pa.Table]:
    """Carried nanosecond timestamp, time and duration values Python's datetime types cannot hold."""
    case = Case("temporal-ns", "carried timestamp[ns] (with and without zone), time64[ns] and duration[ns] "
                "values with a sub-microsecond part", WRITTEN)
    return _typed_file(case, scanned_at=pa.array([TAKEN_AT_NS], pa.timestamp("ns")),
                       scanned_at_utc=pa.array([TAKEN_AT_NS], pa.timestamp("ns", tz="UTC")),
                       scan_time=pa.array([3_600_000_000_123], pa.time64("ns")),
                       exposure=pa.array([1_234], pa.duration("ns")))


def _typed_file(case: Case, **columns: pa.Array) -> tuple[list[Case], pa.Table]:
    """A one-row file whose columns have the given (possibly wrong) types; defaults are good values."""
    full = {"case": pa.array([case.name]), "id": pa.array([case.name]),
            "front_ocr": pa.array([["1964"]]), "back_ocr": pa.array([GOOD]), **columns}
    return [case], pa.table(full)


def _files() -> dict[str, tuple[list[Case], pa.Table]]:
    standard = standard_rows()
    files = {
        "standard": ([case for case, _ in standard],
                     pa.Table.from_pylist([{"case": case.name, **row} for case, row in standard], STANDARD)),
        "invalid-utf8": _invalid_utf8_file(),
        "bad-values": _bad_values_file(),
        "temporal-ns": _nanosecond_file(),
        "id-int": _typed_file(Case("id-int", "id column of type int64", dead("validate", "bad_type")),
                              id=pa.array([42])),
        "id-list": _typed_file(Case("id-list", "id column of type list<int64>", dead("validate", "bad_type")),
                               id=pa.array([[1, 2]])),
        "id-struct": _typed_file(Case("id-struct", "id column of type struct", dead("validate", "bad_type")),
                                 id=pa.array([{"value": "x"}])),
        "front-int": _typed_file(Case("front-int", "front_ocr of type int64", dead("validate", "bad_type")),
                                 front_ocr=pa.array([7])),
        "back-list-int": _typed_file(
            Case("back-list-int", "back_ocr of type list<int64>", dead("validate", "bad_type")),
            back_ocr=pa.array([[1, 2]])),
        "back-struct": _typed_file(Case("back-struct", "back_ocr of type struct", dead("validate", "bad_type")),
                                   back_ocr=pa.array([{"line": "x"}])),
        "language-int": _typed_file(
            Case("language-int", "language of type int64", dead("validate", "bad_type")),
            language=pa.array([1])),
        "ocr-strings": _typed_file(
            Case("ocr-strings", "OCR as one string per side, split on newlines and ' | '", WRITTEN),
            front_ocr=pa.array(["ME | 1994"]), back_ocr=pa.array(["GLASGOW\nSCOTLAND"])),
        "binary-columns": _typed_file(
            Case("binary-columns", "id, OCR and language stored as binary (valid UTF-8)", WRITTEN),
            id=pa.array([b"binary-columns"]), front_ocr=pa.array([[b"1964"]]), back_ocr=pa.array([b"KEYSTONE"]),
            language=pa.array([b"de"])),
        "extra-column": _typed_file(
            Case("extra-column", "a file with a column no other file has (carried, null elsewhere)", WRITTEN),
            extra_only_here=pa.array([7])),
        "dup-b": _typed_file(Case("dup-b", "the id of dup-a, in another file", KEPT_OR_DUPLICATE),
                             id=pa.array(["dup"])),
        "zero-rows": ([], pa.Table.from_pylist([], STANDARD)),
    }
    return files


def write_corpus(folder: Path) -> list[Case]:
    """Write every hostile file into ``folder`` (one Parquet file each) and return all cases."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    for name, (file_cases, table) in _files().items():
        pq.write_table(table, folder / f"{name}.parquet")
        cases += file_cases
    return cases


# A file with nothing in it that is still a valid input (it is part of the corpus run).
EMPTY_FILES: dict[str, str] = {"zero-rows": "a valid Parquet file with 0 rows among good files"}
NOTHING = "read; adds no rows"

# Inputs that stop the job before any work (checked by preflight), for the docs table.
STOPS: dict[str, str] = {
    "zero-matches": "no file matches --input",
    "zero-bytes": "an empty (0-byte) file among good files",
    "truncated": "a Parquet file cut in half (footer lost) among good files",
    "not-parquet": "a CSV file named .parquet among good files",
    "missing-column": "a file without back_ocr among good files",
    "carried-conflict": "two files disagree on the type of a carried column",
    "duplicate-column": "a file with two columns named id",
    "output-name-collision": "carried columns title and input_title (both would be written as input_title)",
}
