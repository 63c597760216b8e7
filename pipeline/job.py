"""Build and run the Backstamp job: Parquet → validate → prompt → RunInference → parse → Parquet.

``run`` checks the inputs and the checkpoint on the driver first (so a bad file or model
stops the job before any work), runs the Beam graph, then writes the manifest and prints
a summary. Output and dead letter go through Beam's Parquet sink, whose files appear
whole at the end of the run or not at all.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from model.checkpoint import (checkpoint_context_length, checkpoint_special_tokens, model_version, read_metadata,
                              resolve_checkpoint)
from model.config import EngineCheck, EngineConfig
from pipeline.batching import BatchedInference, BatchingConfig, ModelSharing
from pipeline.dead_letter import DEAD, METRICS_NAMESPACE
from pipeline.footers import count_parquet_rows
from pipeline.manifest import Manifest, review_counts, write_json
from pipeline.options import BackstampOptions
from pipeline.preflight import InputError, InputPlan, check_inputs
from pipeline.read import TableToRows
from pipeline.redaction import configure as configure_redaction
from pipeline.redaction import redact, redact_options, redacted_cli
from formats.parse import STATUSES
from formats.prompt import prompt_budget
from formats.records import ColumnNames
from formats.review import THRESHOLD_FIELDS, ReviewConfig
from formats.schemas import DEAD_LETTER_SCHEMA, carried_name, output_schema
from formats.thresholds import InForce, ThresholdsError, read_document, resolve
from pipeline.transforms import BuildPrompts, KeepOnePerId, ParseGenerations, ValidateRecords

DEFAULT_MAX_NEW_TOKENS = 128
GPTJ_CONTEXT = 2048  # n_positions of GPT-J-6B, for plans made without reading the model
OFFLINE_MODEL_VERSION = "unresolved-offline-plan"


@dataclass(frozen=True)
class JobPlan:
    """Everything the graph needs, decided on the driver before any work."""

    run_id: str
    input: str
    output: str
    inputs: InputPlan
    columns: ColumnNames
    default_language: str
    model_path: str
    model_version: str
    model_cache_dir: Optional[str]
    engine: EngineConfig
    batching: BatchingConfig
    sharing: ModelSharing
    max_new_tokens: int
    prompt_budget: int
    engine_check: EngineCheck = "off"
    review: ReviewConfig = ReviewConfig()
    thresholds_in_force: dict[str, InForce] = field(default_factory=dict)  # field -> threshold and its source
    special_tokens: tuple[str, ...] = ()  # the tokenizer's, neutralised in the OCR: review rebuilds prompts with them


def new_run_id() -> str:
    """UTC time + a random suffix: sorts by start time, unique across concurrent runs."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def plan_job(options: BackstampOptions, check_storage: bool = True) -> JobPlan:
    """Check input, output and model on the driver and fix every fact the graph needs.

    ``check_storage=False`` (a Dataflow ``--dry_run``, which must work offline) reads
    neither the input nor the model: no carried columns, and the model facts are
    placeholders (``OFFLINE_MODEL_VERSION``, GPT-J's context) — enough to build the graph.
    """
    if not options.input or not options.output:
        raise InputError("both --input and --output are required")
    columns = ColumnNames(id=options.id_column, front=options.front_column, back=options.back_column,
                          language=options.language_column)
    if check_storage:
        inputs = check_inputs(options.input, columns)
        if FileSystems.match([FileSystems.join(options.output, "manifest.json")])[0].metadata_list:
            raise InputError(f"{options.output}: already holds a finished run; choose a new --output")
        local_checkpoint = resolve_checkpoint(options.model, options.model_cache_dir)
        metadata, version = read_metadata(local_checkpoint), model_version(local_checkpoint)
        context = checkpoint_context_length(local_checkpoint)  # n_positions, max_position_embeddings, ...
        special = checkpoint_special_tokens(local_checkpoint)
    else:
        inputs = InputPlan(files=(), carried_schema=pa.schema([]))
        metadata, version, context, special = {}, OFFLINE_MODEL_VERSION, GPTJ_CONTEXT, ()
    max_new_tokens = options.max_new_tokens or metadata.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    if not 0 < max_new_tokens < context:  # else every record would be dead-lettered as prompt_error
        raise InputError(f"--max_new_tokens {max_new_tokens}: must be at least 1 and leave room for the prompt "
                         f"in the model's context of {context} tokens")
    # Training's rule and budget: a model with a long context (SmolLM2: 8,192) was trained on prompts cut
    # to the budget its backstamp.json records, and reads them best cut the same way.
    budget = prompt_budget(context, max_new_tokens, options.max_prompt_tokens or metadata.get("max_prompt_tokens"))
    in_force = thresholds_in_force(options, metadata)
    return JobPlan(
        run_id=options.run_id or new_run_id(),
        input=options.input,
        output=options.output.rstrip("/"),
        inputs=inputs,
        columns=columns,
        default_language=options.default_language,
        model_path=options.model,
        model_version=version,
        model_cache_dir=options.model_cache_dir,
        engine=EngineConfig(engine=options.engine, device=options.device, dtype=options.dtype,
                            kernel_inject=options.kernel_inject, allow_pickle_weights=options.allow_pickle_weights,
                            torch_threads=options.torch_threads, decode=options.decode,
                            decode_slots=options.decode_slots),
        batching=BatchingConfig(
            min_batch_size=options.min_batch_size, max_batch_size=options.max_batch_size,
            max_batch_weight=options.max_batch_weight, max_batch_duration_secs=options.max_batch_duration_secs,
            batch_bucket_boundaries=options.batch_bucket_boundaries),
        sharing=ModelSharing(large_model=options.large_model, model_copies=options.model_copies),
        max_new_tokens=max_new_tokens,
        prompt_budget=budget,
        engine_check=options.engine_check,
        review=review_config(options, in_force=in_force),
        thresholds_in_force=in_force,
        special_tokens=special,
    )


@dataclass(frozen=True)
class Rows:
    """The job's PCollections before anything is written, for a writer to store."""

    prompted: beam.PCollection  # every PromptedRecord, before ``select``
    records: beam.PCollection  # output rows (dicts, SPEC §5)
    dead_letters: beam.PCollection  # dead-letter rows (dicts), of every stage


@dataclass(frozen=True)
class Written:
    """File patterns of what a run wrote: the manifest counts the rows in their footers."""

    records: str
    dead_letter: str


def build_graph(pipeline: beam.Pipeline, plan: JobPlan) -> Written:
    """Add the job's transforms to ``pipeline``, writing ``OUTPUT/records/`` and ``OUTPUT/dead_letter/``."""
    return write_folders(build_rows(pipeline, plan), plan)


def build_rows(pipeline: beam.Pipeline, plan: JobPlan, select: Optional[beam.PTransform] = None) -> Rows:
    """Add the job's transforms up to the rows to write.

    ``select``, when given, filters the prompted records before inference: the backfill
    skips there what earlier runs did, since ``input_hash`` is known only once prompted.
    """
    # The model handler (Beam's inference package) loads torch; planning, backfill and latest must not.
    from pipeline.inference import GPTJModelHandler

    carried = [carried_name(name) for name in plan.inputs.carried_schema.names]
    # Batched read + our row conversion: Beam's own conversion crashes on invalid UTF-8 (pipeline/read.py).
    read = (
        pipeline
        | "Read" >> beam.io.ReadFromParquetBatched(plan.input, validate=False)
        | "ToRows" >> beam.ParDo(TableToRows(plan.columns, plan.run_id)).with_outputs(DEAD, main="rows")
    )
    validated = (
        read.rows
        | "Validate" >> beam.ParDo(ValidateRecords(plan.columns, plan.default_language, plan.run_id))
        .with_outputs(DEAD, main="valid")
    )
    deduped = (
        validated.valid
        | "KeyById" >> beam.Map(lambda record: (record.id, record))
        | "GroupById" >> beam.GroupByKey()
        | "KeepOnePerId" >> beam.ParDo(KeepOnePerId(plan.run_id)).with_outputs(DEAD, main="unique")
    )
    prompted = deduped.unique | "Prompt" >> beam.ParDo(
        BuildPrompts(plan.model_path, plan.prompt_budget, plan.run_id, plan.model_cache_dir)
    ).with_outputs(DEAD, main="prompted")
    handler = GPTJModelHandler(plan.model_path, plan.engine, plan.max_new_tokens, plan.batching, plan.sharing,
                               plan.model_cache_dir, plan.engine_check)
    to_generate = prompted.prompted if select is None else prompted.prompted | "Select" >> select
    parsed = (
        to_generate
        | "Generate" >> BatchedInference(handler)
        | "Parse" >> beam.ParDo(ParseGenerations(plan.run_id, plan.model_version, carried, plan.review))
        .with_outputs(DEAD, main="rows")
    )
    dead_letters = ((read[DEAD], validated[DEAD], deduped[DEAD], prompted[DEAD], parsed[DEAD])
                    | "AllDeadLetters" >> beam.Flatten())
    return Rows(prompted=prompted.prompted, records=parsed.rows, dead_letters=dead_letters)


def write_folders(rows: Rows, plan: JobPlan) -> Written:
    """The plain run's output (SPEC §5): ``OUTPUT/records/`` and ``OUTPUT/dead_letter/``."""
    rows.records | "WriteRecords" >> beam.io.WriteToParquet(
        FileSystems.join(plan.output, "records", "part"), output_schema(plan.inputs.carried_schema),
        file_name_suffix=".parquet")
    rows.dead_letters | "WriteDeadLetter" >> beam.io.WriteToParquet(
        FileSystems.join(plan.output, "dead_letter", "part"), DEAD_LETTER_SCHEMA, file_name_suffix=".parquet")
    return Written(records=FileSystems.join(plan.output, "records", "*.parquet"),
                   dead_letter=FileSystems.join(plan.output, "dead_letter", "*.parquet"))


def _counters(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    counts: dict[str, int] = {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        counts[counter.key.metric.name] = counts.get(counter.key.metric.name, 0) + int(value or 0)
    return counts


def run(argv: Sequence[str]) -> Manifest:
    """Run the job described by ``argv`` (our flags plus Beam's), write and return its manifest."""
    configure_redaction(argv)  # before Beam parses (and may log) the arguments
    pipeline_options = PipelineOptions(list(argv))
    plan = plan_job(pipeline_options.view_as(BackstampOptions))
    manifest = execute(pipeline_options, plan)
    write_json(FileSystems.join(plan.output, "manifest.json"), manifest.to_json())
    return manifest


def execute(pipeline_options: PipelineOptions, plan: JobPlan,
            graph: Callable[[beam.Pipeline, JobPlan], Written] = build_graph) -> Manifest:
    """Run the graph of ``plan`` and return the manifest of what ``graph`` wrote.

    The manifest is not saved here: the backfill adds ``graph`` (its own writer) and puts
    the manifest's figures in the catalogue commit instead.
    """
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    pipeline = beam.Pipeline(options=pipeline_options)
    written = graph(pipeline, plan)
    result = pipeline.run()
    result.wait_until_finish()
    counters = _counters(result)
    manifest = Manifest(
        run_id=plan.run_id, model_version=plan.model_version, input=plan.input, output=plan.output,
        started_at=started.isoformat(), finished_at=datetime.now(timezone.utc).isoformat(),
        wall_seconds=round(time.monotonic() - clock, 3),
        records_read=counters.get("records_read", 0),
        records_written=count_parquet_rows(written.records),
        records_dead_lettered=count_parquet_rows(written.dead_letter),
        records_skipped=counters.get("records_skipped", 0),
        parse_status={s: counters.get(f"parse_{s}", 0) for s in STATUSES},
        review=review_counts(counters),
        dead_letter_reasons={k.removeprefix("dead_"): v for k, v in sorted(counters.items())
                             if k.startswith("dead_")},
        prompt_tokens=counters.get("prompt_tokens", 0), output_tokens=counters.get("output_tokens", 0),
        truncated=counters.get("prompts_truncated", 0),
        options=redact_options(pipeline_options.get_all_options(drop_default=True)),
        extra={"batch_splits": counters.get("batch_splits", 0), "max_new_tokens": plan.max_new_tokens,
               "prompt_budget": plan.prompt_budget, "engine": plan.engine.engine,
               "padding_fraction": padding_fraction(counters),
               "special_tokens": list(plan.special_tokens),
               "decode_slots": plan.engine.decode_slots,
               "decode_steps": counters.get("decode_steps", 0),
               "decode_row_steps": counters.get("decode_row_steps", 0),
               "review_thresholds": {name: t.as_json() for name, t in plan.thresholds_in_force.items()},
               "review_rules": plan.review.in_force(),
               "batches_by_engine": {k.removeprefix("batches_"): v for k, v in sorted(counters.items())
                                     if k.startswith("batches_")}},
    )
    return manifest


def padding_fraction(counters: dict[str, int]) -> float:
    """Share of the prompt-tensor slots that generate spent on left padding (0 when nothing ran)."""
    slots = counters.get("batch_prompt_slots", 0)
    return round(counters.get("batch_padding_slots", 0) / slots, 4) if slots else 0.0


def thresholds_in_force(options: BackstampOptions, metadata: Optional[dict] = None) -> dict[str, InForce]:
    """Each review threshold and its source (``formats.thresholds``: option > ``--review_config`` >
    the checkpoint's ``backstamp.json`` ``"review"`` > default); a bad file stops the job before any work."""
    config_file = checkpoint = None
    try:
        if options.review_config:
            where = f"--review_config {options.review_config}"
            try:
                with FileSystems.open(options.review_config) as handle:
                    loaded = json.load(handle)
            except (OSError, ValueError) as error:  # missing, unreadable or not JSON
                raise InputError(f"{where}: cannot read it ({type(error).__name__}: {error})") from None
            config_file = read_document(loaded, where)
        if (metadata or {}).get("review") is not None:
            checkpoint = read_document(metadata["review"], 'the checkpoint\'s backstamp.json "review"')
    except ThresholdsError as error:
        raise InputError(str(error)) from error
    return resolve(ReviewConfig().thresholds,
                   {name: getattr(options, f"review_threshold_{name}") for name in THRESHOLD_FIELDS},
                   config_file, checkpoint)


def review_config(options: BackstampOptions, metadata: Optional[dict] = None,
                  in_force: Optional[dict[str, InForce]] = None) -> ReviewConfig:
    """The review options (SPEC §5b), from ``in_force`` when already resolved; an out-of-range
    threshold stops the job before any work."""
    in_force = thresholds_in_force(options, metadata) if in_force is None else in_force
    try:
        return ReviewConfig(thresholds={name: t.threshold for name, t in in_force.items()},
                            evidence_threshold=options.evidence_threshold)
    except ValueError as error:
        raise InputError(str(error)) from error


def review_summary(review: dict) -> list[str]:
    """Summary lines: records and fields sent to review, by reason (SPEC §5b)."""
    if not review:
        return []
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(review["by_reason"].items(), key=lambda kv: -kv[1]))
    return [f"  sent to review        {review['records']} records, {review['fields']} fields"
            + (f" ({', '.join(f'{k}: {v}' for k, v in review['by_field'].items())})" if review["by_field"] else ""),
            f"  review reasons        {reasons or 'none'}"]


def format_summary(manifest: Manifest) -> str:
    rate = manifest.records_read / manifest.wall_seconds if manifest.wall_seconds else 0.0
    lines = [
        f"Backstamp run {manifest.run_id} ({manifest.model_version})",
        f"  records read          {manifest.records_read}",
        f"  records written       {manifest.records_written}",
        f"  records dead-lettered {manifest.records_dead_lettered}"
        + (f"  ({', '.join(f'{k}: {v}' for k, v in manifest.dead_letter_reasons.items())})"
           if manifest.dead_letter_reasons else ""),
        f"  records skipped       {manifest.records_skipped} (done by an earlier run)",
        "  parse status          " + ", ".join(f"{k}: {v}" for k, v in manifest.parse_status.items()),
        f"  prompts truncated     {manifest.truncated}",
        *review_summary(manifest.review),
        f"  tokens                prompt {manifest.prompt_tokens}, generated {manifest.output_tokens}",
        f"  batches               {manifest.extra.get('batches_by_engine', {})}, padding "
        f"{manifest.extra.get('padding_fraction', 0.0):.1%} of prompt slots, {manifest.extra.get('batch_splits', 0)}"
        f" splits",
        f"  wall time             {manifest.wall_seconds:.1f} s ({rate:.2f} records/s)",
        f"  count invariant       {'holds' if manifest.count_invariant_holds else 'BROKEN'}"
        f" (read = written + dead-lettered + skipped)",
        f"  output                {manifest.output}",
    ]
    return "\n".join(lines)


@redacted_cli
def main(argv: Sequence[str]) -> int:
    try:
        manifest = run(argv)
    except (InputError, FileNotFoundError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2
    print(redact(format_summary(manifest)))
    return 0 if manifest.count_invariant_holds else 1
