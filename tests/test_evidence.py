"""OCR evidence of a field's value (SPEC §5b ``<field>_source``): where it is, despite OCR noise."""
from __future__ import annotations

import pytest

from formats.evidence import (AGENCY_STAMPS, EVIDENCE_THRESHOLD, NOT_FOUND, all_evidence, canonical_agency, digit_runs,
                              find_evidence, match_span)

BACK = ["WILLIAM DOIG (NUJ 03:", "62 NETHERPARK AVENU", "GLASGOW G44 3XW", "SCOTLAND",
        "Museum and Art", "Galleries, Kelvingrove"]
FRONT = ["ME", "1994: :::", "RES", "ALL CALL AND MUSEUM"]


def test_a_value_on_one_line_is_found_there_with_a_0_based_index():
    assert find_evidence("title", "WILLIAM DOIG", BACK, FRONT).source == "back:0"
    assert find_evidence("date", "1994", BACK, FRONT).source == "front:1"


def test_ocr_noise_in_the_line_is_tolerated():
    noisy = ["W1LLIAM DOIG (NUJ 03:"]
    found = find_evidence("title", "William Doig", noisy, [])
    assert found.source == "back:0" and EVIDENCE_THRESHOLD <= found.score < 100


def test_a_line_that_is_only_part_of_the_value_is_not_evidence_of_it():
    assert find_evidence("title", "SCOTLAND YARD CHIEF", ["SCOTLAND"], []).source == ""


def test_a_value_wrapped_over_two_lines_points_at_its_first_line():
    assert find_evidence("title", "Museum and Art Galleries, Kelvingrove", BACK, FRONT).source == "back:4"


def test_lines_of_the_back_and_of_the_front_are_not_joined():
    assert find_evidence("title", "SCOTLAND ME", ["SCOTLAND"], ["ME"]).source == ""


def test_a_value_found_nowhere_has_no_source():
    found = find_evidence("agency", "Keystone", BACK, FRONT)
    assert found.source == "" and found.score < EVIDENCE_THRESHOLD


def test_short_values_must_be_whole_words():
    """``AP`` is not in ``CAPITAL``, nor ``Ed`` in ``United``; a fuzzy match would find them."""
    assert find_evidence("agency", "AP", ["CAPITAL PICTURES"], []).source == ""
    assert find_evidence("photographer", "Ed", ["United"], []).source == ""
    assert find_evidence("agency", "AP", ["Photo: AP / J. Smith"], []).source == "back:0"


@pytest.mark.parametrize("stamp, canonical", [
    ("AP WIREPHOTO", "Associated Press"), ("NEW YORK (AP) -- Mayor Wagner", "Associated Press"),
    ("U.P.I. TELEPHOTO", "United Press International"), ("UNITED PRESS INTERNATIONAL", "United Press International"),
    ("PHOTO A.F.P.", "Agence France-Presse"), ("dpa-Bild", "dpa"), ("FOTO ANSA", "ANSA"),
    ("KEYSTONE PRESS AGENCY LTD", "Keystone"), ("REUTERPHOTO", "Reuters"), ("Foto EFE", "EFE"),
])
def test_a_canonical_agency_is_found_through_its_stamp_variants(stamp, canonical):
    found = find_evidence("agency", canonical, ["RETURN TO LIBRARY", stamp], [])
    assert found.source in ("canonical", "back:1")  # back:1 when the stamp spells the canonical name itself
    assert canonical_agency(canonical) == canonical


def test_a_canonical_name_whose_stamp_is_absent_is_not_in_the_ocr():
    assert find_evidence("agency", "Associated Press", ["UPI TELEPHOTO"], []).source == ""


def test_stamp_variants_count_only_for_the_agency_field():
    assert find_evidence("title", "Associated Press", ["AP WIREPHOTO"], []).source == ""


def test_every_canonical_name_has_variants():
    assert all(stamps for stamps in AGENCY_STAMPS.values())


def test_an_empty_value_has_no_evidence():
    assert find_evidence("title", "", BACK, FRONT) == NOT_FOUND
    assert find_evidence("title", " .. ", BACK, FRONT) == NOT_FOUND


# --- digits are exact --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, line", [
    ("12 MAR 1969", "12 MAR 1967"),   # a fuzzy score of 95, and the wrong year
    ("Nov. 23", "Nov. 22, 1963"),
    ("1964", "1946 ARCHIVE"),
    ("OCT 3 1960", "OCT 30 1960"),
])
def test_a_value_whose_digits_differ_from_the_line_is_not_found(value, line):
    assert find_evidence("date", value, [line], []).source == ""


@pytest.mark.parametrize("value, line", [
    ("1966", "Taken 1 9 6 6"), ("1 9 6 6", "1966"),        # a spaced-out year joined on either side
    ("03.10.1960", "3.10.1960 London"),                    # leading zeros aside
    ("OCT 3 1963", "oct. 3, 1963"),
])
def test_the_same_numbers_are_found(value, line):
    assert find_evidence("date", value, [line], []).source == "back:0"


def test_digit_runs_join_a_spaced_year_only():
    assert digit_runs("1 9 6 6") == {1966}
    assert digit_runs("OCT 3, 1 9 6 3") == {3, 1963}
    assert digit_runs("OCT 3 1 9 6 3") == {1, 3, 6, 9}  # five single digits: which four are the year is a guess
    assert digit_runs("3 5 7") == {3, 5, 7}


def test_a_value_wrapped_over_two_lines_needs_its_numbers_in_the_pair():
    assert find_evidence("title", "Museum and Art Galleries 1994", ["Museum and Art", "Galleries 1994"], []).source == "back:0"
    assert find_evidence("title", "Museum and Art Galleries 1995", ["Museum and Art", "Galleries 1994"], []).source == ""


def test_all_evidence_lists_every_line_holding_the_value_best_first():
    found = all_evidence("date", "OCT 3 1963", ["RECEIVED OCT 3 1963", "OCT 3 1963", "OCT 3 1936"], ["0CT 3 1963"])
    assert [e.source for e in found] == ["back:0", "back:1", "front:0"]  # ties in line order
    assert found[0].score == found[1].score == 100 > found[2].score
    assert all_evidence("date", "", ["OCT 3 1963"], []) == []


# --- the span of the matched text, for a renderer ----------------------------------------------------------------

@pytest.mark.parametrize("field, value, line, marked", [
    ("title", "WILLIAM DOIG", "W1LLIAM DOIG (NUJ 03:", "W1LLIAM DOIG"),
    ("photographer", "John Smith", "Photo by John Smith, London", "John Smith"),
    ("agency", "AP", "Photo: AP / J. Smith", "AP"),
    ("agency", "Associated Press", "NEW YORK (AP) -- Mayor Wagner", "AP"),   # a canonical name by its stamp
    ("date", "1966", "Taken 1 9 6 6", "1 9 6 6"),
    ("title", "Museum and Art Galleries, Kelvingrove", "Museum and Art", "Museum and Art"),  # a wrapped value's part
])
def test_match_span_marks_the_matched_text_inside_the_line(field, value, line, marked):
    start, end = match_span(field, value, line)
    assert line[start:end] == marked


@pytest.mark.parametrize("field, value, line", [
    ("title", "KENNEDY", "Mayor Wagner at City Hall"), ("agency", "AP", "CAPITAL PICTURES"), ("title", "", "X")])
def test_match_span_is_none_where_the_value_is_not(field, value, line):
    assert match_span(field, value, line) is None
