"""How a worker builds its engine: the settings a job plans on the driver, without torch.

Kept apart from ``model/engines.py`` (which imports torch and transformers) so that the
pipeline can plan a job, and the backfill and ``latest`` commands can run, without loading
torch. The checkpoint folder is not a setting: each worker resolves it itself (a ``gs://``
checkpoint becomes a local cache entry) and passes it to ``load_engine``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

ENGINES = ("hf", "deepspeed")
DECODE_MODES = ("auto", "eager", "compiled")
"""``--decode`` (model/decode.py): compiled static-cache decoding, or eager; ``auto``: compiled on GPU."""

EngineCheck = Literal["off", "refuse", "fallback"]
"""``--engine_check``: compare a non-``hf`` engine with ``hf`` at worker start (model/verify.py);
on a difference, ``refuse`` stops the worker and ``fallback`` runs ``hf`` instead."""
ENGINE_CHECKS: tuple[str, ...] = get_args(EngineCheck)


@dataclass(frozen=True)
class EngineConfig:
    """Which engine to wrap a checkpoint in, on which device and at which precision."""

    engine: str = "hf"
    device: str = "auto"
    dtype: str = "auto"
    kernel_inject: bool = False
    allow_pickle_weights: bool = False
    torch_threads: int | None = None
    decode: str = "auto"
    decode_slots: int | None = None
    """``--decode_slots``: rows decoded at once; a batch's other prompts wait and take the slots of
    rows that end (model/decode.py). None: the whole batch at once."""

    def __post_init__(self) -> None:
        if self.decode_slots is not None and self.decode_slots < 1:
            raise ValueError(f"decode_slots must be at least 1, not {self.decode_slots}")
