"""Start-up check that an engine generates what plain transformers generates (``--engine_check``).

DeepSpeed's GPT-J kernel injection has produced wrong text with batches > 1 and long
inputs, and nothing fails loudly when it does: the job would write plausible but wrong
fields. So before a worker uses a non-``hf`` engine, it runs a probe batch (mixed
lengths, up to the prompt budget) through ``hf`` and through the engine and compares the
greedy outputs token for token. One model is held at a time: ``hf`` runs the probe first,
then the same weights are wrapped by DeepSpeed (which may replace modules in place).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Sequence

from model.checkpoint import context_length
from model.config import EngineCheck, EngineConfig
from model.decode import DecodeConfig
from model.engines import Engine, decoder_for, deepspeed_module, load_engine
from model.loading import resolve_device
from model.generation import Generation
from formats.prompt import build_prompt, model_input

_LOG = logging.getLogger(__name__)

# OCR-like lines; the probe repeats them to reach very different prompt lengths.
_PROBE_LINES = ["KEYSTONE PRESS AGENCY LTD", "Photo by John Smith", "12 March 1964", "RETURN TO LIBRARY",
                "Museum and Art Galleries, Kelvingrove", "GLASGOW G44 3XW", "ALL CALL AND MUSEUM"]
PROBE_SIZE = 8
_REMEDY = ("Run with --engine hf --decode eager, or with --engine_check fallback to fall back to them "
           "automatically.")


class EngineMismatchError(RuntimeError):
    """The engine's greedy outputs differ from ``hf`` on the probe batch."""


@dataclass(frozen=True)
class Mismatch:
    row: int
    prompt_tokens: int
    expected: Generation
    got: Generation


def probe_batch(engine: Engine, prompt_budget: int) -> list[list[int]]:
    """``PROBE_SIZE`` prompts from a few tokens long up to ``prompt_budget`` tokens, in one batch."""
    rows = []
    for i in range(PROBE_SIZE):
        back = (_PROBE_LINES * 64)[: 1 + i * i * 4]  # quadratic growth: short, medium and budget-filling rows
        text = model_input(build_prompt(back, _PROBE_LINES[: i % 3], "en"), engine.tokenizer.bos_token)
        rows.append(engine.tokenizer.encode(text, add_special_tokens=False)[:prompt_budget])
    return rows


def compare(expected: Sequence[Generation], got: Sequence[Generation],
            probe: Sequence[Sequence[int]]) -> list[Mismatch]:
    return [Mismatch(row, len(probe[row]), want, have)
            for row, (want, have) in enumerate(zip(expected, got, strict=True)) if want != have]


def describe(engine: str, mismatches: Sequence[Mismatch], rows: int) -> str:
    first = mismatches[0]
    return (f"--engine_check: the {engine} engine's greedy output differs from the hf engine on "
            f"{len(mismatches)} of {rows} probe prompts (first: row {first.row}, {first.prompt_tokens} prompt "
            f"tokens; hf wrote {first.expected.text[:120]!r}, {engine} wrote {first.got.text[:120]!r}). "
            f"{_REMEDY}")


def describe_failure(engine: str, error: Exception) -> str:
    return (f"--engine_check: the {engine} engine failed on the probe batch ({type(error).__name__}: "
            f"{str(error)[:200]}). {_REMEDY}")


def load_verified_engine(checkpoint: str, config: EngineConfig, max_new_tokens: int, check: EngineCheck) -> Engine:
    """The engine of ``config`` around ``checkpoint``, checked against ``hf`` unless ``check`` is ``off``.

    ``refuse`` raises ``EngineMismatchError`` on any difference, or when wrapping the model or
    generating the probe raises; ``fallback`` logs it and
    returns a freshly loaded ``hf`` engine with eager decoding instead. The reference is always
    ``hf`` with eager decoding; ``hf`` with eager decoding itself is returned as is, while a
    compiled decode path (``--decode``) is checked like another engine. The probe fills the model's whole prompt budget
    (context minus ``max_new_tokens``), the hardest case for the fused kernels.
    """
    compiled = DecodeConfig(mode=config.decode).resolve(resolve_device(config.device)) == "compiled"
    if check == "off" or (config.engine == "hf" and not compiled):
        return load_engine(checkpoint, config)
    label = config.engine + (" (compiled decode)" if compiled else "")
    reference = load_engine(checkpoint, dataclasses.replace(config, engine="hf", decode="eager"))
    probe = probe_batch(reference, context_length(reference.model.config.to_dict()) - max_new_tokens)
    expected = reference.generate(probe, max_new_tokens)
    weights = None
    try:
        weights = deepspeed_module(reference.model, config) if config.engine == "deepspeed" else reference.model
        candidate = Engine(config.engine, weights, reference.tokenizer, decoder_for(config, weights))
        mismatches = compare(expected, candidate.generate(probe, max_new_tokens), probe)
    except Exception as error:  # e.g. kernel injection that does not fit this transformers version
        candidate, message = None, describe_failure(label, error)
    else:
        if not mismatches:
            _LOG.info("--engine_check: %s matches hf on %d probe prompts", label, len(probe))
            return candidate
        message = describe(label, mismatches, len(probe))
    if check == "refuse":
        raise EngineMismatchError(message)
    _LOG.warning("%s Falling back to hf (--engine_check fallback).", message)
    del candidate, reference, weights  # the checked copy goes before the eager one loads
    return load_engine(checkpoint, dataclasses.replace(config, engine="hf", decode="eager"))
