"""The job gives the same rows on the portable path that Flink uses and across worker processes.

``PortableRunner --job_endpoint=embed --environment_type=LOOPBACK`` submits the job through
the Job API as FlinkRunner does (pipeline proto, artifact staging, Fn API workers), and the
multi-process DirectRunner runs bundles in separate SDK processes, each loading its own
model; both must match the default DirectRunner row for row.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.job import run

RUN_ID = "portable-parity"
# Columns that record when a row was made: the only ones allowed to differ between runners.
TIMES = {"processed_at", "failed_at"}
SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())),
                    ("back_ocr", pa.list_(pa.string())), ("language", pa.string()), ("box", pa.int64())])


@pytest.fixture(scope="module")
def job_inputs(tiny_checkpoint, tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("input")
    rows = [{"id": f"p{i}", "front_ocr": ["1964", f"print {i}"], "back_ocr": ["KEYSTONE PRESS", "12 March 1964"],
             "language": ["en", "fr", None][i % 3], "box": i} for i in range(6)]
    rows += [{"id": "p1", "front_ocr": ["again"], "back_ocr": ["dup"], "language": "en", "box": 99},
             {"id": "void", "front_ocr": [], "back_ocr": None, "language": "en", "box": 0}]
    pq.write_table(pa.Table.from_pylist(rows[:4], schema=SCHEMA), folder / "a.parquet")
    pq.write_table(pa.Table.from_pylist(rows[4:], schema=SCHEMA), folder / "b.parquet")
    return str(folder / "*.parquet"), str(tiny_checkpoint)


def _rows(folder: Path) -> list[dict]:
    table = pq.read_table(list(folder.glob("*.parquet")))
    return sorted(({k: v for k, v in row.items() if k not in TIMES} for row in table.to_pylist()),
                  key=lambda row: (str(row["id"]), repr(sorted(row.items()))))


def _run_job(job_inputs, output: Path, runner_flags: list[str]) -> tuple[list[dict], list[dict]]:
    pattern, model = job_inputs
    manifest = run(["--input", pattern, "--output", str(output), "--model", model, "--run_id", RUN_ID,
                    "--max_batch_size", "3"] + runner_flags)
    assert manifest.count_invariant_holds
    return _rows(output / "records"), _rows(output / "dead_letter")


@pytest.fixture(scope="module")
def direct_rows(job_inputs, tmp_path_factory):
    records, dead = _run_job(job_inputs, tmp_path_factory.mktemp("direct") / "out", [])
    assert [row["id"] for row in records] == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert [(row["id"], row["reason"]) for row in dead] == [("p1", "duplicate_id"), ("void", "empty_ocr")]
    return records, dead


@pytest.mark.parametrize("runner_flags", [
    ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
    ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
], ids=["portable-loopback", "direct-multi-process"])
def test_runner_gives_the_same_rows_as_the_default_direct_runner(job_inputs, direct_rows, runner_flags, tmp_path):
    assert _run_job(job_inputs, tmp_path / "out", runner_flags) == direct_rows
