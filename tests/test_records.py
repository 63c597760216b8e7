"""Row validation (SPEC §2): one test per reason code, plus the carried columns and record_json."""
import datetime as dt
import json

import pytest

from formats.records import ColumnNames, Rejection, ValidRecord, record_json, validate_row

COLUMNS = ColumnNames()


def row(**overrides):
    base = {"id": "r1", "front_ocr": ["ME", "1994: :::"], "back_ocr": "WILLIAM DOIG | GLASGOW\nSCOTLAND",
            "language": "en", "box": 7}
    base.update(overrides)
    return base


def test_valid_row_is_cleaned_and_carries_other_columns():
    record = validate_row(row(language=" FR "), COLUMNS)
    assert isinstance(record, ValidRecord)
    assert record.id == "r1" and record.language == "fr"
    assert record.back_lines == ("WILLIAM DOIG", "GLASGOW", "SCOTLAND")
    assert record.front_lines == ("ME", "1994: :::")
    assert record.carried == {"box": 7}
    assert record.raw == row(language=" FR ")


def test_configurable_column_names():
    columns = ColumnNames(id="key", front="f", back="b", language="lang")
    record = validate_row({"key": "k", "f": None, "b": ["x"], "lang": None, "id": "other"}, columns, "de")
    assert (record.id, record.back_lines, record.language, record.carried) == ("k", ("x",), "de", {"id": "other"})


@pytest.mark.parametrize("value", [None, "", "   ", "\t"])
def test_missing_id(value):
    rejection = validate_row(row(id=value), COLUMNS)
    assert isinstance(rejection, Rejection)
    assert (rejection.reason, rejection.record_id) == ("missing_id", None) and rejection.detail


def test_absent_id_column_is_missing_id():
    values = row()
    del values["id"]
    assert validate_row(values, COLUMNS).reason == "missing_id"


@pytest.mark.parametrize("overrides, record_id", [
    ({"id": 12}, None),
    ({"id": b"\xff\xfe"}, None),
    ({"id": "bad\ud800"}, None),
    ({"front_ocr": [1, 2]}, "r1"),
    ({"back_ocr": {"text": "a"}}, "r1"),
    ({"back_ocr": 3.5}, "r1"),
    ({"language": 1}, "r1"),
    ({"language": ["en"]}, "r1"),
])
def test_bad_type(overrides, record_id):
    rejection = validate_row(row(**overrides), COLUMNS)
    assert isinstance(rejection, Rejection) and rejection.reason == "bad_type"
    assert rejection.record_id == record_id and rejection.detail


def test_bytes_and_none_elements_are_read():
    record = validate_row(row(id=b"r2", front_ocr=[None, b"caf\xc3\xa9", "x"], back_ocr=None, language=b"it"))
    assert (record.id, record.front_lines, record.back_lines, record.language) == ("r2", ("café", "x"), (), "it")


@pytest.mark.parametrize("language", ["english", "xx", "e", "en-GB", "zz"])
def test_bad_language(language):
    assert validate_row(row(language=language), COLUMNS).reason == "bad_language"


@pytest.mark.parametrize("language", [None, "", "  "])
def test_null_language_takes_the_default(language):
    assert validate_row(row(language=language), COLUMNS, default_language="es").language == "es"


@pytest.mark.parametrize("front, back", [(None, None), ([], ""), ([" ", None, "\x00"], "\n | \n")])
def test_empty_ocr(front, back):
    rejection = validate_row(row(front_ocr=front, back_ocr=back), COLUMNS)
    assert (rejection.reason, rejection.record_id) == ("empty_ocr", "r1")


def test_record_json_never_fails():
    weird = {"id": b"\xff", "when": dt.datetime(1964, 6, 3, tzinfo=dt.timezone.utc), "s": "\ud800",
             "set": {2, 1}, "obj": object()}
    decoded = json.loads(record_json(weird))
    assert decoded["id"] == "b'\\xff'" and decoded["when"] == "1964-06-03T00:00:00+00:00"
    assert decoded["s"] == "\ud800" and decoded["set"] == [1, 2] and decoded["obj"].startswith("<object")
    assert record_json(weird).isascii()
    assert "repr" in json.loads(record_json({(1, 2): "tuple key"}))
    assert json.loads(record_json(row())) == row()
