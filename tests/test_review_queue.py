"""The review queue (SPEC §5b): the records needing review, worst first, with the OCR joined back."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.review import lowest_confidence, main
from tests.review_run import record, write_run

INPUT = pa.schema([("id", pa.string()), ("recto", pa.string()), ("verso", pa.list_(pa.string())),
                   ("language", pa.string())])


@pytest.fixture
def run(tmp_path):
    rows = [
        record("vouched"),  # nothing to review
        record("low-title", review={"title": "low_confidence"}, title_confidence=0.2),
        record("loop", reasons=["loop", "token_limit"], parse_status="partial", title="", agency="", date="",
               date_iso=None, title_confidence=None, agency_confidence=None, date_confidence=None,
               title_source="", agency_source="", date_source=""),
        record("agency", review={"agency": "not_in_ocr"}, agency="Reuters", agency_source="",
               agency_confidence=0.5),
        record("not-in-input", review={"date": "date_unreadable"}, date="13.13.13", date_iso=None,
               date_confidence=0.7),
        record("two-fields", review={"title": "low_confidence", "agency": "low_confidence"},
               title_confidence=0.5, agency_confidence=0.6),
    ]
    # The input names its OCR columns recto/verso, as the run's recorded options say; the OCR
    # comes as a " | "-joined string on one side and as a list with blank lines on the other.
    inputs = [{"id": r, "recto": "ME | 1994: :::", "verso": ["WILLIAM  DOIG", "   ", "KEYSTONE PRESS"],
               "language": "en"} for r in ("vouched", "low-title", "loop", "agency", "two-fields")]
    inputs.append({"id": "low-title", "recto": "a later duplicate", "verso": None, "language": "en"})
    return write_run(tmp_path, rows, inputs, options={"front_column": "recto", "back_column": "verso"},
                     input_schema=INPUT)


def read_queue(path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_queue_holds_the_records_needing_review_worst_first(run, tmp_path, capsys):
    assert main(["--run", str(run), "--to", str(tmp_path / "queue.parquet")]) == 0
    queue = read_queue(tmp_path / "queue.parquet")
    # no confidence at all first; then by the lowest confidence among the review fields;
    # at equal confidence (0.5) the record with more fields to review first
    assert [row["id"] for row in queue] == ["loop", "low-title", "two-fields", "agency", "not-in-input"]
    assert [row["queue_position"] for row in queue] == [1, 2, 3, 4, 5]
    assert [row["lowest_confidence"] for row in queue] == [None, 0.2, 0.5, 0.5, 0.7]
    assert queue[0]["review_reasons"] == ["loop", "token_limit"]
    assert queue[1]["collection"] == "box 7" and queue[1]["title_source"] == "back:0"  # output columns kept
    assert "5 of 6 records need review" in capsys.readouterr().out


def test_queue_joins_the_ocr_as_the_job_cleaned_it(run, tmp_path, capsys):
    main(["--run", str(run), "--to", str(tmp_path / "queue.parquet")])
    by_id = {row["id"]: row for row in read_queue(tmp_path / "queue.parquet")}
    # blank lines dropped and spaces collapsed, so back:1 is the stamp line; the string side is split on " | "
    assert by_id["low-title"]["back_ocr_lines"] == ["WILLIAM DOIG", "KEYSTONE PRESS"]
    assert by_id["low-title"]["front_ocr_lines"] == ["ME", "1994: :::"]  # the first row of a duplicated id
    assert by_id["low-title"]["ocr_found"] is True
    assert by_id["not-in-input"]["ocr_found"] is False and by_id["not-in-input"]["back_ocr_lines"] is None
    assert "OCR of 1 records was not found" in capsys.readouterr().err


def test_input_can_be_named_or_left_out(run, tmp_path):
    moved = tmp_path / "moved.parquet"
    (tmp_path / "input" / "part-0.parquet").rename(moved)
    assert main(["--run", str(run), "--to", str(tmp_path / "q.parquet")]) == 2  # the recorded input is gone
    assert main(["--run", str(run), "--to", str(tmp_path / "q.parquet"), "--input", str(moved)]) == 0
    assert read_queue(tmp_path / "q.parquet")[1]["back_ocr_lines"] == ["WILLIAM DOIG", "KEYSTONE PRESS"]
    assert main(["--run", str(run), "--to", str(tmp_path / "bare.parquet"), "--without_ocr"]) == 0
    assert "back_ocr_lines" not in pq.read_schema(tmp_path / "bare.parquet").names


def test_missing_input_is_a_clear_error(run, tmp_path, capsys):
    (tmp_path / "input" / "part-0.parquet").unlink()
    assert main(["--run", str(run), "--to", str(tmp_path / "q.parquet")]) == 2
    assert "pass --input GLOB" in capsys.readouterr().err


def test_a_run_without_review_columns_is_refused(tmp_path, capsys):
    (tmp_path / "old" / "records").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "title": ["x"]}), tmp_path / "old" / "records" / "part-0.parquet")
    assert main(["--run", str(tmp_path / "old"), "--to", str(tmp_path / "q.parquet")]) == 2
    assert "lack needs_review" in capsys.readouterr().err
    assert main(["--run", str(tmp_path / "nowhere"), "--to", str(tmp_path / "q.parquet")]) == 2
    assert "no records under" in capsys.readouterr().err


def test_lowest_confidence_prefers_the_review_fields():
    row = {"review_fields": ["date"], "title_confidence": 0.1, "date_confidence": 0.6}
    assert lowest_confidence(row) == 0.6  # the title is vouched for; the date is what a person checks
    assert lowest_confidence({"review_fields": ["date"], "title_confidence": 0.4}) == 0.4
    assert lowest_confidence({"review_fields": []}) is None


# --- over a real run of the job ---------------------------------------------------------------------------------

def test_queue_and_report_of_a_real_run(tmp_path):
    """The demo model writes real values on synthetic prints, so the queue's sources are checked
    against the OCR it joins back: each source line holds its field's value."""
    from formats.evidence import digit_runs, match_span
    from pipeline.job import run as run_job
    from pipeline.report import main as report_main
    from tests.test_review_routing import DEMO, synthetic_prints

    (tmp_path / "input").mkdir()
    rows = synthetic_prints(6)
    for row in rows:  # the report escapes the OCR
        row["back_ocr"] = (row["back_ocr"] or []) + ["<script>x</script>"]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "input" / "part-0.parquet")
    out = tmp_path / "out"
    run_job(["--input", str(tmp_path / "input" / "*.parquet"), "--output", str(out), "--model", str(DEMO)])

    assert main(["--run", str(out), "--to", str(tmp_path / "queue.parquet")]) == 0
    records = pq.read_table(out / "records").to_pylist()
    queue = read_queue(tmp_path / "queue.parquet")
    assert sorted(row["id"] for row in queue) == sorted(row["id"] for row in records if row["needs_review"])
    assert queue, "the demo model's answers on these prints include some to review"
    lowest = [row["lowest_confidence"] for row in queue]
    assert lowest == sorted(lowest, key=lambda c: (c is not None, c or 0.0))
    by_id = {row["id"]: row for row in rows}
    checked = 0
    for row in queue:  # the OCR as the model saw it, and every source line holds its value
        assert row["back_ocr_lines"] == [" ".join(line.split()) for line in by_id[row["id"]]["back_ocr"] or []
                                         if line.strip()]
        for field in ("title", "agency", "photographer", "date"):
            side, _, line = (row[f"{field}_source"] or "").partition(":")
            if side in ("back", "front"):
                lines = row[f"{side}_ocr_lines"]
                text = " ".join(lines[int(line):int(line) + 2])  # a value may wrap onto the next line
                assert match_span(field, row[field], text) is not None, (field, row[field], lines[int(line)])
                assert digit_runs(row[field]) <= digit_runs(text)
                checked += 1
    assert checked >= 4  # values were found and checked, not only empty ones

    assert report_main(["--run", str(out)]) == 0
    page = (out / "review.html").read_text(encoding="utf-8")
    assert page.count("<article") == len(queue) and "<script>x" not in page and "&lt;script&gt;x" in page
