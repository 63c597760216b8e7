"""The HTML review report (SPEC §5b): one offline file, hostile OCR shown as text, rendered in Chromium.

The browser tests use Debian's ``chromium`` (``run_tests.sh`` installs it and sets
BACKSTAMP_REQUIRE_BROWSER=1, so there a missing browser fails instead of skipping).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.report import main, render
from pipeline.review import build_queue
from tests.review_run import HOSTILE, record, write_run

HOSTILE_ID = 'x" onmouseover="alert(1)'
BACK = ["KEYSTONE PRESS AGENCY", HOSTILE, "WILLIAM DOIG", "<img src=x onerror=alert(1)>"]
FRONT = ["ME", "1994: :::"]


@pytest.fixture
def run(tmp_path) -> Path:
    rows = [
        record("vouched"),
        record("r-title", review={"title": "low_confidence"}, title_confidence=0.31, title_source="back:2",
               agency_source="back:0"),
        record(HOSTILE_ID, review={"title": "not_in_ocr"}, title=HOSTILE, title_source="",
               title_confidence=0.12, reasons=["parse_partial"], parse_status="partial"),
        record("r-loop", reasons=["loop"], raw_output="<title> AAA AAA AAA " + HOSTILE),
        record("r-date", review={"date": "date_unreadable"}, date="13.13.1913", date_iso=None,
               date_confidence=0.8, date_source="front:1"),
    ]
    inputs = [{"id": row["id"], "front_ocr": FRONT, "back_ocr": BACK, "language": "en"} for row in rows]
    return write_run(tmp_path, rows, inputs)


def report_html(run: Path, max_records: int = 200) -> str:
    loaded, queue = build_queue(str(run))
    return render(loaded, queue, max_records)


# --- the HTML itself -------------------------------------------------------------------------------------------

def test_hostile_text_is_escaped_and_the_page_has_no_script(run):
    page = report_html(run)
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert "&lt;script&gt;document.body.setAttribute(&#x27;data-pwned&#x27;" in page
    assert 'data-record-id="x&quot; onmouseover=&quot;alert(1)"' in page  # an id cannot open an attribute
    assert "script-src" not in page and "default-src 'none'" in page  # the CSP forbids scripts and fetches


def test_the_page_is_self_contained(run):
    page = report_html(run)
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"url\(|@import|<link|<iframe|<object|<embed", page, re.IGNORECASE)
    images = re.findall(r'<img src="([^"]*)"', page)
    assert len(images) == 2 and all(uri.startswith("data:image/png;base64,") for uri in images)


def test_each_record_needing_review_is_shown_worst_first_with_its_evidence(run):
    page = report_html(run)
    shown = re.findall(r'data-record-id="([^"]*)"', page)
    # lowest confidence first; the looping record's fields are all confident, so it comes last
    assert shown == ["x&quot; onmouseover=&quot;alert(1)", "r-title", "r-date", "r-loop"]  # not "vouched"
    r_title = page[page.index('data-record-id="r-title"'):page.index('data-record-id="r-date"')]
    assert ('<li class="evidence" data-source="back:2" data-fields="title"><span class="n">back:2</span>'
            "<mark>WILLIAM DOIG</mark>") in r_title
    assert 'data-source="back:0" data-fields="agency"' in r_title and "low_confidence:title" in r_title
    assert '<tr class="to-review" data-field="title">' in r_title and '<tr class="accepted" data-field="agency">' in r_title


def test_summary_counts_the_review_and_checks_the_manifest_against_the_records(run):
    summary = report_html(run).split('<section id="charts">')[0]
    assert "<strong>4</strong> of 5 written (80.0%)" in summary and "date: 1, title: 2" in summary
    assert "dead-lettered</th><td>1 (empty_ocr: 1)" in summary
    assert "4 records, 3 fields (agrees with the records)" in summary
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "review": {"records": 9, "fields": 3}}))
    assert "differs from the records" in report_html(run)


def test_large_runs_are_capped_and_say_how_many_are_left_out(run):
    page = report_html(run, max_records=1)
    assert page.count("<article") == 1 and "3 more records need review and are not shown" in page
    assert 'id="omitted"' not in report_html(run) and report_html(run).count("<article") == 4


def test_command_writes_beside_the_run_by_default(run, capsys):
    assert main(["--run", str(run)]) == 0
    assert (run / "review.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "4 of 5 records need review, 4 shown" in capsys.readouterr().out
    assert main(["--run", str(run / "missing")]) == 2


# --- what a person sees in a browser -----------------------------------------------------------------------------

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps"]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("BACKSTAMP_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed (run_tests.sh installs it: apt-get install -y chromium)")
        pytest.skip("chromium is not installed; ./run_tests.sh installs it")
    return found


def browse(chromium: str, page: Path, *flags: str) -> str:
    done = subprocess.run([chromium, *BROWSER_FLAGS, *flags, page.resolve().as_uri()], capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list["Element"] = field(default_factory=list)

    def find(self, tag: str, **attrs: str) -> list["Element"]:
        found = [self] if self.tag == tag and all(self.attrs.get(k) == v for k, v in attrs.items()) else []
        return found + [e for child in self.children for e in child.find(tag, **attrs)]


class _Tree(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "input", "link", "col", "wbr", "source"}

    def __init__(self):
        super().__init__()
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag):
        while len(self.stack) > 1 and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data):
        for element in self.stack:
            element.text += data


def dom(text: str) -> Element:
    tree = _Tree()
    tree.feed(text)
    return tree.root


def test_browser_shows_records_fields_evidence_and_reasons(run, chromium):
    main(["--run", str(run)])
    document = dom(browse(chromium, run / "review.html", "--dump-dom"))
    articles = document.find("article")
    assert [a.attrs["data-record-id"] for a in articles] == [HOSTILE_ID, "r-title", "r-date", "r-loop"]
    r_title = articles[1]
    marked = r_title.find("li", **{"class": "evidence", "data-source": "back:2"})
    assert len(marked) == 1 and "WILLIAM DOIG" in marked[0].find("mark")[0].text
    [reason] = r_title.find("li", **{"class": "reason"})
    assert reason.attrs["data-code"] == "low_confidence:title"  # in words, with its code
    assert reason.text == "the model was unsure of the title: its confidence is below the threshold low_confidence:title"
    title_row = r_title.find("tr", **{"data-field": "title"})[0]
    assert "WILLIAM DOIG" in title_row.text and "0.31" in title_row.text and title_row.attrs["class"] == "to-review"
    assert "ISO unreadable" in articles[2].find("tr", **{"data-field": "date"})[0].text
    assert "run-1" in document.find("table", **{"class": "summary"})[0].text


def test_browser_shows_hostile_ocr_as_text_and_runs_nothing(run, chromium):
    main(["--run", str(run)])
    document = dom(browse(chromium, run / "review.html", "--dump-dom"))
    assert document.find("script") == [] and len(document.find("img")) == 2  # only the two charts
    assert all("data-pwned" not in e.attrs for e in document.find("body"))
    hostile = document.find("article")[0]
    assert HOSTILE in hostile.find("tr", **{"data-field": "title"})[0].text  # the value, as text
    assert HOSTILE in hostile.find("li", **{"data-source": "back:1"})[0].text  # the OCR line, as text


def _page_requests(net_log: Path) -> set[str]:
    """URLs the page asked for: the browser's own background requests carry no initiator origin."""
    events = json.loads(net_log.read_text())["events"]
    return {e["params"]["url"] for e in events
            if "url" in e.get("params", {}) and e["params"].get("initiator", "not an origin") != "not an origin"}


def test_browser_makes_no_network_request(run, chromium, tmp_path):
    main(["--run", str(run)])
    browse(chromium, run / "review.html", "--dump-dom", f"--log-net-log={tmp_path / 'report.json'}")
    assert _page_requests(tmp_path / "report.json") == set()
    # The check can fail: a page that fetches a font and an image is caught.
    control = tmp_path / "control.html"
    control.write_text('<link rel="stylesheet" href="https://fonts.example.invalid/a.css">'
                       '<img src="http://127.0.0.1:9/x.png">')
    browse(chromium, control, "--dump-dom", f"--log-net-log={tmp_path / 'control.json'}")
    assert _page_requests(tmp_path / "control.json") == {"https://fonts.example.invalid/a.css",
                                                         "http://127.0.0.1:9/x.png"}


def test_browser_screenshot_is_a_rendered_page(run, chromium, tmp_path):
    from matplotlib.image import imread

    main(["--run", str(run)])
    browse(chromium, run / "review.html", "--window-size=1280,1600", f"--screenshot={tmp_path / 'shot.png'}")
    pixels = imread(tmp_path / "shot.png")
    assert pixels.shape[:2] == (1600, 1280) and pixels.std() > 0.05


def test_only_the_matched_text_of_a_line_is_marked_and_a_wrapped_value_in_both_lines():
    """Shared with the workbench (formats.record_html): the mark is the value's text, not its whole line."""
    from formats.record_html import ocr_html

    row = {"title": "WILLIAM DOIG", "title_source": "back:0", "photographer": "JOHN SMITHERSON-BLAKE",
           "photographer_source": "back:1", "back_ocr_lines": ["PHOTO: WILLIAM DOIG, LONDON", "BY JOHN SMITHER-",
                                                                "SON-BLAKE", "RETURN TO FILE"],
           "front_ocr_lines": []}
    html = ocr_html(row)
    assert '<span class="n">back:0</span>PHOTO: <mark>WILLIAM DOIG</mark>, LONDON' in html
    assert 'data-source="back:1" data-fields="photographer"' in html
    assert '<span class="n">back:2</span><mark>SON-BLAKE</mark>' in html  # the rest of the wrapped name
    assert 'data-source="back:3">' in html and "<mark>RETURN" not in html


def test_the_threshold_in_force_is_shown_beside_each_confidence(run):
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["review"]["thresholds"] = {"title": {"threshold": 0.97, "from": "default"}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    page = report_html(run)
    assert '0.31 <span class="threshold">/ 0.97</span>' in page
