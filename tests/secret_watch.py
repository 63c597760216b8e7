"""A reusable check that a command line lets no secret out (issue 16): ``run``, ``dataflow`` and ``flink``
use it in tests/test_no_code_no_secrets.py; ``backfill`` and ``latest`` can use it the same way.

tests/conftest.py shares the fixture with every test module; give the command the watch's flags::

    def test_backfill_keeps_secrets(secret_watch, tmp_path):
        status = main([..., "--input", secret_watch.signed(str(tmp_path / "in" / "*.parquet")),
                       *secret_watch.flags])
        secret_watch.assert_clean(tmp_path / "out")   # every place a secret could surface

``assert_clean`` looks at stdout and stderr, every log record (message and traceback), and
every file under the given folders (Parquet as rows, anything else as text), and fails
naming the kind of secret and where it was found. The fixture points
``GOOGLE_APPLICATION_CREDENTIALS`` at a service-account file of its own, so use it with
local paths, not with the ``gcs_emulator`` fixture (whose client needs its own file).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import redaction

SECRETS = {
    "secret option": "S3-SECRET-VALUE-0123",
    "unknown token option": "API-TOKEN-VALUE-4567",
    "password option": "DB-PASSWORD-VALUE-89AB",
    "credentials file": "CLIENT-SECRET-MATERIAL-89AB",
    "URL signature": "SIGNATURE-CDEF-0123",
    "URL user:password": "URL-PASSWORD-4567",
}


@dataclass
class SecretWatch:
    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture
    # Secret-bearing flags in the three spellings: Beam's own option, unknown "--name=value", "--name value".
    flags: list[str] = field(default_factory=lambda: [
        "--s3_secret_access_key", SECRETS["secret option"], f"--api_token={SECRETS['unknown token option']}",
        "--db_password", SECRETS["password option"]])
    # Ordinary options whose names contain "token": shown as given (e.g. in the manifest), never redacted.
    ordinary_flags: tuple[str, ...] = ("--max_new_tokens", "12", "--max_prompt_tokens", "200")

    @staticmethod
    def signed(url: str) -> str:
        """``url`` as a V4-signed URL (a credential and a signature in its query)."""
        return f"{url}?X-Goog-Credential=job%40p.iam%2F2024&X-Goog-Signature={SECRETS['URL signature']}"

    @staticmethod
    def with_password(url: str) -> str:
        """``scheme://host/...`` → ``scheme://user:PASSWORD@host/...``."""
        scheme, rest = url.split("://", 1)
        return f"{scheme}://job:{SECRETS['URL user:password']}@{rest}"

    def assert_clean(self, *folders: Path) -> str:
        """Fail if any secret is in the output, the logs or a file under ``folders``; return all that text."""
        captured = self.capsys.readouterr()
        places = {"stdout": captured.out, "stderr": captured.err,
                  "logs": "\n".join(self.caplog.handler.format(record) for record in self.caplog.records)}
        for folder in folders:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    places[str(path)] = _file_text(path)
        for where, text in places.items():
            unescaped = text.replace("\\", "")  # a secret quoted in a regular expression or a repr counts too
            for kind, secret in SECRETS.items():
                assert secret not in unescaped, f"{kind} secret found in {where}"
        return "\n".join(places.values())


def _file_text(path: Path) -> str:
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), default=str)
    return path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def secret_watch(tmp_path_factory, monkeypatch, caplog, capsys) -> SecretWatch:
    """Secrets in a credentials file and in flags; redaction state of earlier tests forgotten; logs at DEBUG."""
    credentials = tmp_path_factory.mktemp("credentials") / "service-account.json"
    # A user credential that google-auth accepts without a network call (it refreshes only when used).
    credentials.write_text(json.dumps({"type": "authorized_user", "client_id": "backstamp-test",
                                       "client_secret": SECRETS["credentials file"], "refresh_token": "not-used"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    monkeypatch.setattr(redaction, "_secrets", ())
    caplog.set_level(logging.DEBUG)
    return SecretWatch(caplog, capsys)
