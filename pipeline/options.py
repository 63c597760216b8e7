"""Every flag of the Backstamp job, as a Beam ``PipelineOptions`` subclass.

Because they are pipeline options, the flags travel with the job to Dataflow/Flink
workers and appear in ``python -m pipeline run --help`` beside Beam's own options.
"""
from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from formats.evidence import EVIDENCE_THRESHOLD
from formats.review import DEFAULT_THRESHOLDS, THRESHOLD_FIELDS
from model.config import DECODE_MODES, ENGINE_CHECKS, ENGINES
from pipeline.batching import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_WEIGHT

DEFAULT_MODEL = "data/models/demo-gptj"


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


class _Replaced(argparse.Action):
    """A removed flag stops the job with its replacement (Beam would otherwise drop it with a warning)."""

    def __init__(self, option_strings, dest, replacement: str, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help=argparse.SUPPRESS, **kwargs)
        self._replacement = replacement

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} was removed; use {self._replacement}")


class BackstampOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        io = parser.add_argument_group("Backstamp input and output")
        io.add_argument("--input", help="Parquet file or glob of OCR records (local or gs://).")
        io.add_argument("--output", help="Output folder (local or gs://): records/, dead_letter/, manifest.json.")
        io.add_argument("--id_column", default="id")
        io.add_argument("--front_column", default="front_ocr")
        io.add_argument("--back_column", default="back_ocr")
        io.add_argument("--language_column", default="language")
        io.add_argument("--default_language", default="en", help="Language for rows whose language is null.")
        io.add_argument("--run_id", default=None, help="Id stamped on every row (default: UTC time + random suffix).")

        model = parser.add_argument_group("Backstamp model and engine")
        model.add_argument("--model", default=DEFAULT_MODEL, help="Checkpoint folder (local or gs://).")
        model.add_argument("--engine", default="hf", choices=ENGINES)
        model.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda.")
        model.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                           help="auto: float16 on GPU, float32 on CPU.")
        model.add_argument("--kernel_inject", action="store_true", default=False,
                           help="deepspeed engine on GPU: DeepSpeed's fused inference kernels. Off by default: with "
                                "transformers 5 and deepspeed 0.19.8 GPT-J injection fails on the first forward pass "
                                "(docs/throughput.md); use it with --engine_check.")
        model.add_argument("--decode", default="auto", choices=DECODE_MODES,
                           help="compiled: static KV cache and torch.compile'd decode steps (CUDA graphs), batches "
                                "padded to shape buckets; eager: transformers' default loop. auto: compiled on GPU, "
                                "eager on CPU, where compiling does not pay (docs/throughput.md).")
        model.add_argument("--decode_slots", type=_positive_int, default=None,
                           help="Rows decoded at once; a batch's other prompts wait and each takes the slot of a row "
                                "that ends (its prompt prefilled into that slot). Default: the whole batch at once. "
                                "Pair it with a larger --max_batch_size/--max_batch_weight so prompts wait "
                                "(docs/throughput.md).")
        model.add_argument("--max_new_tokens", type=int, default=None,
                           help="Generation limit (default: the value training recorded in the checkpoint).")
        model.add_argument("--max_prompt_tokens", type=int, default=None,
                           help="Prompt budget (default: the model's context minus max_new_tokens).")
        model.add_argument("--torch_threads", type=int, default=None,
                           help="CPU threads per model (default: the cores this process may use, "
                                "affinity capped by the cgroup quota; split them when a machine runs several models).")
        model.add_argument("--engine_check", default="off", choices=ENGINE_CHECKS,
                           help="At worker start, compare a non-hf engine's greedy output with hf on a probe "
                                "batch; on a difference, refuse: stop the worker, fallback: run hf instead "
                                "(docs/throughput.md).")
        model.add_argument("--verify_engine", action=_Replaced, replacement="--engine_check refuse")
        model.add_argument("--engine_fallback", action=_Replaced, replacement="--engine_check fallback")
        model.add_argument("--allow_pickle_weights", action="store_true", default=False,
                           help="Allow .bin (pickle) weights, loaded with weights_only=True.")
        model.add_argument("--model_cache_dir", default=None,
                           help="Local cache for remote checkpoints (default: ~/.cache/backstamp/models).")

        batching = parser.add_argument_group(
            "Backstamp batching (Beam's SortAndBatchElements before RunInference; docs/throughput.md)")
        batching.add_argument("--min_batch_size", type=int, default=None)
        batching.add_argument("--max_batch_size", type=int, default=DEFAULT_MAX_BATCH_SIZE,
                              help="Most records in one generate call.")
        batching.add_argument("--max_batch_weight", type=int, default=DEFAULT_MAX_BATCH_WEIGHT,
                              help="Token budget of one generate call: the sum over its records of prompt "
                                   "tokens + max_new_tokens (records are sorted by length within a bundle).")
        batching.add_argument("--max_batch_duration_secs", type=int, default=None,
                              help="Use Beam's cross-bundle stateful batching instead (for runners with tiny "
                                   "bundles): length buckets, but counted by --max_batch_size, no token budget.")
        batching.add_argument("--batch_bucket_boundaries", type=_int_list, default=None,
                              help="With --max_batch_duration_secs: prompt-length bucket boundaries, e.g. 64,128,256.")

        sharing = parser.add_argument_group("Backstamp model sharing (how many models a worker holds)")
        sharing.add_argument("--large_model", action="store_true", default=False,
                             help="Share one model across the SDK processes of a worker.")
        sharing.add_argument("--model_copies", type=int, default=None,
                             help="Exact number of models per worker (e.g. one per GPU).")

        review = parser.add_argument_group(
            "Backstamp review (SPEC §5b; defaults measured on the synthetic held-out split, "
            "bench/results/confidence_synthetic.md)")
        for name in THRESHOLD_FIELDS:
            review.add_argument(f"--review_threshold_{name}", type=float, default=None,
                                help=f"A {name} whose confidence (0-1) is below this goes to review "
                                     f"(low_confidence:{name}). Default: --review_config's, else the checkpoint's "
                                     f"(backstamp.json \"review\"), else {DEFAULT_THRESHOLDS[name]}.")
        review.add_argument("--review_config", default=None,
                            help='JSON file (local or gs://) {"thresholds": {field: value, ...}, ...}, e.g. written '
                                 "by `python -m pipeline thresholds --to FILE` (docs/review.md); each field's "
                                 "--review_threshold_<field> overrides it. The manifest records every threshold "
                                 "in force and where it came from.")
        review.add_argument("--evidence_threshold", type=float, default=EVIDENCE_THRESHOLD,
                            help="rapidfuzz similarity (0-100) at which a value counts as found in the OCR; "
                                 "below it the field goes to review (not_in_ocr:<field>).")
