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
from pipeline import job, launch, redaction
from pipeline.__main__ import main as pipeline_cli
from pipeline.dead_letter import dead_letter
from pipeline.job import run
from tests.secret_watch import SECRETS


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> Path:
    return tiny_checkpoint  # read-only: the tests below that change it copy it first


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


def test_secrets_in_options_and_credentials_never_reach_manifest_logs_or_dead_letter(checkpoint, tmp_path,
                                                                                    secret_watch):
    rows = [{"id": "good", "front_ocr": ["1964"], "back_ocr": ["KEYSTONE"]},
            {"id": "bad", "front_ocr": [], "back_ocr": []}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    out = tmp_path / "out"
    manifest = run(["--input", str(tmp_path / "in.parquet"), "--output", str(out), "--model", str(checkpoint),
                    *secret_watch.flags, *secret_watch.ordinary_flags])
    logging.getLogger("model.remote_cache").info(
        "copied checkpoint %s", secret_watch.signed("https://storage.googleapis.com/b/m"))
    logging.getLogger("test").warning("credentials: %s", SECRETS["credentials file"])
    try:
        raise OSError(f"cannot open {secret_watch.with_password('gs://bucket/m')}")
    except OSError:
        logging.getLogger("test").exception("a traceback attached to a log line")

    assert manifest.count_invariant_holds and manifest.records_dead_lettered == 1
    options = json.loads((out / "manifest.json").read_text())["options"]
    assert options["s3_secret_access_key"] == redaction.REDACTED
    assert options["max_new_tokens"] == 12 and options["max_prompt_tokens"] == 200  # ordinary, not redacted
    text = secret_watch.assert_clean(out)
    assert "Discarding unparseable args" in text and "--api_token=<redacted>" in text  # Beam logged it, redacted
    assert "cannot open gs://<redacted>@bucket/m" in text


def _job_argv(checkpoint: Path, tmp_path: Path, watch) -> list[str]:
    """A run whose signed --input matches nothing: refused by preflight, with the URL in the message."""
    return ["--input", watch.signed(f"{tmp_path}/none-*.parquet"), "--output", str(tmp_path / "out"),
            "--model", str(checkpoint), *watch.flags, *watch.ordinary_flags]


def test_the_run_command_redacts_its_error_message(checkpoint, tmp_path, secret_watch):
    assert pipeline_cli(["run", *_job_argv(checkpoint, tmp_path, secret_watch)]) == 2
    text = secret_watch.assert_clean(tmp_path)
    assert "no input file matches" in text and "X-Goog-Signature=<redacted>" in text


def test_the_run_command_redacts_an_unforeseen_error_and_exits_3(checkpoint, tmp_path, secret_watch, monkeypatch):
    """An error the job did not foresee: a redacted traceback and exit 3, not Python's report with the URL."""
    def fails(options, check_storage=True):
        raise RuntimeError(f"cannot read {options.input} as {secret_watch.with_password('gs://bucket/in')}")

    monkeypatch.setattr(job, "plan_job", fails)
    assert pipeline_cli(["run", *_job_argv(checkpoint, tmp_path, secret_watch)]) == redaction.EXIT_FAILED
    text = secret_watch.assert_clean(tmp_path)
    assert "Traceback" in text and "RuntimeError: cannot read" in text and "gs://<redacted>@bucket/in" in text


DATAFLOW = ["dataflow", "--project", "my-project", "--region", "us-central1", "--bucket", "backstamp-demo",
            "--image", "img:1"]


def test_the_dataflow_dry_run_redacts_what_it_prints(secret_watch):
    argv = [*DATAFLOW, "--dry_run", "--input", secret_watch.signed("gs://backstamp-demo/in/*.parquet"),
            "--model", secret_watch.with_password("gs://backstamp-demo/models/m"), *secret_watch.flags]
    assert launch.main(argv) == 0
    text = secret_watch.assert_clean()
    assert "job built, not submitted" in text
    assert "gs://backstamp-demo/in/*.parquet?X-Goog-Credential=<redacted>&X-Goog-Signature=<redacted>" in text


def test_the_dataflow_launcher_redacts_its_refusal(secret_watch):
    argv = [*DATAFLOW, "--input", secret_watch.signed("https://example.org/in.parquet"), *secret_watch.flags]
    assert launch.main(argv) == 2
    assert "Dataflow workers cannot read local paths" in secret_watch.assert_clean()


def test_the_flink_launcher_redacts_the_job_it_hands_over(checkpoint, tmp_path, secret_watch):
    argv = ["flink", "--flink_master", "127.0.0.1:1", "--image", "img:1", *_job_argv(checkpoint, tmp_path,
                                                                                     secret_watch)]
    assert launch.main(argv) == 2  # refused by preflight, before Flink is contacted
    text = secret_watch.assert_clean(tmp_path)
    assert "no input file matches" in text and "X-Goog-Signature=<redacted>" in text
    assert "translate_pattern" in text  # Beam's debug line quoting the glob as a regular expression, redacted


@pytest.mark.parametrize("name", ["api_token", "s3_secret_access_key", "s3_session_token", "azure_connection_string",
                                  "client_secret", "db_password", "apiKey", "key", "sig", "X-Goog-Signature",
                                  "X-Amz-Credential", "X-Amz-Security-Token", "access_token", "hf_token"])
def test_names_that_hold_secrets(name):
    assert redaction.is_secret_name(name)


@pytest.mark.parametrize("name", ["max_new_tokens", "max_prompt_tokens", "prompt_tokens", "tokenizer",
                                  "allow_pickle_weights", "dataflow_kms_key", "X-Amz-Date", "generation",
                                  "service_account_email", "id_column"])
def test_ordinary_names(name):
    assert not redaction.is_secret_name(name)


@pytest.mark.parametrize("text, expected", [
    ("gs://oauth2:ya29.a0AfH6SM-token@bucket/x", "gs://<redacted>@bucket/x"),
    ("https://h/o?X-Amz-Signature=ab12&X-Amz-Date=2024", "https://h/o?X-Amz-Signature=<redacted>&X-Amz-Date=2024"),
    ("url https://h/o?alt=media&access_token=tok123 end", "url https://h/o?alt=media&access_token=<redacted> end"),
    ("https://a.blob.core.windows.net/c?sv=1&sig=ab%2Bc", "https://a.blob.core.windows.net/c?sv=1&sig=<redacted>"),
    ("Authorization: Bearer ya29.c.b0Aaekm1", "Authorization: Bearer <redacted>"),
    ("gs://bucket/models/tiny?generation=17", "gs://bucket/models/tiny?generation=17"),  # not a secret
    ("https://h/v1/complete?max_tokens=64&n=1", "https://h/v1/complete?max_tokens=64&n=1"),  # not a secret
])
def test_url_credentials_and_tokens_are_redacted(text, expected):
    assert redaction.redact(text) == expected


def test_a_dead_letter_detail_is_redacted(monkeypatch):
    monkeypatch.setattr(redaction, "_secrets", ())
    row = dead_letter("inference", "inference_error", "OSError: gs://u:pw123456@b/m failed", "id", "{}", "run")
    assert row["detail"] == "OSError: gs://<redacted>@b/m failed"
