"""The decisions store (SPEC §9): history kept, the newest per (id, field, input_hash) holds, batches all or
nothing, claims that two processes respect; on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from decisions import (Decision, DecisionError, DecisionStore, StoreError, engine_url, store_uri_for_run,
                       store_uri_for_warehouse, validate)

RECORDS = {
    "p1": {"id": "p1", "description": "A ship.", "title": "QUEEN MARY", "agency": "Keystone", "photographer": "",
           "date": "1936", "title_confidence": 0.4, "agency_confidence": 0.99, "date_confidence": 0.9,
           "input_hash": "h1", "model_version": "m1", "run_id": "r1", "review_fields": ["title"]},
    "p2": {"id": "p2", "description": "", "title": "", "agency": "AP", "photographer": "Doe", "date": "",
           "input_hash": "h2", "model_version": "m1", "run_id": "r1", "review_fields": ["agency"]},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        uri = str(tmp_path / "reviews.db")
    else:
        uri = request.getfixturevalue("postgres_server").new_database()
    with DecisionStore(uri) as opened:
        yield opened


def decide(record_id: str, field: str, decision: str, value: str | None = None, reviewer: str = "ann") -> dict:
    return {"id": record_id, "field": field, "decision": decision, "value": value, "reviewer": reviewer}


def test_a_decision_takes_the_judged_output_from_the_record(store):
    stored = validate([decide("p1", "title", "correct", "Queen Mary")], RECORDS)
    assert store.add(stored) == 1
    [kept] = store.history()
    assert (kept.id, kept.field, kept.decision, kept.value) == ("p1", "title", "correct", "Queen Mary")
    assert (kept.model_value, kept.model_confidence, kept.input_hash, kept.model_version, kept.run_id) == \
        ("QUEEN MARY", 0.4, "h1", "m1", "r1")
    assert kept.kind == "review" and kept.reviewer == "ann" and kept.seq is not None
    assert kept.decided_at.tzinfo is not None


def test_history_is_kept_and_the_newest_decision_holds(store):
    store.add(validate([decide("p1", "title", "accept")], RECORDS))
    store.add(validate([decide("p1", "title", "correct", "Queen Mary", reviewer="bob")], RECORDS))
    store.add(validate([decide("p2", "agency", "unreadable")], RECORDS))
    assert [d.decision for d in store.history("p1")] == ["accept", "correct"]
    holding = {(d.id, d.field): d for d in store.holding()}
    assert holding[("p1", "title")].value == "Queen Mary" and holding[("p1", "title")].reviewer == "bob"
    assert holding[("p2", "agency")].value is None
    assert [d.id for d in store.holding(["p2"])] == ["p2"]


def test_a_decision_about_other_ocr_is_held_apart(store):
    """The key is (id, field, input_hash): a decision on rerun OCR does not replace the old one's."""
    store.add(validate([decide("p1", "title", "accept")], RECORDS))
    rerun = {"p1": {**RECORDS["p1"], "input_hash": "h1-new"}}
    store.add(validate([decide("p1", "title", "correct", "Queen Mary")], rerun))
    assert sorted((d.input_hash, d.decision) for d in store.holding()) == [("h1", "accept"), ("h1-new", "correct")]


def test_after_seq_gives_the_decisions_stored_since(store):
    store.add(validate([decide("p1", "title", "accept"), decide("p1", "date", "accept")], RECORDS))
    mark = store.last_seq()
    store.add(validate([decide("p2", "agency", "correct", "Associated Press")], RECORDS))
    assert [(d.id, d.field) for d in store.after(mark)] == [("p2", "agency")]
    assert len(store.after(0)) == 3 and store.last_seq() > mark


@pytest.mark.parametrize("bad, named", [
    (decide("nope", "title", "accept"), "unknown id 'nope'"),
    (decide("p1", "caption", "accept"), "unknown field 'caption'"),
    (decide("p1", "title", "approve"), "bad decision 'approve'"),
    (decide("p1", "title", "correct"), "correct without a value"),
    (decide("p1", "title", "accept", "Something else"), "accept with a value other than the job's"),
    (decide("p1", "title", "unreadable", "x"), "unreadable with a value"),
    (decide("p1", "title", "accept", reviewer=""), "reviewer is empty"),
    ({**decide("p1", "title", "accept"), "colour": "red"}, "unknown key 'colour'"),
])
def test_a_bad_decision_is_named_and_nothing_of_its_batch_is_stored(store, bad, named):
    batch = [decide("p1", "date", "accept"), bad, decide("p2", "agency", "accept")]
    with pytest.raises(DecisionError, match=named) as raised:
        store.add(validate(batch, RECORDS))
    assert raised.value.index == 1 and str(raised.value).startswith("decision 1:")
    assert store.history() == []


def test_correct_with_an_empty_value_says_the_print_names_none(store):
    store.add(validate([decide("p1", "agency", "correct", "")], RECORDS))
    assert store.holding()[0].value == ""


def test_kind_is_review_for_a_routed_field_and_spot_check_for_a_vouched_one(store):
    store.add(validate([decide("p1", "title", "accept"), decide("p1", "agency", "accept")], RECORDS))
    assert {d.field: d.kind for d in store.history()} == {"title": "review", "agency": "spot_check"}


def test_two_reviewers_never_hold_one_record_and_a_claim_expires(store):
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    assert store.claim("p1", "ann", minutes=10, now=now)
    assert not store.claim("p1", "bob", minutes=10, now=now + timedelta(minutes=9))
    assert store.claimed_by_others("bob", now=now) == {"p1": "ann"}
    assert store.claim("p1", "ann", minutes=10, now=now + timedelta(minutes=5))  # renewing is fine
    assert store.claim("p1", "bob", minutes=10, now=now + timedelta(minutes=16))  # ann's claim ran out
    assert store.claimed_by_others("ann", now=now + timedelta(minutes=16)) == {"p1": "bob"}


def test_a_reviewer_holds_one_record_at_a_time(store):
    store.claim("p1", "ann")
    store.claim("p2", "ann")
    assert store.claimed_by_others("bob") == {"p2": "ann"}
    store.release("ann")
    assert store.claimed_by_others("bob") == {}


def test_two_store_objects_on_one_database_share_decisions_and_claims(store):
    """Two workbench processes open the store each: what one stores or claims, the other sees."""
    with DecisionStore(store.uri) as other:
        assert store.claim("p1", "ann")
        assert not other.claim("p1", "bob")
        other.add(validate([decide("p2", "agency", "accept", reviewer="bob")], RECORDS))
        assert [d.reviewer for d in store.holding()] == ["bob"]


def test_store_uris(tmp_path):
    assert store_uri_for_run(str(tmp_path)) == f"sqlite:///{tmp_path}/reviews.db"
    assert store_uri_for_warehouse(str(tmp_path)) == f"sqlite:///{tmp_path}/reviews.db"
    assert engine_url("postgresql://u@h/db") == "postgresql+pg8000://u@h/db"
    with pytest.raises(StoreError, match="--store"):
        store_uri_for_run("gs://bucket/run")


def test_decided_at_is_utc_and_round_trips(store):
    moment = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    store.add(validate([decide("p1", "title", "accept")], RECORDS, now=moment))
    [kept] = store.history()
    assert kept.decided_at == moment
    assert isinstance(kept, Decision) and kept.as_json()["decided_at"] == "2026-12-01T09:30:00+00:00"


def test_a_refused_claim_keeps_the_reviewers_own(store):
    """Looking at a record another reviewer holds does not let go of one's own."""
    assert store.claim("p1", "ann") and store.claim("p2", "bob")
    assert not store.claim("p1", "bob")
    assert store.claimed_by_others("ann") == {"p2": "bob"}
