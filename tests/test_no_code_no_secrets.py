"""Checkpoints load no code, and secrets never reach logs, the manifest, the summary or the dead letter."""
from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.config import EngineConfig
from model.engines import load_engine
from model.loading import UnsafeCheckpointError, load_model, load_tokenizer
from pipeline import redaction
from pipeline.job import main, run
from pipeline.dead_letter import dead_letter
from tests.tiny_checkpoint import build_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


class _RunsCode:
    """Unpickling this calls ``Path.touch(marker)``: proof that loading ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def _copy(checkpoint: Path, folder: Path) -> Path:
    return Path(shutil.copytree(checkpoint, folder))


def test_pickle_weights_that_run_code_are_refused_even_when_pickle_is_allowed(checkpoint, tmp_path):
    hostile = _copy(checkpoint, tmp_path / "hostile")
    for weights in hostile.glob("*.safetensors"):
        weights.unlink()
    marker = tmp_path / "code-ran"
    with open(hostile / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"transformer.wte.weight": _RunsCode(marker)}, handle)
    with pytest.raises(UnsafeCheckpointError, match="allow_pickle_weights"):
        load_model(str(hostile))
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global|unpickl"):
        load_model(str(hostile), allow_pickle_weights=True)  # weights_only=True refuses the object
    assert not marker.exists()


def test_custom_code_named_by_the_checkpoint_is_never_imported(checkpoint, tmp_path):
    """auto_map in config.json and tokenizer_config.json points at a module that would leave a marker."""
    hostile = _copy(checkpoint, tmp_path / "auto-map")
    marker = tmp_path / "code-ran"
    (hostile / "evil.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
    for name, auto_map in (("config.json", {"AutoConfig": "evil.Config", "AutoModelForCausalLM": "evil.Model"}),
                           ("tokenizer_config.json", {"AutoTokenizer": ["evil.Tokenizer", "evil.Tokenizer"]})):
        config = json.loads((hostile / name).read_text())
        config["auto_map"] = auto_map
        (hostile / name).write_text(json.dumps(config))
    try:
        engine = load_engine(str(hostile), EngineConfig(device="cpu"))
    except Exception as error:  # refusing is as good as ignoring, as long as nothing ran
        assert "trust_remote_code" in str(error) or "custom code" in str(error), error
    else:
        assert type(engine.model).__name__ == "GPTJForCausalLM"
        assert type(load_tokenizer(str(hostile))).__module__.startswith("transformers.")
    assert not marker.exists()


SECRETS = {"option": "S3-SECRET-VALUE-0123", "unknown_option": "API-TOKEN-VALUE-4567",
           "credentials_file": "-----PRIVATE KEY MATERIAL 89AB-----", "signature": "SIGNATURE-CDEF-0123"}


@pytest.fixture
def secret_environment(tmp_path, monkeypatch):
    credentials = tmp_path / "service-account.json"
    credentials.write_text(json.dumps({"type": "service_account", "private_key": SECRETS["credentials_file"],
                                       "client_email": "job@example.iam.gserviceaccount.com"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    monkeypatch.setattr(redaction, "_secrets", ())
    return credentials


def _assert_no_secret(text: str, where: str) -> None:
    for kind, secret in SECRETS.items():
        assert secret not in text, f"{kind} secret found in {where}"


def test_secrets_in_options_and_credentials_never_reach_manifest_logs_or_dead_letter(
        checkpoint, tmp_path, secret_environment, caplog, capsys):
    rows = [{"id": "good", "front_ocr": ["1964"], "back_ocr": ["KEYSTONE"]},
            {"id": "bad", "front_ocr": [], "back_ocr": []}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    out = tmp_path / "out"
    caplog.set_level(logging.DEBUG)
    manifest = run(["--input", str(tmp_path / "in.parquet"), "--output", str(out), "--model", str(checkpoint),
                    "--s3_secret_access_key", SECRETS["option"], f"--api_token={SECRETS['unknown_option']}"])
    logging.getLogger("model.remote_cache").info(
        "copied checkpoint %s", f"https://storage.googleapis.com/b/m?X-Goog-Signature={SECRETS['signature']}")
    logging.getLogger("test").warning("credentials: %s", SECRETS["credentials_file"])

    assert manifest.count_invariant_holds and manifest.records_dead_lettered == 1
    saved = (out / "manifest.json").read_text()
    assert json.loads(saved)["options"]["s3_secret_access_key"] == redaction.REDACTED
    _assert_no_secret(saved, "manifest.json")
    dead = pq.read_table(list((out / "dead_letter").glob("*.parquet"))).to_pylist()
    _assert_no_secret(json.dumps(dead, default=str), "dead letter")
    assert "Discarding unparseable args" in caplog.text  # Beam did log the unknown option ...
    assert redaction.REDACTED in caplog.text
    _assert_no_secret(caplog.text, "logs")  # ... but not its value
    captured = capsys.readouterr()
    _assert_no_secret(captured.out + captured.err, "stdout/stderr")


def test_a_signed_or_tokened_input_url_is_redacted_in_the_error_message(checkpoint, tmp_path, capsys,
                                                                        secret_environment):
    signed = f"{tmp_path}/none-*.parquet?X-Goog-Credential=abc%2F2024&X-Goog-Signature={SECRETS['signature']}"
    assert main(["--input", signed, "--output", str(tmp_path / "out"), "--model", str(checkpoint)]) == 2
    error = capsys.readouterr().err
    assert "no input file matches" in error and "X-Goog-Signature=<redacted>" in error
    _assert_no_secret(error, "the error message")


@pytest.mark.parametrize("text, expected", [
    ("gs://oauth2:ya29.a0AfH6SM-token@bucket/x", "gs://<redacted>@bucket/x"),
    ("https://h/o?X-Amz-Signature=ab12&X-Amz-Date=2024", "https://h/o?X-Amz-Signature=<redacted>&X-Amz-Date=2024"),
    ("url https://h/o?alt=media&access_token=tok123 end", "url https://h/o?alt=media&access_token=<redacted> end"),
    ("Authorization: Bearer ya29.c.b0Aaekm1", "Authorization: Bearer <redacted>"),
    ("gs://bucket/models/tiny?generation=17", "gs://bucket/models/tiny?generation=17"),  # not a secret
])
def test_url_credentials_and_tokens_are_redacted(text, expected):
    assert redaction.redact(text) == expected


def test_a_dead_letter_detail_is_redacted(monkeypatch):
    monkeypatch.setattr(redaction, "_secrets", ())
    row = dead_letter("inference", "inference_error", "OSError: gs://u:pw123456@b/m failed", "id", "{}", "run")
    assert row["detail"] == "OSError: gs://<redacted>@b/m failed"
