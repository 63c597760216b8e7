"""Batched greedy generation that returns only the continuation of each prompt.

Prompts of different lengths share a batch through left padding and an attention mask, with
position ids derived from the mask, which keeps a row's greedy output the same alone or in any
batch; a row leaves the batch the step it ends (model/decode.py).

Decoding is constrained to the completion's tag grammar (SPEC §4): a prompt-only tag is
never written and each completion tag at most once. A small model that loses its place
otherwise loops (``<title> X <title> X ...``) until the token limit, which the parser can
only flag as ``partial``; with the rule it has to move on to the next field instead.

The decode loop (model/decode.py) records, step by step, the log-probability of the token greedy
picked (one float per row and step, no full-vocabulary scores kept). The probability is the
model's own, taken *before* the tag grammar: the grammar only removes tokens, and the mass the
model put on a tag it may no longer write is exactly the doubt confidence should show
(bench/results/confidence.md). One more processor rides along in the same loop (no second
forward pass):

* ``LoopGuard`` moves a row whose continuation has started repeating itself (an n-gram
  repeated back to back, or a long stretch written a second time: ``LoopRule``) on to its
  next field, by forcing a completion tag that comes after the ones it wrote (end-of-text
  after the last), so it neither runs to ``max_new_tokens`` nor holds the batch, and the
  fields after the loop are still read (a loop in the description used to cost the date).
  The copy that made it a loop is cut from the row's text (for a repeated n-gram every copy
  but the first; for a stretch written again, that stretch) and the row is marked
  ``looped``, which sends all its fields to review. It looks at each row's own tokens only,
  so rows that do not loop generate exactly what they did without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from transformers import LogitsProcessor, PreTrainedModel, PreTrainedTokenizerBase

from formats.review import FieldTokens
from model.decode import DecodeConfig, Decoder
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

    ``hit_limit``: it ran to ``max_new_tokens``; ``looped``: the loop guard moved it on, and
    the copies it stopped are not in ``text`` (``output_tokens`` still counts them).
    ``token_logprobs`` (the log-probabilities of the tokens in ``text``, stop token included) and
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
    ``prompt_width``: columns of ``input_ids`` before the continuation (``generate`` passes prompt
    and continuation; the job's decode loop passes the continuation alone).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, prompt_width: int = 0):
        self.prompt_width = prompt_width
        self.never = [i for name in PROMPT_ONLY_TAGS for i in _single_token_ids(tokenizer, tag(name))]
        groups = [_single_token_ids(tokenizer, text) for text in (LANGUAGE_TAG, *map(tag, COMPLETION_TAGS))]
        self.once = [torch.tensor(ids) for ids in groups if ids]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        banned = torch.zeros_like(scores, dtype=torch.bool)
        banned[:, self.never] = True
        written = input_ids[:, self.prompt_width:]
        if self.once and self.once[0].device != scores.device:  # moved once, on the first step
            self.once = [ids.to(scores.device) for ids in self.once]
        for ids in self.once:
            seen = torch.isin(written, ids).any(dim=1)
            banned[:, ids] |= seen[:, None]
        return scores.masked_fill(banned, float("-inf"))


class LoopGuard(LogitsProcessor):
    """Moves any row whose continuation ends in a loop (``LoopRule``) on to its next field.

    ``tag_ids``: each completion tag's ids in SPEC §4 order. A looping row may write only a tag
    that comes after every tag it wrote, in that order (the order training always showed; the
    model picks which, so it can still leave a field out), or ``end_id`` once none is left.

    Every period 1..max_period is checked at once: position j of the trailing window repeats
    the token ``period`` places before it; a row loops at ``period`` when the last
    ``(copies - 1) * period`` positions all do. Positions before the continuation are filled
    with distinct negative numbers, so they never match (as are the decode loop's fillers, which
    count as no tokens). The index tensors move to the scores' device once, on the first step.
    """

    def __init__(self, prompt_width: int, end_id: int, tag_ids: Sequence[Sequence[int]] = (),
                 rule: LoopRule = DEFAULT_LOOP_RULE):
        self.prompt_width = prompt_width
        self.end_id = end_id
        self.echoes = rule.echoes
        periods = torch.arange(1, rule.max_period + 1)
        need = torch.tensor([(rule.copies(p) - 1) * p for p in periods.tolist()])
        self.window = int(need.max()) + len(need)
        now = rule.max_period + torch.arange(int(need.max()))
        self.now, self.before = now, now[None, :] - periods[:, None]
        # position j of the window counts toward period p only when it lies in p's last need[p] positions
        self.ignored = torch.arange(len(now))[None, :] < (len(now) - need)[:, None]
        self.tag_ids = [torch.tensor(ids, dtype=torch.long) for ids in tag_ids]

    def _to(self, device: torch.device) -> None:
        if self.now.device != device:
            self.now, self.before, self.ignored = (t.to(device) for t in (self.now, self.before, self.ignored))
            self.tag_ids = [ids.to(device) for ids in self.tag_ids]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._to(scores.device)
        continuation = input_ids[:, self.prompt_width:]
        tail = continuation[:, -self.window:]
        if tail.shape[1] < self.window:
            filler = -torch.arange(self.window - tail.shape[1], 0, -1, device=tail.device)
            tail = torch.cat([filler.expand(tail.shape[0], -1), tail], dim=1)
        repeats = tail[:, self.now][:, None, :] == tail[:, self.before]
        looping = (repeats | self.ignored).all(dim=2).any(dim=1)
        for span, times in self.echoes:
            if continuation.shape[1] >= span * times:
                windows = continuation.unfold(1, span, 1)  # rows × positions × span
                written = (continuation >= 0).sum(dim=1)  # tokens, not the decode loop's negative fillers
                looping |= ((windows == windows[:, -1:]).all(dim=2).sum(dim=1) >= times) & (written >= span * times)
        if not looping.any():  # the usual step: no vocabulary-wide work
            return scores
        return torch.where(looping[:, None], self._move_on(continuation, scores), scores)

    def _move_on(self, continuation: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Scores that allow only the tags after every tag the row wrote, else end-of-text."""
        moved = torch.full_like(scores, float("-inf"))
        later = torch.ones(scores.shape[0], dtype=torch.bool, device=scores.device)
        for ids in reversed(self.tag_ids):
            later &= ~torch.isin(continuation, ids).any(dim=1)
            moved[:, ids] = torch.where(later[:, None], scores[:, ids], float("-inf"))
        done = torch.isinf(moved).all(dim=1)
        moved[:, self.end_id] = torch.where(done, 0.0, float("-inf"))
        return moved


def repeated_tail(tokens: Sequence[int], rule: LoopRule = DEFAULT_LOOP_RULE) -> int:
    """``LoopGuard``'s test in scalar form: how many trailing tokens repeat what came before
    (0: the row does not end in a loop). For an n-gram that is every copy but the first;
    for a stretch written again, the stretch."""
    for period in range(1, rule.max_period + 1):
        span = rule.copies(period) * period
        if len(tokens) >= span and all(tokens[-i] == tokens[-i - period] for i in range(1, span - period + 1)):
            return span - period
    for span, times in rule.echoes:
        if len(tokens) >= span * times:
            tail = list(tokens[-span:])
            if sum(list(tokens[i:i + span]) == tail for i in range(len(tokens) - span + 1)) >= times:
                return span
    return 0


def completion_tag_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[tuple[int, ...], ...]:
    """Each completion tag's single-token ids, in SPEC §4 order (the loop guard's ``tag_ids``);
    a tag the tokenizer spells in pieces has none."""
    return tuple(tuple(_single_token_ids(tokenizer, tag(name))) for name in COMPLETION_TAGS)


@dataclass(frozen=True)
class Vocabulary:
    """The token ids generation treats specially, read once per call from the tokenizer."""

    stops: list[int]
    field_of_tag: dict[int, str]
    other_tags: frozenset[int]
    tags_in_order: tuple[tuple[int, ...], ...]  # each completion tag's ids, in SPEC §4 order

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> "Vocabulary":
        tags_in_order = completion_tag_ids(tokenizer)
        field_of_tag = {i: name for ids, (_, name) in zip(tags_in_order, COMPLETION_FIELDS) for i in ids}
        return cls(stop_token_ids(tokenizer), field_of_tag, frozenset(_single_token_ids(tokenizer, LANGUAGE_TAG)),
                   tuple(ids for ids in tags_in_order if ids))


def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch_input_ids: Sequence[Sequence[int]],
    max_new_tokens: int,
    loop_rule: LoopRule | None = DEFAULT_LOOP_RULE,
    probabilities: str | None = "model",
    decoder: Decoder | None = None,
) -> list[Generation]:
    """Greedy-decode every row to a stop token or ``max_new_tokens``; one ``Generation`` per row, in order.

    ``loop_rule=None`` turns the loop guard off. ``probabilities``: ``"model"`` (before the tag
    grammar, the default), ``"decoded"`` (after it, for the measurement in bench/confidence.py)
    or None (none recorded: no confidences; with ``loop_rule=None`` it is the decoding from before
    both, which bench/trust_cost.py times as "before"). ``decoder``: the decode loop (model/decode.py;
    eager when None).
    """
    vocabulary = Vocabulary.of(tokenizer)
    decoder = decoder or Decoder(DecodeConfig(mode="eager"), model)
    processors = [TagGrammar(tokenizer),
                  *([LoopGuard(0, vocabulary.stops[0], vocabulary.tags_in_order, loop_rule)] if loop_rule else [])]
    decoded = decoder.decode(batch_input_ids, max_new_tokens, processors, vocabulary.stops, tokenizer.pad_token_id,
                             probabilities)
    return [finish_row(row.tokens, row.logprobs, vocabulary, tokenizer, max_new_tokens, loop_rule) for row in decoded]


def finish_row(tokens: list[int], logprobs: list[float], vocabulary: Vocabulary,
                tokenizer: PreTrainedTokenizerBase, max_new_tokens: int, loop_rule: LoopRule | None) -> Generation:
    """Cut a row at its first stop token (``generate`` pads rows that ended early after it), and
    the copies of each loop the guard stopped (``looped``)."""
    end = next((i for i, token in enumerate(tokens) if token in vocabulary.stops), None)
    counted = len(tokens) if end is None else end + 1
    cut = _cut_repeats(tokens[:counted], end, vocabulary, loop_rule)
    shown = [i for i in range(counted) if i not in cut]
    logprobs = [logprobs[i] for i in shown] if logprobs else []
    return Generation(
        text=tokenizer.decode([tokens[i] for i in shown if i != end], skip_special_tokens=True),
        output_tokens=counted,
        hit_limit=end is None and len(tokens) >= max_new_tokens,
        looped=bool(cut),
        token_logprobs=tuple(logprobs),
        fields=field_tokens([tokens[i] for i in shown], logprobs, vocabulary),
    )


def _cut_repeats(tokens: Sequence[int], end: int | None, vocabulary: Vocabulary,
                 loop_rule: LoopRule | None) -> set[int]:
    """Positions of the copies the loop guard stopped: the repeated tail before each tag (or
    end) it forced. A tag or end the model wrote itself never follows a looping tail, since
    the guard acts on the first step that tail loops."""
    if loop_rule is None:
        return set()
    moves = [i for i, token in enumerate(tokens) if token in vocabulary.field_of_tag]
    moves += [end] if end is not None else []
    return {j for i in moves for j in range(i - repeated_tail(tokens[:i], loop_rule), i)}


def field_tokens(tokens: Sequence[int], logprobs: Sequence[float], vocabulary: Vocabulary) -> tuple[FieldTokens, ...]:
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
