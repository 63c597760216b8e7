"""Keep credentials and signed URLs out of logs, the manifest, the summary and the dead letter.

Secrets reach the job in three ways, and each is caught differently:

* **options** whose name says secret (``--s3_secret_access_key``, ``--azure_connection_string``,
  a custom ``--api_token``): their values are collected from the command line and replaced
  wherever they appear as text; in the manifest's options the value is replaced by name;
* **URLs**: user:password in the authority (``gs://user:token@bucket``) and signing or token
  query parameters (``X-Goog-Signature``, ``X-Amz-Credential``, ``sig``, ``access_token`` ...);
  OAuth access tokens (``ya29.``) anywhere;
* **the credentials file** named by ``GOOGLE_APPLICATION_CREDENTIALS``: its secret fields
  (private key, client secret, refresh token ...) are replaced wherever they appear.

``configure(argv)`` (called by ``job.run``) sets the secrets of this run and installs a log
record factory, so every log line of the process, Beam's included, is redacted when it is
created. On remote workers (Dataflow, Flink) only the URL and token patterns apply: the
literal values are known to the driver.
"""
from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, Sequence

REDACTED = "<redacted>"
_SECRET_NAME = re.compile(
    r"token|secret|passw|credential|signature|api_?key|access_?key|private_?key|connection_string|auth",
    re.IGNORECASE)
_CREDENTIAL_FIELDS = ("private_key", "private_key_id", "client_secret", "refresh_token", "token",
                      "access_token", "password", "secret")
_MIN_SECRET_CHARS = 6  # shorter values ("1", "true") would redact ordinary text
_PATTERNS = (
    # user[:password]@ in a URL authority
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@"), r"\1" + REDACTED + "@"),
    # signing and token query parameters
    (re.compile(r"([?&](?:[\w.-]*(?:signature|credential|token|secret|key|sig|password|auth)[\w.-]*)=)"
                r"[^&\s'\"\]\)>]+", re.IGNORECASE), r"\1" + REDACTED),
    # Google OAuth access tokens
    (re.compile(r"\bya29\.[\w.-]+"), REDACTED),
)

_secrets: tuple[str, ...] = ()


def secret_option_values(argv: Sequence[str]) -> list[str]:
    """Values of ``--name=value`` / ``--name value`` arguments whose name says secret."""
    values = []
    for position, argument in enumerate(argv):
        if not argument.startswith("-"):
            continue
        name, equals, value = argument.lstrip("-").partition("=")
        if not _SECRET_NAME.search(name) or name == "allow_pickle_weights":
            continue
        if not equals and position + 1 < len(argv) and not argv[position + 1].startswith("--"):
            value = argv[position + 1]
        if value:
            values.append(value)
    return values


def credential_file_secrets(environ: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """Secret fields of the JSON credentials file at ``GOOGLE_APPLICATION_CREDENTIALS``, if readable."""
    path = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    try:
        with open(path, encoding="utf-8") as handle:  # type: ignore[arg-type]
            content = json.load(handle)
    except (TypeError, OSError, ValueError):
        return []
    return [str(content[key]) for key in _CREDENTIAL_FIELDS if isinstance(content, dict) and content.get(key)]


def configure(argv: Sequence[str], environ: dict[str, str] | os._Environ = os.environ) -> None:
    """Register this run's secrets and redact every log record created from now on."""
    global _secrets
    found = set(_secrets) | set(secret_option_values(argv)) | set(credential_file_secrets(environ))
    # Longest first, so a secret containing another is replaced whole.
    _secrets = tuple(sorted((s for s in found if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True))
    _install_log_factory()


def redact(text: str) -> str:
    """``text`` with known secret values, URL credentials and signatures replaced by ``<redacted>``."""
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """``redact`` applied to every string inside dicts, lists and tuples."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item) for item in value]
    return value


def redact_options(options: dict[str, Any]) -> dict[str, Any]:
    """Pipeline options for the manifest: secret-named options blanked, all other text redacted."""
    return {name: REDACTED if _SECRET_NAME.search(name) and name != "allow_pickle_weights" and value
            else redact_value(value) for name, value in options.items()}


def _install_log_factory() -> None:
    """Wrap the record factory once: each record's message is formatted and redacted at creation."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_backstamp_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: leave it for logging to report
            return record
        record.msg, record.args = redact(message), None
        return record

    factory._backstamp_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)

