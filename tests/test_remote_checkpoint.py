"""A gs:// checkpoint is copied once per machine, verified, and reused (SPEC §6), against a real GCS API.

The cache folder is a trust boundary: object names come from the store, so no name may
place a file outside it, and with ``backstamp.json`` only the files it records are copied.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fsspec

from model.checkpoint import METADATA_FILE, model_version, resolve_checkpoint, sha256_file, write_metadata
from model.remote_cache import CheckpointVerificationError, fetch_checkpoint
from tests.gcs_emulator import BUCKET
from tests.tiny_checkpoint import build_tiny_checkpoint

WEIGHTS = "model.safetensors"


@pytest.fixture
def local_checkpoint(tiny_checkpoint) -> Path:
    return tiny_checkpoint  # read-only: tests that change a checkpoint copy it first


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


@pytest.mark.parametrize("demo", ["demo-gptj", "demo-smollm2"])
def test_every_file_a_shipped_demo_records_holds_its_recorded_hash(demo):
    """What a worker verifies after copying the demo from a bucket (the training log, which grows after the
    metadata is written, was once recorded and made every remote copy of the GPT-J demo fail)."""
    folder = Path(__file__).resolve().parent.parent / "data" / "models" / demo
    recorded = json.loads((folder / METADATA_FILE).read_text())["files"]
    assert recorded and {name: sha256_file(folder / name) for name in recorded} == \
        {name: entry["sha256"] for name, entry in recorded.items()}


def test_the_metadata_leaves_out_the_training_log_that_keeps_growing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "training_log.jsonl").write_text('{"step": 1}\n')
    assert set(write_metadata(tmp_path, {})["files"]) == {"config.json"}


def test_a_gs_folder_without_config_json_is_not_a_checkpoint(gcs_emulator, local_checkpoint, tmp_path):
    url = _upload(gcs_emulator, local_checkpoint / "backstamp.json", "not-a-model/backstamp.json")
    with pytest.raises(FileNotFoundError, match=r"not-a-model: not a checkpoint folder"):
        resolve_checkpoint(url.rsplit("/", 1)[0], str(tmp_path))


def _files_under(folder: Path) -> set[Path]:
    return {Path(root) / name for root, _, names in os.walk(folder) for name in names}


def _rewrite_recorded(folder: Path, name: str) -> None:
    """Record ``name``'s current sha256 and size in backstamp.json, as a tamperer with write access would."""
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["files"][name] = {"sha256": sha256_file(folder / name), "size": (folder / name).stat().st_size}
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


def test_only_the_files_backstamp_json_records_are_copied(gcs_emulator, local_checkpoint, tmp_path):
    """An extra object (a .pth that Python would run at start-up, say) in the folder is never copied."""
    extended = Path(shutil.copytree(local_checkpoint, tmp_path / "extended"))
    (extended / "evil.pth").write_text("import os; os.system('echo pwned')\n")
    (extended / "sub").mkdir()
    (extended / "sub" / "extra.bin").write_bytes(b"\0" * 64)
    url = _upload(gcs_emulator, extended, "extended")
    copied = Path(resolve_checkpoint(url, str(tmp_path / "cache")))
    recorded = set(json.loads((local_checkpoint / METADATA_FILE).read_text())["files"]) | {METADATA_FILE}
    assert {p.relative_to(copied).as_posix() for p in _files_under(copied)} == recorded
    assert gcs_emulator.downloads(f"{url}/evil.pth") == 0
    assert model_version(copied) == model_version(local_checkpoint)


def test_consistent_tampering_is_accepted_but_changes_the_model_version(gcs_emulator, local_checkpoint, tmp_path):
    """Weights and their recorded hash rewritten together: ``backstamp.json`` lives in the same folder, so it
    cannot tell this from a retraining (that is the bucket's access control). What it guarantees is that the
    change shows: a new cache entry, and a ``model_version`` (stamped on every output row) that differs."""
    original = resolve_checkpoint(_upload(gcs_emulator, local_checkpoint, "before-tampering"), str(tmp_path / "c"))
    tampered = Path(shutil.copytree(local_checkpoint, tmp_path / "tampered"))
    with open(tampered / WEIGHTS, "r+b") as handle:  # one byte of the last tensor's data
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))
    _rewrite_recorded(tampered, WEIGHTS)
    copied = resolve_checkpoint(_upload(gcs_emulator, tampered, "after-tampering"), str(tmp_path / "c"))
    assert copied != original
    assert sha256_file(Path(copied) / WEIGHTS) == sha256_file(tampered / WEIGHTS)
    assert model_version(copied) == model_version(tampered) != model_version(original)


def test_a_tampered_weight_file_with_the_old_hash_is_refused(gcs_emulator, local_checkpoint, tmp_path):
    """The inconsistent case: same size, other bytes, backstamp.json unchanged."""
    tampered = Path(shutil.copytree(local_checkpoint, tmp_path / "bytes-changed"))
    with open(tampered / WEIGHTS, "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x7f")
    url = _upload(gcs_emulator, tampered, "bytes-changed")
    with pytest.raises(CheckpointVerificationError, match=r"model\.safetensors: sha256 differs"):
        resolve_checkpoint(url, str(tmp_path / "cache"))


@pytest.mark.parametrize("name", ["caf\u00e9.json", "\uff0e\uff0e/evil.txt", "a b.txt", "x:y.txt"])
def test_a_name_outside_plain_ascii_is_refused_on_gcs(name, gcs_emulator, local_checkpoint, tmp_path):
    """Look-alike dots (U+FF0E), accents, spaces, colons: refused rather than interpreted."""
    foreign = Path(shutil.copytree(local_checkpoint, tmp_path / "foreign"))
    (foreign / METADATA_FILE).unlink()  # a foreign checkpoint: every listed file would be copied
    url = _upload(gcs_emulator, foreign, f"odd-name-{tmp_path.name}")
    gcs_emulator.upload(foreign / "config.json", f"{url}/{name}")
    with pytest.raises(CheckpointVerificationError, match="refusing object name"):
        resolve_checkpoint(url, str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()  # refused from the listing, before any download


def test_backstamp_json_recording_a_traversal_name_is_refused(gcs_emulator, local_checkpoint, tmp_path):
    hostile = Path(shutil.copytree(local_checkpoint, tmp_path / "records-traversal"))
    metadata = json.loads((hostile / METADATA_FILE).read_text())
    metadata["files"]["../../escaped.txt"] = {"sha256": "0" * 64, "size": 1}
    (hostile / METADATA_FILE).write_text(json.dumps(metadata))
    url = _upload(gcs_emulator, hostile, "records-traversal")
    with pytest.raises(CheckpointVerificationError, match=r"escaped\.txt"):
        resolve_checkpoint(url, str(tmp_path / "cache"))


# GCS accepts object names with "..", "//" and backslashes (it refuses only "." and ".." alone), but the
# emulator normalises or refuses them, so these go through fsspec's in-memory store, which keeps names as
# given, like GCS; fetch_checkpoint takes any fsspec URL and does the same with both.
TRAVERSALS = {
    "dot-dot": lambda outside: "../../" + outside.name,
    "double-slash-absolute": lambda outside: "/" + str(outside).lstrip("/"),
    "dot-dot-in-folder": lambda outside: "sub/../../../" + outside.name,
    "backslash": lambda outside: "..\\..\\" + outside.name,
}


@pytest.mark.parametrize("with_metadata", [True, False], ids=["recorded", "foreign"])
@pytest.mark.parametrize("kind", sorted(TRAVERSALS))
def test_no_remote_name_writes_outside_the_cache_folder(kind, with_metadata, local_checkpoint, tmp_path):
    cache = tmp_path / "a" / "b" / "cache"
    outside = tmp_path / "a" / "b" / f"escaped-{kind}.txt"  # where "../../" from a staging folder lands
    memory = fsspec.filesystem("memory")
    root = f"/backstamp-traversal/{kind}-{with_metadata}"
    for path in local_checkpoint.iterdir():
        if with_metadata or path.name != METADATA_FILE:
            memory.pipe_file(f"{root}/{path.name}", path.read_bytes())
    memory.pipe_file(f"{root}/{TRAVERSALS[kind](outside)}", b"import os  # would run at Python start\n")
    try:
        if with_metadata:  # the extra object is not recorded: ignored, and the checkpoint still usable
            copied = fetch_checkpoint(f"memory://{root}", str(cache))
            assert model_version(copied) == model_version(local_checkpoint)
        else:
            with pytest.raises(CheckpointVerificationError, match="refusing object name"):
                fetch_checkpoint(f"memory://{root}", str(cache))
    finally:
        memory.rm(root, recursive=True)
    assert not outside.exists()
    assert all(cache in path.parents for path in _files_under(tmp_path))


# --- the verified stamp: a cached file damaged or tampered after its copy is found on reuse (issue 23) --------

@pytest.fixture
def memory_checkpoint(local_checkpoint, request):
    """The tiny checkpoint in fsspec's in-memory store (no emulator needed): its URL."""
    memory = fsspec.filesystem("memory")
    root = "/backstamp-stamp/" + "".join(c if c.isalnum() else "_" for c in request.node.name)
    for path in local_checkpoint.iterdir():
        memory.pipe_file(f"{root}/{path.name}", path.read_bytes())
    yield f"memory://{root}"
    memory.rm(root, recursive=True)


def _flip_last_byte(path: Path, keep_times: bool) -> None:
    """Change one byte in place: same size and inode; with ``keep_times`` the mtime is set back as well."""
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))
    if keep_times:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("keep_times", [False, True], ids=["written", "mtime-set-back"])
def test_a_cached_file_changed_in_place_is_found_on_reuse_and_copied_again(keep_times, memory_checkpoint,
                                                                          local_checkpoint, tmp_path):
    cached = fetch_checkpoint(memory_checkpoint, str(tmp_path))
    _flip_last_byte(cached / WEIGHTS, keep_times)  # a size check alone passes this
    assert (cached / WEIGHTS).stat().st_size == (local_checkpoint / WEIGHTS).stat().st_size
    again = fetch_checkpoint(memory_checkpoint, str(tmp_path))
    assert again == cached and sha256_file(again / WEIGHTS) == sha256_file(local_checkpoint / WEIGHTS)


def test_a_foreign_checkpoint_is_stamped_with_hashes_too(memory_checkpoint, local_checkpoint, tmp_path):
    fsspec.filesystem("memory").rm(f"{memory_checkpoint.removeprefix('memory://')}/{METADATA_FILE}")
    cached = fetch_checkpoint(memory_checkpoint, str(tmp_path))  # no backstamp.json: sizes only at the copy
    _flip_last_byte(cached / WEIGHTS, keep_times=False)
    again = fetch_checkpoint(memory_checkpoint, str(tmp_path))
    assert sha256_file(again / WEIGHTS) == sha256_file(local_checkpoint / WEIGHTS)


def test_an_intact_file_with_a_new_identity_is_reused_without_a_copy(memory_checkpoint, tmp_path):
    cached = fetch_checkpoint(memory_checkpoint, str(tmp_path))
    shutil.copy2(cached / WEIGHTS, tmp_path / "backup")
    os.replace(tmp_path / "backup", cached / WEIGHTS)  # restored from a backup: other inode, same bytes
    untouched = (cached / "config.json").stat().st_ino  # a new copy would give every file a new inode
    assert fetch_checkpoint(memory_checkpoint, str(tmp_path)) == cached
    assert (cached / "config.json").stat().st_ino == untouched
    stamp = json.loads((tmp_path / f"{cached.name}.verified.json").read_text())
    assert stamp[WEIGHTS]["identity"][3] == (cached / WEIGHTS).stat().st_ino  # re-hashed once, stamped anew


def test_the_full_recheck_finds_what_file_identities_cannot(memory_checkpoint, local_checkpoint, tmp_path):
    """Damage that changes no metadata (bit rot; here: the stamp's identities rewritten to match) is found
    only by re-hashing: ``python -m model.remote_cache --recheck`` removes the entry, the next run copies it."""
    cached = fetch_checkpoint(memory_checkpoint, str(tmp_path))
    intact = cached.with_name("other-entry")
    shutil.copytree(cached, intact)
    (tmp_path / "other-entry.verified.json").write_text(
        (tmp_path / f"{cached.name}.verified.json").read_text())
    _flip_last_byte(cached / WEIGHTS, keep_times=False)
    stamp_file = tmp_path / f"{cached.name}.verified.json"
    stamp = json.loads(stamp_file.read_text())
    for name in stamp:
        st = (cached / name).stat()
        stamp[name]["identity"] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    stamp_file.write_text(json.dumps(stamp))
    result = subprocess.run([sys.executable, "-m", "model.remote_cache", "--recheck", str(tmp_path)],
                            capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 1, result.stderr
    assert f"DAMAGED {cached.name} (removed)" in result.stdout and "intact  other-entry" in result.stdout
    assert not cached.exists() and intact.exists()
    again = fetch_checkpoint(memory_checkpoint, str(tmp_path))
    assert sha256_file(again / WEIGHTS) == sha256_file(local_checkpoint / WEIGHTS)
