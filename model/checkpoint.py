"""Where a checkpoint lives, what version it is, and the metadata training left in it.

A checkpoint is a Hugging Face ``save_pretrained`` folder of a ``GPTJForCausalLM`` with
its tokenizer, plus ``backstamp.json`` written by ``train/``: generation limits measured
on the training data and the sha256 of every weight file. The recorded hashes give a
``model_version`` that changes whenever the weights change, without hashing gigabytes
of weights at every worker start.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

METADATA_FILE = "backstamp.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_HASH_CHUNK = 1 << 20


def is_remote(path: str) -> bool:
    """True for URLs such as ``gs://bucket/ckpt`` (anything with a scheme but a local path)."""
    return "://" in path and not path.startswith("file://")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weight_files(local_dir: str | os.PathLike) -> list[str]:
    """Names of the files in the folder that hold weights (safetensors or pickle)."""
    return sorted(p.name for p in Path(local_dir).iterdir() if p.suffix in WEIGHT_SUFFIXES)


def read_metadata(local_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``backstamp.json`` of a local checkpoint, or ``{}`` for a foreign checkpoint."""
    path = Path(local_dir) / METADATA_FILE
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def write_metadata(local_dir: str | os.PathLike, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``backstamp.json`` with ``fields`` plus the sha256 of every file of the checkpoint.

    Called by training right after ``save_pretrained``; the hashes let a worker verify a
    downloaded copy and identify the weights (``model_version``) cheaply.
    """
    root = Path(local_dir)
    files = {
        p.name: {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(root.iterdir())
        if p.is_file() and p.name != METADATA_FILE
    }
    metadata = {**fields, "files": files}
    (root / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return metadata


def model_version(local_dir: str | os.PathLike) -> str:
    """A short, stable id of the weights: ``gptj-`` + 16 hex digits.

    Built from ``config.json`` and the sha256 of each weight file — taken from
    ``backstamp.json`` when training recorded them, else computed (once per process).
    Two checkpoints share a version only when config and weights are byte-identical.
    """
    root = Path(local_dir)
    recorded = read_metadata(root).get("files", {})
    digest = hashlib.sha256((root / "config.json").read_bytes())
    for name in weight_files(root):
        file_hash = recorded.get(name, {}).get("sha256") or sha256_file(root / name)
        digest.update(f"{name}:{file_hash}\n".encode())
    return "gptj-" + digest.hexdigest()[:16]


def resolve_checkpoint(path: str, cache_dir: str | None = None) -> str:
    """Return a local folder holding the checkpoint at ``path``.

    Local paths are returned as absolute paths after a sanity check; remote ones (``gs://``)
    are copied once per machine into ``cache_dir``, verified and reused (``model.remote_cache``).
    """
    if is_remote(path):
        from model.remote_cache import fetch_checkpoint  # fsspec is needed only for remote models

        return str(fetch_checkpoint(path, cache_dir))
    local = Path(path.removeprefix("file://")).resolve()
    if not (local / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a checkpoint folder (no config.json)")
    return str(local)
