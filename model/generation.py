"""Batched greedy generation that returns only the continuation of each prompt.

Prompts of different lengths share a batch through left padding and an attention mask,
so every row's continuation starts at the same column; ``generate`` derives position ids
from the mask, which keeps a row's greedy output the same alone or in any batch.

Decoding is constrained to the completion's tag grammar (SPEC §4): a prompt-only tag is
never written and each completion tag at most once. A small model that loses its place
otherwise loops (``<title> X <title> X ...``) until the token limit, which the parser can
only flag as ``partial``; with the rule it has to move on to the next field instead.

Two more processors ride along in the same ``generate`` call (no second forward pass):

* ``ChosenLogProbs`` records, step by step, the log-probability of the token greedy picked
  (one float per row and step, instead of ``output_scores``' full-vocabulary tensor per
  step: 1.7 GB at GPT-J-6B batch 64). The probability is the model's own, taken *before*
  the tag grammar: the grammar only removes tokens, and the mass the model put on a tag it
  may no longer write is exactly the doubt confidence should show (bench/results/confidence.md).
* ``LoopGuard`` ends a row whose continuation has started repeating itself (an n-gram
  repeated back to back, or a long stretch written a second time: ``LoopRule``) with a forced end-of-text, so it neither runs to ``max_new_tokens``
  nor holds the batch; the row is marked ``looped``. It looks at each row's own tokens
  only, so rows that do not loop generate exactly what they did without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from formats.review import FieldTokens
from model.decode import Decoder
from formats.tags import COMPLETION_FIELDS, COMPLETION_TAGS, END_TAG, LANGUAGE_TAG, PROMPT_ONLY_TAGS, tag


@dataclass(frozen=True)
class LoopRule:
    """A row loops once its continuation ends in ``repeats`` back-to-back copies of one n-gram
    (n ≤ ``max_period`` tokens) spanning at least ``min_span`` tokens, or once its last ``span``
    tokens occur ``times`` times in the continuation for one of ``echoes``: a field that starts
    copying the description again (24 tokens, twice), a phrase said three times with other text
    between (12 tokens, three times).

    ``min_span`` keeps short legitimate runs (``1994: :::``, ``- - -``) from counting as loops.
    A value is rightly written twice (in the description and in its field), and tag tokens are
    written once, so an echo lies within one value; the spans are longer than the values that
    repeat in rows that do not loop (measured in bench/results/trust_cost.md).
    """

    repeats: int = 3
    max_period: int = 32
    min_span: int = 16
    echoes: tuple[tuple[int, int], ...] = ((24, 2), (12, 3))

    def copies(self, period: int) -> int:
        return max(self.repeats, -(-self.min_span // period))


DEFAULT_LOOP_RULE = LoopRule()


@dataclass(frozen=True)
class Generation:
    """One row's continuation: decoded text, tokens generated, and how it ended.

    ``hit_limit``: it ran to ``max_new_tokens``; ``looped``: the loop guard ended it.
    ``token_logprobs`` (the chosen tokens' log-probabilities, stop token included) and
    ``fields`` (those grouped by the field their tag opened) are floats that may differ in
    the last bits between batch shapes, so they are left out of equality.
    """

    text: str
    output_tokens: int
    hit_limit: bool
    looped: bool = False
    token_logprobs: tuple[float, ...] = field(default=(), compare=False)
    fields: tuple[FieldTokens, ...] = field(default=(), compare=False)


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


class ModelLogProbs(LogitsProcessor):
    """Placed first: keeps this step's log-softmax of the model's raw scores (one step only)."""

    def __init__(self) -> None:
        self.latest: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.latest = torch.log_softmax(scores.float(), dim=-1)
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
        logprobs = self.model.latest if self.model is not None else torch.log_softmax(scores.float(), dim=-1)
        self.steps.append(logprobs.gather(1, chosen).squeeze(1))
        return scores

    def table(self) -> list[list[float]]:
        """Rows × steps, on the CPU."""
        return torch.stack(self.steps, dim=1).cpu().tolist() if self.steps else []


class LoopGuard(LogitsProcessor):
    """Forces end-of-text in any row whose continuation ends in a loop (``LoopRule``).

    Every period 1..max_period is checked at once: position j of the trailing window repeats
    the token ``period`` places before it; a row loops at ``period`` when the last
    ``(copies - 1) * period`` positions all do. Positions before the continuation are filled
    with distinct negative numbers, so they never match.
    """

    def __init__(self, prompt_width: int, end_id: int, rule: LoopRule = DEFAULT_LOOP_RULE):
        self.prompt_width = prompt_width
        self.end_id = end_id
        self.echoes = rule.echoes
        periods = torch.arange(1, rule.max_period + 1)
        self.need = torch.tensor([(rule.copies(p) - 1) * p for p in periods.tolist()])
        self.window = int(self.need.max())
        now = rule.max_period + torch.arange(self.window)
        self.now, self.before = now, now[None, :] - periods[:, None]
        # position j of the window counts toward period p when it lies in p's last need[p] positions
        self.counts = torch.arange(self.window)[None, :] >= (self.window - self.need)[:, None]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        written = input_ids[:, self.prompt_width:]
        width = self.window + len(self.need)
        if written.shape[1] < width:
            filler = -torch.arange(1, width - written.shape[1] + 1, device=written.device).flip(0)
            written = torch.cat([filler.expand(written.shape[0], -1), written], dim=1)
        tail = written[:, -width:]
        device = tail.device
        repeats = tail[:, self.now.to(device)][:, None, :] == tail[:, self.before.to(device)]
        looping = (repeats | ~self.counts.to(device)).all(dim=2).any(dim=1)
        continuation = input_ids[:, self.prompt_width:]
        for span, times in self.echoes:
            if continuation.shape[1] >= span * times:
                windows = continuation.unfold(1, span, 1)  # rows × positions × span
                looping |= (windows == windows[:, -1:]).all(dim=2).sum(dim=1) >= times
        forced = torch.full_like(scores[:1], float("-inf"))
        forced[0, self.end_id] = 0.0
        return torch.where(looping[:, None], forced, scores)


def ends_in_loop(tokens: Sequence[int], rule: LoopRule = DEFAULT_LOOP_RULE) -> bool:
    """The scalar form of ``LoopGuard``'s test, for marking a row the guard ended."""
    for period in range(1, rule.max_period + 1):
        span = rule.copies(period) * period
        if len(tokens) >= span and all(tokens[-i] == tokens[-i - period] for i in range(1, span - period + 1)):
            return True
    for span, times in rule.echoes:
        if len(tokens) >= span * times:
            tail = list(tokens[-span:])
            if sum(list(tokens[i:i + span]) == tail for i in range(len(tokens) - span + 1)) >= times:
                return True
    return False


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


@dataclass(frozen=True)
class _Vocabulary:
    """The token ids generation treats specially, read once per call from the tokenizer."""

    stops: list[int]
    field_of_tag: dict[int, str]
    other_tags: frozenset[int]

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> "_Vocabulary":
        field_of_tag = {i: name for tag_name, name in COMPLETION_FIELDS
                        for i in _single_token_ids(tokenizer, tag(tag_name))}
        return cls(stop_token_ids(tokenizer), field_of_tag, frozenset(_single_token_ids(tokenizer, LANGUAGE_TAG)))


def generate_kwargs(input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
                    stops: list[int], pad_token_id: int, processors: LogitsProcessorList) -> dict[str, Any]:
    """Every argument of the one ``model.generate`` call (greedy, cached, our processors)."""
    return dict(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=max_new_tokens,
                do_sample=False, num_beams=1, use_cache=True, eos_token_id=stops, pad_token_id=pad_token_id,
                logits_processor=processors)


def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch_input_ids: Sequence[Sequence[int]],
    max_new_tokens: int,
    loop_rule: LoopRule | None = DEFAULT_LOOP_RULE,
    probabilities: str | None = "model",
    decoder: Decoder | None = None,
) -> list[Generation]:
    """Greedy-decode every row; the batch stops as soon as every row has emitted a stop token.

    ``loop_rule=None`` turns the loop guard off. ``probabilities``: ``"model"`` (before the tag
    grammar, the default), ``"decoded"`` (after it, for the measurement in bench/confidence.py)
    or None (none recorded: no confidences; with ``loop_rule=None`` it is the decoding from before
    both, which bench/trust_cost.py times as "before"). ``decoder``: the decode path (model/decode.py; eager
    when None), which may pad the batch to its bucket; its extra rows are dropped here.
    """
    vocabulary = _Vocabulary.of(tokenizer)
    rows = len(batch_input_ids)
    input_ids, attention_mask = left_pad(batch_input_ids, tokenizer.pad_token_id)
    if decoder is not None:
        input_ids, attention_mask = decoder.pad(input_ids, attention_mask, tokenizer.pad_token_id, max_new_tokens)
    width = input_ids.shape[1]
    raw = ModelLogProbs() if probabilities == "model" else None
    recorder = ChosenLogProbs(raw) if probabilities is not None else None
    processors = LogitsProcessorList([
        *([raw] if raw is not None else []),
        TagGrammar(tokenizer, width),
        *([LoopGuard(width, vocabulary.stops[0], loop_rule)] if loop_rule is not None else []),
        *([recorder] if recorder is not None else []),
    ])
    device = model.device
    kwargs = generate_kwargs(input_ids.to(device), attention_mask.to(device), max_new_tokens,
                             vocabulary.stops, tokenizer.pad_token_id, processors)
    with torch.inference_mode():
        output = decoder.generate(kwargs, rows) if decoder is not None else model.generate(**kwargs)
    new_tokens = output[:rows, width:].tolist()
    logprobs = recorder.table()[:rows] if recorder is not None else [[] for _ in range(rows)]
    return [_finish_row(row, scores, vocabulary, tokenizer, max_new_tokens, loop_rule)
            for row, scores in zip(new_tokens, logprobs)]


def _finish_row(tokens: list[int], logprobs: list[float], vocabulary: _Vocabulary,
                tokenizer: PreTrainedTokenizerBase, max_new_tokens: int, loop_rule: LoopRule | None) -> Generation:
    """Cut a row at its first stop token (rows that ended early are padded after it)."""
    end = next((i for i, token in enumerate(tokens) if token in vocabulary.stops), None)
    kept = tokens if end is None else tokens[:end]
    counted = len(kept) if end is None else end + 1
    return Generation(
        text=tokenizer.decode(kept, skip_special_tokens=True),
        output_tokens=counted,
        hit_limit=end is None and len(tokens) >= max_new_tokens,
        looped=end is not None and loop_rule is not None and ends_in_loop(kept, loop_rule),
        token_logprobs=tuple(logprobs[:counted]),
        fields=field_tokens(tokens[:counted], logprobs[:counted], vocabulary),
    )


def field_tokens(tokens: Sequence[int], logprobs: Sequence[float], vocabulary: _Vocabulary) -> tuple[FieldTokens, ...]:
    """Group a row's log-probabilities by the completion tag that opened them.

    A field's value tokens run from its tag to the next tag or stop token, whose
    log-probability is the field's ``end`` (None when the row ran out inside the field).
    The grammar lets each completion tag be written once, so fields do not repeat.
    """
    fields: list[FieldTokens] = []
    current: tuple[str, float, list[float]] | None = None
    for token, logprob in zip(tokens, logprobs):
        boundary = token in vocabulary.field_of_tag or token in vocabulary.other_tags or token in vocabulary.stops
        if boundary and current is not None:
            fields.append(FieldTokens(current[0], current[1], tuple(current[2]), logprob))
            current = None
        if token in vocabulary.field_of_tag:
            current = (vocabulary.field_of_tag[token], logprob, [])
        elif token in vocabulary.stops:
            break
        elif current is not None:
            current[2].append(logprob)
    if current is not None:
        fields.append(FieldTokens(current[0], current[1], tuple(current[2]), None))
    return tuple(fields)
