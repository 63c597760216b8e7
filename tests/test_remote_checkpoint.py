"""A gs:// checkpoint is copied once per machine, verified, and reused (SPEC §6), against a real GCS API."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model.checkpoint import model_version, resolve_checkpoint, sha256_file
from model.remote_cache import CheckpointVerificationError
from tests.gcs_emulator import BUCKET
from tests.tiny_checkpoint import build_tiny_checkpoint

WEIGHTS = "model.safetensors"


@pytest.fixture(scope="module")
def local_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


def _upload(emulator, local: Path, name: str) -> str:
    url = f"gs://{BUCKET}/models/{name}"
    emulator.upload(local, url)
    return url


def test_a_gs_checkpoint_is_copied_verified_and_reused(gcs_emulator, local_checkpoint, tmp_path):
    url = _upload(gcs_emulator, local_checkpoint, "reuse")
    first = resolve_checkpoint(url, str(tmp_path))
    second = resolve_checkpoint(url, str(tmp_path))
    assert first == second
    assert gcs_emulator.downloads(f"{url}/{WEIGHTS}") == 1
    assert sorted(p.name for p in Path(first).iterdir()) == sorted(p.name for p in local_checkpoint.iterdir())
    assert sha256_file(Path(first) / WEIGHTS) == sha256_file(local_checkpoint / WEIGHTS)
    assert model_version(first) == model_version(local_checkpoint)


def test_parallel_processes_of_one_machine_download_once(gcs_emulator, local_checkpoint, tmp_path):
    url = _upload(gcs_emulator, local_checkpoint, "parallel")
    code = "import sys; from model.checkpoint import resolve_checkpoint; print(resolve_checkpoint(*sys.argv[1:]))"
    # Three processes racing for the same entry, like the SDK processes of one worker VM.
    workers = [subprocess.Popen([sys.executable, "-c", code, url, str(tmp_path)], stdout=subprocess.PIPE,
                                text=True, cwd=Path(__file__).parents[1]) for _ in range(3)]
    paths = {worker.communicate(timeout=120)[0].strip() for worker in workers}
    assert [worker.returncode for worker in workers] == [0, 0, 0]
    assert len(paths) == 1
    assert gcs_emulator.downloads(f"{url}/{WEIGHTS}") == 1


def test_a_reuploaded_checkpoint_gets_its_own_cache_entry(gcs_emulator, local_checkpoint, tmp_path):
    url = _upload(gcs_emulator, local_checkpoint, "retrained")
    before = resolve_checkpoint(url, str(tmp_path))
    retrained = build_tiny_checkpoint(tmp_path / "src" / "retrained", seed=1)
    gcs_emulator.upload(retrained / WEIGHTS, f"{url}/{WEIGHTS}")
    gcs_emulator.upload(retrained / "backstamp.json", f"{url}/backstamp.json")
    after = resolve_checkpoint(url, str(tmp_path / "cache"))
    assert after != before
    assert model_version(after) == model_version(retrained) != model_version(before)


def test_a_copy_that_does_not_match_backstamp_json_is_refused_and_not_cached(gcs_emulator, local_checkpoint,
                                                                             tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(local_checkpoint, tampered)
    metadata = json.loads((tampered / "backstamp.json").read_text())
    metadata["files"][WEIGHTS]["sha256"] = "0" * 64
    (tampered / "backstamp.json").write_text(json.dumps(metadata))
    url = _upload(gcs_emulator, tampered, "tampered")
    cache = tmp_path / "cache"
    with pytest.raises(CheckpointVerificationError, match=r"model\.safetensors: sha256 differs"):
        resolve_checkpoint(url, str(cache))
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []  # no entry, no staging left


def test_a_cache_entry_damaged_after_the_copy_is_copied_again(gcs_emulator, local_checkpoint, tmp_path):
    url = _upload(gcs_emulator, local_checkpoint, "damaged")
    cached = Path(resolve_checkpoint(url, str(tmp_path)))
    with open(cached / WEIGHTS, "r+b") as handle:
        handle.truncate(10)
    again = Path(resolve_checkpoint(url, str(tmp_path)))
    assert again == cached
    assert gcs_emulator.downloads(f"{url}/{WEIGHTS}") == 2
    assert sha256_file(again / WEIGHTS) == sha256_file(local_checkpoint / WEIGHTS)


def test_a_gs_folder_without_config_json_is_not_a_checkpoint(gcs_emulator, local_checkpoint, tmp_path):
    url = _upload(gcs_emulator, local_checkpoint / "backstamp.json", "not-a-model/backstamp.json")
    with pytest.raises(FileNotFoundError, match=r"not-a-model: not a checkpoint folder"):
        resolve_checkpoint(url.rsplit("/", 1)[0], str(tmp_path))
