"""Spot checks (SPEC §9): a seeded share of the fields the job accepted, queued for a person anyway.

What the job vouches for (a field not in ``review_fields``) is otherwise never looked at, so
nothing would measure how often it is right on the catalogue's own prints. A spot check is a
person's word on such a field; their share that a person accepted is the precision of what the
job accepts (``formats.decision_figures``).

The draw is a pure function of (id, field, input_hash, seed): the same field of the same input
is drawn on every night, on every worker and in every process, so a queue rebuilt tomorrow
asks for the same spot checks, and a new OCR (new ``input_hash``) is drawn afresh. sha256 is
used rather than Python's ``hash`` (salted per process) or a ``random.Random`` stream (which
would depend on the order the fields are visited).
"""
from __future__ import annotations

import hashlib

# 2 %: at the demo's ~3 accepted fields per print, about 6 spot checks per 100 prints, i.e. 60 decisions
# for a night of 1,000 prints — enough for a Wilson interval of about ±6 points on a precision near 0.95
# after a few nights, without crowding the review queue (docs/review.md).
DEFAULT_SPOT_CHECK_RATE = 0.02
DEFAULT_SPOT_CHECK_SEED = "backstamp"
_SCALE = float(1 << 64)


def spot_check_draw(record_id: str, field: str, input_hash: str, seed: str = DEFAULT_SPOT_CHECK_SEED) -> float:
    """A number in [0, 1), uniform over inputs, fixed by (id, field, input_hash, seed)."""
    key = "\x1f".join((seed, record_id, field, input_hash)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / _SCALE


def is_spot_check(record_id: str, field: str, input_hash: str, rate: float = DEFAULT_SPOT_CHECK_RATE,
                  seed: str = DEFAULT_SPOT_CHECK_SEED) -> bool:
    """Whether the accepted ``field`` of this record is queued as a spot check (``rate`` in [0, 1])."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"spot-check rate {rate}: must be between 0 and 1")
    return spot_check_draw(record_id, field, input_hash, seed) < rate
