"""Keep credentials and signed URLs out of logs, messages, the manifest, the summary and the dead letter.

What counts as a secret, by the *words* of a name (split at ``_``, ``-``, ``.`` and camelCase,
so ``max_new_tokens``, ``max_prompt_tokens`` and ``tokenizer`` are ordinary options):

* a word ``token``, ``secret``, ``password``/``passwd``/``pwd``/``passphrase``,
  ``credential(s)``, ``signature``, ``sig``, ``auth``/``authorization``, ``apikey``, ``sas``:
  ``--api_token``, ``--s3_session_token``, ``--client_secret``, ``--db_password``,
  ``X-Goog-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token``, ``sig=``, ``access_token=``;
* ``key`` alone or after ``api``, ``access``, ``secret``, ``private``, ``account``, ``signing``,
  ``storage``, ``client``, ``master``: ``--api_key``, ``--s3_secret_access_key``, ``?key=``
  (not ``--dataflow_kms_key``, a resource name);
* ``connection`` + ``string``: ``--azure_connection_string``.

Secrets reach the job in three ways, and each is caught differently:

* **options** with a secret name: their values are collected from the command line and
  replaced wherever they appear as text; in the manifest's options the value is replaced by name;
* **URLs**: user:password in the authority (``gs://user:token@bucket``) and query parameters
  with a secret name; OAuth access tokens (``ya29.``) anywhere;
* **the credentials file** named by ``GOOGLE_APPLICATION_CREDENTIALS``: its secret fields
  (private key, client secret, refresh token ...) are replaced wherever they appear.

A command-line entry point applies all of it with one decorator, ``@redacted_cli``: it calls
``configure(argv)`` before anything parses (and may log) the arguments, which sets the
secrets of this run and installs a log record factory so every log line of the process,
Beam's included, is redacted when it is created (tracebacks attached to log lines too);
it sends stdout and stderr through ``redact`` while the command runs; and it turns an
exception that escapes into a redacted traceback and exit status ``EXIT_FAILED`` instead
of Python's unredacted one (exit 1 is the job's "counts disagree"). On remote workers
(Dataflow, Flink) only the URL and token patterns apply: the literal values are known to
the driver.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sys
import traceback
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import unquote

REDACTED = "<redacted>"
EXIT_FAILED = 3  # an unforeseen error stopped the command (2: refused before any work; 1: counts disagree)
_SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "pwd", "passphrase", "credential",
                           "credentials", "signature", "sig", "auth", "authorization", "apikey", "sas"})
_KEY_QUALIFIERS = frozenset({"api", "access", "secret", "private", "account", "signing", "storage", "client",
                             "master"})
_CREDENTIAL_FIELDS = ("private_key", "private_key_id", "client_secret", "refresh_token", "token",
                      "access_token", "password", "secret")
_MIN_SECRET_CHARS = 6  # shorter values ("1", "true") would redact ordinary text
_QUERY_PARAMETER = re.compile(r"([?&])([\w.~-]+)=([^&#\s'\"\]\)<>]+)")  # "<": a value already redacted
_USERINFO = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s@'\":]*:([^/\s@'\"]+)@")  # the password
_PATTERNS = (
    # user[:password]@ in a URL authority
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@"), r"\1" + REDACTED + "@"),
    # Google OAuth access tokens
    (re.compile(r"\bya29\.[\w.-]+"), REDACTED),
)

_secrets: tuple[str, ...] = ()
_secret_pattern: re.Pattern | None = None


def name_words(name: str) -> list[str]:
    """``X-Goog-Signature`` → [x, goog, signature]; ``apiKey`` → [api, key]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def is_secret_name(name: str) -> bool:
    """Whether an option or query parameter called ``name`` holds a secret (the rule in the module docstring)."""
    words = name_words(name)
    if _SECRET_WORDS.intersection(words):
        return True
    if any(word == "key" and (index == 0 or words[index - 1] in _KEY_QUALIFIERS)
           for index, word in enumerate(words)):
        return True
    return any(a == "connection" and b == "string" for a, b in zip(words, words[1:]))


def secret_option_values(argv: Sequence[str]) -> list[str]:
    """Values of ``--name=value`` / ``--name value`` arguments whose name says secret."""
    values = []
    for position, argument in enumerate(argv):
        if not argument.startswith("-"):
            continue
        name, equals, value = argument.lstrip("-").partition("=")
        if not is_secret_name(name):
            continue
        if not equals and position + 1 < len(argv) and not argv[position + 1].startswith("--"):
            value = argv[position + 1]
        if value:
            values.append(value)
    return values


def url_secrets(argv: Sequence[str]) -> list[str]:
    """Passwords in URL authorities and values of secret query parameters anywhere in ``argv``.

    The patterns of ``redact`` catch these in a URL as written; knowing the values also
    catches them where a library quotes them apart from their URL (Beam logs an ``--input``
    glob translated to a regular expression, for one).
    """
    values = []
    for argument in argv:
        values += [value for _, name, value in _QUERY_PARAMETER.findall(argument) if is_secret_name(name)]
        values += [match.group(1) for match in _USERINFO.finditer(argument)]
    return values + [unquote(value) for value in values]


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
    global _secrets, _secret_pattern
    found = (set(_secrets) | set(secret_option_values(argv)) | set(url_secrets(argv))
             | set(credential_file_secrets(environ)))
    # Longest first, so a secret containing another is replaced whole.
    _secrets = tuple(sorted((s for s in found if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True))
    # Each value also when escaped for a regular expression or a repr (backslashes between its characters).
    _secret_pattern = re.compile("|".join(r"\\*".join(map(re.escape, s)) for s in _secrets)) if _secrets else None
    _install_log_factory()


def _redact_parameter(match: re.Match) -> str:
    separator, name, value = match.groups()
    return f"{separator}{name}={REDACTED if is_secret_name(name) else value}"


def redact(text: str) -> str:
    """``text`` with known secret values, URL credentials and signatures replaced by ``<redacted>``."""
    if _secret_pattern is not None and _secrets:
        text = _secret_pattern.sub(REDACTED, text)
    text = _QUERY_PARAMETER.sub(_redact_parameter, text)
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
    return {name: REDACTED if is_secret_name(name) and value else redact_value(value)
            for name, value in options.items()}


class _RedactingStream:
    """A text stream that redacts what is written to it, one ``write`` call at a time."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, encoding, isatty, fileno ... of the real stream
        return getattr(self._stream, name)


@contextlib.contextmanager
def redacted_output() -> Iterator[None]:
    """While the block runs, everything printed to stdout and stderr is redacted."""
    with contextlib.redirect_stdout(_RedactingStream(sys.stdout)), \
            contextlib.redirect_stderr(_RedactingStream(sys.stderr)):
        yield


def redacted_cli(main: Callable[[Sequence[str]], int]) -> Callable[[Sequence[str] | None], int]:
    """Wrap a command's ``main(argv) -> exit status`` so no secret of its argv leaves the process.

    ``argv`` defaults to ``sys.argv[1:]``. See the module docstring for what it does; an
    ``argparse`` exit (``SystemExit``) passes through, its message already redacted.
    """
    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        configure(argv)  # before anything parses, and may log, the arguments
        with redacted_output():
            try:
                return main(argv)
            except Exception:  # unforeseen: Python's own report would print the secrets unredacted
                traceback.print_exc()  # to the redacting stderr
                return EXIT_FAILED

    return wrapper


def _install_log_factory() -> None:
    """Wrap the record factory once: each record's message and traceback are formatted and redacted at creation."""
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
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters use exc_text when it is set, instead of formatting the exception themselves.
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory._backstamp_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
