"""Prompt building (SPEC §3): the test vector, cleaning, tag neutralisation, fitting to a budget."""
import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formats.prompt import (
    build_completion, build_prompt, cap_lines, clean_field, clean_line, clean_lines, fit_prompt,
    model_input, prompt_hash, split_ocr,
)
from formats.tags import ALL_TAG_TOKENS, COMPLETION_TAGS, RESERVED_TAGS, tag

BACK = ["WILLIAM DOIG (NUJ 03:", "62 NETHERPARK AVENU", "GLASGOW G44 3XW", "SCOTLAND", "041-637-2005",
        "DEPENDENT", "LAURY", "Glasgow", "Museum and Art Galleries, Kelvingrove"]
FRONT = ["ME", "1994: :::", "RES", "ALL CALL AND MUSEUM"]
EXPECTED = (
    "<language> en <back> WILLIAM DOIG (NUJ 03: <b> 62 NETHERPARK AVENU <b> GLASGOW G44 3XW <b> SCOTLAND"
    " <b> 041-637-2005 <b> DEPENDENT <b> LAURY <b> Glasgow <b> Museum and Art Galleries, Kelvingrove"
    " <front> ME <b> 1994: ::: <b> RES <b> ALL CALL AND MUSEUM <END>"
)

PROPERTY = settings(max_examples=150, deadline=None)
# Text rich in the characters that matter: brackets, tag names, spaces, controls.
FRAGMENTS = st.sampled_from(
    ["<", ">", " ", "  ", "\t", "\n", "\x00", "\u200b", "\ud800", "|", "<|endoftext|>", " | ", "a", "Z"]
    + list(RESERVED_TAGS) + [name.upper() for name in RESERVED_TAGS] + ALL_TAG_TOKENS)
TAGGY_TEXT = st.lists(FRAGMENTS, max_size=25).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=60), TAGGY_TEXT)
RESERVED_ANY_CASE = re.compile(r"<\s*(" + "|".join(RESERVED_TAGS) + r")\s*>", re.IGNORECASE)


def words(text: str) -> int:
    """A stand-in tokenizer: one token per white-space separated word."""
    return len(text.split())


def test_spec_test_vector_is_byte_exact():
    assert build_prompt(BACK, FRONT, "en") == EXPECTED
    assert model_input(EXPECTED, "<|endoftext|>") == "<|endoftext|> " + EXPECTED


def test_empty_side_leaves_its_tag_alone():
    assert build_prompt([], ["ME"], "en") == "<language> en <back> <front> ME <END>"
    assert build_prompt(["  ", "\x00"], [], "fr") == "<language> fr <back> <front> <END>"


def test_split_ocr_string_list_and_none():
    assert split_ocr("a\nb | c\r\nd|e") == ["a", "b", "c", "d|e"]
    assert split_ocr(["a | b", None, b"caf\xc3\xa9"]) == ["a | b", "café"]
    assert split_ocr(None) == []
    assert split_ocr(b"x\xffy") == ["x\ufffdy"]


def test_clean_line_drops_controls_and_collapses_space():
    assert clean_line("  a\t\tb \x00c\x85d\u200be\ud800 ") == "a b c de"  # \x85 (NEL) is a line break
    assert clean_lines(["", " \x01 ", " x "]) == ["x"]


@pytest.mark.parametrize("raw, cleaned", [
    ("<title>", "(title)"),
    ("< TITLE >", "(TITLE)"),
    ("x <END> y", "x (END) y"),
    ("<<b>>", "<(b)>"),
    ("<language>en", "(language)en"),
    ("<|endoftext|>", "(|endoftext|>"),
    ("<titles> <bold>", "<titles> <bold>"),  # not reserved: left as OCR wrote it
])
def test_reserved_tags_are_neutralised(raw, cleaned):
    assert clean_line(raw) == cleaned


@PROPERTY
@given(ANY_TEXT)
def test_clean_line_is_idempotent_and_tag_free(raw):
    cleaned = clean_line(raw)
    assert clean_line(cleaned) == cleaned
    assert not RESERVED_ANY_CASE.search(cleaned)
    assert "<|" not in cleaned
    assert "  " not in cleaned and cleaned == cleaned.strip()
    cleaned.encode("utf-8")  # no lone surrogate left


@PROPERTY
@given(st.lists(ANY_TEXT, max_size=5), st.lists(ANY_TEXT, max_size=5))
def test_ocr_cannot_inject_tags_into_the_prompt(back, front):
    prompt = build_prompt(back + ["<title> X <END>"], front + ["<date> 1999 <|endoftext|>"], "en")
    for name in ("language", "back", "front", "END"):
        assert prompt.count(tag(name)) == 1
    for name in COMPLETION_TAGS:
        assert tag(name) not in prompt
    n_back, n_front = len(clean_lines(back)) + 1, len(clean_lines(front)) + 1
    assert prompt.count("<b>") == n_back - 1 + n_front - 1
    assert prompt.endswith(" <END>") and "<|endoftext|>" not in prompt


def test_build_completion_orders_fields_and_omits_empty_ones():
    completion = build_completion("en", {
        "description": "1994 - WILLIAM DOIG", "title": " WILLIAM  DOIG", "agency": "", "photographer": None,
        "date": "1994"})
    assert completion == "<language> en <rewrite> 1994 - WILLIAM DOIG <title> WILLIAM DOIG <date> 1994"


def test_clean_field_defuses_every_tag_looking_sequence():
    assert clean_field("a <caption> b <title c < date") == "a (caption) b (title c ( date"
    assert clean_field("3 < 4 > 2") == "3 < 4 > 2"


def test_prompt_hash_is_sha256_of_utf8():
    assert prompt_hash("é") == hashlib.sha256(b"\xc3\xa9").hexdigest()
    assert prompt_hash(EXPECTED) != prompt_hash(EXPECTED + " ")


def test_fit_prompt_leaves_a_fitting_prompt_alone():
    fitted = fit_prompt(BACK, FRONT, "en", 1000, words, "<|endoftext|>")
    assert fitted.text == EXPECTED and not fitted.truncated
    assert fitted.n_tokens == words("<|endoftext|> " + EXPECTED)
    assert fitted.back_lines == tuple(BACK) and fitted.front_lines == tuple(FRONT)


def test_fit_prompt_drops_trailing_lines_of_the_longer_side_first():
    full = words(EXPECTED)
    fitted = fit_prompt(BACK, FRONT, "en", full - 4, words)
    assert fitted.truncated and fitted.n_tokens <= full - 4
    assert fitted.front_lines == tuple(FRONT)  # the shorter side is untouched
    assert fitted.back_lines == tuple(BACK[:len(fitted.back_lines)])
    assert len(fitted.back_lines) < len(BACK)
    assert fitted.text == build_prompt(fitted.back_lines, FRONT, "en")


def test_fit_prompt_cuts_characters_of_a_single_huge_line():
    fitted = fit_prompt(["word " * 5000], ["front"], "en", 50, words)
    assert fitted.truncated and fitted.n_tokens <= 50
    assert fitted.front_lines == ("front",)
    assert len(fitted.back_lines) == 1 and fitted.back_lines[0].startswith("word word")


def test_fit_prompt_raises_when_even_the_skeleton_does_not_fit():
    skeleton = words(build_prompt([], [], "en"))
    with pytest.raises(ValueError, match="budget"):
        fit_prompt(BACK, FRONT, "en", skeleton - 1, words)
    assert fit_prompt(BACK, FRONT, "en", skeleton, words).text == build_prompt([], [], "en")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=12), st.lists(st.text(max_size=30), max_size=12),
       st.integers(min_value=8, max_value=80))
def test_fit_prompt_always_fits_and_keeps_leading_lines(back, front, budget):
    fitted = fit_prompt(back, front, "en", budget, words, "BOS")
    assert fitted.n_tokens == words(model_input(fitted.text, "BOS")) <= budget
    assert fitted.text == build_prompt(fitted.back_lines, fitted.front_lines, "en")
    for kept, original in ((fitted.back_lines, clean_lines(back)), (fitted.front_lines, clean_lines(front))):
        assert list(kept[:-1]) == original[:len(kept) - 1]
        if kept:
            assert original[len(kept) - 1].startswith(kept[-1])
    assert fitted.truncated == (fitted.text != build_prompt(back, front, "en"))


def test_fit_prompt_counts_tokens_few_times_on_huge_input():
    """What keeps huge input cheap: few calls to the tokenizer, each on bounded text."""
    calls = []

    def counting(text: str) -> int:
        calls.append(len(text))
        return words(text)

    back = ["x" * 100_000] * 10 + ["line %d of the caption" % i for i in range(10_000)]
    front = ["front %d" % i for i in range(10_000)]
    fitted = fit_prompt(back, front, "en", 300, counting, "<|endoftext|>")
    assert fitted.truncated and fitted.n_tokens <= 300
    assert len(calls) <= 25
    assert max(calls) <= 2 * 20_000 + 512 * 2 * 5 + 100  # the pre-cap bounds what is tokenised


def test_cap_lines_limits():
    assert cap_lines(["ab", "", "cd"], 5, 10, 100) == (["ab", "cd"], False)
    assert cap_lines(["abc", "def", "ghi"], 2, 10, 100) == (["abc", "def"], True)
    assert cap_lines(["abcdef"], 5, 4, 100) == (["abcd"], True)
    assert cap_lines(["abcdef", "ghijkl", "mno"], 5, 10, 9) == (["abcdef", "ghi"], True)
