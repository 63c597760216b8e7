"""A real GCS JSON API on loopback for tests: ``gcp-storage-emulator`` in a child process.

Beam's GCS filesystem (Parquet source and sink included) and gcsfs both talk to it when
``STORAGE_EMULATOR_HOST`` is set. The other variables keep every Google client off the
network and fast:

- ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false``: otherwise gcsfs probes for hierarchical
  buckets and each call took 73–192 s here;
- ``NO_GCE_CHECK`` and the metadata host on a closed loopback port: google-auth does not
  look for a GCE metadata server;
- a fake authorized-user credentials file with an unexpired token: google-auth finds
  credentials at once instead of retrying for ~40 s per process, and never refreshes them
  (a refresh would go to the real token endpoint).

``fake-gcs-server`` is not an alternative: it lacks the batch endpoint that Beam's Parquet
sink uses to finalise its files.

Use ``GcsEmulator`` directly (a context manager; ``env`` holds the variables for a child
process) or the session's ``gcs_emulator`` fixture (tests/conftest.py), which also sets them in ``os.environ`` for the
test.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

import fsspec
import pytest

BUCKET = "backstamp-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GcsEmulator:
    """Start ``gcp-storage-emulator`` (in memory) on a free loopback port with ``buckets`` created."""

    def __init__(self, workdir: str | os.PathLike, buckets: tuple[str, ...] = (BUCKET,), on_disk: bool = False):
        self.workdir = Path(workdir)
        self.on_disk = on_disk
        self.buckets = buckets
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None
        credentials = self.workdir / "fake-credentials.json"
        self.env: dict[str, str] = {
            "STORAGE_EMULATOR_HOST": self.url,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            "NO_GCE_CHECK": "True",
            "GCE_METADATA_HOST": f"127.0.0.1:{free_port()}",
            "GCE_METADATA_IP": f"127.0.0.1:{free_port()}",
            "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
            "GOOGLE_CLOUD_PROJECT": "backstamp-test",
        }

    def start(self) -> "GcsEmulator":
        self.workdir.mkdir(parents=True, exist_ok=True)
        Path(self.env["GOOGLE_APPLICATION_CREDENTIALS"]).write_text(json.dumps({
            "type": "authorized_user", "client_id": "fake", "client_secret": "fake",
            "refresh_token": "fake", "token": "fake", "expiry": "2999-01-01T00:00:00Z",
        }))
        (self.workdir / "emulator.log").write_bytes(b"")
        self._launch()
        for bucket in self.buckets:
            self._post("/storage/v1/b", {"name": bucket})
        return self

    def _launch(self) -> None:
        """Start the server; on disk (under ``workdir``) when ``on_disk``, so a restart keeps the objects."""
        log = open(self.workdir / "emulator.log", "ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
             "--port", str(self.port)] + ([] if self.on_disk else ["--in-memory"]),
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
        )
        log.close()
        self._wait_until_up()

    def restart(self, down_seconds: float) -> None:
        """Stop the server, stay down ``down_seconds`` (clients see refused connections), start it again."""
        self.stop()
        time.sleep(down_seconds)
        self._launch()

    def stop(self) -> None:
        """Stop the server as an interrupt does: it finishes the request it is handling, answers
        it, then closes its socket (later requests are refused).

        Not ``terminate()``: killed in the middle of a resumable upload's chunk, the emulator has
        stored the bytes without answering, and refuses the client's retry of that chunk (400:
        "Invalid Content-Range start"), where GCS ignores bytes it already holds. That is the
        emulator's gap, not the job's, and it made the write-outage test fail at random.
        """
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> "GcsEmulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def upload(self, local: str | os.PathLike, url: str) -> None:
        """Copy a local file or folder (recursively) to ``url`` (``gs://bucket/path``)."""
        fs, path = fsspec.core.url_to_fs(url)
        fs.put(str(local), path, recursive=Path(local).is_dir())
        fs.invalidate_cache()

    def downloads(self, url: str) -> int:
        """How often the object at ``url`` was downloaded so far, counted in the emulator's request log."""
        bucket, name = url.removeprefix("gs://").split("/", 1)
        wanted = f"/download/storage/v1/b/{bucket}/o/{name}"
        requests = re.findall(r'"GET (\S+) HTTP', (self.workdir / "emulator.log").read_text())
        return sum(unquote(path.split("?")[0]) == wanted for path in requests)

    def _wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"gcp-storage-emulator exited; see {self.workdir / 'emulator.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"gcp-storage-emulator did not answer on {self.url} within {timeout} s")

    def _post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


@contextlib.contextmanager
def emulator_environment(emulator: GcsEmulator) -> Iterator[None]:
    """Point gcsfs and Beam at ``emulator`` while the block runs (the session fixture is in conftest)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in emulator.env.items():
            patch.setenv(key, value)
        fsspec.get_filesystem_class("gs").clear_instance_cache()  # a cached gcsfs instance would keep its old endpoint
        yield
    fsspec.get_filesystem_class("gs").clear_instance_cache()
