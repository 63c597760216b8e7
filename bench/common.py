"""What the CPU benchmarks share: the records, the prompts, the batching strategies and the timed loop.

Prompts are built by the job's own ``ValidateRecords``/``BuildPrompts`` code and batch plans
for "ours" come from running Beam's ``SortAndBatchElements`` (through ``BatchedInference``'s
settings), so the benchmark measures the pipeline's choices, not a re-implementation.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import apache_beam as beam
import pyarrow.parquet as pq
import torch
from apache_beam.transforms.util import SortAndBatchElements

from bench.generate_loop import decode_slot_use, generate_slot_steps
from model.engines import Engine, EngineConfig
from model.generation import Generation
from formats.elements import PromptedRecord
from formats.prompt import prompt_budget
from model.checkpoint import checkpoint_context_length, read_metadata
from pipeline.batching import BatchingConfig
from pipeline.inference import GPTJModelHandler
from formats.records import ColumnNames, ValidRecord, validate_row
from pipeline.transforms import BuildPrompts

Plan = list[list[PromptedRecord]]


def cpu_machine() -> dict:
    """The machine a CPU figure was measured on, taken when the run ends (load shows sharing)."""
    return {"cpu": platform.processor() or platform.machine(), "cores_usable": len(os.sched_getaffinity(0)),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "load_average_at_end": os.getloadavg(),
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def synthetic_records(n: int, seed: int, folder: Path, tail_alpha: float | None = 1.2) -> Path:
    """``n`` records from the project's seeded generator (train/synthetic.py), as the job's input Parquet.

    Real archive backs range from a bare stamp to a typed page of notes, so the OCR length
    is made heavy-tailed: each record's back gets ``Pareto(tail_alpha) - 1`` extra lines
    (median ~0.8, one in ten ≥ 5, a few dozen), drawn from other records' backs. Long
    records are then cut to the prompt budget by the job's own truncation rule.
    ``tail_alpha=None``: the generator's typical lengths, no extra lines.
    """
    import random

    import pyarrow as pa
    from train.synthetic import write_split

    records, _labels = write_split(folder, n, seed, split="heldout")
    if tail_alpha is None:
        return records
    table = pq.read_table(records)
    backs = table.column("back_ocr").to_pylist()
    pool = [line for back in backs for line in (back or [])]
    rng = random.Random(seed)
    longer = [(back or []) + rng.sample(pool, min(len(pool), int(rng.paretovariate(tail_alpha)) - 1))
              for back in backs]
    index = table.schema.get_field_index("back_ocr")
    table = table.set_column(index, "back_ocr", pa.array(longer, type=table.schema.field("back_ocr").type))
    pq.write_table(table, records)
    return records


def job_prompt_budget(checkpoint: str, max_new_tokens: int) -> int:
    """The prompt budget the job gives ``checkpoint`` (pipeline/job.py): its context from whichever config
    field the architecture has, less ``max_new_tokens``, capped by the budget training recorded."""
    return prompt_budget(checkpoint_context_length(checkpoint), max_new_tokens,
                         read_metadata(checkpoint).get("max_prompt_tokens"))


def prompted(records_parquet: Path, model_path: str, prompt_budget: int) -> list[PromptedRecord]:
    """The job's validate + prompt steps over a Parquet file, in file order."""
    builder = BuildPrompts(model_path, prompt_budget, run_id="bench")
    builder.setup()
    out = []
    for row in pq.read_table(records_parquet).to_pylist():
        valid = validate_row(row, ColumnNames(), "en")
        if isinstance(valid, ValidRecord):
            out.extend(r for r in builder.process(valid) if isinstance(r, PromptedRecord))
    return out


def one_per_call(records: Sequence[PromptedRecord]) -> Plan:
    """(a) the original approach: one record per generate call."""
    return [[record] for record in records]


def fixed_count(records: Sequence[PromptedRecord], size: int = 32) -> Plan:
    """(b) RunInference's default: fixed-count batches in arrival order, blind to length."""
    return [list(records[i:i + size]) for i in range(0, len(records), size)]


def token_batches(records: Sequence[PromptedRecord], batching: BatchingConfig, max_new_tokens: int) -> Plan:
    """(c) ours: the batches Beam's ``SortAndBatchElements`` forms with the job's weights."""
    handler = GPTJModelHandler("unused", EngineConfig(), max_new_tokens, batching)
    by_id = {record.id: record for record in records}
    with tempfile.TemporaryDirectory() as folder:
        with beam.Pipeline() as pipeline:
            (pipeline
             | beam.Create(list(records))
             | SortAndBatchElements(min_batch_size=1, max_batch_size=batching.max_batch_size,
                                    max_batch_weight=batching.max_batch_weight,
                                    element_size_fn=handler.element_weight)
             | beam.Map(lambda batch: json.dumps([record.id for record in batch]))
             | beam.io.WriteToText(f"{folder}/plan", shard_name_template=""))
        return [[by_id[i] for i in json.loads(line)] for line in Path(f"{folder}/plan").read_text().splitlines()]


@dataclass
class LoopResult:
    strategy: str
    records: int
    batches: int
    seconds: float
    records_per_s: float
    new_tokens: int
    new_tokens_per_s: float
    padding_fraction: float
    padding_slots: int
    prompt_slots: int
    decode_slot_steps: int = 0
    slot_use: float = 1.0


def run_plan(strategy: str, plan: Plan, engine: Engine, max_new_tokens: int) -> tuple[LoopResult, dict[str, Generation]]:
    """Generate every batch of ``plan``; time only the generate calls (the model loop).

    Decode slots: the job's loop counts them (``Decoder.counts``); an engine without a decoder
    runs ``generate`` (bench/generate_loop.py), which computes every row until its batch's longest ends.
    """
    outputs: dict[str, Generation] = {}
    slots = padding = 0
    per_batch = []
    decoder = getattr(engine, "decoder", None)
    slots_before = decoder.counts.slot_steps if decoder else 0
    start = time.perf_counter()
    for batch in plan:
        generations = engine.generate([record.input_ids for record in batch], max_new_tokens)
        per_batch.append(generations)
        outputs.update({record.id: g for record, g in zip(batch, generations)})
        lengths = [len(record.input_ids) for record in batch]
        slots += len(lengths) * max(lengths)
        padding += len(lengths) * max(lengths) - sum(lengths)
    seconds = time.perf_counter() - start
    new_tokens = sum(g.output_tokens for g in outputs.values())
    slot_steps = decoder.counts.slot_steps - slots_before if decoder else generate_slot_steps(per_batch)
    return LoopResult(strategy, len(outputs), len(plan), round(seconds, 3), round(len(outputs) / seconds, 3),
                      new_tokens, round(new_tokens / seconds, 1), round(padding / slots, 4), padding, slots,
                      slot_steps, decode_slot_use(outputs.values(), slot_steps)), outputs


def chunks_of(records: Sequence[PromptedRecord], trials: int) -> list[Sequence[PromptedRecord]]:
    """``records`` cut into ``trials`` consecutive chunks (the last may be shorter)."""
    size = -(-len(records) // trials)
    return [records[i:i + size] for i in range(0, len(records), size)]


def interleaved(chunks: int, runs: Mapping[str, Callable[[int], tuple[Plan, Engine]]], max_new_tokens: int,
                label: str = "") -> tuple[dict[str, list[LoopResult]], dict[str, dict[str, Generation]]]:
    """Run every named strategy on each of ``chunks`` chunks (``runs[name](index)`` gives its plan
    of that chunk and its engine), side by side: the order rotates by chunk, so none always runs
    first or last on a machine whose speed drifts. Per name: one ``LoopResult`` per chunk, and
    every record's generation."""
    names = list(runs)
    results: dict[str, list[LoopResult]] = {name: [] for name in names}
    outputs: dict[str, dict[str, Generation]] = {name: {} for name in names}
    for index in range(chunks):
        for name in names[index % len(names):] + names[:index % len(names)]:
            plan, engine = runs[name](index)
            result, generated = run_plan(name, plan, engine, max_new_tokens)
            results[name].append(result)
            outputs[name].update(generated)
            print(f"{label} chunk {index}: {result}".strip(), flush=True)
    return results, outputs


def engines_side_by_side(records: Sequence[PromptedRecord], engines: Mapping[str, Engine], trials: int,
                         max_new_tokens: int, label: str = "",
                         planners: Mapping[str, Callable[[Sequence[PromptedRecord]], Plan]] | None = None
                         ) -> tuple[dict[str, list[LoopResult]], dict[str, dict[str, Generation]]]:
    """``interleaved`` for engines compared on the same chunks: each chunk is planned once per planner
    (``planners[name]``, default the job's own token batches) and every engine runs its plan of the chunk."""
    def job_batches(chunk: Sequence[PromptedRecord]) -> Plan:
        return token_batches(chunk, BatchingConfig(), max_new_tokens)

    chosen = {name: (planners or {}).get(name, job_batches) for name in engines}
    chunks = chunks_of(records, trials)
    plans = {planner: [planner(chunk) for chunk in chunks] for planner in set(chosen.values())}
    runs = {name: (lambda index, engine=engine, planner=chosen[name]: (plans[planner][index], engine))
            for name, engine in engines.items()}
    return interleaved(len(chunks), runs, max_new_tokens, label)


def length_stats(records: Sequence[PromptedRecord]) -> dict[str, float]:
    lengths = sorted(len(r.input_ids) for r in records)
    pick = lambda q: lengths[min(len(lengths) - 1, int(q * len(lengths)))]  # noqa: E731
    return {"min": lengths[0], "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": lengths[-1],
            "mean": round(statistics.fmean(lengths), 1)}

