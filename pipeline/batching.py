"""Token-aware batching in front of ``RunInference``, with Beam's own transforms.

What Beam 2.77 does with a ``ModelHandler``'s batching arguments (read in
``apache_beam/transforms/util.py`` and checked on DirectRunner, see docs/throughput.md):

* ``BatchElements`` without ``max_batch_duration_secs`` cuts batches in arrival order;
  with ``element_size_fn`` its min/max sizes are *weights*, but it never groups lengths,
  and it takes no ``max_batch_weight`` argument at all (passing one raises ``TypeError``).
* With ``max_batch_duration_secs`` it switches to a stateful DoFn that keys elements by
  length bucket (``batch_length_fn``), but counts elements and ignores ``element_size_fn``:
  a bucket of long prompts gets as many rows as one of short prompts, with no token cap.
* ``SortAndBatchElements`` buffers a bundle, sorts it by weight and cuts batches under both
  a token budget (``max_batch_weight``) and a count cap. On a batch runner the bundle after
  our ``GroupByKey`` is large (the whole input on DirectRunner), so neighbours in a batch
  have nearly equal prompt lengths and left padding is small.

So by default the records go through ``SortAndBatchElements`` and into
``RunInference(handler.with_no_batching())``. ``--max_batch_duration_secs`` keeps Beam's
cross-bundle, length-bucketed (count-capped) path for runners with tiny bundles.

This module imports no torch (Beam's ``apache_beam.ml.inference`` does, so ``RunInference`` is
imported where the graph is expanded): ``pipeline/options.py`` and the job plan use its configs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import apache_beam as beam
from apache_beam.transforms.util import SortAndBatchElements

# Defaults of the batching options; the token budget counts prompt tokens plus max_new_tokens per
# record. 16384 was the best budget of the job's loop (finished rows leave, in-place cache, prefill
# by length groups) on typical and heavy-tailed records alike in the CPU sweep on the demo model
# (bench/results/decode_loop_sweep.md, docs/throughput.md); 4096 was best for ``generate``.
DEFAULT_MAX_BATCH_WEIGHT = 16384
DEFAULT_MAX_BATCH_SIZE = 64


@dataclass(frozen=True)
class BatchingConfig:
    """How records are cut into ``generate`` calls; the module docstring says which Beam transform uses which field."""

    min_batch_size: Optional[int] = None
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_batch_weight: int = DEFAULT_MAX_BATCH_WEIGHT
    max_batch_duration_secs: Optional[int] = None
    batch_bucket_boundaries: Optional[list[int]] = None


@dataclass(frozen=True)
class ModelSharing:
    """How many models a worker holds: one shared by its SDK processes (``large_model``) or ``model_copies``."""

    large_model: bool = False
    model_copies: Optional[int] = None


class BatchedInference(beam.PTransform):
    """``PromptedRecord``s → ``PredictionResult``s, batched by token weight and prompt length."""

    def __init__(self, handler):
        """``handler``: a ``GPTJModelHandler``; its ``batching`` config chooses the path."""
        super().__init__()
        self._handler = handler

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        from apache_beam.ml.inference.base import RunInference  # loads torch: see the module docstring

        batching = self._handler.batching
        if batching.max_batch_duration_secs is not None:
            return records | "RunInference" >> RunInference(self._handler)
        return (
            records
            | "SortAndBatchByTokens" >> SortAndBatchElements(
                min_batch_size=batching.min_batch_size or 1, max_batch_size=batching.max_batch_size,
                max_batch_weight=batching.max_batch_weight, element_size_fn=self._handler.element_weight)
            | "RunInference" >> RunInference(self._handler.with_no_batching())
        )
