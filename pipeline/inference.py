"""The GPT-J ``ModelHandler`` for Beam's ``RunInference``.

Beam does the batching (token-weighted and sorted by length, see pipeline/batching.py), the model
sharing across SDK processes (``large_model``/``model_copies``) and the loading once per
process; this handler only turns a batch of prompted records into generations. It hands the
engine the whole batch: the engine's decode loop (model/decode.py) drops each row as it ends,
and with ``--decode_slots`` decodes the batch through that many slots, refilling freed ones. A batch
that fails is split in halves and retried down to single records, so one bad record (or a
batch too big for GPU memory) costs its own row, not its neighbours'.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Optional, Sequence

from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from formats.elements import InferenceFailure, PromptedRecord
from model.checkpoint import resolve_checkpoint
from model.config import EngineCheck, EngineConfig
from model.decode import DecodeCounts
from model.engines import Engine
from model.generation import Generation
from model.verify import load_verified_engine
from pipeline.batching import BatchingConfig, ModelSharing
from pipeline.dead_letter import METRICS_NAMESPACE


class GPTJModelHandler(ModelHandler[PromptedRecord, Generation | InferenceFailure, Engine]):
    def __init__(self, model_path: str, engine: EngineConfig, max_new_tokens: int,
                 batching: BatchingConfig, sharing: ModelSharing = ModelSharing(),
                 model_cache_dir: Optional[str] = None, engine_check: EngineCheck = "off"):
        """Each worker resolves ``model_path`` (local or ``gs://``) itself when it loads the model.

        Beam's ``BatchElements`` only gets our batching arguments on the cross-bundle path
        (``max_batch_duration_secs``); otherwise ``BatchedInference`` batches by tokens first.
        """
        cross_bundle = {} if batching.max_batch_duration_secs is None else dict(
            min_batch_size=batching.min_batch_size, max_batch_size=batching.max_batch_size,
            max_batch_duration_secs=batching.max_batch_duration_secs, batch_length_fn=prompt_length,
            batch_bucket_boundaries=batching.batch_bucket_boundaries)
        super().__init__(**cross_bundle, large_model=sharing.large_model, model_copies=sharing.model_copies)
        self.batching = batching
        self._model_path = model_path
        self._engine_config = engine
        self._max_new_tokens = max_new_tokens
        self._model_cache_dir = model_cache_dir
        self._engine_check = engine_check

    def element_weight(self, record: PromptedRecord) -> int:
        """A record costs its prompt tokens plus the completion it may generate."""
        return len(record.input_ids) + self._max_new_tokens

    def load_model(self) -> Engine:
        local = resolve_checkpoint(self._model_path, self._model_cache_dir)
        engine = load_verified_engine(local, self._engine_config, self._max_new_tokens, self._engine_check)
        engine.warm_up(self._max_new_tokens)  # compiled decode on GPU: compile before the first batch
        return engine

    def run_inference(self, batch: Sequence[PromptedRecord], model: Engine,
                      inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
        Metrics.counter(METRICS_NAMESPACE, f"batches_{model.name}").inc()  # shows an engine fallback
        outputs = self._generate_or_split(list(batch), model)
        return [PredictionResult(example=record, inference=output) for record, output in zip(batch, outputs)]

    def _generate_or_split(self, batch: list[PromptedRecord], engine: Engine) -> list[Generation | InferenceFailure]:
        try:
            before = dataclasses.replace(engine.decoder.counts) if engine.decoder else None
            generations = engine.generate([record.input_ids for record in batch], self._max_new_tokens)
            _count_padding(batch)
            if before is not None:
                _count_decode_steps(before, engine.decoder.counts)
            return generations
        except Exception as error:  # per-batch errors (OOM included) are retried on smaller batches
            if len(batch) == 1:
                Metrics.counter(METRICS_NAMESPACE, "inference_failures").inc()
                return [InferenceFailure("inference_error", f"{type(error).__name__}: {error}"[:2000])]
            Metrics.counter(METRICS_NAMESPACE, "batch_splits").inc()
            _release_accelerator_memory()
            half = len(batch) // 2
            return self._generate_or_split(batch[:half], engine) + self._generate_or_split(batch[half:], engine)

    def get_num_bytes(self, batch: Sequence[PromptedRecord]) -> int:
        return sum(len(record.input_ids) for record in batch) * 8

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


def prompt_length(record: PromptedRecord) -> int:
    return len(record.input_ids)


def _count_padding(batch: Sequence[PromptedRecord]) -> None:
    """Left padding of the prompt tensor generate ran: pad slots and all slots (rows × longest prompt)."""
    lengths = [prompt_length(record) for record in batch]
    slots = len(lengths) * max(lengths)
    Metrics.counter(METRICS_NAMESPACE, "batch_prompt_slots").inc(slots)
    Metrics.counter(METRICS_NAMESPACE, "batch_padding_slots").inc(slots - sum(lengths))
    Metrics.distribution(METRICS_NAMESPACE, "batch_records").update(len(lengths))


def _count_decode_steps(before: DecodeCounts, after: DecodeCounts) -> None:
    """Decode steps a batch took and the rows they computed (``--decode_slots`` trades rows per step for steps)."""
    Metrics.counter(METRICS_NAMESPACE, "decode_steps").inc(after.steps - before.steps)
    Metrics.counter(METRICS_NAMESPACE, "decode_row_steps").inc(after.slot_steps - before.slot_steps)


def _release_accelerator_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
