"""``review`` and ``report`` show the OCR the model saw: the input row the job kept, checked against
the output's ``input_hash`` (issue 23, item 5), over a real run of the job."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.report import main as report_main
from pipeline.review import main as review_main

LONG_BACK = " | ".join(f"KEYSTONE PRESS LINE {n} WILLIAM DOIG GLASGOW" for n in range(40))


def write_input(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")


@pytest.fixture
def run(tiny_checkpoint, tmp_path) -> Path:
    """A run over an input where the id ``dup`` has two rows (the second sorts first as JSON) and ``long``
    is cut to a small prompt budget."""
    from pipeline.job import run as run_job

    write_input(tmp_path / "input", [
        {"id": "dup", "front_ocr": "ZZ LATER ROW", "back_ocr": "KEYSTONE", "language": "en"},
        {"id": "dup", "front_ocr": "AA KEPT ROW", "back_ocr": "KEYSTONE", "language": "en"},
        {"id": "plain", "front_ocr": "ME | 1994", "back_ocr": "WILLIAM DOIG", "language": "en"},
        {"id": "long", "front_ocr": "ME", "back_ocr": LONG_BACK, "language": "en"},
    ])
    out = tmp_path / "out"
    run_job(["--input", str(tmp_path / "input" / "*.parquet"), "--output", str(out),
             "--model", str(tiny_checkpoint), "--max_prompt_tokens", "120"])
    records = {row["id"]: row for row in pq.read_table(out / "records").to_pylist()}
    assert records["long"]["truncated"] and not records["plain"]["truncated"]
    assert all(row["needs_review"] for row in records.values())  # a random model vouches for nothing
    return out


def queue(run: Path, to: Path) -> dict[str, dict]:
    assert review_main(["--run", str(run), "--to", str(to)]) == 0
    return {row["id"]: row for row in pq.read_table(to).to_pylist()}


def test_a_duplicated_id_joins_the_row_the_job_kept(run, tmp_path):
    by_id = queue(run, tmp_path / "q.parquet")
    assert by_id["dup"]["front_ocr_lines"] == ["AA KEPT ROW"]  # the JSON-first row, not the first in the file
    assert {row["ocr_status"] for row in by_id.values()} == {"as_run"}  # "long" too: its cut prompt is found


def test_an_input_rewritten_since_the_run_says_so_in_queue_and_report(run, tmp_path, capsys):
    write_input(tmp_path / "input", [
        {"id": "dup", "front_ocr": "AA KEPT ROW", "back_ocr": "KEYSTONE", "language": "en"},
        {"id": "plain", "front_ocr": "ME | 1995", "back_ocr": "WILLIAM DOIG", "language": "en"},
        {"id": "long", "front_ocr": "ME", "back_ocr": LONG_BACK.replace("LINE 0 ", "LINE 0X "), "language": "en"},
    ])
    by_id = queue(run, tmp_path / "q.parquet")
    assert {i: row["ocr_status"] for i, row in by_id.items()} == {"dup": "as_run", "plain": "changed",
                                                                  "long": "changed"}
    assert by_id["plain"]["front_ocr_lines"] == ["ME", "1995"]  # shown, but marked
    assert "input OCR of 2 records changed since the run" in capsys.readouterr().err

    assert report_main(["--run", str(run)]) == 0
    page = (run / "review.html").read_text(encoding="utf-8")
    assert page.count('class="ocr-changed"') == 2
    assert "<th>OCR changed since the run</th><td><strong>2</strong> records" in page


def test_a_row_the_job_could_not_keep_is_not_joined(run, tmp_path):
    # the only row of "plain" now has no OCR at all: the job would dead-letter it (empty_ocr), not prompt it
    write_input(tmp_path / "input", [{"id": "plain", "front_ocr": None, "back_ocr": " ", "language": "en"},
                                     {"id": "dup", "front_ocr": "AA KEPT ROW", "back_ocr": "KEYSTONE",
                                      "language": "xx-not-a-code"}])
    by_id = queue(run, tmp_path / "q.parquet")
    assert by_id["plain"]["ocr_status"] == by_id["dup"]["ocr_status"] == "not_found"
    assert by_id["plain"]["ocr_found"] is False
