"""Build tiny, randomly initialised checkpoints for tests (no download, seconds on CPU).

Two architectures go through the same job: GPT-J (``build_tiny_checkpoint``, the project's own) and
Llama (``build_tiny_llama_checkpoint``, the architecture of the pretrained-base demo, SmolLM2): grouped
key-value heads, a ``max_position_embeddings`` context field instead of ``n_positions``, tied embeddings,
and a tokenizer whose BOS, EOS and other special tokens are not GPT-J's ``<|endoftext|>``.

The tokenizer is built by training's own code (``train.tokenizer.train_bpe``) on a few OCR-like
lines, so the tags are added exactly as training adds them: non-special, bare and space-prefixed.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import GPTJConfig, GPTJForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from model.checkpoint import write_metadata
from train.tokenizer import train_bpe

_CORPUS = [
    "WILLIAM DOIG (NUJ 03: 62 NETHERPARK AVENUE GLASGOW SCOTLAND",
    "ASSOCIATED PRESS PHOTO RETURN TO LIBRARY 12 March 1964 Photo by John Smith",
    "KEYSTONE PRESS AGENCY LTD LONDON Credit: Marie Dupont 3. Mai 1971",
    "Museum and Art Galleries, Kelvingrove 1994 ALL CALL AND MUSEUM",
]


def build_tokenizer(with_tags: bool = True) -> PreTrainedTokenizerFast:
    return train_bpe(_CORPUS * 4, vocab_size=400, with_tags=with_tags)


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


# Special tokens in SmolLM2's style: BOS and EOS differ, and some do not start with "<|".
LLAMA_SPECIAL_TOKENS = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>",
                        "additional_special_tokens": ["<file_sep>", "<repo_name>"]}


def build_llama_tokenizer(with_tags: bool = True) -> PreTrainedTokenizerFast:
    """The tiny BPE with SmolLM2-like special tokens: BOS ``<|im_start|>``, EOS/pad ``<|im_end|>`` and more."""
    tokenizer = build_tokenizer(with_tags)
    tokenizer.add_special_tokens(LLAMA_SPECIAL_TOKENS)
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_tiny_llama_checkpoint(path: str | Path, seed: int = 0, max_position_embeddings: int = 256,
                                max_new_tokens: int = 16, with_tags: bool = True) -> Path:
    """Save a 2-layer, 64-wide Llama (4 query / 2 key-value heads, tied embeddings) like ``build_tiny_checkpoint``.

    ``with_tags=False``: a pretrained base's situation (SmolLM2's): no tag tokens, no spare rows.
    """
    path = Path(path)
    tokenizer = build_llama_tokenizer(with_tags)
    config = LlamaConfig(
        vocab_size=len(tokenizer), max_position_embeddings=max_position_embeddings, hidden_size=64,
        intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    write_metadata(path, {"max_new_tokens": max_new_tokens})
    return path
