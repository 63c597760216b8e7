"""Storage faults: the job retries refused GCS connections, while reading and while writing gs://.

Two kinds of fault, both asserting a complete output (every record written exactly once, no
dead letters, a manifest whose counts are the rows in the files, read back from gs://):

- the GCS emulator is stopped for 2 s (finishing the request in hand: tests/gcs_emulator.py
  says why) and restarted with its data, once during the source's reads and once during the
  Parquet sink's uploads. A 2 s outage is well inside the Google
  clients' retry budget (about 2 minutes); a longer one fails the run (RELIABILITY.md, "Not
  guaranteed"), which these tests do not accept;
- every distinct request the Google clients send fails once with a refused connection
  (``requests.ConnectionError``, what urllib3's ``NewConnectionError`` arrives as), so no
  request of the job — upload initiation, chunk, batch copy/delete, listing — can escape its
  retry policy just because an outage happened to miss it.
"""
from __future__ import annotations

import json
import re
import threading

import fsspec
import google.auth.transport.requests
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from pipeline.job import run
from tests.gcs_emulator import BUCKET, GcsEmulator, emulator_environment

FILES, ROWS_PER_FILE = 8, 3
SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())), ("back_ocr", pa.list_(pa.string()))])
EXPECTED_IDS = sorted(f"f{f}r{r}" for f in range(FILES) for r in range(ROWS_PER_FILE))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """An on-disk emulator (the session's ``gcs_emulator`` is in memory and would lose the input on a restart)."""
    with GcsEmulator(tmp_path_factory.mktemp("gcs"), on_disk=True) as server, emulator_environment(server):
        local = tmp_path_factory.mktemp("input")
        for f in range(FILES):
            rows = [{"id": f"f{f}r{r}", "front_ocr": ["1964"], "back_ocr": ["KEYSTONE", f"ref {r}"]}
                    for r in range(ROWS_PER_FILE)]
            pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), local / f"part-{f}.parquet")
        server.upload(local, f"gs://{BUCKET}/input")
        yield server


class Outage(threading.Thread):
    """Restart the emulator once the ``occurrence``-th request matching ``pattern`` appears in its log."""

    def __init__(self, server: GcsEmulator, pattern: str, occurrence: int = 1, down_seconds: float = 2.0):
        super().__init__(daemon=True)
        self.server, self.pattern, self.occurrence, self.down = server, re.compile(pattern), occurrence, down_seconds
        self.happened = False
        self.cancelled = threading.Event()

    def run(self) -> None:
        log = self.server.workdir / "emulator.log"
        start = log.stat().st_size
        while not self.cancelled.wait(0.02):
            with open(log, "rb") as handle:
                handle.seek(start)
                seen = len(self.pattern.findall(handle.read().decode("utf-8", "replace")))
            if seen >= self.occurrence:
                self.server.restart(self.down)
                self.happened = True
                return


def _run_job(checkpoint, output: str):
    return run(["--input", f"gs://{BUCKET}/input/*.parquet", "--output", output, "--model", str(checkpoint),
                "--max_batch_size", "8"])


def _assert_complete(output: str) -> None:
    """Every id once in ``records/``, no dead letters, and a saved manifest that agrees, all read back from gs://."""
    fs, path = fsspec.core.url_to_fs(output)
    fs.invalidate_cache()
    ids, dead = [], 0
    for part in fs.glob(f"{path}/records/*.parquet"):
        ids += pq.read_table(part, filesystem=fs).column("id").to_pylist()
    for part in fs.glob(f"{path}/dead_letter/*.parquet"):
        dead += pq.read_metadata(part, filesystem=fs).num_rows
    manifest = json.loads(fs.cat_file(f"{path}/manifest.json"))
    assert sorted(ids) == EXPECTED_IDS  # nothing lost, nothing duplicated
    assert dead == 0
    assert (manifest["records_read"], manifest["records_written"], manifest["records_dead_lettered"],
            manifest["records_skipped"]) == (len(EXPECTED_IDS), len(ids), dead, 0)


@pytest.mark.parametrize("phase, pattern, occurrence", [
    # Beam's source listing the input: the preflight lists it once before, so the second
    # listing is the source starting to read the 8 files.
    ("read", r'"GET /storage/v1/b/[^/]+/o\?[^"]*prefix=input%2F', 2),
    # The first upload after the run started: the Parquet sink writing a temporary shard file.
    ("write", r'"POST /upload/storage/v1/b/[^/]+/o\?uploadType', 1),
])
def test_a_short_outage_is_retried_to_a_complete_output(phase, pattern, occurrence, emulator, tiny_checkpoint):
    output = f"gs://{BUCKET}/out/{phase}"
    outage = Outage(emulator, pattern, occurrence)
    outage.start()
    try:
        _run_job(tiny_checkpoint, output)  # raises if the run failed
    finally:
        outage.cancelled.set()
        outage.join()
    assert outage.happened, f"the {phase} outage was never triggered"
    _assert_complete(output)


def test_every_request_refused_once_is_retried_to_a_complete_output(emulator, tiny_checkpoint, monkeypatch):
    session = google.auth.transport.requests.AuthorizedSession
    send = session.request
    refused: list[str] = []
    last = threading.local()  # per thread: the request this thread was last refused

    def refuse_first_attempt(self, method, url, *args, **kwargs):
        key = (method, url)  # not the body: a batch's multipart boundary differs on each attempt
        if getattr(last, "key", None) != key:
            last.key = key
            refused.append(f"{method} {url.split('?')[0]}")
            raise requests.ConnectionError(f"refused once by the test: {method} {url}")
        last.key = None
        return send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(session, "request", refuse_first_attempt)
    _run_job(tiny_checkpoint, f"gs://{BUCKET}/out/refused")
    monkeypatch.undo()
    # the fault reached the write path: uploads (initiation and chunk) and the sink's batch rename
    assert any(r.startswith("POST") and "/upload/" in r for r in refused)
    assert any(r.startswith("PUT") and "/upload/" in r for r in refused)
    assert any("/batch/" in r for r in refused)
    _assert_complete(f"gs://{BUCKET}/out/refused")
