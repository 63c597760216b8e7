"""Load a checkpoint (any causal LM, or a LoRA adapter on its base) and its tokenizer, loading no code.

Weights come from safetensors only unless the caller explicitly allows pickle files
(then ``weights_only=True`` still refuses arbitrary objects); remote code is never trusted.
``AutoModelForCausalLM`` picks the architecture from ``config.json`` (GPT-J, Llama, ...); an
adapter folder (``model.adapters``) is merged into its verified base once, here, so the engines
and the decode loop only ever see a plain model.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class UnsafeCheckpointError(RuntimeError):
    """The checkpoint would need pickle to load and that was not explicitly allowed."""


def load_tokenizer(local_dir: str) -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer, set up for batched generation (left padding, a pad token).

    An adapter folder carries the tokenizer it was trained with (the base's plus the tags).
    """
    tokenizer = AutoTokenizer.from_pretrained(local_dir, local_files_only=True, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[str, ...]:
    """Every special token of the tokenizer (BOS/EOS/pad/unknown and the rest it marks special), which
    OCR must never spell (``formats.prompt.neutralise_special_tokens``); the tag tokens are not special."""
    marked = (token.content for token in tokenizer.added_tokens_decoder.values() if token.special)
    return tuple(sorted(set(tokenizer.all_special_tokens) | set(marked)))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` is fp16 on GPU (as the original deployment) and fp32 on CPU (fast and exact there)."""
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


def weights_folder(local_dir: str) -> str:
    """The folder whose weights are loaded: the checkpoint itself, or an adapter's verified base
    (a package base converted into the project's ``.cache/bases`` on first use)."""
    from model.adapters import is_adapter, resolve_base

    return str(resolve_base(local_dir)) if is_adapter(local_dir) else local_dir


def load_model(
    local_dir: str,
    device: str = "cpu",
    dtype: str = "auto",
    allow_pickle_weights: bool = False,
    base_dir: str | None = None,
) -> PreTrainedModel:
    """The causal LM of the checkpoint in eval mode on ``device``; an adapter merged into its base.

    ``base_dir``: an adapter's base already resolved and verified (``weights_folder``), so that a
    caller that measured it first does not hash it twice; resolved here when not given.
    """
    from model.adapters import is_adapter, merge_adapter

    source = base_dir or weights_folder(local_dir)
    has_safetensors = any(Path(source).glob("*.safetensors"))
    if not has_safetensors and not allow_pickle_weights:
        raise UnsafeCheckpointError(
            f"{source}: no .safetensors weights; pickle weights can run code when loaded. "
            "Convert the checkpoint to safetensors or pass --allow_pickle_weights."
        )
    torch_device = resolve_device(device)
    model = AutoModelForCausalLM.from_pretrained(
        source,
        dtype=resolve_dtype(dtype, torch_device),
        use_safetensors=has_safetensors,
        weights_only=True,
        local_files_only=True,
        trust_remote_code=False,
    )
    if is_adapter(local_dir):
        model = merge_adapter(model, local_dir)
    return model.to(torch_device).eval()
