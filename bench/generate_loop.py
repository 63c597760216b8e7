"""Today's decode loop before issue 28, kept as the benchmarks' and tests' baseline: one ``model.generate``
call per batch (eager, dynamic cache) with the job's processors, which runs a batch until its longest
row ends.

The job decodes with its own loop (model/decode.py), where a finished row leaves the batch. This
module holds what only ``generate`` needed: the log-probability recorders as logits processors
(``generate`` gives processors the scores, not the pick), and the decode-slot accounting that
compares the two loops. Like bench/gpu_check.py it imports no Beam (the GPU machine has none).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from model.decode import left_pad
from model.generation import DEFAULT_LOOP_RULE, Generation, LoopGuard, LoopRule, TagGrammar, Vocabulary, finish_row


class ModelLogProbs(LogitsProcessor):
    """Placed first: keeps this step's raw scores and their log-normaliser (one step only).

    A chosen token's log-probability is its score minus the log-normaliser, so no
    vocabulary-wide log-softmax is written per step. The processors after this one return
    new tensors (``masked_fill``, ``where``, ``clone``), so the kept scores stay the model's.
    """

    def __init__(self) -> None:
        self.scores: torch.Tensor | None = None
        self.normaliser: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.scores, self.normaliser = scores, torch.logsumexp(scores.float(), dim=-1)
        return scores


class ChosenLogProbs(LogitsProcessor):
    """Placed last: records the log-probability of the token greedy decoding picks at this step.

    Greedy takes the arg-max of the scores this processor returns, so the pick is known here.
    The probability is read from ``model`` (before any other processor) when given, else
    from the processed scores.
    """

    def __init__(self, model: ModelLogProbs | None = None):
        self.model = model
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        chosen = scores.argmax(dim=-1, keepdim=True)
        if self.model is not None:
            source, normaliser = self.model.scores, self.model.normaliser
        else:
            source, normaliser = scores, torch.logsumexp(scores.float(), dim=-1)
        self.steps.append(source.gather(1, chosen).squeeze(1).float() - normaliser)
        return scores

    def table(self) -> list[list[float]]:
        """Rows × steps, on the CPU."""
        return torch.stack(self.steps, dim=1).cpu().tolist() if self.steps else []


def generate_batch(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch_input_ids: Sequence[Sequence[int]],
                   max_new_tokens: int, loop_rule: LoopRule | None = DEFAULT_LOOP_RULE) -> list[Generation]:
    """``model.generation.generate_batch`` as it was: one ``generate`` call for the whole batch, the
    model's own log-probabilities recorded by processors, ended rows padded until the last one ends."""
    vocabulary = Vocabulary.of(tokenizer)
    input_ids, attention_mask = left_pad(batch_input_ids, tokenizer.pad_token_id)
    width = input_ids.shape[1]
    raw = ModelLogProbs()
    recorder = ChosenLogProbs(raw)
    processors = LogitsProcessorList([
        raw, TagGrammar(tokenizer, width),
        *([LoopGuard(width, vocabulary.stops[0], vocabulary.tags_in_order, loop_rule)] if loop_rule else []),
        recorder])
    with torch.inference_mode():
        output = model.generate(input_ids=input_ids.to(model.device), attention_mask=attention_mask.to(model.device),
                                max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                                eos_token_id=vocabulary.stops, pad_token_id=tokenizer.pad_token_id,
                                logits_processor=processors)
    return [finish_row(row, scores, vocabulary, tokenizer, max_new_tokens, loop_rule)
            for row, scores in zip(output[:, width:].tolist(), recorder.table())]


def generate_slot_steps(batches: Iterable[Sequence[Generation]]) -> int:
    """Decode slots ``generate`` computes: every row of a batch, each step after the prefill until
    its longest row ends."""
    return sum(len(batch) * (max(g.output_tokens for g in batch) - 1) for batch in batches)


def decode_slot_use(generations: Iterable[Generation], slot_steps: int) -> float:
    """Share of the decode slots computed that made a row's token (each row's first comes from the prefill)."""
    return round(sum(g.output_tokens - 1 for g in generations) / slot_steps, 4) if slot_steps else 1.0


class GenerateEngine:
    """An ``Engine`` look-alike (``generate(batch_input_ids, max_new_tokens)``) that decodes with ``generate``."""

    name = "generate"
    decoder = None  # generate's own loop: no decode counts for the job's metrics

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase):
        self.model, self.tokenizer = model, tokenizer

    def generate(self, batch_input_ids: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        return generate_batch(self.model, self.tokenizer, batch_input_ids, max_new_tokens)
