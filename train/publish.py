"""Publish the adapter of a LoRA run's resume checkpoint as a model folder, with how it was trained.

A LoRA run on a shared CPU may have to stop before its schedule ends; every resume checkpoint
holds a complete adapter (``train.checkpointing``), so the newest one can be published as it
is, without another training step. The published ``backstamp.json`` keeps the adapter's own
fields (base and its hashes, generation limits) and adds what the run's ``progress.json``
knows: each sitting's command, optimizer steps, examples and tokens seen, training and wall
minutes, the data (generator, seed, credit mix, validation split) and the run's arguments.

    python -m train.publish --checkpoint .cache/train/demo-smollm2/checkpoints/step00000018 \\
        --to data/models/demo-smollm2
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from model.checkpoint import read_metadata, write_metadata
from train.checkpointing import PROGRESS_FILE


def training_record(checkpoint: Path) -> dict[str, Any]:
    """The ``training`` entry of ``backstamp.json`` for the adapter of resume checkpoint ``checkpoint``."""
    saved = json.loads((checkpoint / PROGRESS_FILE).read_text(encoding="utf-8"))
    progress, args = saved["progress"], saved["args"]
    per_step = args["train"]["per_device_train_batch_size"] * args["train"]["gradient_accumulation_steps"]
    data = args["data"]
    return {
        "commands": progress["commands"],  # one per sitting
        "sittings": progress["sittings"],
        "optimizer_steps": progress["step"],
        "examples_seen": progress["step"] * per_step,
        "tokens_seen": progress["tokens_seen"],
        "train_minutes": round(progress["train_seconds"] / 60, 2),
        "wall_minutes": round(progress["wall_seconds"] / 60, 2),
        "published_from": f"{checkpoint.name} (a resume checkpoint; the run's schedule was not finished)",
        "data_mix": {"synthetic_examples_seen": progress["step"] * per_step,
                     "synthetic_examples_prepared": data["synthetic_train_examples"],
                     "synthetic_seed": data["synthetic_seed"], "synthetic_split": "train",
                     "synthetic_uncued_credits": data["synthetic_uncued_credits"],
                     "train_file": data["train_file"]},
        "evaluations": progress["evaluations"],
        "args": args,
    }


def publish(checkpoint: Path, to: Path) -> dict[str, Any]:
    """Copy ``checkpoint/adapter`` to ``to`` (replacing it) and record the training in its ``backstamp.json``.

    The adapter is saved again through PEFT without the embedding layers: a checkpoint written before
    ``export_adapter`` left them out holds the resized base embedding too (226 MB for SmolLM2), which
    the base provides anyway; only the tag rows are the adapter's, and they are its trainable tokens.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from model.adapters import resolve_base

    adapter = checkpoint / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{checkpoint}: no adapter/ folder (not a resume checkpoint of a --lora_r run)")
    if to.exists():
        shutil.rmtree(to)
    shutil.copytree(adapter, to, ignore=shutil.ignore_patterns("adapter_model.safetensors", "README.md"))
    base = AutoModelForCausalLM.from_pretrained(resolve_base(adapter), local_files_only=True)
    base.resize_token_embeddings(read_metadata(adapter)["embedding_rows"])
    PeftModel.from_pretrained(base, str(adapter)).save_pretrained(to, safe_serialization=True,
                                                                  save_embedding_layers=False)
    (to / "README.md").unlink(missing_ok=True)
    fields = {k: v for k, v in read_metadata(to).items() if k != "files"}
    return write_metadata(to, {**fields, "training": training_record(checkpoint)})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a resume checkpoint folder of a --lora_r run")
    parser.add_argument("--to", required=True, help="the model folder to write (replaced)")
    args = parser.parse_args(argv)
    metadata = publish(Path(args.checkpoint), Path(args.to))
    print(json.dumps({k: metadata["training"][k] for k in ("optimizer_steps", "examples_seen", "train_minutes",
                                                          "wall_minutes", "sittings")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
