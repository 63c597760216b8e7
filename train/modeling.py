"""The tokenizer and the GPT-J to train: from a checkpoint (fine-tuning) or a config (from scratch)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from transformers import AutoTokenizer, GPTJConfig, GPTJForCausalLM

from train.args import ModelArguments


def load_or_build_tokenizer(model_args: ModelArguments, saved: str | Path | None = None):
    """The tokenizer with the tags as non-special tokens; pad = eos when it has none.

    ``saved``: the tokenizer a resumed run wrote in its checkpoint folder, so the ids the
    weights were trained on are the ids it keeps training on.
    """
    from train.tokenizer import add_tag_tokens, build_synthetic_tokenizer

    source = saved or model_args.tokenizer_name or model_args.model_name_or_path
    if source:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, trust_remote_code=False)
    else:
        tokenizer = build_synthetic_tokenizer(model_args.tokenizer_vocab_size, model_args.tokenizer_train_records,
                                              model_args.tokenizer_seed)
    add_tag_tokens(tokenizer)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_model(model_args: ModelArguments, tokenizer) -> GPTJForCausalLM:
    """The GPT-J to train, with room for every token of ``tokenizer``.

    From a config: the vocabulary is the config's, grown (to a multiple of 64) only when
    the tokenizer is larger — GPT-J-6B's 50,400 rows hold the 50,257 BPE tokens and the
    tags, so its parameter count is unchanged. From a checkpoint: the embedding is resized
    only when the tokenizer does not fit the existing rows (GPT-J-6B has 143 spare rows);
    rows taken by new tokens start at the mean of the trained rows. Called under
    ``torch.device("meta")`` it builds the model without allocating weights. Weights are
    fp32 (DeepSpeed casts them for fp16/bf16 training): transformers 5 would otherwise load a
    half-precision checkpoint in its own dtype (``dtype="auto"`` by default).
    """
    n_tokens = len(tokenizer)
    if model_args.model_name_or_path:
        model = GPTJForCausalLM.from_pretrained(model_args.model_name_or_path, dtype=torch.float32,
                                                local_files_only=True, trust_remote_code=False)
        rows = model.get_input_embeddings().num_embeddings
        base = _base_vocab_size(tokenizer)
        if n_tokens > rows:
            model.resize_token_embeddings(n_tokens, pad_to_multiple_of=64)
        _init_rows(model, first_new=min(base, rows), end=n_tokens)
    else:
        with open(model_args.config_name, encoding="utf-8") as handle:
            values = json.load(handle)
        if n_tokens > values.get("vocab_size", 0):
            values["vocab_size"] = int(math.ceil(n_tokens / 64) * 64)
        values.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id)
        model = GPTJForCausalLM(GPTJConfig(**values))
    if model_args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model


def _base_vocab_size(tokenizer) -> int:
    """Size of the vocabulary before added tokens (GPT-J's tokenizer: 50,257)."""
    added = tokenizer.get_added_vocab()
    specials = set(tokenizer.all_special_tokens)
    return len(tokenizer) - sum(1 for token in added if token not in specials)


@torch.no_grad()
def _init_rows(model: GPTJForCausalLM, first_new: int, end: int) -> None:
    """Start the embedding and output rows of new tokens at the mean of the trained rows."""
    if end <= first_new or first_new <= 0:
        return
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    if inputs.device.type == "meta":
        return
    inputs[first_new:end] = inputs[:first_new].mean(dim=0, keepdim=True)
    outputs.weight[first_new:end] = outputs.weight[:first_new].mean(dim=0, keepdim=True)
    if outputs.bias is not None:
        outputs.bias[first_new:end] = outputs.bias[:first_new].mean()


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
