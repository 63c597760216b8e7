"""Build tiny, randomly initialised GPT-J checkpoints for tests (no download, seconds on CPU).

The tokenizer is built by training's own code (``train.tokenizer.train_bpe``) on a few OCR-like
lines, so the tags are added exactly as training adds them: non-special, bare and space-prefixed.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import GPTJConfig, GPTJForCausalLM, PreTrainedTokenizerFast

from model.checkpoint import write_metadata
from train.tokenizer import train_bpe

_CORPUS = [
    "WILLIAM DOIG (NUJ 03: 62 NETHERPARK AVENUE GLASGOW SCOTLAND",
    "ASSOCIATED PRESS PHOTO RETURN TO LIBRARY 12 March 1964 Photo by John Smith",
    "KEYSTONE PRESS AGENCY LTD LONDON Credit: Marie Dupont 3. Mai 1971",
    "Museum and Art Galleries, Kelvingrove 1994 ALL CALL AND MUSEUM",
]


def build_tokenizer() -> PreTrainedTokenizerFast:
    return train_bpe(_CORPUS * 4, vocab_size=400)


def build_tiny_checkpoint(path: str | Path, seed: int = 0, n_positions: int = 256,
                          max_new_tokens: int = 16) -> Path:
    """Save a 2-layer, 64-wide GPT-J with its tokenizer and ``backstamp.json`` to ``path``."""
    path = Path(path)
    tokenizer = build_tokenizer()
    config = GPTJConfig(
        vocab_size=len(tokenizer), n_positions=n_positions, n_embd=64, n_layer=2, n_head=4,
        rotary_dim=8, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = GPTJForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    write_metadata(path, {"max_new_tokens": max_new_tokens})
    return path
