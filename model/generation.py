"""Batched greedy generation that returns only the continuation of each prompt.

Prompts of different lengths share a batch through left padding and an attention mask,
so every row's continuation starts at the same column; ``generate`` derives position ids
from the mask, which keeps a row's greedy output the same alone or in any batch.

Decoding is constrained to the completion's tag grammar (SPEC §4): a prompt-only tag is
never written and each completion tag at most once. A small model that loses its place
otherwise loops (``<title> X <title> X ...``) until the token limit, which the parser can
only flag as ``partial``; with the rule it has to move on to the next field instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from formats.tags import COMPLETION_TAGS, END_TAG, LANGUAGE_TAG, PROMPT_ONLY_TAGS, tag


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


def _single_token_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Ids of ``text`` and `` text`` wherever the tokenizer has them as one token."""
    ids = [tokenizer.encode(variant, add_special_tokens=False) for variant in (text, " " + text)]
    return sorted({row[0] for row in ids if len(row) == 1})


class TagGrammar(LogitsProcessor):
    """Bans prompt-only tags, and each completion tag once the row has written it.

    Only tags the tokenizer holds as single tokens are constrained (a trained checkpoint adds
    them all); with a tokenizer that spells them in pieces decoding is left unconstrained.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, prompt_width: int):
        self.prompt_width = prompt_width
        self.never = [i for name in PROMPT_ONLY_TAGS for i in _single_token_ids(tokenizer, tag(name))]
        groups = [_single_token_ids(tokenizer, text) for text in (LANGUAGE_TAG, *map(tag, COMPLETION_TAGS))]
        self.once = [torch.tensor(ids) for ids in groups if ids]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        banned = torch.zeros_like(scores, dtype=torch.bool)
        banned[:, self.never] = True
        written = input_ids[:, self.prompt_width:]
        for ids in self.once:
            ids = ids.to(scores.device)
            seen = torch.isin(written, ids).any(dim=1)
            banned[:, ids] |= seen[:, None]
        return scores.masked_fill(banned, float("-inf"))


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
            logits_processor=LogitsProcessorList([TagGrammar(tokenizer, input_ids.shape[1])]),
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
