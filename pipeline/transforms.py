"""Thin Beam DoFns over the pure format functions: validate, dedupe, prompt, parse.

Every DoFn sends a record it cannot handle to the ``dead`` output with a stage and a
reason code instead of raising, so one bad row never stops a run and
rows read = rows written + rows dead-lettered.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from formats.elements import InferenceFailure, PromptedRecord
from pipeline.dead_letter import DEAD, METRICS_NAMESPACE, dead_letter
from formats.parse import answer_columns, parse_completion
from formats.prompt import fit_prompt, model_input, prompt_hash
from formats.records import ColumnNames, Rejection, ValidRecord, record_json, validate_row
from formats.review import THRESHOLD_FIELDS, Review, ReviewConfig, ReviewInput, route
from formats.schemas import carried_name

if TYPE_CHECKING:  # Beam's inference package imports torch; this module must not (tests/test_layering.py)
    from apache_beam.ml.inference.base import PredictionResult


class ValidateRecords(beam.DoFn):
    """Raw Parquet row → ``ValidRecord``, or a dead letter (missing_id, bad_type, bad_language, empty_ocr)."""

    def __init__(self, columns: ColumnNames, default_language: str, run_id: str):
        self._columns = columns
        self._default_language = default_language
        self._run_id = run_id
        self._read = Metrics.counter(METRICS_NAMESPACE, "records_read")

    def process(self, row: dict[str, Any]) -> Iterable[Any]:
        self._read.inc()
        try:
            result = validate_row(row, self._columns, self._default_language)
        except Exception as error:  # validation is pure and total; this guards against the unforeseen
            result = Rejection("bad_type", f"{type(error).__name__}: {error}", None)
        if isinstance(result, ValidRecord):
            yield result
        else:
            yield beam.pvalue.TaggedOutput(
                DEAD, dead_letter("validate", result.reason, result.detail, result.record_id,
                                  record_json(row), self._run_id))


class KeepOnePerId(beam.DoFn):
    """Of the rows sharing an id in one run, keep one (deterministically) and dead-letter the rest."""

    def __init__(self, run_id: str):
        self._run_id = run_id

    def process(self, keyed: tuple[str, Iterable[ValidRecord]]) -> Iterable[Any]:
        record_id, records = keyed
        ordered = sorted(records, key=lambda r: record_json(r.raw))
        yield ordered[0]
        for duplicate in ordered[1:]:
            yield beam.pvalue.TaggedOutput(
                DEAD, dead_letter("validate", "duplicate_id", f"{len(ordered)} rows share this id; kept one",
                                  record_id, record_json(duplicate.raw), self._run_id))


class BuildPrompts(beam.DoFn):
    """``ValidRecord`` → ``PromptedRecord``: the SPEC §3 prompt fitted to the budget, tokenised once."""

    def __init__(self, model_path: str, prompt_budget: int, run_id: str, model_cache_dir: Optional[str] = None):
        self._model_path = model_path
        self._budget = prompt_budget
        self._run_id = run_id
        self._model_cache_dir = model_cache_dir
        self._tokenizer = None
        self._special_tokens: tuple[str, ...] = ()
        self._truncated = Metrics.counter(METRICS_NAMESPACE, "prompts_truncated")
        self._prompt_tokens = Metrics.counter(METRICS_NAMESPACE, "prompt_tokens")

    def setup(self) -> None:
        from model.checkpoint import resolve_checkpoint
        from model.loading import load_tokenizer, special_tokens

        self._tokenizer = load_tokenizer(resolve_checkpoint(self._model_path, self._model_cache_dir))
        self._special_tokens = special_tokens(self._tokenizer)  # OCR must not spell any of them

    def _count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def process(self, record: ValidRecord) -> Iterable[Any]:
        try:
            fitted = fit_prompt(record.back_lines, record.front_lines, record.language, self._budget,
                                self._count_tokens, bos_token=self._tokenizer.bos_token,
                                special_tokens=self._special_tokens)
            input_ids = self._tokenizer.encode(model_input(fitted.text, self._tokenizer.bos_token),
                                               add_special_tokens=False)
        except Exception as error:
            yield beam.pvalue.TaggedOutput(
                DEAD, dead_letter("prompt", "prompt_error", f"{type(error).__name__}: {error}", record.id,
                                  record_json(record.raw), self._run_id))
            return
        self._truncated.inc(int(fitted.truncated))
        self._prompt_tokens.inc(len(input_ids))
        yield PromptedRecord(
            id=record.id, language=record.language, prompt=fitted.text, input_ids=tuple(input_ids),
            truncated=fitted.truncated, input_hash=prompt_hash(fitted.text),
            record_json=record_json(record.raw), carried=dict(record.carried),
            back_lines=record.back_lines, front_lines=record.front_lines,
        )


class ParseGenerations(beam.DoFn):
    """``PredictionResult`` → an output row (SPEC §5), or a dead letter for a failed inference."""

    def __init__(self, run_id: str, model_version: str, carried_columns: Sequence[str],
                 review: ReviewConfig = ReviewConfig()):
        """``carried_columns``: output names of all carried columns; a file lacking one gets nulls."""
        self._run_id = run_id
        self._model_version = model_version
        self._carried_columns = tuple(carried_columns)
        self._review = review
        self._output_tokens = Metrics.counter(METRICS_NAMESPACE, "output_tokens")

    def process(self, result: PredictionResult) -> Iterable[Any]:
        record: PromptedRecord = result.example
        generation = result.inference
        if isinstance(generation, InferenceFailure):
            yield beam.pvalue.TaggedOutput(
                DEAD, dead_letter("inference", generation.reason, generation.detail, record.id,
                                  record.record_json, self._run_id))
            return
        try:
            parsed = parse_completion(generation.text, record.language, generation.hit_limit)
        except Exception as error:  # the parser never raises; if it ever does, the row is not lost
            yield beam.pvalue.TaggedOutput(
                DEAD, dead_letter("parse", "parse_error", f"{type(error).__name__}: {error}", record.id,
                                  record.record_json, self._run_id))
            return
        review = route(ReviewInput(
            values={name: getattr(parsed, name) for name in THRESHOLD_FIELDS}, date_iso=parsed.date_iso,
            tokens=generation.fields, back=record.back_lines, front=record.front_lines,
            parse_status=parsed.status, truncated=record.truncated, looped=generation.looped,
            hit_limit=generation.hit_limit), self._review)
        Metrics.counter(METRICS_NAMESPACE, f"parse_{parsed.status}").inc()
        Metrics.counter(METRICS_NAMESPACE, "records_written").inc()
        self._output_tokens.inc(generation.output_tokens)
        count_review(review)
        row = {
            "id": record.id, "language": record.language,
            **answer_columns(parsed, generation.text, generation.output_tokens),  # training evaluates the same
            "prompt_tokens": len(record.input_ids),
            "truncated": record.truncated, "input_hash": record.input_hash,
            "model_version": self._model_version, "run_id": self._run_id,
            "processed_at": datetime.now(timezone.utc), **review.columns(),
        }
        row.update({carried_name(name): value for name, value in record.carried.items()})
        for name in self._carried_columns:
            row.setdefault(name, None)
        yield row


def count_review(review: Review) -> None:
    """Counters for the manifest (``manifest.review_counts``): records and fields sent to review, by reason and field."""
    if not review.needs_review:
        return
    Metrics.counter(METRICS_NAMESPACE, "review_records").inc()
    Metrics.counter(METRICS_NAMESPACE, "review_fields").inc(len(review.review_fields))
    for reason in review.review_reasons:
        Metrics.counter(METRICS_NAMESPACE, f"review_reason:{reason}").inc()
    for name in review.review_fields:
        Metrics.counter(METRICS_NAMESPACE, f"review_field:{name}").inc()
