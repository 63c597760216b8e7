"""Review routing (SPEC §5b): which fields the job vouches for, which go to a person and why,
and how the run counts them."""
from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from formats.review import (AGGREGATES, DEFAULT_THRESHOLDS, NOT_IN_OCR_FACTOR, REVIEWED_FIELDS, THRESHOLD_FIELDS,
                            FieldTokens, Review, ReviewConfig, ReviewInput, route, skip_probability)
from formats.schemas import output_schema
from pipeline.job import review_config, review_summary
from pipeline.manifest import review_counts
from pipeline.options import BackstampOptions
from pipeline.preflight import InputError

BACK = ["KEYSTONE PRESS AGENCY LTD", "THE BEATLES", "Photo by John Smith"]
FRONT = ["OCT 3 1963"]
SURE = math.log(0.999)


def sure(field: str) -> FieldTokens:
    return FieldTokens(field, SURE, (SURE, SURE), SURE)


def item(values: dict[str, str] | None = None, tokens=None, **changes) -> ReviewInput:
    values = values if values is not None else {
        "title": "THE BEATLES", "agency": "Keystone", "photographer": "John Smith", "date": "OCT 3 1963"}
    base = dict(values=values, date_iso="1963-10-03", back=BACK, front=FRONT, parse_status="ok",
                truncated=False, looped=False, hit_limit=False,
                tokens=tokens if tokens is not None else [sure(name) for name in values])
    return ReviewInput(**{**base, **changes})


def test_sure_values_found_in_the_ocr_are_vouched_for():
    review = route(item())
    assert not review.needs_review and review.review_fields == () and review.review_reasons == ()
    assert {name: t.source for name, t in review.trust.items()} == {
        "title": "back:1", "agency": "back:0", "photographer": "back:2", "date": "front:0"}
    assert all(t.confidence == pytest.approx(0.999) for t in review.trust.values())


def test_a_low_confidence_value_goes_to_review_alone():
    unsure = FieldTokens("photographer", SURE, (SURE, math.log(0.2)), SURE)
    review = route(item(tokens=[sure("title"), sure("agency"), unsure, sure("date")]))
    assert review.review_fields == ("photographer",)
    assert review.review_reasons == ("low_confidence:photographer",)
    assert review.trust["photographer"].confidence == pytest.approx(0.2)
    assert review.needs_review


def test_the_threshold_decides_what_is_low():
    unsure = FieldTokens("title", math.log(0.7), (SURE,), SURE)
    tokens = [unsure, sure("agency"), sure("photographer"), sure("date")]
    assert route(item(tokens=tokens), ReviewConfig(thresholds={**DEFAULT_THRESHOLDS, "title": 0.6})).review_fields == ()
    assert route(item(tokens=tokens), ReviewConfig(thresholds={**DEFAULT_THRESHOLDS, "title": 0.8})).review_fields == (
        "title",)


def test_a_value_found_nowhere_in_the_ocr_goes_to_review_even_when_the_model_is_sure():
    values = {"title": "THE BEATLES", "agency": "Associated Press", "photographer": "John Smith",
              "date": "OCT 3 1963"}
    review = route(item(values))
    assert review.review_fields == ("agency",)
    assert review.review_reasons == ("low_confidence:agency", "not_in_ocr:agency")
    assert review.trust["agency"].source == ""
    assert review.trust["agency"].confidence == pytest.approx(0.999 * NOT_IN_OCR_FACTOR)  # the print does not back it


def test_a_canonical_agency_is_vouched_for_through_its_stamp():
    values = {"title": "THE BEATLES", "agency": "Associated Press", "photographer": "", "date": ""}
    review = route(item(values, back=["AP WIREPHOTO", "THE BEATLES"], front=[]))
    assert review.trust["agency"].source == "canonical" and not review.needs_review


def test_a_date_that_cannot_be_read_goes_to_review():
    review = route(item(date_iso=None))
    assert review.review_fields == ("date",) and review.review_reasons == ("date_unreadable",)


@pytest.mark.parametrize("change, reason", [
    ({"looped": True}, "loop"), ({"hit_limit": True}, "token_limit"),
    ({"parse_status": "partial"}, "parse_partial"), ({"truncated": True}, "truncated")])
def test_a_record_in_doubt_sends_every_field_to_review(change, reason):
    review = route(item(**change))
    assert review.review_fields == THRESHOLD_FIELDS and review.review_reasons == (reason,)


def test_a_row_moved_on_from_a_loop_that_then_ran_out_has_both_reasons():
    """The guard moves a looping row on to its next field; if it then runs out, the fields after
    that are missing too, which the reviewer should know."""
    assert route(item(looped=True, hit_limit=True)).review_reasons == ("loop", "token_limit")


ONLY_A_NAME = {"back": ["THE BEATLES"], "front": []}  # no stamp, credit or date: nothing says a field was missed


def test_a_field_the_model_left_out_surely_has_no_confidence_and_is_vouched_for():
    values = {"title": "THE BEATLES", "agency": "", "photographer": "", "date": ""}
    review = route(item(values, tokens=[sure("title")], **ONLY_A_NAME))  # the end of the title: sure, skipping the rest
    assert review.trust["agency"].confidence is None and review.trust["agency"].source == ""
    assert not review.needs_review


def test_a_field_the_model_left_out_unsurely_goes_to_review_by_the_token_that_skipped_it():
    values = {"title": "THE BEATLES", "agency": "", "photographer": "John Smith", "date": "OCT 3 1963"}
    skipping = FieldTokens("photographer", math.log(0.4), (SURE, SURE), SURE)  # written where <agency> would go
    review = route(item(values, tokens=[sure("title"), skipping, sure("date")], back=["THE BEATLES", "Photo by John Smith"]))
    assert review.trust["agency"].confidence is None  # SPEC §5b: null for a field the model did not write
    assert review.review_fields == ("agency", "photographer")
    assert review.review_reasons == ("low_confidence:agency", "low_confidence:photographer")


@pytest.mark.parametrize("tokens, skipped, expected", [
    ([sure("title"), FieldTokens("date", math.log(0.6), (SURE,), SURE)], "agency", 0.6),  # the next written tag
    ([sure("title"), FieldTokens("date", math.log(0.6), (SURE,), SURE)], "photographer", 0.6),
    ([sure("title"), FieldTokens("agency", SURE, (SURE,), math.log(0.3))], "date", 0.3),  # the end after the last
    ([FieldTokens("agency", SURE, (SURE,), None)], "date", None),  # the output ran out: no decision to read
])
def test_the_skip_probability_is_the_token_written_where_the_tag_would_go(tokens, skipped, expected):
    assert skip_probability(skipped, tokens) == (None if expected is None else pytest.approx(expected))


def test_a_field_written_empty_with_confidence_is_vouched_for():
    values = {"title": "THE BEATLES", "agency": "", "photographer": "", "date": ""}
    review = route(item(values, tokens=[sure(name) for name in values], **ONLY_A_NAME))
    assert review.trust["agency"].confidence == pytest.approx(0.999) and review.trust["agency"].source == ""
    assert not review.needs_review


def test_a_field_written_empty_without_confidence_goes_to_review():
    """"No agency on this print" is a claim the catalogue would take on trust: an unsure one is checked."""
    values = {"title": "THE BEATLES", "agency": "", "photographer": "", "date": ""}
    unsure_empty = FieldTokens("agency", SURE, (), math.log(0.3))  # closing the field at once was a 0.3 guess
    review = route(item(values, tokens=[sure("title"), unsure_empty, sure("photographer"), sure("date")],
                        **ONLY_A_NAME))
    assert review.trust["agency"].confidence == pytest.approx(0.3)
    assert review.review_fields == ("agency",) and review.review_reasons == ("low_confidence:agency",)


def test_a_value_without_recorded_probabilities_is_not_vouched_for():
    review = route(item(tokens=[sure("title"), sure("agency"), sure("date")]))
    assert review.trust["photographer"].confidence == 0.0
    assert review.review_reasons == ("low_confidence:photographer",)


def test_the_aggregates_read_the_tokens_they_name():
    tokens = FieldTokens("title", math.log(0.5), (math.log(0.9), math.log(0.4)), math.log(0.3))
    assert AGGREGATES["min_prob"](tokens) == pytest.approx(0.4)
    assert AGGREGATES["mean_prob"](tokens) == pytest.approx(math.sqrt(0.9 * 0.4))
    assert AGGREGATES["first_prob"](tokens) == pytest.approx(0.9)
    assert AGGREGATES["min_prob_with_bounds"](tokens) == pytest.approx(0.3)


def test_review_columns_fit_the_output_schema():
    rows = [route(item()).columns(), route(item(looped=True)).columns(),
            route(item({"title": "X", "agency": "", "photographer": "", "date": ""}, tokens=[])).columns()]
    fields = [f for f in output_schema() if f.name in rows[0]]
    assert [f.name for f in fields] == list(rows[0])
    table = pa.Table.from_pylist(rows, schema=pa.schema(fields))
    assert table.column("needs_review").to_pylist() == [False, True, True]
    assert table.column("agency_confidence").to_pylist()[2] is None
    assert table.schema.field("title_confidence").type == pa.float64()


def test_thresholds_are_options_with_the_measured_defaults():
    options = PipelineOptions(["--review_threshold_photographer", "0.9"]).view_as(BackstampOptions)
    config = review_config(options)
    assert config.thresholds == {**DEFAULT_THRESHOLDS, "photographer": 0.9}
    with pytest.raises(InputError, match="review thresholds"):
        review_config(PipelineOptions(["--review_threshold_title", "1.5"]).view_as(BackstampOptions))
    described = review_config(PipelineOptions(["--review_threshold_description", "0.7"]).view_as(BackstampOptions))
    assert described.thresholds["description"] == 0.7 and described.in_force()["thresholds"]["description"] == 0.7


def test_the_manifest_counts_records_and_fields_by_reason():
    counters = {"review_records": 3, "review_fields": 6, "review_reason:loop": 1,
                "review_reason:low_confidence:title": 2, "review_field:title": 3, "review_field:agency": 1,
                "parse_ok": 9}
    counts = review_counts(counters)
    assert counts == {"records": 3, "fields": 6, "by_reason": {"loop": 1, "low_confidence:title": 2},
                      "by_field": {"agency": 1, "title": 3}}
    lines = review_summary(counts)
    assert "3 records, 6 fields" in lines[0] and lines[1].endswith("low_confidence:title: 2, loop: 1")


DEMO = Path(__file__).resolve().parents[1] / "data" / "models" / "demo-gptj"


def synthetic_prints(n: int) -> list[dict]:
    """Input rows of synthetic prints (train.synthetic, a held-out split), on which the demo model writes values."""
    from train.synthetic.generator import Generator

    return [record.record_row() for record in Generator(seed=11, split="heldout").records(n)]


def test_a_run_writes_the_review_columns_and_its_manifest_counts_them(tmp_path):
    """The whole job on DirectRunner with the demo model, which writes real values: every source
    points at a line that holds its value, digits included; the manifest's counts equal what the
    written rows say and it records the rules in force."""
    import collections
    import json

    import pyarrow.parquet as pq

    from formats.evidence import AGENCY_STAMPS, canonical_agency, digit_runs, match_span
    from pipeline.job import run

    pq.write_table(pa.Table.from_pylist(synthetic_prints(8)), tmp_path / "in.parquet")
    manifest = run(["--input", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"),
                    "--model", str(DEMO), "--review_threshold_title", "0.3"])
    written = pq.read_table(list((tmp_path / "out" / "records").glob("*.parquet"))).to_pylist()
    inputs = {row["id"]: row for row in synthetic_prints(8)}
    assert len(written) == 8
    sourced = 0
    for row in written:
        assert row["needs_review"] == bool(row["review_fields"] or row["review_reasons"])
        assert (row["description_confidence"] is None) == (row["description"] == "")
        lines = {"back": [" ".join(line.split()) for line in inputs[row["id"]]["back_ocr"] or [] if line.strip()],
                 "front": [" ".join(line.split()) for line in inputs[row["id"]]["front_ocr"] or [] if line.strip()]}
        for name in REVIEWED_FIELDS:
            value, source = row[name], row[f"{name}_source"]
            assert (row[f"{name}_confidence"] is None) <= (value == "")  # a value always has a confidence
            assert row[f"{name}_confidence"] is None or 0.0 <= row[f"{name}_confidence"] <= 1.0
            if source == "canonical":
                stamps = AGENCY_STAMPS[canonical_agency(value)]
                assert any(match_span(name, value, line) for line in lines["back"] + lines["front"]), (value, stamps)
            elif source:
                side, _, index = source.partition(":")
                line = lines[side][int(index)]
                assert match_span(name, value, line) is not None or match_span(
                    name, value, f"{line} {lines[side][int(index) + 1]}") is not None, (name, value, line)
                assert digit_runs(value) <= digit_runs(" ".join(lines[side][int(index):int(index) + 2]))
                sourced += 1
            elif value:
                assert f"not_in_ocr:{name}" in row["review_reasons"] and name in row["review_fields"]
    assert sourced >= 8  # the demo model wrote values the job found in the OCR: the checks above ran
    reasons = collections.Counter(reason for row in written for reason in row["review_reasons"])
    fields = collections.Counter(name for row in written for name in row["review_fields"])
    saved = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert saved["review"] == manifest.review == {
        "records": sum(row["needs_review"] for row in written), "fields": sum(fields.values()),
        "by_reason": dict(sorted(reasons.items())), "by_field": dict(sorted(fields.items()))}
    assert saved["options"]["review_threshold_title"] == 0.3
    rules = saved["extra"]["review_rules"]
    assert rules["thresholds"] == {**DEFAULT_THRESHOLDS, "title": 0.3}
    assert rules["evidence_threshold"] == 90.0 and rules["not_in_ocr_factor"] == NOT_IN_OCR_FACTOR


# --- evidence that knows what a field means (issue 24) ----------------------------------------------------------

def routed(values: dict[str, str], back: list[str], front: list[str] = ()) -> Review:
    """A record whose model was sure of every field it wrote (so only the evidence rules decide)."""
    return route(item(values, back=back, front=list(front), date_iso="1963" if values.get("date") else None))


def test_a_photographer_found_only_in_an_agency_stamp_goes_to_review():
    review = routed({"title": "THE BEATLES", "agency": "Keystone", "photographer": "KEYSTONE", "date": ""},
                    ["KEYSTONE PRESS AGENCY LTD", "THE BEATLES"])
    assert "role_mismatch:photographer" in review.review_reasons and "photographer" in review.review_fields
    assert review.trust["photographer"].source == "back:0"  # where it was found, for the reviewer to see
    assert review.trust["photographer"].confidence == pytest.approx(0.999 * NOT_IN_OCR_FACTOR)


def test_a_photographer_who_is_the_subject_goes_to_review():
    """SPEC §4's own example: WILLIAM DOIG is the title; as photographer too he would be the subject."""
    review = routed({"title": "WILLIAM DOIG", "agency": "", "photographer": "WILLIAM DOIG", "date": "1994"},
                    ["WILLIAM DOIG (NUJ 03:", "62 NETHERPARK AVENU"], ["1994: :::"])
    assert review.review_fields == ("photographer",) and "role_mismatch:photographer" in review.review_reasons


def test_a_photographer_in_a_credit_line_is_vouched_for_even_beside_a_stamp():
    review = routed({"title": "THE BEATLES", "agency": "Keystone", "photographer": "John Smith", "date": ""},
                    ["KEYSTONE PRESS AGENCY LTD", "THE BEATLES", "Photo by John Smith"])
    assert not review.needs_review and review.trust["photographer"].source == "back:2"


def test_an_agency_found_only_in_a_caption_goes_to_review():
    review = routed({"title": "OLYMPIA", "agency": "Olympic Games", "photographer": "", "date": ""},
                    ["OLYMPIA", "The athletes march into the stadium at the opening of the Olympic Games."])
    assert review.review_fields == ("agency",) and "role_mismatch:agency" in review.review_reasons


def test_a_received_stamps_date_goes_to_review_when_a_dateline_dates_the_photo():
    lines = ["RECEIVED 12 MAR 1969", "LONDON, March 3, 1969 -- The Queen opens the new bridge"]
    review = routed({"title": "", "agency": "", "photographer": "", "date": "12 MAR 1969"}, lines)
    assert "role_mismatch:date" in review.review_reasons
    dateline = routed({"title": "", "agency": "", "photographer": "", "date": "March 3, 1969"}, lines)
    assert not any(code.endswith(":date") for code in dateline.review_reasons)


def test_a_received_stamps_date_stands_when_nothing_else_dates_the_print():
    review = routed({"title": "THE BEATLES", "agency": "", "photographer": "", "date": "12 MAR 1969"},
                    ["THE BEATLES", "RECEIVED 12 MAR 1969"])
    assert not review.needs_review


def test_a_date_whose_digits_differ_from_the_print_is_not_in_the_ocr():
    review = routed({"title": "THE BEATLES", "agency": "", "photographer": "", "date": "12 MAR 1969"},
                    ["THE BEATLES", "12 MAR 1967"])
    assert "not_in_ocr:date" in review.review_reasons and review.trust["date"].source == ""


@pytest.mark.parametrize("field, line", [
    ("agency", "KEYSTONE PRESS AGENCY LTD"), ("agency", "Daily Herald Picture Library"),
    ("photographer", "Photo by John Smith"), ("photographer", "Foto: Hans Müller"),
    ("date", "LONDON, Oct. 3 (AP) -- Crowds greet the Queen"),
    ("title", "The Queen greets the crowd outside Buckingham Palace after the ceremony."),
])
def test_an_empty_field_goes_to_review_when_the_ocr_holds_a_line_of_its_kind_however_sure(field, line):
    values = {"title": "THE BEATLES", "agency": "", "photographer": "", "date": ""}
    values[field] = ""
    review = route(item(values, back=["THE BEATLES", line], front=[], tokens=[sure(name) for name in values]))
    assert f"missed:{field}" in review.review_reasons and field in review.review_fields
    assert review.trust[field].confidence == pytest.approx(0.999)  # sure, and still sent


@pytest.mark.parametrize("line", ["RECEIVED 12 MAR 1969", "THE BEATLES AT SHEA 1965", "Photo by John Smith 3.10.1960"])
def test_an_empty_date_beside_any_date_that_may_be_the_photos_is_missed(line):
    """SPEC §4b: a RECEIVED stamp's date is the date when nothing else dates the print, so "no date" beside
    it, or beside a date in a credit or a bare line, is a claim a person must make."""
    values = {"title": "THE BEATLES", "agency": "", "photographer": "", "date": ""}
    review = route(item(values, back=["THE BEATLES", line], front=[], tokens=[sure(name) for name in values]))
    assert "missed:date" in review.review_reasons and "date" in review.review_fields


@pytest.mark.parametrize("line", ["Tel. 041-637-2005", "Neg. No. 1964", "Reproduction interdite 1998"])
def test_an_empty_date_is_not_missed_for_the_numbers_of_an_address_a_filing_mark_or_a_notice(line):
    values = {"title": "THE BEATLES", "agency": "", "photographer": "", "date": ""}
    review = route(item(values, back=["THE BEATLES", line], front=[], tokens=[sure(name) for name in values]))
    assert not review.needs_review


def test_a_sound_description_is_vouched_for_and_a_repeating_or_invented_one_is_not():
    sound = route(item({**item().values, "description": "The Beatles, photo by John Smith."},
                       tokens=[sure(name) for name in ("description", "title", "agency", "photographer", "date")]))
    assert sound.description_confidence == pytest.approx(0.999) and "description" not in sound.review_fields
    repeating = route(item({**item().values, "description": "Mrs. Mrs. Mrs. Mrs. Smith"},
                           tokens=[sure(name) for name in ("description", "title", "agency", "photographer", "date")]))
    invented = route(item({**item().values, "description": "Zorblax quintupled marmalade vortices"},
                          tokens=[sure(name) for name in ("description", "title", "agency", "photographer", "date")]))
    for review in (repeating, invented):
        assert review.description_confidence < DEFAULT_THRESHOLDS["description"]
        assert "low_confidence:description" in review.review_reasons and "description" in review.review_fields
    assert route(item()).description_confidence is None  # no description: nothing to judge
