"""The eager decode loop's KV cache: keys and values written in place into buffers with room to grow.

transformers' ``DynamicLayer`` appends a step's keys with ``torch.cat``, which copies the whole
cache every step, and drops finished rows with an index that copies every kept row: on this CPU
with the demo model that was about a tenth of the job's decode time at its default batches, and it
grows with rows × columns, so larger batches lost (bench/results/decode_loop_budget16384.md).

``InPlaceLayer`` keeps each layer's keys and values as views of preallocated buffers
(rows × heads × columns × head size): a step writes its column in place; ``batch_select_indices``
copies only the rows that move (the loop fills a finished row's place with a row from the end,
``compaction``), and the batch shrinks by taking a shorter view; cutting leading columns that no
row uses any more only moves the view's start. The model sees ordinary tensors of
``[rows, heads, columns, head size]``, so any full-attention model works.
"""
from __future__ import annotations

from typing import Sequence

import torch
from transformers import Cache, DynamicLayer, PreTrainedConfig
from transformers.cache_utils import get_layer_types_and_kwargs


def compaction(going: Sequence[bool]) -> list[int]:
    """The rows to keep, in the order that moves fewest: each finished row among the first
    ``sum(going)`` places takes a going row from beyond them, every other row stays where it is."""
    kept = sum(going)
    holes = [i for i in range(kept) if not going[i]]
    movers = [i for i in range(kept, len(going)) if going[i]]
    order = list(range(kept))
    for hole, mover in zip(holes, movers):
        order[hole] = mover
    return order


class InPlaceLayer(DynamicLayer):
    """A full-attention cache layer over buffers with ``room`` more columns than its first write,
    and rows for at least ``rows`` (rows that join later find their place without a reallocation)."""

    def __init__(self, room: int, rows: int = 0):
        super().__init__()
        self.room, self.capacity = room, rows
        self.rows = self.start = self.end = 0
        self._keys = self._values = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        rows, heads, width, size = key_states.shape
        capacity = max(rows, self.capacity)
        # zeros, not empty: a column outside a row's mask is still multiplied by a zero weight
        self._keys = key_states.new_zeros((capacity, heads, width + self.room, size))
        self._values = value_states.new_zeros((capacity, heads, width + self.room, value_states.shape[-1]))
        self.rows = rows
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        width = key_states.shape[-2]
        self._reserve(self.start, self.end + width)
        self._keys[:self.rows, :, self.end:self.end + width] = key_states
        self._values[:self.rows, :, self.end:self.end + width] = value_states
        self.end += width
        self._view()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Row ``i`` becomes old row ``indices[i]``: only rows that move are copied."""
        moved = torch.nonzero(indices != torch.arange(len(indices), device=indices.device)).flatten()
        if len(moved):
            live = slice(self.start, self.end)
            for buffer in (self._keys, self._values):
                buffer[moved, :, live] = buffer[indices[moved], :, live]  # the right side is a copy: no aliasing
        self.rows = len(indices)
        self._view()

    def drop_columns(self, count: int) -> None:
        """Forget the first ``count`` columns (no live row attends to them any more)."""
        self.start += count
        self._view()

    def add_rows(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Append rows whose last column is the cache's last, widening it on the left as far as they
        need (the loop pads its mask on the left by as many columns)."""
        width = keys.shape[-2]
        grow = max(0, width - (self.end - self.start))
        self._reserve(self.start - grow, self.end, rows=self.rows + len(keys))
        self.start -= grow
        for buffer, new in ((self._keys, keys), (self._values, values)):
            buffer[self.rows:self.rows + len(new), :, self.start:self.end - width] = 0
            buffer[self.rows:self.rows + len(new), :, self.end - width:self.end] = new
        self.rows += len(keys)
        self._view()

    def _reserve(self, start: int, end: int, rows: int | None = None) -> None:
        """Make columns ``start:end`` (``start`` may be negative) and ``rows`` rows fit: when they do
        not, reallocate with the live columns moved so that ``start`` is column 0, and ``room`` after ``end``."""
        rows = rows or self.rows
        if start >= 0 and end <= self._keys.shape[2] and rows <= self._keys.shape[0]:
            return
        live = slice(self.start, self.end)
        for name in ("_keys", "_values"):
            old = getattr(self, name)
            new = old.new_zeros((max(rows, old.shape[0]), old.shape[1], end - start + self.room, old.shape[3]))
            new[:self.rows, :, self.start - start:self.end - start] = old[:self.rows, :, live]
            setattr(self, name, new)
        self.start, self.end = self.start - start, self.end - start

    def _view(self) -> None:
        self.keys = self._keys[:self.rows, :, self.start:self.end]
        self.values = self._values[:self.rows, :, self.start:self.end]


def in_place_cache(config: PreTrainedConfig, room: int, rows: int = 0) -> Cache:
    """A cache of ``InPlaceLayer(room, rows)``s for ``config``'s model; only full-attention models qualify
    (a sliding window or shared layers keep their own bookkeeping)."""
    layer_types, _ = get_layer_types_and_kwargs(config.get_text_config(decoder=True))
    others = sorted(set(layer_types) - {"full_attention"})
    if others:
        raise ValueError(f"the job's eager decode loop needs full-attention cache layers, not {', '.join(others)}")
    return Cache(layers=[InPlaceLayer(room, rows) for _ in layer_types])
