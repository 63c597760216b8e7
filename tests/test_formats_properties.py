"""Properties of the whole formats layer for any record (issue 7): Arrow → row → validation → prompt → parse.

tests/test_prompt.py and tests/test_parse.py check each function with a stand-in word
tokenizer and random text; these follow one arbitrary *row* of any types through
validation and prompt fitting with the real (tiny) BPE tokenizer, and parse what that
tokenizer can decode, as a model's output would be. Before any of that, the read step
(pipeline/read.py) turns Arrow row groups of arbitrary types and stored values into rows:
that conversion is fuzzed with Arrow tables, not Python dicts (issue 16).
"""
from __future__ import annotations

import json
from decimal import Decimal

import pyarrow as pa
import pytest
from apache_beam.pvalue import TaggedOutput
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from model.loading import load_tokenizer
from formats.arrow_rows import as_ns_integers
from formats.parse import parse_completion
from formats.prompt import fit_prompt, model_input
from formats.records import REASONS, ColumnNames, Rejection, ValidRecord, record_json, validate_row
from formats.tags import END_TAG, FIELDS, RESERVED_TAGS
from pipeline.dead_letter import DEAD
from pipeline.read import TableToRows

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from([f"<{t}>" for t in RESERVED_TAGS] + ["< title >", "<TITLE>", "<b", "<|endoftext|>",
                                                                "\x00", "\ud800", " | ", "\n", "word", "1964"]),
             max_size=20).map("".join),
)
SCALAR = st.one_of(st.none(), TEXT, st.binary(max_size=20), st.integers(), st.floats(allow_nan=True),
                   st.booleans())
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=6), st.dictionaries(st.text(max_size=5), SCALAR, max_size=3),
                  st.lists(TEXT, max_size=40))
ROW = st.fixed_dictionaries({"id": VALUE, "front_ocr": VALUE, "back_ocr": VALUE, "language": VALUE},
                            optional={"extra": VALUE})
OCR = st.one_of(TEXT, st.lists(st.one_of(TEXT, st.none()), max_size=40))
# Rows that mostly pass validation, so the prompt properties are exercised on many of them.
PLAUSIBLE_ROW = st.fixed_dictionaries({
    "id": st.text(min_size=1, max_size=20), "front_ocr": OCR, "back_ocr": OCR,
    "language": st.sampled_from(["en", "fr", "ja", "ar", None, "", " DE "])})


@pytest.fixture(scope="module")
def tokenizer(tiny_checkpoint):
    return load_tokenizer(str(tiny_checkpoint))


@PROPERTY
@given(row=ROW)
def test_any_row_of_any_types_is_validated_without_raising(row):
    result = validate_row(row)
    assert isinstance(result, (ValidRecord, Rejection))
    if isinstance(result, Rejection):
        assert result.reason in REASONS and result.detail
    assert json.loads(record_json(row)) is not None and record_json(row).isascii()


@PROPERTY
@given(row=PLAUSIBLE_ROW, budget=st.integers(min_value=40, max_value=240))
def test_any_valid_record_gets_a_prompt_within_budget_with_one_end_tag(row, budget, tokenizer):
    result = validate_row(row)
    assume(isinstance(result, ValidRecord))

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    fitted = fit_prompt(result.back_lines, result.front_lines, result.language, budget, count,
                        bos_token=tokenizer.bos_token)
    ids = tokenizer.encode(model_input(fitted.text, tokenizer.bos_token), add_special_tokens=False)
    assert len(ids) == fitted.n_tokens <= budget
    assert fitted.text.count(END_TAG) == 1 and fitted.text.endswith(END_TAG)
    # training's tokenizer has the tag bare and space-prefixed; the prompt's "... <END>" uses the latter
    end_ids = {tokenizer.convert_tokens_to_ids(END_TAG), tokenizer.convert_tokens_to_ids(" " + END_TAG)}
    assert sum(ids.count(i) for i in end_ids) == 1 and ids.count(tokenizer.eos_token_id) == 1  # the BOS only


@PROPERTY
@given(token_ids=st.lists(st.integers(min_value=0, max_value=420), max_size=60), hit_limit=st.booleans())
def test_parsing_anything_the_tokenizer_can_decode_never_raises_and_only_quotes_it(token_ids, hit_limit,
                                                                                    tokenizer):
    text = tokenizer.decode([i for i in token_ids if i < len(tokenizer)], skip_special_tokens=True)
    parsed = parse_completion(text, "en", hit_limit)
    assert parsed.status in ("ok", "partial", "unparsed") and "parser_error" not in parsed.anomalies
    for field in FIELDS:
        assert getattr(parsed, field) in text


# --- Arrow → Python: the conversion Beam's Parquet source leaves to us (pipeline/read.py) ---------------------

TIME_UNITS = ("s", "ms", "us", "ns")
TIME_ZONES = (None, "UTC", "Europe/Paris", "+05:30")
INT64 = st.one_of(st.integers(min_value=-2**63, max_value=2**63 - 1),
                  st.sampled_from([0, 1_700_000_000, 1_700_000_000_000, 1_700_000_000_000_000, 10**17, -10**15]))
INT32 = st.integers(min_value=-2**31, max_value=2**31 - 1)


def _mask(draw, n: int):
    nulls = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return pa.array(nulls, pa.bool_()) if any(nulls) else None


@st.composite
def leaf_arrays(draw, n: int) -> pa.Array:
    """n values of one primitive type, drawn as stored (so out-of-range dates and invalid UTF-8 occur)."""
    kind = draw(st.sampled_from(["int64-view", "int32-view", "integer", "float", "bool", "text", "decimal", "null"]))
    mask = _mask(draw, n)
    if kind == "int64-view":  # the stored integers of 64-bit temporal types, e.g. epoch ms in a timestamp[s]
        arrow_type = draw(st.sampled_from(
            [pa.timestamp(unit, tz) for unit in TIME_UNITS for tz in TIME_ZONES]
            + [pa.duration(unit) for unit in TIME_UNITS] + [pa.date64(), pa.time64("us"), pa.time64("ns")]))
        return pa.array(draw(st.lists(INT64, min_size=n, max_size=n)), pa.int64(), mask=mask).view(arrow_type)
    if kind == "int32-view":  # date32 far in the future, time32 beyond a day
        arrow_type = draw(st.sampled_from([pa.date32(), pa.time32("s"), pa.time32("ms")]))
        return pa.array(draw(st.lists(INT32, min_size=n, max_size=n)), pa.int32(), mask=mask).view(arrow_type)
    if kind == "integer":
        arrow_type = draw(st.sampled_from([pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint64()]))
        values = pa.array(draw(st.lists(INT64, min_size=n, max_size=n)), pa.int64(), mask=mask)
        return values.cast(arrow_type, safe=False)
    if kind == "float":
        return pa.array(draw(st.lists(st.floats(allow_nan=True), min_size=n, max_size=n)),
                        draw(st.sampled_from([pa.float32(), pa.float64()])), mask=mask)
    if kind == "bool":
        return pa.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), pa.bool_(), mask=mask)
    if kind == "text":  # string viewed over arbitrary bytes: not always valid UTF-8, as careless writers leave it
        binary, text = draw(st.sampled_from([(pa.binary(), pa.string()), (pa.large_binary(), pa.large_string()),
                                             (pa.binary(), pa.binary())]))
        values = draw(st.lists(st.one_of(st.binary(max_size=8), st.text(max_size=8).map(str.encode)),
                               min_size=n, max_size=n))
        return pa.array(values, binary, mask=mask).view(text)
    if kind == "decimal":
        precision = draw(st.integers(min_value=1, max_value=38))
        scale = draw(st.integers(min_value=0, max_value=precision))
        digits = st.integers(min_value=-(10**precision - 1), max_value=10**precision - 1)
        values = [Decimal(f"{value}e-{scale}") for value in draw(st.lists(digits, min_size=n, max_size=n))]
        return pa.array(values, pa.decimal128(precision, scale), mask=mask)
    return pa.nulls(n)


def _offsets(draw, n: int) -> tuple[pa.Array, int]:
    lengths = draw(st.lists(st.integers(min_value=0, max_value=3), min_size=n, max_size=n))
    offsets = [0]
    for length in lengths:
        offsets.append(offsets[-1] + length)
    return pa.array(offsets, pa.int32()), offsets[-1]


@st.composite
def arrow_arrays(draw, n: int, depth: int = 0) -> pa.Array:
    """n values of an arbitrary type: primitives, or lists, structs, maps and dictionaries of them."""
    kind = draw(st.sampled_from(["leaf"] if depth >= 2 else ["leaf", "leaf", "list", "struct", "map", "dictionary"]))
    if kind == "leaf":
        return draw(leaf_arrays(n))
    if kind == "list":
        offsets, total = _offsets(draw, n)
        return pa.ListArray.from_arrays(offsets, draw(arrow_arrays(total, depth + 1)), mask=_mask(draw, n))
    if kind == "struct":
        names = draw(st.lists(st.sampled_from(["a", "b", "when", "id"]), min_size=1, max_size=3))  # repeats too
        children = [draw(arrow_arrays(n, depth + 1)) for _ in names]
        return pa.StructArray.from_arrays(children, names=names, mask=_mask(draw, n))
    if kind == "map":
        offsets, total = _offsets(draw, n)
        keys = pa.array([f"k{i}" for i in range(total)], pa.string())
        return pa.MapArray.from_arrays(offsets, keys, draw(arrow_arrays(total, depth + 1)))
    dictionary = draw(leaf_arrays(draw(st.integers(min_value=1, max_value=4))))
    indices = draw(st.lists(st.integers(min_value=0, max_value=len(dictionary) - 1), min_size=n, max_size=n))
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32(), mask=_mask(draw, n)), dictionary)


@st.composite
def arrow_tables(draw) -> pa.Table:
    """A row group as the job may read it: plausible id and OCR columns, or arbitrary ones, and carried columns."""
    n = draw(st.integers(min_value=0, max_value=5))
    plausible = {"id": pa.array([f"r{i}" for i in range(n)]), "front_ocr": pa.array([["1964"]] * n),
                 "back_ocr": pa.array([["KEYSTONE"]] * n, pa.list_(pa.string()))}
    columns = {name: draw(st.one_of(st.just(array), arrow_arrays(n))) for name, array in plausible.items()}
    for name in draw(st.lists(st.sampled_from(["taken_at", "note", "extra", "language"]), max_size=3, unique=True)):
        columns[name] = draw(arrow_arrays(n))
    return pa.table(columns)


def _same(a, b) -> bool:
    return repr(a) == repr(b)  # NaN equals NaN here


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(table=arrow_tables())
def test_any_arrow_table_becomes_rows_or_dead_letters_one_per_row(table):
    """The read step never raises; every row comes out once, as a row or a read dead letter that names a
    column; a carried value passed on is the value Arrow holds and converts back to its column's type (what the
    Parquet sink does), so nothing passed on can fail the run at the end."""
    columns = ColumnNames()
    outputs = list(TableToRows(columns, "run").process(table))
    assert len(outputs) == table.num_rows
    own = {columns.id, columns.front, columns.back, columns.language}
    for n, output in enumerate(outputs):
        if isinstance(output, TaggedOutput):
            dead = output.value
            assert output.tag == DEAD and dead["stage"] == "read" and dead["reason"] in ("bad_value", "bad_encoding")
            assert any(f"column {name!r}" in dead["detail"] for name in table.column_names), dead["detail"]
            assert dead["record_json"].isascii() and isinstance(json.loads(dead["record_json"]), dict)
            continue
        assert list(output) == table.column_names
        for name in set(table.column_names) - own:
            column = table.column(name)
            pa.array([output[name]], type=column.type)  # the sink's conversion: must not raise
            try:  # nanosecond timestamps, times and durations pass as their stored integers (ns_as_int64)
                expected = as_ns_integers(column)[n].as_py()
            except Exception:  # a value Arrow cannot convert was not passed on: that row is a dead letter
                pytest.fail(f"row {n} passed on although {name}[{n}] does not convert")
            assert _same(output[name], expected), name
