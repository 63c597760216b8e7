"""Raw Parquet row → ``ValidRecord`` or ``Rejection`` with a reason code (SPEC §2, §5).

Validation is total: it returns a rejection for every bad row instead of raising, so
the job can dead-letter the row and keep the invariant rows read = written + rejected.

Choices where the SPEC is silent:

* Bytes (a Parquet ``binary`` column): ``id`` and ``language`` are accepted when they
  are valid UTF-8 (some writers store text as binary), otherwise ``bad_type``; OCR bytes
  are decoded with replacement characters, since one bad byte in OCR is noise.
* OCR lists: ``None`` elements are dropped; any other non-text element is ``bad_type``.
* ``language``: null, empty or blank means ``default_language``; otherwise it is
  stripped and lower-cased and must be an ISO 639-1 code.
* ``id`` is kept exactly as read (not stripped); blank means ``missing_id``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from formats.prompt import clean_lines, split_ocr

# Every ISO 639-1 code (including "bh", deprecated but still in use).
ISO_639_1 = frozenset((
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de "
    "dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id "
    "ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu "
    "lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu "
    "rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr "
    "ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"
).split())

# Dead-letter reason codes (SPEC §5) and what each means, for the docs and the summary.
REASONS: dict[str, str] = {
    "missing_id": "the id is absent, null, empty or blank",
    "bad_type": "a column has a type the job cannot read as text (e.g. a number id, a list of numbers)",
    "bad_language": "the language is not an ISO 639-1 code",
    "bad_encoding": "a carried text column holds bytes that are not UTF-8 (dead-lettered at read)",
    "bad_value": "a value Arrow cannot convert to Python or back, e.g. epoch ms in a timestamp[s] (at read)",
    "empty_ocr": "no OCR line is left on either side after cleaning",
    "duplicate_id": "another row of the run has the same id; one is kept",
    "prompt_error": "the prompt could not be built within the token budget",
    "inference_error": "the model failed on this record",
    "parse_error": "the model output could not be parsed",
}
DETAIL_CHARS = 200  # values quoted in a rejection detail are cut to this


@dataclass(frozen=True)
class ColumnNames:
    """Input column names (configurable, SPEC §2)."""

    id: str = "id"
    front: str = "front_ocr"
    back: str = "back_ocr"
    language: str = "language"


@dataclass(frozen=True)
class ValidRecord:
    """A row ready for prompting: cleaned OCR lines and a checked language code."""

    id: str
    back_lines: tuple[str, ...]
    front_lines: tuple[str, ...]
    language: str
    carried: dict[str, Any] = field(default_factory=dict)  # other columns, unchanged
    raw: dict[str, Any] = field(default_factory=dict)  # the row as read, for dead letters


@dataclass(frozen=True)
class Rejection:
    """Why a row cannot be processed; ``reason`` is a key of ``REASONS``."""

    reason: str
    detail: str
    record_id: str | None = None


class _BadType(Exception):
    pass


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "..."


def _text(value: Any, column: str) -> str | None:
    """A str or UTF-8 bytes value as str; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _BadType(f"{column} is bytes that are not UTF-8: {_quote(value)}") from None
    raise _BadType(f"{column} is a {type(value).__name__}, not a string: {_quote(value)}")


def _ocr_lines(value: Any, column: str) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        for item in value:
            if item is not None and not isinstance(item, (str, bytes)):
                raise _BadType(f"{column} holds a {type(item).__name__}: {_quote(item)}")
    elif value is not None and not isinstance(value, (str, bytes)):
        raise _BadType(f"{column} is a {type(value).__name__}, not text or a list of text")
    return tuple(clean_lines(split_ocr(value)))


def is_language_code(code: str) -> bool:
    """True for an ISO 639-1 code (lower case)."""
    return code in ISO_639_1


def validate_row(row: Mapping[str, Any], columns: ColumnNames = ColumnNames(),
                 default_language: str = "en") -> ValidRecord | Rejection:
    """Check one input row (SPEC §2); never raises for any row content."""
    try:
        record_id = _text(row.get(columns.id), columns.id)
    except _BadType as error:
        return Rejection("bad_type", str(error), None)
    if record_id is None or not record_id.strip():
        return Rejection("missing_id", f"{columns.id} is {_quote(record_id)}", None)
    try:
        record_id.encode("utf-8")
    except UnicodeEncodeError:
        return Rejection("bad_type", f"{columns.id} is not valid Unicode: {_quote(record_id)}", None)

    try:
        language = _text(row.get(columns.language), columns.language)
        back = _ocr_lines(row.get(columns.back), columns.back)
        front = _ocr_lines(row.get(columns.front), columns.front)
    except _BadType as error:
        return Rejection("bad_type", str(error), record_id)

    language = (language or "").strip().lower() or default_language
    if not is_language_code(language):
        return Rejection("bad_language", f"{columns.language} {_quote(language)} is not an ISO 639-1 code",
                         record_id)
    if not back and not front:
        return Rejection("empty_ocr", f"no text in {columns.back} or {columns.front} after cleaning", record_id)

    own = {columns.id, columns.front, columns.back, columns.language}
    carried = {name: value for name, value in row.items() if name not in own}
    return ValidRecord(record_id, back, front, language, carried, dict(row))


def _json_default(value: Any) -> Any:
    """JSON for what ``json`` cannot write: text where it is text, else a readable repr."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return repr(bytes(value))
    if hasattr(value, "isoformat"):  # datetime, date, time, pandas Timestamp
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return repr(value)


def record_json(row: Any) -> str:
    """The raw row as JSON for the dead letter; never raises.

    ``ensure_ascii`` keeps the result ASCII, so even lone surrogates survive as
    ``\\udXXX`` escapes and the text is always a valid Parquet string.
    """
    try:
        return json.dumps(row, default=_json_default, ensure_ascii=True)
    except Exception:  # e.g. non-string keys or a value whose conversion fails
        try:
            return json.dumps({"repr": repr(row)}, ensure_ascii=True)
        except Exception:
            return json.dumps({"repr": f"<unrepresentable {type(row).__name__}>"})
