"""The review workbench over HTTP (FastAPI's TestClient): pages, the JSON API of SPEC §9, claims between two
reviewers, authentication, CSRF, and hostile OCR shown as text. The browser itself: test_workbench_browser.py."""
from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from decisions import DecisionStore
from tests.hostile_corpus import TRUNCATED, WRITTEN, standard_rows
from tests.review_run import HOSTILE, HOSTILE_ID, workbench_app
from workbench.app import WorkbenchConfig, create_app
from workbench.state import Queue, ReviewState

TOKEN = "a-token-of-sixteen-or-more"
QUEUE_ORDER = ["r-title", HOSTILE_ID, "r-agency", "r-date", "r-loop"]


@pytest.fixture
def store_uri(tmp_path) -> str:
    return str(tmp_path / "store" / "reviews.db")


@pytest.fixture
def client(workbench_run, store_uri) -> TestClient:
    return TestClient(workbench_app(workbench_run, store_uri))


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def open_next(client: TestClient, query: str = "") -> tuple[str, str]:
    """Follow ``/next``: (the record id shown, its page)."""
    response = client.get(f"/next?{query}")
    assert response.status_code == 200
    return html.unescape(re.search(r'<article class="record workbench" data-record-id="([^"]*)"',
                                   response.text).group(1)), response.text


def decide(client: TestClient, page: str, record_id: str, field: str, decision: str, value: str = "", **headers):
    return client.post("/decide", data={"csrf_token": csrf(page), "id": record_id, "field": field,
                                        "decision": decision, "value": value}, headers=headers,
                       follow_redirects=False)


# --- pages -------------------------------------------------------------------------------------------------------

def test_the_queue_page_lists_the_records_in_the_jobs_order_with_progress(client):
    page = client.get("/").text
    ids = [html.unescape(i) for i in re.findall(r'class="record-id">([^<]*)</a>', page)]
    assert ids == QUEUE_ORDER  # "vouched" needs no review
    assert '<strong id="done">0</strong> of <strong id="total">5</strong>' in page


def test_a_record_shows_ocr_with_the_matched_text_fields_confidence_threshold_reasons_and_images(client):
    record_id, page = open_next(client)
    assert record_id == "r-title"
    assert "PHOTO: <mark>WILLIAM DOIG</mark>, LONDON" in page  # the value's text marked inside its line
    assert "the model was unsure of the title" in page and "<code>low_confidence:title</code>" in page
    assert '<tr class="field-row to-review selected" data-field="title"' in page  # the field to judge is chosen
    assert re.search(r'<meter class="conf"[^>]*value="0.210"', page) and "0.21" in page
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images == ["/image?id=r-title&amp;column=front_image", "/image?id=r-title&amp;column=back_image"]
    served = client.get(html.unescape(images[0]))
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content.startswith(b"\x89PNG")


def test_a_decision_is_stored_when_made_and_still_shown_after_a_reload(client, store_uri):
    record_id, page = open_next(client)
    response = decide(client, page, record_id, "title", "correct", "William Doig")
    assert response.status_code == 303
    [stored] = DecisionStore(store_uri).history()
    assert (stored.id, stored.field, stored.decision, stored.value, stored.reviewer, stored.kind) == \
        ("r-title", "title", "correct", "William Doig", "ann", "review")
    assert stored.model_value == "WILLIAM DOIG" and stored.input_hash and stored.model_version == "demo-1234"
    again = client.get("/record?id=r-title").text  # a new page load, as after closing the browser
    assert "corrected to “William Doig” by ann" in again
    assert 'value="William Doig"' in again  # the correction box holds the holding value


def test_a_second_decision_on_a_field_is_history_and_the_newest_holds(client, store_uri):
    record_id, page = open_next(client)
    decide(client, page, record_id, "title", "accept")
    decide(client, page, record_id, "title", "unreadable")
    assert [d.decision for d in DecisionStore(store_uri).history()] == ["accept", "unreadable"]
    assert "unreadable, said ann" in client.get("/record?id=r-title").text
    holding = client.get("/api/decisions?holding=true").json()["decisions"]
    assert [(d["field"], d["decision"]) for d in holding] == [("title", "unreadable")]


def test_a_record_whose_fields_are_decided_leaves_the_queue(client):
    record_id, page = open_next(client)
    decide(client, page, record_id, "title", "accept")
    assert '<strong id="done">1</strong> of <strong id="total">5</strong>' in client.get("/").text
    assert open_next(client)[0] == HOSTILE_ID
    assert open_next(client, "after=-1")[0] == HOSTILE_ID  # from the top again: r-title is done


def test_a_bad_decision_from_the_form_is_refused_and_nothing_stored(client, store_uri):
    record_id, page = open_next(client)
    response = decide(client, page, record_id, "caption", "accept")
    assert response.status_code == 422 and "unknown field &#39;caption&#39;" in response.text
    assert DecisionStore(store_uri).history() == []


def test_filters_by_field_reason_and_input_column(client):
    def shown(query: str) -> list[str]:
        return [html.unescape(i) for i in re.findall(r'class="record-id">([^<]*)</a>', client.get(f"/?{query}").text)]

    assert shown("field=agency") == ["r-agency", "r-loop"]  # a loop sends every field
    assert shown("reason=low_confidence") == ["r-title"]
    assert shown("reason=not_in_ocr") == [HOSTILE_ID, "r-agency"]
    assert shown("column=collection&value=box+9") == ["r-agency"]
    assert open_next(client, "column=collection&value=box+9")[0] == "r-agency"


def test_hostile_ocr_ids_and_values_render_as_text(workbench_run, store_uri, tmp_path):
    """OCR from the bad-input corpus (tags, controls, right-to-left, near-miss tags) and a script in the
    title, the id and a carried column come out escaped: no element of theirs reaches the page."""
    corpus = [row for case, row in standard_rows() if case.outcome in (WRITTEN, TRUNCATED)]
    rows = [{"id": f"{HOSTILE_ID}-{n}", "title": HOSTILE, "review_fields": ["title"], "review_reasons": [HOSTILE],
             "queue_position": n + 1, "collection": HOSTILE, "back_ocr_lines": [line for line in row["back_ocr"] or [] if line is not None],
             "front_ocr_lines": [line for line in row["front_ocr"] or [] if line is not None], "raw_output": HOSTILE, "title_source": "back:0"}
            for n, row in enumerate(corpus)]
    app = workbench_app(workbench_run, store_uri)
    app.state.review = ReviewState(Queue(rows, source=HOSTILE, filter_columns=("collection",)),
                                   DecisionStore(store_uri), 15)
    client = TestClient(app)
    pages = [client.get("/").text] + [client.get("/record", params={"id": row["id"]}).text for row in rows]
    for page in pages:
        assert "<script>" not in page and "onmouseover=\"alert" not in page
        assert page.count("<script") == 1  # the app's own script, nothing else
    for row, page in zip(rows, pages[1:]):
        for line in row["back_ocr_lines"] + row["front_ocr_lines"]:
            if line and line.strip():
                assert html.escape(line, quote=True) in page or html.escape(line, quote=False) in page, line


# --- claims: two reviewers ------------------------------------------------------------------------------------------

def reviewer_client(app, name: str) -> TestClient:
    client = TestClient(app)
    page = client.get("/").text
    client.post("/reviewer", data={"csrf_token": csrf(page), "reviewer": name})
    assert f'<strong id="reviewer">{name}</strong>' in client.get("/").text
    return client


def test_two_reviewers_are_never_shown_the_same_record(workbench_run, store_uri):
    app = workbench_app(workbench_run, store_uri)
    ann, bob = reviewer_client(app, "ann"), reviewer_client(app, "bob")
    first, _ = open_next(ann)
    second, _ = open_next(bob)
    assert first == "r-title" and second == HOSTILE_ID
    held = bob.get("/record?id=r-title").text  # bob looks at ann's record by its address
    assert 'id="held">ann is reviewing this record now' in held and 'class="decide-form"' not in held
    refused = bob.post("/decide", data={"csrf_token": csrf(bob.get("/").text), "id": "r-title", "field": "title",
                                        "decision": "accept"})
    assert refused.status_code == 409 and "ann holds this record: not stored." in refused.text
    assert DecisionStore(store_uri).history() == []
    listing = ann.get("/").text
    assert "with bob" in listing  # the queue page says who holds what


def test_two_servers_on_one_store_respect_each_others_claims(workbench_run, store_uri):
    """Two workbench processes (two apps, two store connections) on one database."""
    ann = reviewer_client(workbench_app(workbench_run, store_uri), "ann")
    bob = reviewer_client(workbench_app(workbench_run, store_uri), "bob")
    assert [open_next(ann)[0], open_next(bob)[0]] == ["r-title", HOSTILE_ID]
    _, page = open_next(ann, "after=0")  # ann moves on: r-title is free again, hostile is bob's
    assert re.search(r'data-record-id="r-agency"', page)
    assert open_next(bob, "after=1")[0] == "r-date"


def test_a_claim_expires(workbench_run, store_uri):
    app = workbench_app(workbench_run, store_uri, claim_minutes=0.5 / 60)  # half a second
    ann, bob = reviewer_client(app, "ann"), reviewer_client(app, "bob")
    assert open_next(ann)[0] == "r-title"
    assert open_next(bob)[0] == HOSTILE_ID
    time.sleep(0.7)  # ann went to lunch
    assert open_next(bob, "after=-1")[0] == "r-title"


# --- the JSON API ----------------------------------------------------------------------------------------------

def test_api_queue_gives_the_records_left_with_their_fields(client):
    answer = client.get("/api/queue?limit=2").json()
    assert answer["total"] == 5 and [r["id"] for r in answer["records"]] == QUEUE_ORDER[:2]
    first = answer["records"][0]
    assert first["review_fields"] == ["title"] and first["review_reasons"] == ["low_confidence:title"]
    assert first["fields"]["title"] == {"value": "WILLIAM DOIG", "confidence": 0.21, "source": "back:1",
                                        "decision": None}
    assert set(first["fields"]) == {"description", "title", "agency", "photographer", "date"}
    assert first["ocr"]["back"][1] == "PHOTO: WILLIAM DOIG, LONDON" and first["collection"] == "box 7"
    assert client.get("/api/queue?field=date&limit=10").json()["total"] == 2
    assert client.get("/api/queue?reason=not_in_ocr").json()["total"] == 2


def api_headers(client: TestClient) -> dict[str, str]:
    """What a script using the browser session sends: its CSRF token."""
    return {"X-CSRF-Token": csrf(client.get("/").text)}


def test_api_stores_a_batch_and_lists_decisions_in_the_spec_columns(client):
    batch = {"decisions": [
        {"id": "r-title", "field": "title", "decision": "accept", "reviewer": "ann", "note": ""},
        {"id": "r-agency", "field": "agency", "decision": "correct", "value": "Keystone", "reviewer": "bob",
         "note": "stamp on the back"},
        {"id": "r-date", "field": "date", "decision": "unreadable", "reviewer": "ann"}]}
    response = client.post("/api/decisions", json=batch, headers=api_headers(client))
    assert response.status_code == 200 and response.json() == {"stored": 3}
    listed = client.get("/api/decisions").json()["decisions"]
    assert [d["id"] for d in listed] == ["r-title", "r-agency", "r-date"]
    assert set(listed[0]) == {"seq", "id", "field", "decision", "value", "model_value", "model_confidence",
                              "input_hash", "model_version", "run_id", "kind", "reviewer", "note", "decided_at"}
    assert listed[1]["value"] == "Keystone" and listed[1]["model_value"] == "Reuters" and listed[2]["value"] is None
    assert client.get("/api/queue").json()["total"] == 2


@pytest.mark.parametrize("bad, named", [
    ({"id": "nope", "field": "title", "decision": "accept"}, "decision 1: unknown id 'nope'"),
    ({"id": "r-date", "field": "colour", "decision": "accept"}, "decision 1: unknown field 'colour'"),
    ({"id": "r-date", "field": "date", "decision": "correct"}, "decision 1: correct without a value"),
    ({"id": "r-date", "field": "date", "decision": "maybe"}, "decision 1: bad decision 'maybe'"),
    ("accept", "decision 1: must be an object"),
])
def test_api_refuses_a_batch_with_a_bad_decision_naming_it_and_stores_none(client, store_uri, bad, named):
    batch = {"decisions": [{"id": "r-title", "field": "title", "decision": "accept"}, bad,
                           {"id": "r-agency", "field": "agency", "decision": "accept"}]}
    response = client.post("/api/decisions", json=batch, headers=api_headers(client))
    assert response.status_code == 422
    assert response.json()["error"].startswith(named) and response.json()["index"] == 1
    assert DecisionStore(store_uri).history() == []


def test_api_refuses_a_body_that_is_not_a_batch(client):
    for body in (b"not json", b"[]", b'{"decisions": {}}'):
        response = client.post("/api/decisions", content=body, headers={**api_headers(client),
                                                                         "content-type": "application/json"})
        assert response.status_code == 422 and "decisions" in response.json()["error"]


# --- safe by default -----------------------------------------------------------------------------------------------

def post_paths() -> set[str]:
    """Every state-changing route of the app (the routers ``create_app`` includes)."""
    from workbench import api, pages

    return {route.path for router in (pages.router, api.router) for route in router.routes
            if set(getattr(route, "methods", ())) - {"GET", "HEAD"}}


GET_PATHS = ["/", "/next", "/prev?before=3", "/record?id=r-title", "/api/queue", "/api/decisions",
             "/image?id=r-title&column=front_image", "/static/workbench.js", "/static/record.css", "/no-such-page"]


@pytest.fixture
def team(workbench_run, store_uri) -> TestClient:
    return TestClient(workbench_app(workbench_run, store_uri, token=TOKEN))


def test_with_a_token_every_request_without_it_gets_401_and_no_data(team, store_uri):
    for path in GET_PATHS:
        response = team.get(path, headers={"accept": "text/html"})
        assert response.status_code == 401, path
        assert "WILLIAM" not in response.text and "r-title" not in response.text
        assert ('action="/login"' in response.text) != path.startswith("/api/")  # a browser gets the login form
    for path in post_paths():
        if path != "/login":
            response = team.post(path, json={"decisions": [{"id": "r-title", "field": "title",
                                                                  "decision": "accept"}]})
            assert response.status_code == 401, path
    assert team.get("/api/queue", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
    assert DecisionStore(store_uri).history() == []


def test_a_bearer_token_opens_the_api_without_csrf(team):
    bearer = {"Authorization": f"Bearer {TOKEN}", "X-Reviewer": "script"}
    assert team.get("/api/queue", headers=bearer).json()["total"] == 5
    stored = team.post("/api/decisions", json={"decisions": [{"id": "r-title", "field": "title",
                                                              "decision": "accept"}]}, headers=bearer)
    assert stored.json() == {"stored": 1}
    assert team.get("/api/decisions", headers=bearer).json()["decisions"][0]["reviewer"] == "script"


def test_the_login_form_opens_a_session(team):
    wrong = team.post("/login", data={"token": "guess", "reviewer": "eve"})
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    response = team.post("/login", data={"token": TOKEN, "reviewer": "cat"}, follow_redirects=False)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert '<strong id="reviewer">cat</strong>' in team.get("/").text
    page = team.get("/").text
    team.post("/logout", data={"csrf_token": csrf(page)})
    assert team.get("/").status_code == 401


def test_every_state_changing_request_needs_the_csrf_token_and_this_origin(client, store_uri):
    record_id, page = open_next(client)
    posts = post_paths()
    assert posts == {"/decide", "/reviewer", "/login", "/logout", "/api/decisions"}
    for path in posts - {"/login"}:  # login carries the token itself
        assert client.post(path, data={"id": "r-title", "field": "title", "decision": "accept",
                                       "reviewer": "eve"}).status_code == 403, path
    forged = decide(client, page, record_id, "title", "accept", origin="https://evil.example")
    assert forged.status_code == 403
    api = client.post("/api/decisions", json={"decisions": [{"id": "r-title", "field": "title",
                                                             "decision": "accept"}]},
                      headers={**api_headers(client), "origin": "https://evil.example"})
    assert api.status_code == 403
    assert client.post("/login", data={}, headers={"origin": "https://evil.example"}).status_code == 403
    assert DecisionStore(store_uri).history() == []
    assert decide(client, page, record_id, "title", "accept", origin="http://testserver").status_code == 303


def test_every_response_carries_a_policy_allowing_only_the_apps_own_scripts_and_styles(client):
    for path in ["/", "/record?id=r-title", "/api/queue", "/static/workbench.js"]:
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and headers["x-content-type-options"] == "nosniff"
    page = client.get("/record?id=r-title").text
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert " style=" not in page and "<style" not in page and not re.search(r"<script(?! src=\"/static/)", page)


def test_the_server_will_not_listen_beyond_this_machine_without_a_token(workbench_run, capsys):
    from workbench.cli import main

    assert main(["--run", str(workbench_run), "--host", "0.0.0.0"]) == 2
    assert "refusing to listen on 0.0.0.0 without a token" in capsys.readouterr().err
    assert main(["--run", str(workbench_run), "--host", "0.0.0.0", "--token", "short"]) == 2


# --- a warehouse's queue, a team's store ---------------------------------------------------------------------------

def write_warehouse(run: Path, folder: Path) -> Path:
    """A warehouse whose catalogue holds the run's records as one night (appended with pyiceberg)."""
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline import catalog as cat

    records = pa.concat_tables([pq.read_table(p) for p in sorted((run / "records").glob("*.parquet"))])
    records = records.append_column("run_date", pa.array([datetime.date(2026, 12, 1)] * records.num_rows,
                                                         pa.date32()))
    records = records.append_column("withdrawn", pa.array([False] * records.num_rows))
    catalog = cat.open_catalog(cat.resolve_warehouse(str(folder)))
    cat.load_or_create(catalog, cat.RECORDS, records.schema).append(records)
    return folder


def test_the_queue_of_a_warehouse_comes_from_its_latest_rows(workbench_run, tmp_path):
    from workbench.source import open_source, queue_from

    warehouse = write_warehouse(workbench_run, tmp_path / "warehouse")
    source = open_source(warehouse=str(warehouse), input_glob=str(workbench_run.parent / "input" / "*.parquet"),
                         spot_check_rate=0.0)
    assert source.description.startswith(f"warehouse {warehouse} · latest (snapshot ")
    queue = queue_from(source, image_columns=("front_image",))
    assert [row["id"] for row in queue.rows] == QUEUE_ORDER
    assert queue.rows[0]["back_ocr_lines"][1] == "PHOTO: WILLIAM DOIG, LONDON"
    with DecisionStore(f"{warehouse}/reviews.db") as store:
        client = TestClient(create_app(ReviewState(queue, store, 15), WorkbenchConfig(reviewer="ann")))
        record_id, page = open_next(client)
        assert record_id == "r-title" and "PHOTO: <mark>WILLIAM DOIG</mark>" in page
        assert decide(client, page, record_id, "title", "accept").status_code == 303
        assert [d.id for d in store.history()] == ["r-title"]


def test_two_servers_on_one_postgresql_store_share_decisions_and_claims(workbench_run, postgres_server):
    """A team: two workbench processes on one PostgreSQL database."""
    uri = postgres_server.new_database()
    ann = reviewer_client(workbench_app(workbench_run, uri), "ann")
    bob = reviewer_client(workbench_app(workbench_run, uri), "bob")
    first, page = open_next(ann)
    assert (first, open_next(bob)[0]) == ("r-title", HOSTILE_ID)
    assert decide(ann, page, first, "title", "correct", "William Doig").status_code == 303
    assert "corrected to “William Doig” by ann" in bob.get("/record?id=r-title").text
    assert bob.get("/api/queue").json()["total"] == 4


def test_spot_checks_are_queued_after_the_review_and_decided_as_spot_checks(workbench_run, store_uri):
    client = TestClient(workbench_app(workbench_run, store_uri, spot_check_rate=1.0))  # every accepted field drawn
    ids = [html.unescape(i) for i in re.findall(r'class="record-id">([^<]*)</a>', client.get("/").text)]
    assert ids[:5] == QUEUE_ORDER and ids[5:] == ["vouched"]
    page = client.get("/record?id=vouched").text
    assert '<tr class="field-row spot-check selected" data-field="title"' in page
    assert "PHOTO: <mark>WILLIAM DOIG</mark>" in page  # the OCR of a record the job vouched for is joined too
    assert decide(client, page, "vouched", "title", "accept").status_code == 303
    [decision] = DecisionStore(store_uri).history()
    assert decision.kind == "spot_check"


def test_a_prints_image_on_gcs_is_read_by_the_server(workbench_run, store_uri, gcs_emulator):
    """``gs://`` image URIs are read through fsspec (gcsfs) by the server; the page names only the app."""
    import uuid

    from tests.gcs_emulator import BUCKET

    local = workbench_run.parent / "images" / "1-front.png"
    uri = f"gs://{BUCKET}/images-{uuid.uuid4().hex[:8]}/front.png"
    gcs_emulator.upload(local, uri)
    client = TestClient(workbench_app(workbench_run, store_uri))
    client.app.state.review.queue.row("r-title")["front_image"] = uri
    page = client.get("/record?id=r-title").text
    assert "gs://" not in page and "/image?id=r-title&amp;column=front_image" in page
    served = client.get("/image?id=r-title&column=front_image")
    assert served.status_code == 200 and served.content == local.read_bytes()
    assert client.get("/image?id=r-title&column=collection").status_code == 404  # not an image column
