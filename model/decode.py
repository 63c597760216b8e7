"""How ``generate`` runs its decode steps: eager (dynamic KV cache) or compiled (static KV cache).

On a GPU the eager decode step of GPT-J-6B measured 48–73 ms against a 2.92 ms bound (weights ÷
copy bandwidth, docs/throughput.md): the step is bound by Python and kernel launches, not by
memory. ``compiled`` removes that overhead with transformers' own path: a ``StaticCache``
(fixed-shape KV tensors at fixed addresses) and a ``CompileConfig``, which makes ``generate``
run each decode step through ``torch.compile`` (inductor, CUDA graphs in ``reduce-overhead``
mode). Everything else stays ``generate``'s: the logits processors (tag grammar, loop guard,
log-probabilities), stop tokens, early stop when every row has ended, left padding with
positions taken from the attention mask.

Compiled graphs are specialised on shapes, so shapes are kept to a bounded set:

* the batch is padded up to a **batch bucket** (1, 2, 4, … 128) with copies of its first row,
  which are dropped afterwards. A processor ends them at their first step (``EndRows``), so
  they never keep the batch decoding: early stop needs every row ended, and a copy is not
  guaranteed to end with its original (a batched matmul may round rows differently);
* the prompt width is left-padded up to a **width bucket** (multiples of 64, spaced about
  1.5× apart), which sets the KV cache length = width + ``max_new_tokens``.

One ``StaticCache`` per (batch, cache length) is kept and reset between calls (a small LRU):
CUDA graphs are recorded against the cache's tensor addresses, and a fresh cache per call
would re-record every call. transformers' own ``cache_implementation="static"`` sizes each
new cache to the longest ever seen, so one long prompt would make every later batch attend
over (and hold) the longest cache; passing the cache ourselves avoids that.

transformers compiles only on accelerators ("unable to meet the criteria" on CPU) unless
``compile_on_cpu`` is set; on CPU ``compiled`` is then the static cache alone, and
``auto`` picks eager there (bench/results/decode_cpu.md measured it).
"""
from __future__ import annotations

import bisect
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

import torch
from transformers import CompileConfig, LogitsProcessor, LogitsProcessorList, PreTrainedModel, StaticCache

from model.config import DECODE_MODES

_LOG = logging.getLogger(__name__)

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
WIDTH_BUCKETS = (64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)


@dataclass(frozen=True)
class DecodeConfig:
    """``--decode``: the decode path and its shape buckets.

    ``mode``: ``eager`` (dynamic cache, no padding beyond the batch's longest prompt),
    ``compiled`` (static cache, buckets, ``torch.compile`` on GPU) or ``auto`` (compiled on
    CUDA, eager elsewhere). ``dynamic``: compile with symbolic shapes, so a new bucket records
    a CUDA graph but does not recompile; ``False`` compiles every bucket separately.
    ``warmup_batches``: batch buckets decoded once at load (GPU only), so the compile happens
    before the first record rather than inside it. ``kept_caches``: static caches held for reuse.
    """

    mode: str = "auto"
    batch_buckets: tuple[int, ...] = BATCH_BUCKETS
    width_buckets: tuple[int, ...] = WIDTH_BUCKETS
    dynamic: bool = True
    warmup_batches: tuple[int, ...] = (1, 2, 8)
    kept_caches: int = 4
    compile_on_cpu: bool = False

    def __post_init__(self) -> None:
        if self.mode not in DECODE_MODES:
            raise ValueError(f"unknown decode mode {self.mode!r}; choose one of {', '.join(DECODE_MODES)}")

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


class EndRows(LogitsProcessor):
    """Forces ``end_id`` in rows ``first`` onwards (the bucket's filler rows), so they end at once."""

    def __init__(self, first: int, end_id: int):
        self.first = first
        self.end_id = end_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        scores[self.first:] = float("-inf")
        scores[self.first:, self.end_id] = 0.0
        return scores


class Decoder:
    """The decode path of one loaded model: pads batches to buckets and adds ``generate``'s cache arguments."""

    def __init__(self, config: DecodeConfig, model: PreTrainedModel):
        self.config = config
        self.model = model
        self.mode = config.resolve(model.device)
        self._caches: OrderedDict[tuple[int, int], StaticCache] = OrderedDict()
        if self.mode == "compiled":
            # one compiled entry per bucket shape at most; dynamo's default of 8 would silently fall back to eager
            shapes = len(config.batch_buckets) * len(config.width_buckets)
            limit = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
            setattr(torch._dynamo.config, limit, max(getattr(torch._dynamo.config, limit), shapes))

    @property
    def compiles(self) -> bool:
        return self.mode == "compiled" and (self.model.device.type != "cpu" or self.config.compile_on_cpu)

    def pad(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pad_id: int,
            max_new_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The left-padded batch grown to its (batch, width) bucket; eager leaves it as it is.

        Extra rows copy row 0; extra columns are masked padding on the left, so every real row's
        positions (taken from the mask) and its continuation are unchanged. The width never
        exceeds what the model's positions allow with ``max_new_tokens`` more.
        """
        if self.mode != "compiled":
            return input_ids, attention_mask
        rows, width = input_ids.shape
        room = getattr(self.model.config, "n_positions", None)
        target = bucket(width, self.config.width_buckets)
        if room is not None:
            target = max(width, min(target, room - max_new_tokens))
        extra_rows = bucket(rows, self.config.batch_buckets) - rows
        input_ids = torch.cat([input_ids, input_ids[:1].expand(extra_rows, -1)])
        attention_mask = torch.cat([attention_mask, attention_mask[:1].expand(extra_rows, -1)])
        left = target - width
        input_ids = torch.nn.functional.pad(input_ids, (left, 0), value=pad_id)
        attention_mask = torch.nn.functional.pad(attention_mask, (left, 0), value=0)
        return input_ids, attention_mask

    def generate_kwargs(self, batch: int, width: int, max_new_tokens: int) -> dict[str, Any]:
        """Extra ``generate`` arguments: none for eager; a reset static cache and the compile config for compiled."""
        if self.mode != "compiled":
            return {}
        kwargs: dict[str, Any] = {"cache": self._cache(batch, width + max_new_tokens)}
        if self.compiles:
            kwargs["compile_config"] = self._compile_config()
        else:
            kwargs["disable_compile"] = True  # CPU: transformers would skip it anyway, with a warning per call
        return kwargs

    def generate(self, kwargs: dict[str, Any], rows: int) -> torch.Tensor:
        """``model.generate(**kwargs)`` on this decode path (``kwargs`` from ``generation.generate_kwargs``,
        of a batch ``pad`` grew from ``rows`` real rows: the others are ended at their first step).

        An out-of-memory error drops the kept caches before it propagates, so the caller's
        retry with half the batch (pipeline/inference.py) has the memory back.
        """
        batch, width = kwargs["input_ids"].shape
        if batch > rows:
            stops = kwargs["eos_token_id"]
            end = EndRows(rows, stops[0] if isinstance(stops, list) else stops)
            kwargs = {**kwargs, "logits_processor": LogitsProcessorList([*kwargs["logits_processor"], end])}
        try:
            return self.model.generate(**kwargs, **self.generate_kwargs(batch, width, kwargs["max_new_tokens"]))
        except torch.OutOfMemoryError:
            self.release()
            raise

    def _compile_config(self) -> CompileConfig:
        on_gpu = self.model.device.type == "cuda"
        config = CompileConfig(fullgraph=True, dynamic=self.config.dynamic,
                               mode="reduce-overhead" if on_gpu else "default")
        if not on_gpu:
            config._compile_all_devices = True
        return config

    def _cache(self, batch: int, length: int) -> StaticCache:
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
        """Decode a dummy batch at each warm-up batch bucket and width, so the graphs are compiled
        before the first record; returns the seconds spent. Nothing to warm where nothing compiles.

        The cache is sized for ``max_new_tokens`` (the shape the job will use) though only two
        tokens are generated: the first decode step is what compiles.
        """
        if not self.compiles:
            return 0.0
        start = time.perf_counter()
        for width in widths:
            for rows in self.config.warmup_batches:
                ids = torch.full((rows, width), pad_id + 1, dtype=torch.long, device=self.model.device)
                with torch.inference_mode():
                    self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=2,
                                        min_new_tokens=2, do_sample=False, pad_token_id=pad_id,
                                        **self.generate_kwargs(rows, width, max_new_tokens))
        seconds = time.perf_counter() - start
        _LOG.info("decode warm-up: batches %s, widths %s in %.1f s", self.config.warmup_batches, list(widths), seconds)
        return seconds
