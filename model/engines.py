"""The inference engines behind one interface: ``hf`` (plain transformers) and ``deepspeed``.

Both hold one causal LM (GPT-J, Llama, ...; a LoRA adapter already merged into its base) and its
tokenizer and expose ``generate(batch_input_ids, max_new_tokens)``; the pipeline's model handler
does not know which one it has.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from model.config import ENGINES, EngineConfig
from model.decode import DecodeConfig, Decoder
from model.distributed import single_process_env
from model.generation import Generation, generate_batch
from model.loading import load_model, load_tokenizer, resolve_device, resolve_dtype, weights_folder
from model.memory import check_model_fits
from model.threads import available_cpus

@dataclass
class Engine:
    """A loaded model ready to generate; ``name`` says which engine wraps it."""

    name: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    decoder: Decoder | None = field(default=None, compare=False)

    def generate(self, batch_input_ids: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        return generate_batch(self.model, self.tokenizer, batch_input_ids, max_new_tokens, decoder=self.decoder)

    def warm_up(self, max_new_tokens: int) -> float:
        """Compile the decode graphs now rather than inside the first batches (GPU, ``--decode compiled``)."""
        return self.decoder.warm_up(self.tokenizer.pad_token_id, max_new_tokens) if self.decoder else 0.0


def load_engine(checkpoint: str, config: EngineConfig = EngineConfig()) -> Engine:
    """The engine of ``config`` around the checkpoint in the local folder ``checkpoint``."""
    if config.engine not in ENGINES:
        raise ValueError(f"unknown engine {config.engine!r}; choose one of {', '.join(ENGINES)}")
    torch.set_num_threads(config.torch_threads or available_cpus())  # why: model/threads.py
    tokenizer = load_tokenizer(checkpoint)
    device = resolve_device(config.device)
    weights = weights_folder(checkpoint)  # an adapter's base, verified once: what memory must hold
    check_model_fits(weights, device, resolve_dtype(config.dtype, device))
    model = load_model(checkpoint, config.device, config.dtype, config.allow_pickle_weights, base_dir=weights)
    if config.engine == "deepspeed":
        model = deepspeed_module(model, config)
    return Engine(name=config.engine, model=model, tokenizer=tokenizer, decoder=decoder_for(config, model))


def decoder_for(config: EngineConfig, model: PreTrainedModel) -> Decoder:
    """The decode loop ``config`` asks for (``--decode``, ``--decode_slots``) around ``model``."""
    return Decoder(DecodeConfig(mode=config.decode, slots=config.decode_slots), model)


def deepspeed_module(model: PreTrainedModel, config: EngineConfig) -> PreTrainedModel:
    """Wrap the model with ``deepspeed.init_inference`` and return the module that generates.

    Kernel injection (fused fp16 kernels) is a GPU feature; on CPU DeepSpeed runs the
    original modules, which keeps outputs equal to ``hf``. One process, one device: a Beam
    SDK worker is not started by the ``deepspeed`` launcher, so there is no process group
    to split the model over GPUs (one model per GPU, ``--model_copies``, instead).
    """
    import deepspeed  # imported here: the hf engine must work without DeepSpeed installed

    single_process_env()
    device = resolve_device(config.device)
    engine = deepspeed.init_inference(
        model,
        tensor_parallel={"tp_size": 1},
        dtype=resolve_dtype(config.dtype, device),
        replace_with_kernel_inject=config.kernel_inject and device.type == "cuda",
    )
    return engine.module
