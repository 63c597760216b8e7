"""The job's own greedy decode loop: finished rows leave the batch, waiting prompts take their slots.

``generate`` runs a batch until its longest row ends; rows that ended keep being computed (about
28 % of the decode slots of the job's batches on the demo model, issue 28). This loop calls the
model's forward itself (``input_ids``, a 2-D attention mask, ``position_ids`` and ``cache``,
prepared as ``generate`` prepares them for left padding), so it is not tied to one architecture:

* **eager** (dynamic KV cache, CPU and GPU): a row that ends (a stop token, the loop guard's end,
  its token limit) leaves at once — its mask, positions, history and KV-cache rows are dropped (a
  row from the end of the batch takes its place), so later steps compute only live rows, and the
  cache columns no live row uses any more (the left padding of a longer prompt that left) are cut,
  so later steps attend over less. The cache is written in place (model/inplace_cache.py), so a
  step copies neither the cache nor the kept rows. With ``slots``, a waiting prompt of the call
  joins as a row leaves.
* **compiled** (``StaticCache``, ``torch.compile`` of the decode step on GPU): shapes must stay
  fixed, so a batch has ``slots`` rows (a batch bucket) and a cache of a fixed number of columns
  (a width bucket + room for the continuation). A slot freed by a finished row is refilled at once
  with the next waiting prompt of the call: the prompt is prefilled alone (a small dynamic cache)
  and its keys and values are copied into the slot's cache row, right-aligned at the column the
  next step writes, so every slot writes the same column (the static cache's one write position)
  while each row attends only to its own columns (its mask) at its own positions. When the
  columns run out, the live rows' columns are moved back in place (same tensors: CUDA graphs stay
  valid). The cache has ``width bucket + 2 × max_new_tokens`` columns when prompts wait, which
  always leaves room: a live row spans at most a prompt and ``max_new_tokens``.

Rows compute alone or with others alike (left padding, positions from the mask), so a row's greedy
tokens are the same in any batch, slot or refill order; log-probabilities may differ in the last
bits (other matmul shapes). The logits processors (tag grammar, loop guard) see each row's
continuation (``history``: rows × at most ``max_new_tokens`` columns, right-aligned; a row that
joined later has distinct negative fillers on its left, which match no token and no other filler),
and the loop records the log-probability of each chosen token itself: per-row state lives in
the loop's row-indexed tensors and lists, which follow the kept rows.

transformers compiles only on accelerators; on CPU ``compiled`` is the static cache alone (same
tokens; ``auto`` picks eager there, bench/results/decode_cpu.md).
"""
from __future__ import annotations

import bisect
import inspect
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
from transformers import Cache, CompileConfig, DynamicCache, LogitsProcessor, PreTrainedModel, StaticCache

from model.config import DECODE_MODES
from model.inplace_cache import compaction, in_place_cache

_LOG = logging.getLogger(__name__)

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
WIDTH_BUCKETS = (64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
FILLER = -(10 ** 6)  # history fillers are FILLER - column: negative (no token) and distinct (no loop)


@dataclass(frozen=True)
class DecodeConfig:
    """``--decode``: the decode path, its shape buckets and its slot count.

    ``mode``: ``eager`` (dynamic cache, finished rows leave the batch), ``compiled`` (static cache,
    buckets, finished rows' slots refilled, ``torch.compile`` on GPU) or ``auto`` (compiled on CUDA,
    eager elsewhere). ``slots``: rows decoded at once (compiled: rounded up to a batch bucket); the
    call's other prompts wait for a freed slot. None: every prompt of the call at once (on this CPU
    with the demo model, 16 or 32 slots over a 48-record call were slower than the job's batches
    with finished rows dropped: a step's cost there hardly grows with its rows).
    ``dynamic``: compile with symbolic shapes, so a new bucket records a CUDA graph but does not
    recompile. ``warmup_batches``: batch buckets decoded once at load (GPU only), so the compile
    happens before the first record. ``kept_caches``: static caches held for reuse.
    ``prefill_padding``: the most padding (a share of its padded tokens) an eager prefill group
    holds; a batch's prompts are prefilled in as many groups of similar length as that needs.
    """

    mode: str = "auto"
    slots: int | None = None
    batch_buckets: tuple[int, ...] = BATCH_BUCKETS
    width_buckets: tuple[int, ...] = WIDTH_BUCKETS
    dynamic: bool = True
    warmup_batches: tuple[int, ...] = (1, 2, 8)
    kept_caches: int = 4
    compile_on_cpu: bool = False
    prefill_padding: float = 0.25

    def __post_init__(self) -> None:
        if self.mode not in DECODE_MODES:
            raise ValueError(f"unknown decode mode {self.mode!r}; choose one of {', '.join(DECODE_MODES)}")
        if self.slots is not None and self.slots < 1:
            raise ValueError(f"slots must be at least 1, not {self.slots}")
        if not 0 <= self.prefill_padding < 1:
            raise ValueError(f"prefill_padding is a share of a group's tokens in [0, 1), not {self.prefill_padding}")

    def resolve(self, device: torch.device) -> str:
        """``eager`` or ``compiled`` on ``device``."""
        if self.mode != "auto":
            return self.mode
        return "compiled" if device.type == "cuda" else "eager"


def bucket(value: int, buckets: Iterable[int]) -> int:
    """The smallest bucket ≥ ``value``; above the last, the next multiple of the last."""
    buckets = sorted(buckets)
    if not buckets:
        return value
    index = bisect.bisect_left(buckets, value)
    if index < len(buckets):
        return buckets[index]
    return -(-value // buckets[-1]) * buckets[-1]


def prefill_groups(lengths: Sequence[int], padding: float) -> list[list[int]]:
    """Indices of ``lengths`` cut into groups, longest first, each padded to its longest by at most
    ``padding`` of its tokens (a group's first row always fits): prefill cost follows the padded size."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for index in order:
        if groups:
            group = groups[-1]
            padded = lengths[group[0]] * (len(group) + 1)
            if padded - sum(lengths[i] for i in group) - lengths[index] <= padding * padded:
                group.append(index)
                continue
        groups.append([index])
    return groups


def left_pad(batch_input_ids: Sequence[Sequence[int]], pad_id: int,
             width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Input ids and attention mask, padded on the left to ``width`` (default: the longest row)."""
    width = width or max(len(ids) for ids in batch_input_ids)
    input_ids = torch.full((len(batch_input_ids), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch_input_ids), width), dtype=torch.long)
    for row, ids in enumerate(batch_input_ids):
        if ids:
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids):] = 1
    return input_ids, attention_mask


def mask_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Each token's position among its row's real tokens, as ``generate`` derives it (padding: 0)."""
    return (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)


@dataclass
class Decoded:
    """One row's greedy continuation (up to and including its stop token) and each token's log-probability."""

    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)


@dataclass
class DecodeCounts:
    """What the loop computed: forward passes after the prefill, and rows summed over them (decode slots)."""

    steps: int = 0
    slot_steps: int = 0

    def add(self, rows: int) -> None:
        self.steps += 1
        self.slot_steps += rows


@dataclass
class _Request:
    """One ``decode`` call's fixed arguments."""

    prompts: Sequence[Sequence[int]]
    max_new_tokens: int
    processors: Sequence[LogitsProcessor]
    stops: frozenset[int]
    pad_id: int
    probabilities: str | None
    out: list[Decoded]

    def choose(self, history: torch.Tensor, logits: torch.Tensor) -> tuple[list[int], list[float], torch.Tensor]:
        """Greedy picks of one step after the processors, and their log-probabilities: the model's own
        (``"model"``, before the processors) or after them (``"decoded"``)."""
        scores = logits
        for processor in self.processors:
            scores = processor(history, scores)
        chosen = scores.argmax(dim=-1)
        logprobs: list[float] = []
        if self.probabilities is not None:
            source = logits if self.probabilities == "model" else scores
            logprobs = (source.gather(1, chosen[:, None]).squeeze(1) - torch.logsumexp(source, dim=-1)).tolist()
        return chosen.tolist(), logprobs, chosen

    def record(self, rows: Sequence[int | None], tokens: list[int], logprobs: list[float]) -> list[bool]:
        """Append each live row's token; whether each row (None: a free slot) goes on decoding."""
        going = []
        for i, row in enumerate(rows):
            if row is None:
                going.append(False)
                continue
            decoded = self.out[row]
            decoded.tokens.append(tokens[i])
            if logprobs:
                decoded.logprobs.append(logprobs[i])
            going.append(tokens[i] not in self.stops and len(decoded.tokens) < self.max_new_tokens)
        return going


def _append_rows(cache: Cache, mask: torch.Tensor, fresh: DynamicCache, prompt_mask: torch.Tensor,
                 index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
    """Append the rows ``index`` (default all) of a fresh prefill to the in-place ``cache``, right-aligned
    (``InPlaceLayer.add_rows``); returns the batch's mask, both parts padded on the left to the new width."""
    for layer, prefilled in zip(cache.layers, fresh.layers):
        layer.add_rows(prefilled.keys[index], prefilled.values[index])
    prompt_mask = prompt_mask[index]
    columns = max(mask.shape[1], prompt_mask.shape[1])
    return torch.cat([torch.nn.functional.pad(mask, (columns - mask.shape[1], 0)),
                      torch.nn.functional.pad(prompt_mask, (columns - prompt_mask.shape[1], 0))])


def _fillers(rows: int, width: int, device: torch.device) -> torch.Tensor:
    return (FILLER - torch.arange(width, device=device)).expand(rows, -1).clone()


class Decoder:
    """The decode loop of one loaded model (eager or compiled, ``DecodeConfig``)."""

    def __init__(self, config: DecodeConfig, model: PreTrainedModel):
        self.config = config
        self.model = model
        self.mode = config.resolve(model.device)
        self.counts = DecodeCounts()
        self._caches: OrderedDict[tuple[int, int], StaticCache] = OrderedDict()
        self._keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        if self.mode == "compiled":
            # one compiled entry per bucket shape at most; dynamo's default of 8 would silently fall back to eager
            shapes = len(config.batch_buckets) * len(config.width_buckets)
            limit = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
            setattr(torch._dynamo.config, limit, max(getattr(torch._dynamo.config, limit), shapes))

    @property
    def compiles(self) -> bool:
        return self.mode == "compiled" and (self.model.device.type != "cpu" or self.config.compile_on_cpu)

    def decode(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, processors: Sequence[LogitsProcessor],
               stops: Iterable[int], pad_id: int, probabilities: str | None = "model",
               room: int | None = None) -> list[Decoded]:
        """Greedy-decode every prompt to a stop token or ``max_new_tokens``; one ``Decoded`` per prompt, in order.

        ``processors``: logits processors called as ``processor(history, scores)``, where ``history``
        holds each row's continuation so far (see the module docstring). ``room``: the continuation
        length the static cache is sized for (default ``max_new_tokens``; the warm-up decodes two
        tokens in the job's shapes). An out-of-memory error drops the kept caches before it
        propagates, so the caller's retry with half the batch (pipeline/inference.py) has the memory back.
        """
        request = _Request(prompts, max_new_tokens, list(processors), frozenset(stops), pad_id, probabilities,
                           [Decoded() for _ in prompts])
        if not prompts:
            return []
        try:
            with torch.inference_mode():
                if self.mode == "compiled":
                    self._static(request, room or max_new_tokens)
                else:
                    self._eager(request)
        except torch.OutOfMemoryError:
            self.release()
            raise
        return request.out

    def _forward(self, call: Callable, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 positions: torch.Tensor, cache) -> torch.Tensor:
        """The last position's logits in float32, as ``generate`` takes them."""
        extra = {"logits_to_keep": 1} if self._keeps_logits else {}
        output = call(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, cache=cache,
                      use_cache=True, **extra)
        return output.logits[:, -1, :].float()

    def _prefill(self, request: _Request, rows: Sequence[int], width: int | None = None,
                 cache: Cache | None = None) -> tuple[Cache, torch.Tensor, torch.Tensor]:
        """Prefill ``rows``' prompts (left-padded to ``width``) in ``cache`` (default: a fresh dynamic
        one): the cache, the prompt mask and the logits of each row's first token."""
        input_ids, mask = (t.to(self.model.device)
                           for t in left_pad([request.prompts[row] for row in rows], request.pad_id, width))
        cache = cache if cache is not None else DynamicCache(config=self.model.config)
        return cache, mask, self._forward(self.model, input_ids, mask, mask_positions(mask), cache)

    def _grouped_prefill(self, request: _Request, rows: Sequence[int]) -> tuple[list[int], Cache, torch.Tensor,
                                                                               torch.Tensor]:
        """Prefill ``rows`` in groups of similar length (``prefill_groups``) into one in-place cache,
        each group's rows right-aligned: the rows in the cache's order, the cache, the prompt mask
        and each row's first-token logits. One long prompt no longer pads every row's prefill to it."""
        groups = prefill_groups([len(request.prompts[row]) for row in rows], self.config.prefill_padding)
        ordered = [[rows[i] for i in group] for group in groups]
        cache, mask, logits = self._prefill(request, ordered[0],
                                            cache=in_place_cache(self.model.config, request.max_new_tokens,
                                                                 rows=len(rows)))
        all_logits = [logits]
        for group in ordered[1:]:
            fresh, group_mask, group_logits = self._prefill(request, group)
            mask = _append_rows(cache, mask, fresh, group_mask)
            all_logits.append(group_logits)
        return [row for group in ordered for row in group], cache, mask, torch.cat(all_logits)

    def _eager(self, request: _Request) -> None:
        """In-place cache, prefilled by length groups: each row leaves the batch the step it ends;
        with ``slots``, waiting prompts join as rows leave (prefilled alone, their cache rows
        left-padded to the batch's columns). Columns no live row uses any more are cut."""
        device = self.model.device
        limit = self.config.slots or len(request.prompts)
        started = min(limit, len(request.prompts))
        waiting = deque(range(started, len(request.prompts)))
        rows, cache, mask, logits = self._grouped_prefill(request, range(started))
        positions = mask_positions(mask)[:, -1:]
        history = _fillers(len(rows), 0, device)
        while True:
            tokens, logprobs, chosen = request.choose(history, logits)
            history = torch.cat([history, chosen[:, None]], dim=1)[:, -request.max_new_tokens:]
            going = request.record(rows, tokens, logprobs)
            if not all(going):
                kept = compaction(going)
                index = torch.tensor(kept, dtype=torch.long, device=device)
                cache.batch_select_indices(index)
                mask, positions, history, chosen = mask[index], positions[index], history[index], chosen[index]
                rows = [rows[i] for i in kept]
            while waiting and len(rows) < limit:
                joined = [waiting.popleft() for _ in range(min(len(waiting), limit - len(rows)))]
                mask, positions, history, chosen = self._join(request, joined, rows, cache, mask, positions,
                                                              history, chosen)
            if not rows:
                return
            used = mask.any(dim=0)
            first = int(used.int().argmax())
            if first:
                for layer in cache.layers:
                    layer.drop_columns(first)
                mask = mask[:, first:]
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
            positions = positions + 1
            logits = self._forward(self.model, chosen[:, None], mask, positions, cache)
            self.counts.add(len(rows))

    def _join(self, request: _Request, joined: list[int], rows: list[int], cache: Cache, mask: torch.Tensor,
              positions: torch.Tensor, history: torch.Tensor, chosen: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Prefill ``joined`` and append those that go on after their first token to the eager batch
        (``rows`` grows in place); returns the batch's mask, positions, history and step tokens."""
        fresh, prompt_mask, logits = self._prefill(request, joined)
        fillers = _fillers(len(joined), history.shape[1], mask.device)
        tokens, logprobs, picked = request.choose(fillers, logits)
        going = request.record(joined, tokens, logprobs)
        kept = [i for i, on in enumerate(going) if on]
        if not kept:
            return mask, positions, history, chosen
        index = torch.tensor(kept, dtype=torch.long, device=mask.device)
        mask = _append_rows(cache, mask, fresh, prompt_mask, index)
        positions = torch.cat([positions, mask_positions(prompt_mask)[index, -1:]])
        history = torch.cat([history, torch.cat([fillers[index, 1:], picked[index, None]], dim=1)])
        rows.extend(joined[i] for i in kept)
        return mask, positions, history, torch.cat([chosen, picked[index]])

    def _static(self, request: _Request, room: int) -> None:
        """Static cache of ``slots`` rows; a freed slot takes the next waiting prompt (module docstring)."""
        prompts, device = request.prompts, self.model.device
        slots = bucket(min(len(prompts), self.config.slots or len(prompts)), self.config.batch_buckets)
        width = bucket(max(len(p) for p in prompts), self.config.width_buckets)
        waiting = deque(range(slots, len(prompts)))
        columns = width + room * (2 if waiting else 1)
        cache = self._cache(slots, columns)
        first = list(range(min(slots, len(prompts))))
        # a slot with no prompt holds one padding token it attends to (an all-masked row would give NaNs)
        input_ids, prompt_mask = left_pad([prompts[i] for i in first] + [[request.pad_id]] * (slots - len(first)),
                                          request.pad_id, width)
        input_ids, prompt_mask = input_ids.to(device), prompt_mask.to(device)
        mask = torch.zeros((slots, columns), dtype=torch.long, device=device)
        mask[:, :width] = prompt_mask
        positions = mask_positions(prompt_mask)[:, -1:].clone()
        logits = self._forward(self.model, input_ids, mask, mask_positions(prompt_mask), cache)
        state = _Slots(rows=[*first, *[None] * (slots - len(first))], column=width,
                       starts=[width - len(prompts[i]) for i in first] + [width - 1] * (slots - len(first)),
                       history=_fillers(slots, request.max_new_tokens, device))
        tokens, logprobs, chosen = request.choose(state.history, logits)
        step = self.model.get_compiled_call(self._compile_config()) if self.compiles else self.model
        while True:
            state.history = torch.cat([state.history[:, 1:], chosen[:, None]], dim=1)
            going = request.record(state.rows, tokens, logprobs)
            freed = [slot for slot, (row, on) in enumerate(zip(state.rows, going)) if row is not None and not on]
            if freed:  # a free slot decodes padding at position 0 on (never past the model's positions)
                positions[torch.tensor(freed, device=device)] = 0
            state.rows = [row if on else None for row, on in zip(state.rows, going)]
            while waiting and None in state.rows:
                chosen = self._refill(request, state, waiting, cache, mask, positions, chosen, room)
            if all(row is None for row in state.rows):
                return
            mask[:, state.column] = 1
            positions += 1
            logits = self._forward(step, chosen[:, None], mask, positions, cache)
            state.column += 1
            self.counts.add(slots)
            tokens, logprobs, chosen = request.choose(state.history, logits)

    def _refill(self, request: _Request, state: "_Slots", waiting: deque, cache: StaticCache, mask: torch.Tensor,
                positions: torch.Tensor, chosen: torch.Tensor, room: int) -> torch.Tensor:
        """Prefill waiting prompts into the free slots and take their first tokens; returns the step's tokens."""
        free = [slot for slot, row in enumerate(state.rows) if row is None][:len(waiting)]
        rows = [waiting.popleft() for _ in free]
        width = max(len(request.prompts[row]) for row in rows)
        columns = mask.shape[1]
        if state.column < width or state.column + room > columns:
            live = [slot for slot, row in enumerate(state.rows) if row is not None]
            self._move(cache, mask, state, max([width] + [state.column - state.starts[s] for s in live]) - state.column)
        fresh, prompt_mask, logits = self._prefill(request, rows, width)
        index = torch.tensor(free, device=mask.device)
        span = slice(state.column - width, state.column)
        for layer, prefilled in zip(cache.layers, fresh.layers):
            layer.keys[index, :, span] = prefilled.keys
            layer.values[index, :, span] = prefilled.values
        mask[index] = 0
        mask[index, span] = prompt_mask
        positions[index] = mask_positions(prompt_mask)[:, -1:]
        history = _fillers(len(free), state.history.shape[1], mask.device)
        tokens, logprobs, picked = request.choose(history, logits)
        state.history[index] = torch.cat([history[:, 1:], picked[:, None]], dim=1)
        going = request.record(rows, tokens, logprobs)
        chosen = chosen.clone()
        chosen[index] = picked
        for slot, row, on in zip(free, rows, going):
            state.rows[slot] = row if on else None
            state.starts[slot] = state.column - len(request.prompts[row])
        return chosen

    @staticmethod
    def _move(cache: StaticCache, mask: torch.Tensor, state: "_Slots", shift: int) -> None:
        """Move every row's cache columns by ``shift`` (in place, same tensors), and the write column with them."""
        if shift == 0:
            return
        columns = mask.shape[1]
        source, target = (slice(-shift, columns), slice(0, columns + shift)) if shift < 0 else \
            (slice(0, columns - shift), slice(shift, columns))
        for layer in cache.layers:
            if getattr(layer, "is_sliding", False) or layer.keys.shape[2] != columns:
                raise ValueError(f"refilling slots needs full-attention cache layers, not {type(layer).__name__}")
            for tensor in (layer.keys, layer.values):
                tensor[:, :, target] = tensor[:, :, source].clone()
            layer.cumulative_length.add_(shift)
        mask[:, target] = mask[:, source].clone()
        vacated = slice(0, shift) if shift > 0 else slice(columns + shift, columns)
        mask[:, vacated] = 0
        state.column += shift
        state.starts = [start + shift for start in state.starts]

    def _compile_config(self) -> CompileConfig:
        on_gpu = self.model.device.type == "cuda"
        config = CompileConfig(fullgraph=True, dynamic=self.config.dynamic,
                               mode="reduce-overhead" if on_gpu else "default")
        if not on_gpu:
            config._compile_all_devices = True
        return config

    def _cache(self, batch: int, length: int) -> StaticCache:
        """The kept static cache of this shape, reset (CUDA graphs are recorded against its tensors' addresses)."""
        key = (batch, length)
        cache = self._caches.pop(key, None)
        if cache is None:
            cache = StaticCache(config=self.model.config, max_cache_len=length)
        else:
            cache.reset()
        self._caches[key] = cache
        while len(self._caches) > self.config.kept_caches:
            self._caches.popitem(last=False)
        return cache

    def release(self) -> None:
        """Drop the kept caches (after an out-of-memory error, so the halved batch finds the memory free)."""
        self._caches.clear()
        if self.model.device.type == "cuda":
            torch.cuda.empty_cache()

    def warm_up(self, pad_id: int, max_new_tokens: int, widths: Iterable[int] = (64,)) -> float:
        """Decode dummy prompts at each warm-up batch bucket and width, so the decode step is compiled
        before the first record; returns the seconds spent. Nothing to warm where nothing compiles.

        The cache is sized for ``max_new_tokens`` (the shape the job will use) though only two
        tokens are generated: the first decode step is what compiles.
        """
        if not self.compiles:
            return 0.0
        start = time.perf_counter()
        for width in widths:
            for rows in self.config.warmup_batches:
                self.decode([[pad_id + 1] * width] * rows, 2, (), (), pad_id, None, room=max_new_tokens)
        seconds = time.perf_counter() - start
        _LOG.info("decode warm-up: batches %s, widths %s in %.1f s", self.config.warmup_batches, list(widths), seconds)
        return seconds


@dataclass
class _Slots:
    """The compiled loop's slots: the prompt each decodes (None: free), where each row's columns
    start, the column the next step writes, and each slot's continuation (``history``)."""

    rows: list[int | None]
    column: int
    starts: list[int]
    history: torch.Tensor
