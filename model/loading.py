"""Load a GPT-J checkpoint and its tokenizer from a local folder, loading no code.

Weights come from safetensors only unless the caller explicitly allows pickle files
(then ``weights_only=True`` still refuses arbitrary objects); remote code is never trusted.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, GPTJForCausalLM, PreTrainedTokenizerBase

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class UnsafeCheckpointError(RuntimeError):
    """The checkpoint would need pickle to load and that was not explicitly allowed."""


def load_tokenizer(local_dir: str) -> PreTrainedTokenizerBase:
    """The checkpoint's tokenizer, set up for batched generation (left padding, a pad token)."""
    tokenizer = AutoTokenizer.from_pretrained(local_dir, local_files_only=True, trust_remote_code=False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` is fp16 on GPU (as the original deployment) and fp32 on CPU (fast and exact there)."""
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


def load_model(
    local_dir: str,
    device: str = "cpu",
    dtype: str = "auto",
    allow_pickle_weights: bool = False,
) -> GPTJForCausalLM:
    """A ``GPTJForCausalLM`` in eval mode on ``device``."""
    has_safetensors = any(Path(local_dir).glob("*.safetensors"))
    if not has_safetensors and not allow_pickle_weights:
        raise UnsafeCheckpointError(
            f"{local_dir}: no .safetensors weights; pickle weights can run code when loaded. "
            "Convert the checkpoint to safetensors or pass --allow_pickle_weights."
        )
    torch_device = resolve_device(device)
    model = GPTJForCausalLM.from_pretrained(
        local_dir,
        dtype=resolve_dtype(dtype, torch_device),
        use_safetensors=has_safetensors,
        weights_only=True,
        local_files_only=True,
        trust_remote_code=False,
    )
    return model.to(torch_device).eval()
