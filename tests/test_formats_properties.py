"""Properties of the whole formats layer for any record (issue 7): row → validation → prompt → parse.

tests/test_prompt.py and tests/test_parse.py check each function with a stand-in word
tokenizer and random text; these follow one arbitrary *row* of any types through
validation and prompt fitting with the real (tiny) BPE tokenizer, and parse what that
tokenizer can decode, as a model's output would be.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from model.loading import load_tokenizer
from formats.parse import parse_completion
from formats.prompt import fit_prompt, model_input
from formats.records import REASONS, Rejection, ValidRecord, record_json, validate_row
from formats.tags import END_TAG, FIELDS, RESERVED_TAGS
from tests.tiny_checkpoint import build_tiny_checkpoint

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
def tokenizer(tmp_path_factory):
    return load_tokenizer(str(build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")))


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
