"""Fine-tune GPT-J with DeepSpeed: ``python -m train ...`` or ``deepspeed --module train ...``.

Arguments are dataclasses in the style of Hugging Face's examples (``HfArgumentParser``;
``python -m train ARGS.json`` also works). DeepSpeed is the engine on CPU and GPU: the
model, a client AdamW (unless the DeepSpeed config names an optimizer, e.g. FusedAdam
or CPU-offloaded Adam on GPU) and the learning-rate schedule go through
``deepspeed.initialize``. ``"auto"`` values in the DeepSpeed config are filled from the
arguments (micro-batch, accumulation, clipping, precision, optimizer and scheduler
parameters), as HF's Trainer does.

What it does better than HF ``run_clm`` on a ``text`` column (see ``train/data.py``): one
example per sequence, loss on the completion only, length-bucketed batches, the tags as
non-special added tokens (on GPT-J-6B's tokenizer they take spare embedding rows, so the
6,050,882,784-parameter model is not resized), evaluation with the pipeline's own
generation and parser during and after training, and a checkpoint the pipeline loads
(safetensors, tokenizer, ``backstamp.json`` with ``max_new_tokens``, ``eval.json``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

if __package__ in (None, ""):  # ``deepspeed train/finetune.py``: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from transformers import AutoTokenizer, GPTJConfig, GPTJForCausalLM, HfArgumentParser

from train.data import (Encoder, Example, Sample, choose_max_new_tokens, completion_token_stats, iterate_batches,
                        lengths_summary, read_samples, synthetic_samples)

logger = logging.getLogger("train")
REPO_ROOT = Path(__file__).resolve().parents[1]
# Acceptance targets of the demo model (issue 3), checked by ``meets_targets``.
TARGETS = {"title": 0.90, "agency": 0.90, "photographer": 0.90, "date": 0.90, "description": 0.80, "ok_rate": 0.98}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "A GPT-J checkpoint folder to fine-tune (e.g. GPT-J-6B saved with save_pretrained)."})
    config_name: str | None = field(default=None, metadata={
        "help": "A GPTJConfig JSON to train from scratch (configs/gptj_tiny.json, configs/gptj_6b.json)."})
    tokenizer_name: str | None = field(default=None, metadata={
        "help": "Tokenizer folder; default: the model's, or (from scratch) a byte-level BPE trained on synthetic data."})
    tokenizer_vocab_size: int = field(default=2048, metadata={"help": "BPE size when a tokenizer is trained."})
    tokenizer_train_records: int = field(default=20000, metadata={"help": "Synthetic records the BPE is trained on."})
    tokenizer_seed: int = field(default=0, metadata={"help": "Seed of the BPE's synthetic corpus."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations (large models)."})


@dataclass
class DataArguments:
    train_file: str | None = field(default=None, metadata={
        "help": "Parquet (SPEC §2 columns + description, title, agency, photographer, date) or a `text` CSV."})
    train_labels_file: str | None = field(default=None, metadata={"help": "Labels Parquet joined on id, if separate."})
    validation_file: str | None = field(default=None, metadata={"help": "Validation Parquet (or `text` CSV)."})
    validation_labels_file: str | None = field(default=None, metadata={"help": "Validation labels, if separate."})
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
    output_dir: str = field(default="out/train", metadata={"help": "Where the checkpoint is written."})
    deepspeed: str = field(default=str(REPO_ROOT / "configs" / "ds_config_tiny.json"),
                           metadata={"help": "DeepSpeed config JSON (\"auto\" values are filled from these arguments)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Passes over the training examples."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps; overrides epochs when > 0."})
    max_train_minutes: float = field(default=0.0, metadata={
        "help": "Stop training after this many minutes (0: no limit); with --schedule_by_time the LR schedule "
                "follows whichever of steps and time runs out first."})
    schedule_by_time: bool = field(default=False, metadata={
        "help": "LR schedule progress = max(step / total steps, elapsed / max_train_minutes)."})
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
    torch_threads: int = field(default=0, metadata={"help": "torch.set_num_threads (0: leave torch's default)."})
    local_rank: int = field(default=-1, metadata={"help": "Set by the deepspeed launcher."})


def parse_args(argv: Sequence[str] | None = None) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainArguments))
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 1 and argv[0].endswith(".json"):
        model_args, data_args, train_args = parser.parse_json_file(os.path.abspath(argv[0]))
    else:
        model_args, data_args, train_args = parser.parse_args_into_dataclasses(argv)
    if not (model_args.model_name_or_path or model_args.config_name):
        parser.error("give --model_name_or_path (fine-tune) or --config_name (from scratch)")
    if not (data_args.train_file or data_args.synthetic_train_examples):
        parser.error("give --train_file and/or --synthetic_train_examples")
    return model_args, data_args, train_args


# ---------------------------------------------------------------------------------------
# Environment


def setup_environment(train_args: TrainArguments) -> None:
    """Single-process defaults outside the launcher, the project's extension cache, threads, seeds."""
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO_ROOT / ".cache" / "torch_extensions"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(29500 + os.getpid() % 1000),
                       "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}.items():
        os.environ.setdefault(key, value)
    if train_args.torch_threads > 0:
        torch.set_num_threads(train_args.torch_threads)
    random.seed(train_args.seed)
    torch.manual_seed(train_args.seed)


def resolve_precision(precision: str) -> str:
    if precision == "auto":
        return "fp16" if torch.cuda.is_available() else "fp32"
    if precision not in ("fp32", "fp16", "bf16"):
        raise ValueError(f"precision must be fp32, fp16, bf16 or auto, not {precision!r}")
    return precision


# ---------------------------------------------------------------------------------------
# Tokenizer and model


def load_or_build_tokenizer(model_args: ModelArguments):
    """The tokenizer with the tags as non-special tokens; pad = eos when it has none."""
    from train.tokenizer import add_tag_tokens, build_synthetic_tokenizer

    source = model_args.tokenizer_name or model_args.model_name_or_path
    if source:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, trust_remote_code=False)
    else:
        tokenizer = build_synthetic_tokenizer(model_args.tokenizer_vocab_size, model_args.tokenizer_train_records,
                                              model_args.tokenizer_seed)
    add_tag_tokens(tokenizer)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_model(model_args: ModelArguments, tokenizer, dtype: torch.dtype | None = None) -> GPTJForCausalLM:
    """The GPT-J to train, with room for every token of ``tokenizer``.

    From a config: the vocabulary is the config's, grown (to a multiple of 64) only when
    the tokenizer is larger — GPT-J-6B's 50,400 rows hold the 50,257 BPE tokens and the
    tags, so its parameter count is unchanged. From a checkpoint: the embedding is resized
    only when the tokenizer does not fit the existing rows (GPT-J-6B has 143 spare rows);
    rows taken by new tokens start at the mean of the trained rows. Called under
    ``torch.device("meta")`` it builds the model without allocating weights.
    """
    n_tokens = len(tokenizer)
    if model_args.model_name_or_path:
        model = GPTJForCausalLM.from_pretrained(model_args.model_name_or_path, dtype=dtype, local_files_only=True,
                                                trust_remote_code=False)
        rows = model.get_input_embeddings().num_embeddings
        base = _base_vocab_size(tokenizer)
        if n_tokens > rows:
            model.resize_token_embeddings(n_tokens, pad_to_multiple_of=64)
        _init_rows(model, first_new=min(base, rows), end=n_tokens)
    else:
        with open(model_args.config_name, encoding="utf-8") as handle:
            values = json.load(handle)
        if n_tokens > values.get("vocab_size", 0):
            values["vocab_size"] = int(math.ceil(n_tokens / 64) * 64)
        values.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id)
        model = GPTJForCausalLM(GPTJConfig(**values))
        if dtype is not None:
            model = model.to(dtype)
    if model_args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model


def _base_vocab_size(tokenizer) -> int:
    """Size of the vocabulary before added tokens (GPT-J's tokenizer: 50,257)."""
    added = tokenizer.get_added_vocab()
    specials = set(tokenizer.all_special_tokens)
    return len(tokenizer) - sum(1 for token in added if token not in specials)


@torch.no_grad()
def _init_rows(model: GPTJForCausalLM, first_new: int, end: int) -> None:
    """Start the embedding and output rows of new tokens at the mean of the trained rows."""
    if end <= first_new or first_new <= 0:
        return
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    if inputs.device.type == "meta":
        return
    inputs[first_new:end] = inputs[:first_new].mean(dim=0, keepdim=True)
    outputs.weight[first_new:end] = outputs.weight[:first_new].mean(dim=0, keepdim=True)
    if outputs.bias is not None:
        outputs.bias[first_new:end] = outputs.bias[:first_new].mean()


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------
# DeepSpeed config and schedule


def fill_deepspeed_config(config: Mapping[str, Any], train_args: TrainArguments, precision: str,
                          total_steps: int, world_size: int = 1) -> dict[str, Any]:
    """Replace ``"auto"`` values with the arguments (as HF Trainer does); set precision.

    A config that fixes ``fp16``/``bf16`` to the other precision than ``precision`` is an error.
    """
    config = json.loads(json.dumps(config))
    fills = {
        "train_micro_batch_size_per_gpu": train_args.per_device_train_batch_size,
        "gradient_accumulation_steps": train_args.gradient_accumulation_steps,
        "train_batch_size": train_args.per_device_train_batch_size * train_args.gradient_accumulation_steps * world_size,
        "gradient_clipping": train_args.max_grad_norm,
    }
    for key, value in fills.items():
        if config.get(key, "auto") == "auto":
            config[key] = value
    for key, enabled in (("fp16", precision == "fp16"), ("bf16", precision == "bf16")):
        section = config.setdefault(key, {})
        if section.get("enabled", "auto") == "auto":
            section["enabled"] = enabled
        elif bool(section["enabled"]) != enabled:  # silently training in another precision would be worse
            raise ValueError(f"precision {precision} contradicts \"{key}\": {{\"enabled\": {section['enabled']}}} "
                             "in the DeepSpeed config; set it to \"auto\"")
    optimizer = config.get("optimizer")
    if optimizer:
        params = optimizer.setdefault("params", {})
        for key, value in (("lr", train_args.learning_rate), ("betas", [train_args.adam_beta1, train_args.adam_beta2]),
                           ("eps", train_args.adam_epsilon), ("weight_decay", train_args.weight_decay)):
            if params.get(key, "auto") == "auto":
                params[key] = value
    scheduler = config.get("scheduler")
    if scheduler:
        params = scheduler.setdefault("params", {})
        for key, value in (("warmup_min_lr", 0.0), ("warmup_max_lr", train_args.learning_rate),
                           ("warmup_num_steps", train_args.warmup_steps), ("total_num_steps", total_steps),
                           ("cos_min_ratio", train_args.min_lr_ratio), ("warmup_min_ratio", 0.0)):
            if params.get(key) == "auto":
                params[key] = value
    return config


class Schedule:
    """Linear warmup, then cosine (or linear, or constant) decay to ``min_lr_ratio``.

    Progress is ``step / total_steps``, or with ``time_budget_s`` the larger of that and
    the elapsed fraction of the time budget, so a run on a busy machine still anneals
    before its time is up.
    """

    def __init__(self, total_steps: int, warmup_steps: int, kind: str = "cosine", min_ratio: float = 0.1,
                 time_budget_s: float = 0.0):
        if kind not in ("cosine", "linear", "constant"):
            raise ValueError(f"lr_scheduler_type must be cosine, linear or constant, not {kind!r}")
        self.total, self.warmup, self.kind, self.min_ratio = max(1, total_steps), warmup_steps, kind, min_ratio
        self.time_budget_s = time_budget_s
        self.start = time.monotonic()

    def progress(self, step: int) -> float:
        fraction = (step - self.warmup) / max(1, self.total - self.warmup)
        if self.time_budget_s > 0:
            fraction = max(fraction, (time.monotonic() - self.start) / self.time_budget_s)
        return min(1.0, max(0.0, fraction))

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.kind == "constant":
            return 1.0
        p = self.progress(step)
        decay = 0.5 * (1 + math.cos(math.pi * p)) if self.kind == "cosine" else 1 - p
        return self.min_ratio + (1 - self.min_ratio) * decay


def optimizer_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases, layer norms and embeddings."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "ln_" in name or "wte" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# ---------------------------------------------------------------------------------------
# Evaluation (the pipeline's generation and parser)


def predict(model, tokenizer, encoder: Encoder, samples: Sequence[Sample], max_new_tokens: int,
            batch_size: int) -> list[dict[str, Any]]:
    """Generate and parse every sample, as the pipeline does; rows in ``samples`` order."""
    from model.generation import generate_batch
    from formats.parse import parse_completion

    prompts = [encoder.prompt(s)[0] for s in samples]
    order = sorted(range(len(samples)), key=lambda i: len(prompts[i]))
    rows: list[dict[str, Any] | None] = [None] * len(samples)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            generations = generate_batch(model, tokenizer, [prompts[i] for i in chunk], max_new_tokens)
            for i, generation in zip(chunk, generations):
                parsed = parse_completion(generation.text, samples[i].language, generation.hit_limit)
                rows[i] = {"id": samples[i].id, "description": parsed.description, "title": parsed.title,
                           "agency": parsed.agency, "photographer": parsed.photographer, "date": parsed.date,
                           "date_iso": parsed.date_iso, "parse_status": parsed.status, "raw_output": generation.text,
                           "output_tokens": generation.output_tokens}
    finally:
        model.train(was_training)
    return rows  # type: ignore[return-value]


def evaluate(model, tokenizer, encoder: Encoder, samples: Sequence[Sample], max_new_tokens: int,
             batch_size: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from formats.evaluate import score

    predictions = predict(model, tokenizer, encoder, samples, max_new_tokens, batch_size)
    labels = [{"id": s.id, **(s.fields or {})} for s in samples]
    scores = score(predictions, labels)
    statuses = [p["parse_status"] for p in predictions]
    scores["parse_status"] = {status: statuses.count(status) / max(1, len(statuses))
                              for status in ("ok", "partial", "unparsed")}
    return scores, predictions


def meets_targets(scores: Mapping[str, Any]) -> bool:
    exact = scores["exact_match"]
    return (all((exact[f] or 0) >= TARGETS[f] for f in ("title", "agency", "photographer", "date"))
            and (scores["description_similarity"] or 0) >= TARGETS["description"]
            and scores["parse_status"]["ok"] >= TARGETS["ok_rate"])


def brief(scores: Mapping[str, Any]) -> dict[str, float]:
    exact = scores["exact_match"]
    out = {f: round(exact[f] or 0.0, 4) for f in ("title", "agency", "photographer", "date")}
    out["description"] = round(scores["description_similarity"] or 0.0, 4)
    out["ok"] = round(scores["parse_status"]["ok"], 4)
    return out


# ---------------------------------------------------------------------------------------
# Saving


def save_checkpoint(engine, model: GPTJForCausalLM, tokenizer, output_dir: Path, save_dtype: torch.dtype,
                    zero_stage: int, is_main: bool) -> None:
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


# ---------------------------------------------------------------------------------------
# Training


def prepare_samples(data_args: DataArguments) -> tuple[list[Sample], list[Sample]]:
    train: list[Sample] = []
    if data_args.train_file:
        train += read_samples(data_args.train_file, data_args.train_labels_file, data_args.default_language)
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


def train(model_args: ModelArguments, data_args: DataArguments, train_args: TrainArguments) -> dict[str, Any]:
    import deepspeed

    started = time.monotonic()
    setup_environment(train_args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    precision = resolve_precision(train_args.precision)
    train_dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    save_dtype = train_dtype if train_args.save_dtype == "auto" else DTYPES[train_args.save_dtype]
    if not torch.cuda.is_available():
        deepspeed.init_distributed(dist_backend="gloo")
    else:
        deepspeed.init_distributed()
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    is_main = rank == 0
    output_dir = Path(train_args.output_dir)

    tokenizer = load_or_build_tokenizer(model_args)
    # The model is built in fp32; DeepSpeed casts it for fp16/bf16 training.
    model = build_model(model_args, tokenizer)
    n_positions = model.config.n_positions
    max_length = min(data_args.max_length or n_positions, n_positions)

    train_samples, validation_samples = prepare_samples(data_args)
    encoder = Encoder(tokenizer, max_length)
    stats = completion_token_stats(encoder, train_samples)
    max_new_tokens = data_args.max_new_tokens or choose_max_new_tokens(stats)
    encoder = Encoder(tokenizer, max_length, max_new_tokens, data_args.max_prompt_tokens)
    examples: list[Example] = encoder.encode_all(train_samples)
    summary = lengths_summary(examples)
    if is_main:
        logger.info("model: %s parameters, vocab %d (tokenizer %d), n_positions %d", f"{count_parameters(model):,}",
                    model.config.vocab_size, len(tokenizer), n_positions)
        logger.info("train examples: %s; completion tokens %s; max_new_tokens %d; prompt budget %d",
                    summary, stats, max_new_tokens, encoder.prompt_budget())

    batches_per_epoch = math.ceil(len(examples) / (train_args.per_device_train_batch_size * world_size))
    steps_per_epoch = max(1, batches_per_epoch // train_args.gradient_accumulation_steps)
    total_steps = train_args.max_steps if train_args.max_steps > 0 else math.ceil(steps_per_epoch * train_args.num_train_epochs)
    epochs = (total_steps * train_args.gradient_accumulation_steps * train_args.per_device_train_batch_size
              * world_size) / max(1, len(examples))

    with open(train_args.deepspeed, encoding="utf-8") as handle:
        ds_config = fill_deepspeed_config(json.load(handle), train_args, precision, total_steps, world_size)
    zero_stage = int(ds_config.get("zero_optimization", {}).get("stage", 0))
    client_optimizer = None
    if "optimizer" not in ds_config:
        client_optimizer = torch.optim.AdamW(optimizer_groups(model, train_args.weight_decay), lr=train_args.learning_rate,
                                             betas=(train_args.adam_beta1, train_args.adam_beta2),
                                             eps=train_args.adam_epsilon)
    schedule = Schedule(total_steps, train_args.warmup_steps, train_args.lr_scheduler_type, train_args.min_lr_ratio,
                        train_args.max_train_minutes * 60 if train_args.schedule_by_time else 0.0)
    client_scheduler = None
    if "scheduler" not in ds_config and client_optimizer is not None:
        client_scheduler = torch.optim.lr_scheduler.LambdaLR(client_optimizer, schedule)
    elif "scheduler" not in ds_config:
        client_scheduler = lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)  # noqa: E731

    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=client_optimizer, lr_scheduler=client_scheduler, config=ds_config,
        model_parameters=None if client_optimizer is not None else optimizer_groups(model, train_args.weight_decay),
    )
    device = engine.device
    setup_s = time.monotonic() - started

    log_path = output_dir / "training_log.jsonl"
    if is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        log_path.write_text("", encoding="utf-8")

    def log(record: dict[str, Any]) -> None:
        if is_main:
            logger.info(json.dumps(record))
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    eval_subset = validation_samples[: train_args.eval_examples_during_training]
    evals: list[dict[str, Any]] = []

    def run_eval(step: int) -> dict[str, Any] | None:
        if not eval_subset or (zero_stage != 3 and not is_main):
            return None
        t0 = time.monotonic()
        scores, _ = evaluate(engine.module, tokenizer, encoder, eval_subset, max_new_tokens,
                             train_args.per_device_eval_batch_size)
        record = {"eval_step": step, "minutes": round((time.monotonic() - train_start) / 60, 2),
                  "eval_s": round(time.monotonic() - t0, 1), **brief(scores)}
        evals.append(record)
        log(record)
        return scores

    engine.train()
    train_start = time.monotonic()
    last_eval_time = train_start
    running_loss, running_n, tokens_seen, micro = 0.0, 0, 0, 0
    step = 0
    stopped_by = "steps"
    batch_iter = iterate_batches(examples, train_args.per_device_train_batch_size, tokenizer.pad_token_id,
                                 train_args.seed, epochs=max(epochs, 1e-9), rank=rank, world_size=world_size)
    for batch in batch_iter:
        batch = {k: v.to(device) for k, v in batch.items()}
        loss = engine(**batch).loss
        engine.backward(loss)
        engine.step()
        micro += 1
        running_loss += loss.item()
        running_n += 1
        tokens_seen += int(batch["attention_mask"].sum())
        if micro % train_args.gradient_accumulation_steps:
            continue
        step += 1
        elapsed = time.monotonic() - train_start
        if step % train_args.logging_steps == 0 or step == 1:
            log({"step": step, "loss": round(running_loss / running_n, 4), "lr": engine.get_lr()[0],
                 "minutes": round(elapsed / 60, 2), "tokens_per_s": round(tokens_seen * world_size / elapsed, 1)})
            running_loss, running_n = 0.0, 0
        due = (train_args.eval_steps and step % train_args.eval_steps == 0) or (
            train_args.eval_minutes and time.monotonic() - last_eval_time >= train_args.eval_minutes * 60)
        if due and step < total_steps:
            scores = run_eval(step)
            last_eval_time = time.monotonic()
            if train_args.stop_at_targets and _agree(scores is not None and meets_targets(scores), zero_stage):
                stopped_by = "targets"
                break
        if step >= total_steps:
            break
        if train_args.max_train_minutes and _agree(elapsed >= train_args.max_train_minutes * 60, zero_stage):
            stopped_by = "time"
            break
    train_s = time.monotonic() - train_start
    log({"step": step, "stopped_by": stopped_by, "train_minutes": round(train_s / 60, 2)})

    # Save, then evaluate the saved checkpoint exactly as the pipeline loads it.
    save_checkpoint(engine, engine.module, tokenizer, output_dir, save_dtype, zero_stage, is_main)
    result: dict[str, Any] = {"steps": step, "train_minutes": round(train_s / 60, 2), "stopped_by": stopped_by}
    if is_main:
        result.update(final_evaluation(output_dir, encoder, validation_samples, max_new_tokens, train_args,
                                       engine.module if save_dtype != train_dtype else None))
        from model.checkpoint import write_metadata

        wall_minutes = round((time.monotonic() - started) / 60, 2)
        write_metadata(output_dir, {
            "max_new_tokens": max_new_tokens,
            "max_prompt_tokens": encoder.prompt_budget(),
            "completion_tokens": stats,
            "training": {
                "args": {"model": asdict(model_args), "data": asdict(data_args), "train": asdict(train_args)},
                "deepspeed_config": ds_config,
                "precision": precision,
                "parameters": count_parameters(engine.module),
                "examples": summary,
                "optimizer_steps": step,
                "epochs": round(min(epochs, step / max(1, steps_per_epoch)), 3),
                "stopped_by": stopped_by,
                "setup_minutes": round(setup_s / 60, 2),
                "train_minutes": round(train_s / 60, 2),
                "wall_minutes": wall_minutes,
                "world_size": world_size,
                "device": str(device),
                "torch_threads": torch.get_num_threads(),
                "synthetic_seed": data_args.synthetic_seed,
                "synthetic_validation_seed": data_args.synthetic_validation_seed,
                "evaluations": evals,
            },
        })
        result["wall_minutes"] = wall_minutes
        log({"done": True, **{k: v for k, v in result.items() if k != "scores"}})
    return result


def _agree(flag: bool, zero_stage: int) -> bool:
    """Under ZeRO-3 every rank must take the same branch; rank 0 decides."""
    if zero_stage != 3 or int(os.environ.get("WORLD_SIZE", 1)) == 1:
        return flag
    import deepspeed.comm as dist

    value = torch.tensor([int(flag)], device=torch.device("cuda") if torch.cuda.is_available() else None)
    dist.broadcast(value, 0)
    return bool(value.item())


def final_evaluation(output_dir: Path, encoder: Encoder, samples: Sequence[Sample], max_new_tokens: int,
                     train_args: TrainArguments, trained_model=None) -> dict[str, Any]:
    """Reload the checkpoint with ``model.loading``, score it on all validation samples, write ``eval.json``."""
    if not samples:
        return {}
    from model.loading import load_model, load_tokenizer
    from formats.evaluate import format_table

    tokenizer = load_tokenizer(str(output_dir))
    model = load_model(str(output_dir), device="cuda" if torch.cuda.is_available() else "cpu")
    encoder = Encoder(tokenizer, encoder.max_length, encoder.max_new_tokens, encoder.max_prompt_tokens)
    t0 = time.monotonic()
    scores, predictions = evaluate(model, tokenizer, encoder, samples, max_new_tokens,
                                   train_args.per_device_eval_batch_size)
    eval_s = time.monotonic() - t0
    report: dict[str, Any] = {
        "n": len(samples),
        "targets": TARGETS,
        "meets_targets": meets_targets(scores),
        "summary": brief(scores),
        "scores": scores,
        "table": format_table(scores),
        "max_new_tokens": max_new_tokens,
        "eval_seconds": round(eval_s, 1),
        "hit_token_limit": sum(p["parse_status"] != "ok" and p["output_tokens"] >= max_new_tokens
                               for p in predictions),
    }
    if trained_model is not None:
        # The checkpoint was saved in a lower precision: how often does it answer differently?
        before = predict(trained_model, tokenizer, encoder, samples, max_new_tokens,
                         train_args.per_device_eval_batch_size)
        same = sum(a["raw_output"] == b["raw_output"] for a, b in zip(before, predictions))
        report["same_output_as_training_precision"] = same / len(samples)
    (output_dir / "eval.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("final evaluation on %d records:\n%s", len(samples), report["table"])
    return report


def main(argv: Sequence[str] | None = None) -> int:
    model_args, data_args, train_args = parse_args(argv)
    result = train(model_args, data_args, train_args)
    if "summary" in result:
        print(json.dumps({"summary": result["summary"], "meets_targets": result["meets_targets"],
                          "wall_minutes": result.get("wall_minutes")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
