"""Batched greedy generation that returns only the continuation of each prompt.

Prompts of different lengths share a batch through left padding and an attention mask,
so every row's continuation starts at the same column; ``generate`` derives position ids
from the mask, which keeps a row's greedy output the same alone or in any batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from pipeline.tags import END_TAG


@dataclass(frozen=True)
class Generation:
    """One row's continuation: decoded text, tokens generated, and whether it hit the limit."""

    text: str
    output_tokens: int
    hit_limit: bool


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """End-of-text, plus ``<END>`` (bare or space-prefixed) wherever the tokenizer has it as one token.

    A trained model never writes ``<END>`` in a completion; if it does, it has gone off
    the rails and generating further only wastes time.
    """
    stops = [tokenizer.eos_token_id]
    for text in (END_TAG, " " + END_TAG):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) == 1 and ids[0] not in stops:
            stops.append(ids[0])
    return stops


def left_pad(batch_input_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask, padded on the left to the longest row."""
    width = max(len(ids) for ids in batch_input_ids)
    input_ids = torch.full((len(batch_input_ids), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch_input_ids), width), dtype=torch.long)
    for row, ids in enumerate(batch_input_ids):
        if ids:
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids):] = 1
    return input_ids, attention_mask


def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch_input_ids: Sequence[Sequence[int]],
    max_new_tokens: int,
) -> list[Generation]:
    """Greedy-decode every row; the batch stops as soon as every row has emitted a stop token."""
    stops = stop_token_ids(tokenizer)
    input_ids, attention_mask = left_pad(batch_input_ids, tokenizer.pad_token_id)
    device = model.device
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            use_cache=True,
            eos_token_id=stops,
            pad_token_id=tokenizer.pad_token_id,
        )
    new_tokens = output[:, input_ids.shape[1]:].tolist()
    return [_finish_row(row, stops, tokenizer, max_new_tokens) for row in new_tokens]


def _finish_row(
    tokens: list[int], stops: list[int], tokenizer: PreTrainedTokenizerBase, max_new_tokens: int
) -> Generation:
    """Cut a row at its first stop token (rows that ended early are padded after it)."""
    end = next((i for i, token in enumerate(tokens) if token in stops), None)
    kept = tokens if end is None else tokens[:end]
    return Generation(
        text=tokenizer.decode(kept, skip_special_tokens=True),
        output_tokens=len(kept) if end is None else end + 1,
        hit_limit=end is None and len(tokens) >= max_new_tokens,
    )
