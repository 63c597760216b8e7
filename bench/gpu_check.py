"""GPU check for a lent H100/H200: hf vs deepspeed (without and with kernel injection) on a GPT-J-6B-shaped model.

The model has GPT-J-6B's shape with random fp16 weights built directly on the GPU (no
download, ~12 GB). For batch 1/8/32/64, 128-token prompts and exactly 64 new tokens
(``min_new_tokens`` keeps random weights from stopping early), it measures tokens/s for
each engine, the parity of each DeepSpeed mode with hf (greedy rows token for token, and
the prefill logits of a probe batch), and the decode step time against the memory-bandwidth
bound: a decode step must read every weight once, so it cannot beat weight bytes ÷ copy
bandwidth (measured here with a device copy). hf runs again last, to show order effects and
how often two hf runs disagree on random weights. An engine that fails is recorded with its
error. Last, the pipeline's ``--engine_check refuse`` check runs on the demo checkpoint. Results go to ``bench/results/gpu_check.{json,md}`` after each engine, so a timeout
keeps what was measured. ``--tiny`` runs the same code on a 2-layer model on CPU (smoke test).

    python -m bench.gpu_check            # on the GPU machine, via bench/gpu_check.sh
    python -m bench.gpu_check --tiny     # anywhere, seconds
"""
from __future__ import annotations

import argparse
import json
import time
import traceback
from typing import Sequence

import torch
from transformers import GPTJConfig, GPTJForCausalLM

from bench.report import markdown_table, write_results
from model.engines import EngineConfig, deepspeed_module

GPTJ_6B = dict(vocab_size=50400, n_positions=2048, n_embd=4096, n_layer=28, n_head=16, rotary_dim=64)
TINY = dict(vocab_size=512, n_positions=256, n_embd=64, n_layer=2, n_head=4, rotary_dim=8)


def build_model(shape: dict, device: torch.device, dtype: torch.dtype) -> GPTJForCausalLM:
    """Random weights allocated on ``device`` in ``dtype`` directly (no fp32 copy on the host)."""
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = GPTJForCausalLM(GPTJConfig(**shape, bos_token_id=0, eos_token_id=0, pad_token_id=0))
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def copy_bandwidth(device: torch.device, gib: float) -> float:
    """Bytes/s of a device-to-device copy (read + write counted), best of 5."""
    source = torch.empty(int(gib * 2**30), dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(5):
        sync(device)
        start = time.perf_counter()
        target.copy_(source)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * source.numel() / best


def timed_generate(model, prompts: torch.Tensor, new_tokens: int) -> tuple[torch.Tensor, float]:
    sync(prompts.device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, num_beams=1, use_cache=True, pad_token_id=0)
    sync(prompts.device)
    return out[:, prompts.shape[1]:], time.perf_counter() - start


def measure(engine: str, model, prompts_by_batch: dict[int, torch.Tensor], new_tokens: int,
            weight_bytes: int, bandwidth: float) -> tuple[list[dict], dict[int, torch.Tensor]]:
    rows, outputs = [], {}
    for batch, prompts in prompts_by_batch.items():
        timed_generate(model, prompts[:, :8], 2)  # warm-up (kernels, allocator)
        _, prefill = timed_generate(model, prompts, 1)
        outputs[batch], total = timed_generate(model, prompts, new_tokens)
        step = (total - prefill) / (new_tokens - 1)
        bound = weight_bytes / bandwidth
        rows.append({"engine": engine, "batch": batch, "tokens_per_s": round(batch * new_tokens / total, 1),
                     "seconds": round(total, 3), "decode_step_ms": round(step * 1e3, 2),
                     "bandwidth_bound_ms": round(bound * 1e3, 2), "step_over_bound": round(step / bound, 2)})
        print(rows[-1], flush=True)
    return rows, outputs


def prefill_agreement(model, reference_logits: torch.Tensor, prompts: torch.Tensor) -> dict:
    """Logits of one forward pass against hf's: greedy parity alone is a weak signal on random
    weights, whose near-flat logits let fp16 rounding flip the arg-max between correct kernels."""
    with torch.inference_mode():
        logits = model(input_ids=prompts, attention_mask=torch.ones_like(prompts)).logits.float()
    difference = (logits - reference_logits).abs()
    return {"max_abs_logit_diff": round(float(difference.max()), 4),
            "mean_abs_logit_diff": round(float(difference.mean()), 5),
            "reference_logit_std": round(float(reference_logits.std()), 4),
            "top1_agreement": round(float((logits.argmax(-1) == reference_logits.argmax(-1)).float().mean()), 4)}


def save(payload: dict) -> None:
    name = "gpu_check_tiny" if payload["tiny"] else "gpu_check"
    table = markdown_table(payload["rows"], ["engine", "batch", "tokens_per_s", "seconds", "decode_step_ms",
                                             "bandwidth_bound_ms", "step_over_bound"]) if payload["rows"] else ""
    parity = "\n".join(f"- {engine}: {result}" for engine, result in payload["parity"].items())
    errors = "\n".join(f"- {engine}: {error}" for engine, error in payload["errors"].items())
    write_results(name, payload, f"{payload['device']}; {payload['versions']}\n\n{table}\n\n"
                                 f"Against hf (greedy rows identical per batch; prefill logits):\n{parity}\n"
                                 + (f"\nErrors:\n{errors}\n" if errors else "")
                                 + (f"\n--engine_check refuse: {payload['verify_engine']}\n" if "verify_engine" in payload else ""))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="2-layer model on CPU: a smoke test of this script")
    parser.add_argument("--batches", default="1,8,32,64")
    parser.add_argument("--prompt_tokens", type=int, default=128)
    parser.add_argument("--new_tokens", type=int, default=64)
    parser.add_argument("--checkpoint", default="data/models/demo-gptj",
                        help="also run --engine_check refuse (the pipeline's default deepspeed engine) on this real checkpoint; '' skips")
    args = parser.parse_args(argv)

    if not args.tiny and not torch.cuda.is_available():
        parser.error("no GPU: run on the GPU machine, or pass --tiny for the CPU smoke test")
    device = torch.device("cpu" if args.tiny else "cuda")
    dtype = torch.float32 if args.tiny else torch.float16
    shape = TINY if args.tiny else GPTJ_6B
    model = build_model(shape, device, dtype)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    bandwidth = copy_bandwidth(device, 0.0625 if args.tiny else 2.0)
    generator = torch.Generator().manual_seed(1)
    batches = [int(b) for b in args.batches.split(",")]
    prompts = {b: torch.randint(1, model.config.vocab_size, (b, args.prompt_tokens), generator=generator).to(device)
               for b in batches}
    probe = prompts[max(batches)][:8]
    payload = {"tiny": args.tiny, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
               "versions": versions(), "weight_bytes": weight_bytes,
               "copy_bandwidth_gb_s": round(bandwidth / 1e9, 1), "rows": [], "parity": {}, "errors": {}}

    rows, reference = measure("hf", model, prompts, args.new_tokens, weight_bytes, bandwidth)
    with torch.inference_mode():
        reference_logits = model(input_ids=probe, attention_mask=torch.ones_like(probe)).logits.float()
    payload["rows"] += rows
    save(payload)
    # DeepSpeed without kernel injection (the pipeline default), with it, then hf again (order
    # effects, and the greedy-parity noise floor of near-flat random logits between two hf runs).
    # Each on a fresh, identically seeded model: injection replaces the model's modules in place.
    for name, engine, inject in (("deepspeed", "deepspeed", False), ("deepspeed_inject", "deepspeed", True),
                                 ("hf_repeat", "hf", False)):
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
        model = build_model(shape, device, dtype)
        config = EngineConfig(engine=engine, device=device.type, dtype="float32" if args.tiny else "float16",
                              kernel_inject=inject)
        try:
            wrapped = deepspeed_module(model, config) if engine == "deepspeed" else model
            rows, outputs = measure(name, wrapped, prompts, args.new_tokens, weight_bytes, bandwidth)
            identical = {b: f"{int((outputs[b] == reference[b]).all(dim=1).sum())}/{b}" for b in batches}
            payload["parity"][name] = {"greedy_rows_identical": identical,
                                       **prefill_agreement(wrapped, reference_logits, probe)}
            payload["rows"] += rows
        except Exception as error:  # a failed engine is a finding to report, not a reason to lose the others
            traceback.print_exc()
            payload["errors"][name] = f"{type(error).__name__}: {error}"[:2000]
        save(payload)
    if args.checkpoint:
        payload["verify_engine"] = verify_checkpoint(args.checkpoint, device)
        save(payload)
    print(json.dumps(payload["parity"]), json.dumps(payload["errors"]))
    return 0


def verify_checkpoint(checkpoint: str, device: torch.device) -> str:
    """The pipeline's own start-up check (its default deepspeed engine), on a trained model and its padded,
    mixed-length probe batch."""
    from model.checkpoint import read_metadata
    from model.verify import load_verified_engine

    config = EngineConfig(engine="deepspeed", device=device.type)
    try:
        max_new_tokens = read_metadata(checkpoint).get("max_new_tokens", 136)
        engine = load_verified_engine(checkpoint, config, max_new_tokens, "refuse")
        result = f"{checkpoint}: the {engine.name} engine matches hf on the probe batch"
    except Exception as error:
        result = f"{checkpoint}: {type(error).__name__}: {error}"
    print(result, flush=True)
    return result


def versions() -> str:
    import transformers
    try:
        import deepspeed
        deepspeed_version = deepspeed.__version__
    except ImportError:
        deepspeed_version = "not installed"
    return (f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
            f"deepspeed {deepspeed_version}")


if __name__ == "__main__":
    raise SystemExit(main())
