"""GPU check for a lent H100/H200: hf vs deepspeed (kernel injection) on a GPT-J-6B-shaped model.

The model has GPT-J-6B's shape with random fp16 weights built directly on the GPU (no
download, ~12 GB). For batch 1/8/32/64, 128-token prompts and exactly 64 new tokens
(``min_new_tokens`` keeps random weights from stopping early), it measures tokens/s for
each engine, the greedy parity between engines (token for token, every row), and the
decode step time against the memory-bandwidth bound: a decode step must read every weight
once, so it cannot beat weight bytes ÷ copy bandwidth (measured here with a device copy).
Results go to ``bench/results/gpu_check.{json,md}`` after each step, so a timeout keeps
what was measured. ``--tiny`` runs the same code on a 2-layer model on CPU (smoke test).

    python -m bench.gpu_check            # on the GPU machine, via bench/gpu_check.sh
    python -m bench.gpu_check --tiny     # anywhere, seconds
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Sequence

import torch
from transformers import GPTJConfig, GPTJForCausalLM

from bench.common import RESULTS, markdown_table
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


def save(payload: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "gpu_check_tiny" if payload["tiny"] else "gpu_check"
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    table = markdown_table(payload["rows"], ["engine", "batch", "tokens_per_s", "seconds", "decode_step_ms",
                                             "bandwidth_bound_ms", "step_over_bound"]) if payload["rows"] else ""
    parity = "\n".join(f"- batch {b}: {p}" for b, p in payload["parity"].items())
    (RESULTS / f"{name}.md").write_text(f"{payload['device']}\n\n{table}\n\nGreedy parity hf vs deepspeed:\n{parity}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="2-layer model on CPU: a smoke test of this script")
    parser.add_argument("--batches", default="1,8,32,64")
    parser.add_argument("--prompt_tokens", type=int, default=128)
    parser.add_argument("--new_tokens", type=int, default=64)
    args = parser.parse_args(argv)

    if not args.tiny and not torch.cuda.is_available():
        parser.error("no GPU: run on the GPU machine, or pass --tiny for the CPU smoke test")
    device = torch.device("cpu" if args.tiny else "cuda")
    dtype = torch.float32 if args.tiny else torch.float16
    model = build_model(TINY if args.tiny else GPTJ_6B, device, dtype)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    bandwidth = copy_bandwidth(device, 0.0625 if args.tiny else 2.0)
    generator = torch.Generator().manual_seed(1)
    batches = [int(b) for b in args.batches.split(",")]
    prompts = {b: torch.randint(1, model.config.vocab_size, (b, args.prompt_tokens), generator=generator).to(device)
               for b in batches}
    payload = {"tiny": args.tiny, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
               "weight_bytes": weight_bytes, "copy_bandwidth_gb_s": round(bandwidth / 1e9, 1), "rows": [],
               "parity": {}}

    rows, reference = measure("hf", model, prompts, args.new_tokens, weight_bytes, bandwidth)
    payload["rows"] += rows
    save(payload)
    config = EngineConfig(checkpoint="(random weights)", engine="deepspeed", device=device.type,
                          dtype="float32" if args.tiny else "float16", kernel_inject=True)
    ds_model = deepspeed_module(model, config)  # kernel injection on CUDA; replaces modules in place
    rows, outputs = measure("deepspeed", ds_model, prompts, args.new_tokens, weight_bytes, bandwidth)
    payload["rows"] += rows
    for batch in batches:
        equal_rows = (outputs[batch] == reference[batch]).all(dim=1)
        payload["parity"][batch] = f"{int(equal_rows.sum())}/{batch} rows identical"
    save(payload)
    print(json.dumps(payload["parity"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
