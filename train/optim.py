"""Optimisation: precision, the DeepSpeed config's ``"auto"`` values, AdamW groups and the LR schedule.

The schedule is a ``LambdaLR`` over ``Schedule``: linear warm-up, then cosine (or linear, or
constant) decay. With a time budget its progress is also driven by training time, which
the loop hands it (``Schedule.elapsed_s``) from a clock that resume checkpoints carry over,
so a run that spans several sittings follows one schedule.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping

import torch

from model.loading import resolve_dtype
from train.args import TrainArguments

# DeepSpeed's precision names → the dtype names of ``model.loading`` (one rule for "auto").
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "auto": "auto"}


def resolve_precision(precision: str, device: torch.device) -> tuple[str, torch.dtype]:
    """(DeepSpeed name, dtype); ``auto`` is inference's rule (``model.loading.resolve_dtype``): fp16 on GPU, fp32 on CPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be fp32, fp16, bf16 or auto, not {precision!r}")
    dtype = resolve_dtype(PRECISIONS[precision], device)
    name = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    return name, dtype


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
    """Linear warmup, then cosine (or linear, or constant) decay to ``min_ratio``.

    Progress is ``step / total_steps``, or with ``time_budget_s`` the larger of that and
    ``elapsed_s / time_budget_s``, so a run on a busy machine still anneals before its
    time is up. ``elapsed_s`` is training time summed over sittings, set by the loop before
    each optimizer step. Every attribute is a plain number: ``LambdaLR.state_dict`` saves
    them in the resume checkpoint and ``load_state_dict`` puts them back.
    """

    def __init__(self, total_steps: int, warmup_steps: int, kind: str = "cosine", min_ratio: float = 0.1,
                 time_budget_s: float = 0.0):
        if kind not in ("cosine", "linear", "constant"):
            raise ValueError(f"lr_scheduler_type must be cosine, linear or constant, not {kind!r}")
        self.total, self.warmup, self.kind, self.min_ratio = max(1, total_steps), warmup_steps, kind, min_ratio
        self.time_budget_s = time_budget_s
        self.elapsed_s = 0.0

    def progress(self, step: int) -> float:
        fraction = (step - self.warmup) / max(1, self.total - self.warmup)
        if self.time_budget_s > 0:
            fraction = max(fraction, self.elapsed_s / self.time_budget_s)
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
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]  # ZeRO drops an empty group (LoRA has no norms)


def deepspeed_optimisation(model: torch.nn.Module, ds_config: Mapping[str, Any], train_args: TrainArguments,
                           schedule: Schedule) -> dict[str, Any]:
    """The optimizer arguments of ``deepspeed.initialize``.

    A client AdamW over ``optimizer_groups`` with ``LambdaLR(schedule)``, unless the config
    names an optimizer (FusedAdam, CPU-offloaded Adam): DeepSpeed then builds it from the
    groups and calls the schedule factory with it. A config scheduler replaces ours.
    """
    groups = optimizer_groups(model, train_args.weight_decay)
    if "optimizer" in ds_config:
        factory = None if "scheduler" in ds_config else (
            lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, schedule))
        return {"model_parameters": groups, "lr_scheduler": factory}
    optimizer = torch.optim.AdamW(groups, lr=train_args.learning_rate, betas=(train_args.adam_beta1,
                                  train_args.adam_beta2), eps=train_args.adam_epsilon)
    scheduler = None if "scheduler" in ds_config else torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return {"optimizer": optimizer, "lr_scheduler": scheduler}
