"""Where a checkpoint lives, what version it is, and the metadata training left in it.

A checkpoint is a Hugging Face ``save_pretrained`` folder of a causal LM (GPT-J first, any
architecture ``AutoModelForCausalLM`` loads) with its tokenizer, or a LoRA adapter folder that
names its base (``model.adapters``), plus ``backstamp.json`` written by ``train/``: generation
limits measured on the training data and the sha256 of every weight file. The recorded hashes
give a ``model_version`` that changes whenever the weights change, without hashing gigabytes
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


# Logs a checkpoint folder may hold that keep growing after the metadata is written (the final evaluation and
# every later sitting append to the training log): not part of the model, so not recorded, verified or copied.
GROWING_LOGS = ("training_log.jsonl",)


def write_metadata(local_dir: str | os.PathLike, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``backstamp.json`` with ``fields`` plus the sha256 of every file of the checkpoint.

    Called by training right after ``save_pretrained``; the hashes let a worker verify a
    downloaded copy and identify the weights (``model_version``) cheaply.
    """
    root = Path(local_dir)
    files = {
        p.name: {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(root.iterdir())
        if p.is_file() and p.name not in (METADATA_FILE, *GROWING_LOGS)
    }
    metadata = {**fields, "files": files}
    (root / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return metadata


# Config fields that hold the context length, by architecture: GPT-J/GPT-2 ``n_positions``, Llama,
# Mistral, Qwen ... ``max_position_embeddings``, others ``n_ctx``, ``max_sequence_length``, ``seq_length``.
CONTEXT_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx", "max_sequence_length", "seq_length")


def context_length(config: Mapping[str, Any]) -> int:
    """The context length of a model config (a ``config.json`` as a dict), whatever the architecture."""
    for name in CONTEXT_FIELDS:
        if isinstance(config.get(name), int) and config[name] > 0:
            return config[name]
    raise ValueError(f"model config ({config.get('model_type', 'unknown type')}) names no context length; "
                     f"looked for {', '.join(CONTEXT_FIELDS)}")


def checkpoint_context_length(local_dir: str | os.PathLike) -> int:
    """The context of a checkpoint: ``backstamp.json``'s ``context_length`` (training records it, an
    adapter's being its base's), else its ``config.json``."""
    recorded = read_metadata(local_dir).get("context_length")
    if recorded:
        return int(recorded)
    return context_length(json.loads((Path(local_dir) / "config.json").read_text(encoding="utf-8")))


def checkpoint_special_tokens(local_dir: str | os.PathLike) -> tuple[str, ...]:
    """The special tokens of the checkpoint's tokenizer, read from its files without loading it.

    The same set as ``model.loading.special_tokens`` of the loaded tokenizer (tested): the
    named ones of ``tokenizer_config.json`` (``bos_token``, ...; a string or an added-token
    dict), its ``additional_special_tokens``/``extra_special_tokens``, and every added token
    ``tokenizer.json`` marks special. The driver records them in the manifest, so ``review``
    rebuilds the prompts the workers built (OCR that spells one was neutralised) without torch.
    """
    root = Path(local_dir)

    def read(name: str) -> dict[str, Any]:
        path = root / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def content(token: Any) -> str | None:
        return token.get("content") if isinstance(token, dict) else token if isinstance(token, str) else None

    config = read("tokenizer_config.json")
    named = [config.get(key) for key in config if key.endswith("_token")]
    for key in ("additional_special_tokens", "extra_special_tokens"):
        extra = config.get(key) or []
        named.extend(extra.values() if isinstance(extra, dict) else extra)
    marked = [token for token in read("tokenizer.json").get("added_tokens", []) if token.get("special")]
    return tuple(sorted({text for text in map(content, named + marked) if text}))


def model_version(local_dir: str | os.PathLike) -> str:
    """A short, stable id of the weights: the model type (``gptj-``, ``llama-``) + 16 hex digits.

    Built from ``config.json`` and the sha256 of each weight file — taken from
    ``backstamp.json`` when training recorded them, else computed (once per process).
    Two checkpoints share a version only when config and weights are byte-identical.
    An adapter's version (``<base type>-lora-`` + 16 hex digits) covers the adapter's config
    and weights and its base's hashes (``model.adapters.adapter_identity``).
    """
    root = Path(local_dir)
    if (root / "adapter_config.json").is_file():
        from model.adapters import adapter_identity

        return f"{read_metadata(root).get('base_model_type', 'model')}-lora-{adapter_identity(root)[:16]}"
    model_type = json.loads((root / "config.json").read_text(encoding="utf-8")).get("model_type") or "model"
    recorded = read_metadata(root).get("files", {})
    digest = hashlib.sha256((root / "config.json").read_bytes())
    for name in weight_files(root):
        file_hash = recorded.get(name, {}).get("sha256") or sha256_file(root / name)
        digest.update(f"{name}:{file_hash}\n".encode())
    return f"{model_type}-" + digest.hexdigest()[:16]


def resolve_checkpoint(path: str, cache_dir: str | None = None) -> str:
    """Return a local folder holding the checkpoint at ``path``.

    Local paths are returned as absolute paths after a sanity check; remote ones (``gs://``)
    are copied once per machine into ``cache_dir``, verified and reused (``model.remote_cache``).
    """
    if is_remote(path):
        from model.remote_cache import fetch_checkpoint  # fsspec is needed only for remote models

        return str(fetch_checkpoint(path, cache_dir))
    local = Path(path.removeprefix("file://")).resolve()
    if not ((local / "config.json").is_file() or (local / "adapter_config.json").is_file()):
        raise FileNotFoundError(f"{path}: not a checkpoint folder (no config.json or adapter_config.json)")
    return str(local)
