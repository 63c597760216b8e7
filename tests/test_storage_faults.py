"""Storage faults: the GCS emulator is stopped and restarted while the job reads or writes gs://.

The job must either retry through the outage and write every record exactly once, or fail
the run cleanly: no manifest and no output file. Which of the two happens depends on the
client's retry budget, so both are accepted; a partial or duplicated output never is.
"""
from __future__ import annotations

import json
import re
import threading
import time

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.job import run
from tests.gcs_emulator import BUCKET, GcsEmulator
from tests.tiny_checkpoint import build_tiny_checkpoint

FILES, ROWS_PER_FILE = 8, 3
SCHEMA = pa.schema([("id", pa.string()), ("front_ocr", pa.list_(pa.string())), ("back_ocr", pa.list_(pa.string()))])
EXPECTED_IDS = sorted(f"f{f}r{r}" for f in range(FILES) for r in range(ROWS_PER_FILE))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """An on-disk emulator (objects survive a restart) with the input uploaded; its env in os.environ."""
    with GcsEmulator(tmp_path_factory.mktemp("gcs"), on_disk=True) as server, pytest.MonkeyPatch.context() as patch:
        for key, value in server.env.items():
            patch.setenv(key, value)
        fsspec.get_filesystem_class("gs").clear_instance_cache()
        local = tmp_path_factory.mktemp("input")
        for f in range(FILES):
            rows = [{"id": f"f{f}r{r}", "front_ocr": ["1964"], "back_ocr": ["KEYSTONE", f"ref {r}"]}
                    for r in range(ROWS_PER_FILE)]
            pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), local / f"part-{f}.parquet")
        server.upload(local, f"gs://{BUCKET}/input")
        yield server
    fsspec.get_filesystem_class("gs").clear_instance_cache()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny"))


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


def _run_through(outage: Outage, checkpoint: str, output: str):
    outage.start()
    try:
        manifest = run(["--input", f"gs://{BUCKET}/input/*.parquet", "--output", output, "--model", checkpoint,
                        "--max_batch_size", "8"])
        error = None
    except Exception as failure:  # a clean failure is an allowed outcome; checked below
        manifest, error = None, failure
    outage.cancelled.set()
    outage.join()
    return manifest, error


def _committed(output: str) -> tuple[list[str], bool]:
    fs, path = fsspec.core.url_to_fs(output)
    fs.invalidate_cache()
    ids = []
    for part in fs.glob(f"{path}/records/*.parquet"):
        ids += pq.read_table(part, filesystem=fs).column("id").to_pylist()
    return sorted(ids), fs.exists(f"{path}/manifest.json")


@pytest.mark.parametrize("phase, pattern, occurrence", [
    # Beam's source listing the input: the preflight lists it once before, so the second
    # listing is the source starting to read the 8 files.
    ("read", r'"GET /storage/v1/b/[^/]+/o\?[^"]*prefix=input%2F', 2),
    # The first upload after the run started: the Parquet sink writing a temporary shard file.
    ("write", r'"POST /upload/storage/v1/b/[^/]+/o\?uploadType', 1),
])
def test_an_outage_is_retried_or_fails_the_run_cleanly(phase, pattern, occurrence, emulator, checkpoint):
    output = f"gs://{BUCKET}/out/{phase}"
    outage = Outage(emulator, pattern, occurrence)
    manifest, error = _run_through(outage, checkpoint, output)
    assert outage.happened, f"the {phase} outage was never triggered"
    ids, has_manifest = _committed(output)
    if error is None:
        assert ids == EXPECTED_IDS  # every record once: nothing lost, nothing duplicated
        assert has_manifest and manifest.count_invariant_holds and manifest.records_read == len(EXPECTED_IDS)
    else:
        assert (ids, has_manifest) == ([], False), f"partial output after {error!r}"
    print(json.dumps({"phase": phase, "outcome": "retried" if error is None else f"failed: {type(error).__name__}"}))
