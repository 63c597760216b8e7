"""Fine-tune a causal LM (GPT-J first) or train a LoRA adapter, with DeepSpeed: ``python -m train ...``
or ``deepspeed --module train ...``.

``train()`` reads top to bottom: set up, build tokenizer / data / model / engine, resume if
asked, loop (step, log, evaluate, checkpoint, stop), export and evaluate the export. The
parts live in their own modules: ``train.args`` (arguments), ``train.data`` (examples and
the deterministic, skippable batch stream), ``train.modeling`` (tokenizer and model),
``train.optim`` (precision, DeepSpeed config, optimizer, LR schedule), ``train.evaluation``
and ``train.checkpointing`` (resume checkpoints, retention, export).

DeepSpeed is the engine on CPU and GPU: the model, a client AdamW (unless the DeepSpeed
config names an optimizer, e.g. FusedAdam or CPU-offloaded Adam on GPU) and the schedule go
through ``deepspeed.initialize``; ``"auto"`` values in its config are filled from the
arguments, as HF's Trainer does.

What it does better than HF ``run_clm`` on a ``text`` column (see ``train/data.py``): one
example per sequence, loss on the completion only, length-bucketed batches, the tags as
non-special added tokens (on GPT-J-6B's tokenizer they take spare embedding rows, so the
6,050,882,784-parameter model is not resized), evaluation with the pipeline's own
generation and parser, and a checkpoint the pipeline loads (safetensors, tokenizer,
``backstamp.json`` with ``max_new_tokens``, ``eval.json``).

A run can span several sittings: ``--save_steps``/``--save_minutes`` write resume
checkpoints (the last ``--save_total_limit`` are kept) and ``--resume latest`` continues
with the same weights, optimizer, schedule, data position and RNG, so the resumed losses
are those of an uninterrupted run.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # ``deepspeed train/finetune.py``: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from model.distributed import single_process_env
from model.checkpoint import context_length
from model.loading import DTYPES, resolve_device
from train.args import REPO_ROOT, DataArguments, ModelArguments, TrainArguments, parse_args
from train.checkpointing import (Preemption, Progress, RunLog, Stopwatch, adapter_fields, check_same_run,
                                 continued_from, export_adapter, export_model, find_checkpoint, load_resume_checkpoint,
                                 read_saved_run, save_resume_checkpoint)
from train.data import (Encoder, Sample, choose_max_new_tokens, completion_token_stats, iterate_batches,
                        lengths_summary, read_samples, synthetic_samples)
from train.evaluation import brief, evaluate, final_evaluation, meets_targets
from train.modeling import base_folder, build_model, count_parameters, load_or_build_tokenizer
from train.optim import Schedule, deepspeed_optimisation, fill_deepspeed_config, resolve_precision

logger = logging.getLogger("train")


def setup_environment(train_args: TrainArguments) -> None:
    """Single-process defaults outside the launcher, the project's extension cache, threads, seeds."""
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO_ROOT / ".cache" / "torch_extensions"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    single_process_env()
    if train_args.torch_threads > 0:
        torch.set_num_threads(train_args.torch_threads)
    random.seed(train_args.seed)
    np.random.seed(train_args.seed)
    torch.manual_seed(train_args.seed)


def prepare_samples(data_args: DataArguments) -> tuple[list[Sample], list[Sample]]:
    """Training and validation samples, in a fixed order (the data position counts into it)."""
    train: list[Sample] = []
    if data_args.train_file:
        train += read_samples(data_args.train_file, data_args.train_labels_file, data_args.default_language)
    if data_args.reviewed_file:
        train += read_samples(data_args.reviewed_file, None, data_args.default_language) * data_args.reviewed_weight
    if data_args.synthetic_train_examples:
        train += synthetic_samples(data_args.synthetic_train_examples, data_args.synthetic_seed, "train",
                                   uncued_credits=data_args.synthetic_uncued_credits)
    validation: list[Sample] = []
    if data_args.validation_file:
        validation += read_samples(data_args.validation_file, data_args.validation_labels_file,
                                   data_args.default_language)
    if data_args.synthetic_validation_examples:
        validation += synthetic_samples(data_args.synthetic_validation_examples, data_args.synthetic_validation_seed,
                                        "heldout")
    return train, validation


def reviewed_records(data_args: DataArguments) -> int:
    """How many reviewed records (people's decisions, ``--reviewed_file``) the model is trained on."""
    import pyarrow.parquet as pq

    return pq.read_metadata(data_args.reviewed_file).num_rows if data_args.reviewed_file else 0


def review_thresholds(output_dir: Path, encoder: Encoder, data_args: DataArguments, validation: Sequence[Sample],
                      max_new_tokens: int, batch_size: int) -> dict[str, Any]:
    """Review thresholds chosen on the synthetic held-out part of the validation records, with the export
    loaded as the job loads it."""
    from model.loading import load_model, load_tokenizer
    from train.thresholds import choose_thresholds

    held_out = validation[-data_args.synthetic_validation_examples:]
    tokenizer = load_tokenizer(str(output_dir))
    model = load_model(str(output_dir), device="cuda" if torch.cuda.is_available() else "cpu")
    return choose_thresholds(model, tokenizer, encoder, held_out, max_new_tokens, batch_size,
                             f"synthetic held-out split, seed {data_args.synthetic_validation_seed}, "
                             f"{len(held_out)} records")


def data_mix(data_args: DataArguments, n_train_file: int, n_synthetic: int) -> dict[str, Any]:
    """What the model was trained and validated on, for ``backstamp.json``."""
    n_reviewed = reviewed_records(data_args)
    return {"train_file": data_args.train_file,
            "train_file_examples": n_train_file - n_reviewed * data_args.reviewed_weight,
            "reviewed_file": data_args.reviewed_file, "reviewed_records": n_reviewed,
            "reviewed_weight": data_args.reviewed_weight,
            "synthetic_examples": n_synthetic, "synthetic_seed": data_args.synthetic_seed,
            "synthetic_uncued_credits": data_args.synthetic_uncued_credits,
            "validation_file": data_args.validation_file,
            "synthetic_validation_examples": data_args.synthetic_validation_examples,
            "synthetic_validation_seed": data_args.synthetic_validation_seed}


def _agree(flag: bool) -> bool:
    """Rank 0's decision on every rank: stopping and saving are collective, and clocks and scores differ by rank."""
    if int(os.environ.get("WORLD_SIZE", 1)) == 1:
        return flag
    import deepspeed.comm as dist

    value = torch.tensor([int(flag)], device=torch.device("cuda") if torch.cuda.is_available() else None)
    dist.broadcast(value, 0)
    return bool(value.item())


def train(model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments,
          command: Sequence[str] | None = None) -> dict[str, Any]:
    """Train (or continue training) and export; ``command``, as typed, goes into ``backstamp.json``."""
    import deepspeed

    # -- setup -----------------------------------------------------------------------------
    sitting = time.monotonic()
    setup_environment(train_args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    device = resolve_device("auto")
    precision, train_dtype = resolve_precision(train_args.precision, device)
    save_dtype = train_dtype if train_args.save_dtype == "auto" else DTYPES[train_args.save_dtype]
    deepspeed.init_distributed(dist_backend=None if torch.cuda.is_available() else "gloo")
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    is_main = rank == 0
    output_dir = Path(train_args.output_dir)
    checkpoint_dir = train_args.resume_checkpoint_dir()
    run_args = {"model": asdict(model_args), "data": asdict(data_args), "train": asdict(train_args)}

    # A resume is checked against the saved arguments before anything expensive is built.
    resume_from = find_checkpoint(train_args.resume, checkpoint_dir) if train_args.resume else None
    saved_run = read_saved_run(resume_from) if resume_from else None
    if saved_run is not None:
        check_same_run(saved_run, run_args)

    # -- tokenizer, data, model ------------------------------------------------------------
    base = base_folder(model_args)
    tokenizer = load_or_build_tokenizer(model_args, base, saved=resume_from / "tokenizer" if resume_from else None)
    model = build_model(model_args, tokenizer, base)  # fp32; DeepSpeed casts it for fp16/bf16 training
    lora = model_args.trains_adapter
    n_positions = context_length(model.config.to_dict())
    max_length = min(data_args.max_length or n_positions, n_positions)

    train_samples, validation_samples = prepare_samples(data_args)
    stats = completion_token_stats(Encoder(tokenizer, max_length), train_samples)
    max_new_tokens = data_args.max_new_tokens or choose_max_new_tokens(stats)
    encoder = Encoder(tokenizer, max_length, max_new_tokens, data_args.max_prompt_tokens)
    # What the job needs to read the export: generation limits, context, and for an adapter its base.
    checkpoint_fields: dict[str, Any] = {"max_new_tokens": max_new_tokens, "max_prompt_tokens": encoder.prompt_budget(),
                                         "context_length": n_positions}
    if lora:
        checkpoint_fields.update(adapter_fields(model_args, base, model))
    examples = encoder.encode_all(train_samples)
    summary = lengths_summary(examples)
    if is_main:
        logger.info("model: %s parameters (%s trained), vocab %d (tokenizer %d), context %d",
                    f"{count_parameters(model):,}", f"{count_parameters(model, trainable_only=True):,}",
                    model.config.vocab_size, len(tokenizer), n_positions)
        logger.info("train examples: %s; completion tokens %s; max_new_tokens %d; prompt budget %d",
                    summary, stats, max_new_tokens, encoder.prompt_budget())

    # -- steps, DeepSpeed engine, schedule -------------------------------------------------
    batches_per_epoch = math.ceil(len(examples) / (train_args.per_device_train_batch_size * world_size))
    steps_per_epoch = max(1, batches_per_epoch // train_args.gradient_accumulation_steps)
    total_steps = (train_args.max_steps if train_args.max_steps > 0
                   else math.ceil(steps_per_epoch * train_args.num_train_epochs))
    epochs = (total_steps * train_args.gradient_accumulation_steps * train_args.per_device_train_batch_size
              * world_size) / max(1, len(examples))
    with open(train_args.deepspeed, encoding="utf-8") as handle:
        ds_config = fill_deepspeed_config(json.load(handle), train_args, precision, total_steps, world_size)
    zero_stage = int(ds_config.get("zero_optimization", {}).get("stage", 0))
    if lora and zero_stage == 3:  # PEFT would save the partitioned (empty) adapter tensors of this rank
        raise ValueError(f"--lora_r with ZeRO stage 3 ({train_args.deepspeed}): use a stage 0-2 config such as "
                         "configs/ds_config_gptj.json; the frozen base needs no optimizer state to partition")
    schedule = Schedule(total_steps, train_args.warmup_steps, train_args.lr_scheduler_type, train_args.min_lr_ratio,
                        train_args.max_train_minutes * 60 if train_args.schedule_by_time else 0.0)
    engine, _, _, _ = deepspeed.initialize(model=model, config=ds_config,
                                           **deepspeed_optimisation(model, ds_config, train_args, schedule))

    # -- resume: weights, optimizer, schedule, data position, RNG --------------------------
    progress = Progress()
    if resume_from:
        check_same_run(saved_run, run_args, ds_config)
        progress = load_resume_checkpoint(engine, resume_from, rank, lora)
        progress.sittings += 1
    progress.commands.append(" ".join(command) if command else "train(...)")
    log = RunLog(output_dir / "training_log.jsonl", is_main, progress.step if resume_from else None)
    if resume_from:
        log({"resume": str(resume_from), "resume_step": progress.step, "sitting": progress.sittings})
    wall = Stopwatch(progress.wall_seconds + (time.monotonic() - sitting))  # this sitting's setup counts too
    clock = Stopwatch(progress.train_seconds)  # training time over all sittings: the time schedule's input

    def run_evaluation() -> dict[str, Any] | None:
        if not validation_samples or (zero_stage != 3 and not is_main):
            return None
        started = time.monotonic()
        scores, _ = evaluate(engine.module, tokenizer, encoder,
                             validation_samples[: train_args.eval_examples_during_training], max_new_tokens,
                             train_args.per_device_eval_batch_size)
        record = {"eval_step": progress.step, "minutes": round(clock.seconds() / 60, 2),
                  "eval_s": round(time.monotonic() - started, 1), **brief(scores)}
        progress.evaluations.append(record)
        log(record)
        return scores

    def checkpoint() -> Path:
        progress.train_seconds, progress.wall_seconds = clock.seconds(), wall.seconds()
        progress.last_save_seconds = progress.train_seconds
        return save_resume_checkpoint(engine, checkpoint_dir, progress, run_args, ds_config, tokenizer,
                                      train_args.save_total_limit, rank, checkpoint_fields if lora else None)

    # -- the loop ----------------------------------------------------------------------------
    engine.train()
    stopped_by = None
    batches = iterate_batches(examples, train_args.per_device_train_batch_size, tokenizer.pad_token_id,
                              train_args.seed, epochs=max(epochs, 1e-9), rank=rank, world_size=world_size,
                              skip=progress.micro_batches * world_size)
    with Preemption() as preemption:
        for batch in batches:
            batch = {k: v.to(engine.device) for k, v in batch.items()}
            schedule.elapsed_s = clock.seconds()
            loss = engine(**batch).loss
            engine.backward(loss)
            engine.step()
            progress.micro_batches += 1
            progress.running_loss += loss.item()
            progress.running_n += 1
            progress.tokens_seen += int(batch["attention_mask"].sum())
            if progress.micro_batches % train_args.gradient_accumulation_steps:
                continue
            progress.step += 1
            step, elapsed = progress.step, clock.seconds()

            if step % train_args.logging_steps == 0 or step == 1:
                log({"step": step, "loss": progress.running_loss / progress.running_n, "lr": engine.get_lr()[0],
                     "minutes": round(elapsed / 60, 2),
                     "tokens_per_s": round(progress.tokens_seen * world_size / elapsed, 1)})
                progress.running_loss, progress.running_n = 0.0, 0

            eval_due = (train_args.eval_steps and step % train_args.eval_steps == 0) or _agree(bool(
                train_args.eval_minutes and elapsed - progress.last_eval_seconds >= train_args.eval_minutes * 60))
            if eval_due and step < total_steps:
                scores = run_evaluation()
                progress.last_eval_seconds = clock.seconds()
                if train_args.stop_at_targets and _agree(scores is not None and meets_targets(scores)):
                    stopped_by = "targets"
            if stopped_by is None and step >= total_steps:
                stopped_by = "steps"
            if stopped_by is None and train_args.max_train_minutes and _agree(
                    elapsed >= train_args.max_train_minutes * 60):
                stopped_by = "time"
            if stopped_by:
                break

            sitting_over = _agree(preemption.requested or bool(
                train_args.sitting_minutes and time.monotonic() - sitting >= train_args.sitting_minutes * 60))
            save_due = sitting_over or (train_args.save_steps and step % train_args.save_steps == 0) or _agree(
                bool(train_args.save_minutes and elapsed - progress.last_save_seconds >= train_args.save_minutes * 60))
            if save_due:
                saved = checkpoint()
            if sitting_over:
                log({"step": step, "stopped_by": "sitting", "checkpoint": str(saved)})
                return {"steps": step, "stopped_by": "sitting", "checkpoint": str(saved)}
    stopped_by = stopped_by or "steps"  # the data ran out
    train_s = clock.seconds()
    log({"step": progress.step, "stopped_by": stopped_by, "train_minutes": round(train_s / 60, 2)})

    # -- export, then evaluate the export exactly as the pipeline loads it ------------------
    if lora:
        export_adapter(engine.module, tokenizer, output_dir, checkpoint_fields, is_main)
    else:
        export_model(engine, engine.module, tokenizer, output_dir, save_dtype, zero_stage, is_main)
    result: dict[str, Any] = {"steps": progress.step, "train_minutes": round(train_s / 60, 2),
                              "stopped_by": stopped_by}
    if not is_main:
        return result
    result.update(final_evaluation(output_dir, encoder, validation_samples, max_new_tokens,
                                   train_args.per_device_eval_batch_size,
                                   engine.module if save_dtype != train_dtype else None))
    if data_args.synthetic_validation_examples:  # thresholds that travel with the checkpoint (train/thresholds.py)
        checkpoint_fields["review"] = review_thresholds(output_dir, encoder, data_args, validation_samples,
                                                        max_new_tokens, train_args.per_device_eval_batch_size)
    from model.checkpoint import write_metadata

    wall_minutes = round(wall.seconds() / 60, 2)
    n_synthetic = data_args.synthetic_train_examples
    write_metadata(output_dir, {
        **checkpoint_fields,
        "completion_tokens": stats,
        "training": {
            "commands": progress.commands,  # one per sitting
            "args": run_args,
            "deepspeed_config": ds_config,
            "precision": precision,
            "parameters": count_parameters(engine.module),
            "trained_parameters": count_parameters(engine.module, trainable_only=True),
            "examples": summary,
            "data_mix": data_mix(data_args, len(train_samples) - n_synthetic, n_synthetic),
            "optimizer_steps": progress.step,
            "epochs": round(min(epochs, progress.step / max(1, steps_per_epoch)), 3),
            "stopped_by": stopped_by,
            "sittings": progress.sittings,
            "train_minutes": round(train_s / 60, 2),
            "wall_minutes": wall_minutes,
            "world_size": world_size,
            "device": str(engine.device),
            "torch_threads": torch.get_num_threads(),
            "synthetic_seed": data_args.synthetic_seed,
            "synthetic_validation_seed": data_args.synthetic_validation_seed,
            "evaluations": progress.evaluations,
            "continued_from": continued_from(model_args.adapter_name_or_path) if model_args.adapter_name_or_path
            else None,
        },
    })
    result["wall_minutes"] = wall_minutes
    log({"done": True, **{k: v for k, v in result.items() if k != "scores"}})
    return result


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, train_args = parse_args(argv)
    result = train(model_args, data_args, train_args, command=["python -m train", *argv])
    if result.get("stopped_by") == "sitting":
        print(json.dumps({"stopped_by": "sitting", "checkpoint": result["checkpoint"],
                          "continue_with": "the same command plus --resume latest"}))
    elif "summary" in result:
        print(json.dumps({"summary": result["summary"], "meets_targets": result["meets_targets"],
                          "wall_minutes": result.get("wall_minutes")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
