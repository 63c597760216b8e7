"""LoRA adapter checkpoints: a PEFT adapter folder whose ``backstamp.json`` names its base.

An adapter folder holds PEFT's ``adapter_config.json`` and ``adapter_model.safetensors``, the
tokenizer it was trained with and ``backstamp.json``, whose ``base`` entry says which base
model the adapter belongs to, in one of two forms:

* ``{"path": P, "files": {weight file: sha256}}`` — a ``save_pretrained`` folder (``P`` relative
  to the adapter folder, or absolute), e.g. GPT-J-6B;
* ``{"package": DIST, "version": V, "file": F, "sha256": S, "weights": {weight file: sha256}}`` —
  a GGUF file shipped by an installed package, converted once into the local cache
  (``model.pretrained_base``).

``embedding_rows`` in ``backstamp.json`` is the number of embedding rows the adapter expects:
tag tokens the base lacks are added rows, trained as PEFT trainable tokens. The job resolves and
verifies the base (the hashes are checked, every time a worker loads it), grows its embedding,
applies the adapter and merges it once (``merge_and_unload``), so generation runs on a plain
model at the base's speed. This module needs torch only in ``merge_adapter``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from model.checkpoint import read_metadata, sha256_file, weight_files

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter(local_dir: str | os.PathLike) -> bool:
    return (Path(local_dir) / ADAPTER_CONFIG).is_file()


def path_base_reference(base_dir: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ``base`` entry for a ``save_pretrained`` folder: its path and the sha256 of its weight files."""
    base_dir = Path(base_dir).resolve()
    path = os.path.relpath(base_dir, Path(relative_to).resolve()) if relative_to else str(base_dir)
    return {"path": path, "files": {name: sha256_file(base_dir / name) for name in weight_files(base_dir)}}


def package_base_reference(distribution: str, filename: str, converted_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``base`` entry for a package's GGUF file, with the hashes of the file and of its conversion."""
    from model.pretrained_base import STAMP_FILE, find_package_file

    found = find_package_file(distribution, filename)
    stamp = json.loads((Path(converted_dir) / STAMP_FILE).read_text(encoding="utf-8"))
    return {"package": found.distribution, "version": found.version, "file": found.file,
            "sha256": stamp["gguf_sha256"],
            "weights": {name: stamp["files"][name] for name in weight_files(converted_dir)}}


def base_reference(local_dir: str | os.PathLike) -> Mapping[str, Any]:
    base = read_metadata(local_dir).get("base")
    if not isinstance(base, Mapping) or not ({"path", "package"} & set(base)):
        raise ValueError(f"{local_dir}: an adapter's backstamp.json must name its base "
                         '("base": {"path": ...} or {"package": ..., "file": ..., "sha256": ...})')
    return base


def resolve_base(local_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """The local, verified base folder of the adapter in ``local_dir``.

    Raises ``model.pretrained_base.BaseMismatchError`` when a weight file's sha256 is not the one
    recorded at training, ``FileNotFoundError`` when the base is not on this machine.
    """
    from model.pretrained_base import BaseMismatchError, converted_base, find_package_file

    base = base_reference(local_dir)
    if "package" in base:
        found = find_package_file(base["package"], base["file"])
        if base.get("version") and found.version != base["version"]:
            raise BaseMismatchError(f"{local_dir}: trained on {base['package']} {base['version']}, "
                                    f"installed is {found.version}")
        return converted_base(found.path, cache_dir, base.get("sha256"), base.get("weights"))
    folder = (Path(local_dir) / base["path"]).resolve()  # an absolute path stays as it is
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{local_dir}: its base {folder} is not a checkpoint folder (no config.json)")
    for name, wanted in base.get("files", {}).items():
        if not (folder / name).is_file() or sha256_file(folder / name) != wanted:
            raise BaseMismatchError(f"{local_dir}: base file {folder / name} is missing or is not the one the "
                                    f"adapter was trained on (sha256 {wanted})")
    return folder


def adapter_identity(local_dir: str | os.PathLike) -> str:
    """sha256 over the adapter's config, its weights' hashes (recorded or computed) and its base's hashes."""
    root = Path(local_dir)
    recorded = read_metadata(root).get("files", {})
    digest = hashlib.sha256((root / ADAPTER_CONFIG).read_bytes())
    for name in weight_files(root):
        file_hash = recorded.get(name, {}).get("sha256") or sha256_file(root / name)
        digest.update(f"{name}:{file_hash}\n".encode())
    base = dict(base_reference(root))
    base.pop("path", None)  # where the base lies does not change the weights; its hashes do
    digest.update(json.dumps(base, sort_keys=True).encode())
    return digest.hexdigest()


def merge_adapter(model, local_dir: str | os.PathLike):
    """``model`` (the loaded base) with the adapter applied and merged: a plain transformers model again."""
    from peft import PeftModel

    rows = read_metadata(local_dir).get("embedding_rows")
    if rows and rows > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(rows)  # the added rows are the adapter's trainable tokens
    return PeftModel.from_pretrained(model, str(local_dir), is_trainable=False).merge_and_unload()
