"""The elements that flow from prompt building through RunInference to parsing."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PromptedRecord:
    """A valid record with its prompt, tokenised once (batching weighs it by ``input_ids``)."""

    id: str
    language: str
    prompt: str
    input_ids: tuple[int, ...]
    truncated: bool
    input_hash: str
    record_json: str
    carried: dict[str, Any] = field(default_factory=dict)
    # the cleaned OCR lines, for the evidence search after generation (formats/evidence.py)
    back_lines: tuple[str, ...] = ()
    front_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class InferenceFailure:
    """What RunInference yields instead of a generation when a single record could not be run."""

    reason: str
    detail: str
