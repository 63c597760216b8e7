"""Resume checkpoints, retention, the training log across sittings, and the exported model.

A resume checkpoint is one folder per optimizer step, ``CHECKPOINT_DIR/step00001200/``:

* DeepSpeed's ``engine.save_checkpoint`` files: weights, optimizer (ZeRO partitions),
  LR scheduler (the ``Schedule``'s numbers, its training time included);
* ``progress.json``: where the loop stands (step, micro-batches consumed = the data
  position, training and wall seconds summed over sittings, evaluations so far) and the
  run's arguments and DeepSpeed config, so a resume with arguments that would change the
  steps is refused before anything is built;
* ``rng_state_<rank>.pt``: python, numpy and torch (CPU and CUDA) generator states;
* ``tokenizer/``: the tokenizer the weights were trained with;
* with ``--lora_r``: ``adapter/``, a complete adapter folder the job loads as it is — so the
  adapters of a run's checkpoints give its learning curve — and DeepSpeed saves only the trained
  parameters (``exclude_frozen_parameters``): the frozen base is never copied.

Our files are written before DeepSpeed's, and DeepSpeed writes ``CHECKPOINT_DIR/latest`` last,
so ``--resume latest`` never names a half-written checkpoint. After each save the oldest
folders beyond ``--save_total_limit`` are deleted.

The export (``export_model``) is a ``save_pretrained`` folder the pipeline loads, or for LoRA
(``export_adapter``) an adapter folder whose ``backstamp.json`` names its base (``model.adapters``).
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from train.args import RESUMABLE_CHANGES

logger = logging.getLogger("train")
PROGRESS_FILE = "progress.json"
LATEST_FILE = "latest"  # written by DeepSpeed's save_checkpoint
_TAG = re.compile(r"step(\d{8,})")


@dataclass
class Progress:
    """Where the run stands; saved with every resume checkpoint and restored from it."""

    step: int = 0                 # optimizer steps done
    micro_batches: int = 0        # batches this rank trained on: the data position
    tokens_seen: int = 0          # this rank's tokens, padding excluded
    train_seconds: float = 0.0    # time in the training loop, summed over sittings (drives --schedule_by_time)
    wall_seconds: float = 0.0     # setup + training, summed over sittings, each up to its last checkpoint
    last_eval_seconds: float = 0.0
    last_save_seconds: float = 0.0
    running_loss: float = 0.0     # loss sum since the last log line
    running_n: int = 0
    sittings: int = 1
    commands: list[str] = field(default_factory=list)  # the command of each sitting
    evaluations: list[dict[str, Any]] = field(default_factory=list)


class Stopwatch:
    """Seconds since it started plus ``offset``: the time earlier sittings already spent."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset
        self.start = time.monotonic()

    def seconds(self) -> float:
        return self.offset + time.monotonic() - self.start


def checkpoint_tag(step: int) -> str:
    return f"step{step:08d}"


def find_checkpoint(resume: str, checkpoint_dir: Path) -> Path:
    """The folder ``--resume`` names: ``latest`` in ``checkpoint_dir``, or a given checkpoint folder."""
    if resume == "latest":
        latest = checkpoint_dir / LATEST_FILE
        if not latest.is_file():
            raise FileNotFoundError(f"--resume latest: no checkpoint in {checkpoint_dir} (no {LATEST_FILE} file); "
                                    "start the run without --resume")
        path = checkpoint_dir / latest.read_text(encoding="utf-8").strip()
    else:
        path = Path(resume)
    if not (path / PROGRESS_FILE).is_file():
        raise FileNotFoundError(f"--resume {resume}: {path} is not a resume checkpoint (no {PROGRESS_FILE})")
    return path


def read_saved_run(path: Path) -> dict[str, Any]:
    return json.loads((path / PROGRESS_FILE).read_text(encoding="utf-8"))


def check_same_run(saved: Mapping[str, Any], run_args: Mapping[str, Mapping[str, Any]],
                   ds_config: Mapping[str, Any] | None = None) -> None:
    """Refuse to resume with arguments (or a DeepSpeed config) that would change the sequence of steps.

    An argument the saved run does not know (added to ``train.args`` after it started) matches at
    its default, which by convention leaves training as it was.
    """
    from train.args import DataArguments, ModelArguments, TrainArguments

    defaults = {"model": asdict(ModelArguments()), "data": asdict(DataArguments()), "train": asdict(TrainArguments())}
    differences = []
    for group, values in run_args.items():
        for name, value in values.items():
            saved_group = saved["args"].get(group, {})
            before = saved_group[name] if name in saved_group else defaults.get(group, {}).get(name)
            if name not in RESUMABLE_CHANGES and before != value:
                differences.append(f"--{name} {before!r} → {value!r}")
    if ds_config is not None and saved.get("deepspeed_config") != json.loads(json.dumps(ds_config)):
        differences.append("the filled DeepSpeed config")
    if differences:
        raise ValueError("cannot resume: the run was started with other arguments: " + "; ".join(differences)
                         + ". Give the original arguments (only logging, evaluation, saving, sitting and thread "
                           "options may change).")


def rng_state() -> dict[str, Any]:
    """Every generator the loop may draw from, in types ``torch.load(weights_only=True)`` accepts."""
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"key": numpy_state["state"]["key"].tolist(), "pos": numpy_state["state"]["pos"],
                  "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    saved = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": np.array(saved["key"], dtype=np.uint32),
                                                               "pos": saved["pos"]},
                         "has_gauss": saved["has_gauss"], "gauss": saved["gauss"]})
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_resume_checkpoint(engine, checkpoint_dir: Path, progress: Progress, run_args: Mapping[str, Any],
                           ds_config: Mapping[str, Any], tokenizer, keep: int, rank: int,
                           adapter: Mapping[str, Any] | None = None) -> Path:
    """Write one resume checkpoint (every rank calls this), then apply the retention limit.

    ``adapter``: the checkpoint fields of a LoRA run (``adapter_fields``); the checkpoint then holds
    the adapter as the job loads it, with the progress so far in its ``backstamp.json``.
    """
    tag = checkpoint_tag(progress.step)
    path = checkpoint_dir / tag
    path.mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), path / f"rng_state_{rank}.pt")
    if rank == 0:
        tokenizer.save_pretrained(path / "tokenizer")
        saved = {"tag": tag, "progress": asdict(progress), "args": run_args, "deepspeed_config": ds_config}
        if adapter is not None:
            export_adapter(engine.module, tokenizer, path / "adapter", {**adapter, "training": {
                "optimizer_steps": progress.step, "tokens_seen": progress.tokens_seen,
                "train_minutes": round(progress.train_seconds / 60, 2), "sittings": progress.sittings,
                "commands": progress.commands}}, True)
        (path / PROGRESS_FILE).write_text(json.dumps(saved, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    engine.save_checkpoint(str(checkpoint_dir), tag=tag, exclude_frozen_parameters=adapter is not None)  # collective; writes ``latest`` when every rank is done
    if rank == 0 and keep > 0:
        for old in checkpoint_folders(checkpoint_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    logger.info("resume checkpoint %s (training %.1f min)", path, progress.train_seconds / 60)
    return path


def checkpoint_folders(checkpoint_dir: Path) -> list[Path]:
    """Resume checkpoint folders, oldest first."""
    if not checkpoint_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in checkpoint_dir.iterdir() if p.is_dir() and (m := _TAG.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def load_resume_checkpoint(engine, path: Path, rank: int, lora: bool = False) -> Progress:
    """Restore weights, optimizer and scheduler (DeepSpeed), then RNG states; return the loop's progress.

    ``lora``: the checkpoint holds the trained parameters only; the frozen base is the one just loaded.
    """
    load_path, _ = engine.load_checkpoint(str(path.parent), tag=path.name, load_optimizer_states=True,
                                          load_lr_scheduler_states=True, load_module_strict=not lora)
    if load_path is None:
        raise FileNotFoundError(f"{path}: DeepSpeed found no checkpoint to load")
    set_rng_state(torch.load(path / f"rng_state_{rank}.pt", weights_only=True))
    saved = read_saved_run(path)["progress"]
    return Progress(**saved)


class RunLog:
    """``training_log.jsonl``: one JSON line per log, evaluation and resume.

    A resumed run first drops the lines written after its checkpoint (steps that are
    trained again), so the log reads as one run; a ``resume`` line marks each sitting.
    """

    def __init__(self, path: Path, enabled: bool, resumed_at_step: int | None = None):
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = ""
        if resumed_at_step is not None and path.exists():
            kept = "".join(line + "\n" for line in path.read_text(encoding="utf-8").splitlines()
                           if _line_step(line) <= resumed_at_step)
        path.write_text(kept, encoding="utf-8")

    def __call__(self, record: Mapping[str, Any]) -> None:
        if self.enabled:
            logger.info(json.dumps(record))
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def _line_step(line: str) -> int:
    record = json.loads(line)
    return int(record.get("step", record.get("eval_step", record.get("resume_step", 0))))


class Preemption:
    """While active, SIGTERM (what a pre-empted VM or ``kill`` sends) only sets ``requested``.

    The loop checks it after each optimizer step, writes a resume checkpoint and stops.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "Preemption":
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None
        return self

    def _handle(self, signum, frame) -> None:
        logger.warning("SIGTERM: writing a resume checkpoint after this step, then stopping")
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def export_model(engine, model, tokenizer, output_dir: Path, save_dtype: torch.dtype, zero_stage: int,
                 is_main: bool) -> None:
    """safetensors weights in ``save_dtype``, config and tokenizer (ZeRO-3 weights are gathered first)."""
    if zero_stage == 3:
        state = engine._zero3_consolidated_16bit_state_dict()  # every rank takes part in the gather
    else:
        state = model.state_dict()
    if not is_main:
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", save_dtype).contiguous() for k, v in state.items()}
    model.config.dtype = str(save_dtype).removeprefix("torch.")
    model.config.use_cache = True
    model.save_pretrained(output_dir, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(output_dir)


def adapter_fields(model_args, base: str, model) -> dict[str, Any]:
    """What an adapter's ``backstamp.json`` says of its base: where it is, its hashes, its type and the
    embedding rows the adapter expects (the base's plus the tags)."""
    from model.adapters import base_reference, package_base_reference, path_base_reference

    kept = base_reference(model_args.adapter_name_or_path) if model_args.adapter_name_or_path else {}
    if "package" in kept:  # the adapter kept training names the same package file it was trained on
        reference = dict(kept)
    elif model_args.base_package_file:
        distribution, filename = model_args.base_package_file.split(":", 1)
        reference = package_base_reference(distribution, filename, base)
    else:
        reference = path_base_reference(base)
    return {"base": reference, "base_model_type": model.config.model_type,
            "embedding_rows": model.config.vocab_size}  # resize_token_embeddings keeps it the row count


def continued_from(adapter: str | os.PathLike) -> dict[str, Any]:
    """What the adapter a run kept training had behind it (its version, steps, minutes, data and what it
    continued in turn), so an adapter's ``backstamp.json`` tells its whole training."""
    from model.checkpoint import model_version, read_metadata

    training = read_metadata(adapter).get("training", {})
    return {"adapter": str(adapter), "model_version": model_version(adapter),
            **{key: training.get(key) for key in ("optimizer_steps", "train_minutes", "data_mix", "continued_from")}}


def export_adapter(model, tokenizer, output_dir: Path, fields: Mapping[str, Any], is_main: bool) -> None:
    """The PEFT adapter (LoRA weights and the tags' trained rows), the tokenizer and ``backstamp.json``."""
    from model.checkpoint import write_metadata

    if not is_main:
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    # The embedding was resized for the tags, which makes PEFT save the whole embedding and output layer
    # (226 MB for SmolLM2) by default; the tag rows are in the trainable-token deltas already.
    model.save_pretrained(output_dir, safe_serialization=True, save_embedding_layers=False)
    (output_dir / "README.md").unlink(missing_ok=True)  # PEFT's model-card template, empty here
    tokenizer.save_pretrained(output_dir)
    write_metadata(output_dir, fields)
