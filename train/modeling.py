"""The tokenizer and the model to train: from a checkpoint (fine-tuning, full or LoRA) or a config (from scratch).

Any causal LM that ``AutoModelForCausalLM`` loads can be fine-tuned (GPT-J first, SPEC §6); a
pretrained base shipped by a package (``--base_package_file``) is converted once into the local
cache (``model.pretrained_base``) and loaded from there.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from train.args import ModelArguments


def base_folder(model_args: ModelArguments) -> str | None:
    """The local folder of the pretrained weights to start from (None when training from a config): for an
    adapter to keep training, the base it names, verified by its hashes as the job does."""
    if model_args.adapter_name_or_path:
        from model.adapters import resolve_base

        return str(resolve_base(model_args.adapter_name_or_path))
    if model_args.base_package_file:
        from model.pretrained_base import converted_base, find_package_file

        distribution, filename = model_args.base_package_file.split(":", 1)
        return str(converted_base(find_package_file(distribution, filename).path))
    return model_args.model_name_or_path


def load_or_build_tokenizer(model_args: ModelArguments, base: str | None, saved: str | Path | None = None):
    """The tokenizer with the tags as non-special tokens; pad = eos when it has none.

    ``base``: the pretrained folder (``base_folder``), whose tokenizer is used unless
    ``--tokenizer_name`` names another. ``saved``: the tokenizer a resumed run wrote in its
    checkpoint folder, so the ids the weights were trained on are the ids it keeps training on.
    """
    from train.tokenizer import add_tag_tokens, build_synthetic_tokenizer

    source = saved or model_args.tokenizer_name or model_args.adapter_name_or_path or base
    if source:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, trust_remote_code=False)
    else:
        tokenizer = build_synthetic_tokenizer(model_args.tokenizer_vocab_size, model_args.tokenizer_train_records,
                                              model_args.tokenizer_seed)
    add_tag_tokens(tokenizer)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_model(model_args: ModelArguments, tokenizer, base: str | None) -> PreTrainedModel:
    """The causal LM to train, with room for every token of ``tokenizer``.

    From a config: the vocabulary is the config's, grown (to a multiple of 64) only when
    the tokenizer is larger. From a checkpoint (``base``): the embedding is resized only when
    the tokenizer does not fit the existing rows (GPT-J-6B's 50,400 rows hold the 50,257 BPE
    tokens and the tags, so its parameter count is unchanged) — for a LoRA adapter to exactly
    the tokenizer's size, since every added row must be one the adapter trains; rows taken by
    new tokens start at the mean of the trained rows. An adapter kept training is applied to the base as
    the job applies it (``model.adapters.merge_adapter``), trainable again. Called under ``torch.device("meta")`` it
    builds the model without allocating weights. Weights are fp32 (DeepSpeed casts them for
    fp16/bf16 training): transformers 5 would otherwise load a half-precision checkpoint in its
    own dtype (``dtype="auto"`` by default).
    """
    n_tokens = len(tokenizer)
    if base:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True,
                                                     trust_remote_code=False)
        rows = model.get_input_embeddings().num_embeddings
        first_new = _base_vocab_size(tokenizer)
        if n_tokens > rows:
            model.resize_token_embeddings(n_tokens, pad_to_multiple_of=None if model_args.trains_adapter else 64)
        if not model_args.adapter_name_or_path:  # an adapter's rows are its own; the rest stay as the job loads them
            _init_rows(model, first_new=min(first_new, rows), end=n_tokens)
    else:
        with open(model_args.config_name, encoding="utf-8") as handle:
            values = json.load(handle)
        if n_tokens > values.get("vocab_size", 0):
            values["vocab_size"] = int(math.ceil(n_tokens / 64) * 64)
        values.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id)
        config = AutoConfig.for_model(values.pop("model_type", "gptj"), **values)
        model = AutoModelForCausalLM.from_config(config)
    if model_args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if model_args.adapter_name_or_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, model_args.adapter_name_or_path, is_trainable=True)
    elif model_args.lora_r:
        model = with_lora(model, model_args, tokenizer)
    return model


def with_lora(model: PreTrainedModel, model_args: ModelArguments, tokenizer) -> PreTrainedModel:
    """The model wrapped by PEFT: LoRA on ``--lora_target_modules``, and the tag tokens' rows trained.

    The tags are tokens the base never saw (their rows start at the mean); frozen, every tag
    would read and score alike, and the job's tag grammar, loop guard and field confidences
    need them as distinct single tokens. PEFT's trainable tokens train just those rows — of
    the input embedding and, when it is not tied to it, of the output layer — and store
    them in the adapter (a few KB), so the base is never copied.
    """
    from peft import LoraConfig, get_peft_model

    from formats.tags import ALL_TAG_TOKENS

    tag_ids = sorted({tokenizer.convert_tokens_to_ids(text) for tag in ALL_TAG_TOKENS for text in (tag, " " + tag)})
    names = {module: name for name, module in model.named_modules()}
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    trainable = {names[inputs].rsplit(".", 1)[-1]: tag_ids}
    tied = outputs is not None and outputs.weight is inputs.weight
    if outputs is not None and not tied:
        trainable[names[outputs].rsplit(".", 1)[-1]] = tag_ids
    targets = model_args.lora_target_modules
    config = LoraConfig(r=model_args.lora_r, lora_alpha=model_args.lora_alpha or 2 * model_args.lora_r,
                        lora_dropout=model_args.lora_dropout, task_type="CAUSAL_LM",
                        target_modules=targets if targets == "all-linear" else targets.split(","),
                        trainable_token_indices=trainable, ensure_weight_tying=tied)
    return get_peft_model(model, config)


def _base_vocab_size(tokenizer) -> int:
    """Size of the vocabulary before added tokens (GPT-J's tokenizer: 50,257)."""
    added = tokenizer.get_added_vocab()
    specials = set(tokenizer.all_special_tokens)
    return len(tokenizer) - sum(1 for token in added if token not in specials)


@torch.no_grad()
def _init_rows(model: PreTrainedModel, first_new: int, end: int) -> None:
    """Start the embedding and output rows of new tokens at the mean of the trained rows."""
    if end <= first_new or first_new <= 0:
        return
    inputs = model.get_input_embeddings().weight
    outputs = model.get_output_embeddings()
    if inputs.device.type == "meta":
        return
    inputs[first_new:end] = inputs[:first_new].mean(dim=0, keepdim=True)
    if outputs.weight is not inputs:  # tied output rows are the input rows
        outputs.weight[first_new:end] = outputs.weight[:first_new].mean(dim=0, keepdim=True)
    if getattr(outputs, "bias", None) is not None:
        outputs.bias[first_new:end] = outputs.bias[:first_new].mean()


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
