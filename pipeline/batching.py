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
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.transforms.util import SortAndBatchElements

# Defaults of the batching options; the token budget counts prompt tokens plus max_new_tokens per
# record. 4096 was the best budget of the CPU sweep on the demo model (docs/throughput.md).
DEFAULT_MAX_BATCH_WEIGHT = 4096
DEFAULT_MAX_BATCH_SIZE = 64


class BatchedInference(beam.PTransform):
    """``PromptedRecord``s → ``PredictionResult``s, batched by token weight and prompt length."""

    def __init__(self, handler):
        """``handler``: a ``GPTJModelHandler``; its ``batching`` config chooses the path."""
        super().__init__()
        self._handler = handler

    def expand(self, records: beam.PCollection) -> beam.PCollection:
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
