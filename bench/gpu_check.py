"""GPU check for a lent H100/H200: the decode paths on a GPT-J-6B-shaped model against the memory-bandwidth bound.

The model has GPT-J-6B's shape (configs/gptj_6b.json) with random fp16 weights built on the
GPU (no download, 12.1 GB). A decode step must read every weight once, so it cannot beat
weight bytes ÷ copy bandwidth (measured here with a large device-to-device copy): that is
the bound each step is compared with. Stages, each saved as soon as it ends (a timeout keeps
what was measured), each skipped when the time budget left is too small for it:

1. ``hf`` eager and 2. ``compiled`` (model/decode.py, the job's decode loop: dynamic cache, or
   static cache, torch.compile, CUDA graphs) at batch 1, 8, 32, 64, 128 with 128-token prompts and a
   forced 64 new tokens: tokens/s, decode step (ms) vs the bound, prefill, warm-up (compile) seconds.
   Variant ``job`` runs the job's logits processors (tag grammar, loop guard, log-probabilities; the
   loop guard's end token is a non-stop token here so random weights keep going), ``bare`` none,
   which shows the processors' share of a step. The stop tokens are banned, so every row runs the
   full length.
3. parity: greedy rows of ``compiled`` (and of every later engine) equal to eager fp16, with
   the differing rows and the first step where they differ.
4. ``deepspeed`` (``init_inference`` without kernel injection, the pipeline's engine) and,
   with ``--inject``, kernel injection (known to fail with transformers 5, docs/throughput.md).
5. the pipeline's ``--engine_check refuse`` on the demo checkpoint with ``--decode compiled``.
6. a heavy-tailed prompt mix through the job's own ``generate_batch`` (as bench/common.py's
   synthetic records: a normal base plus a Pareto(1.2) tail of extra OCR lines, here not cut at
   the demo model's 376-token budget), batched like the job (sorted, token budget): eager (finished
   rows leave the batch), today's ``generate`` loop (bench/generate_loop.py) and compiled (every
   row of a batch at once): records/s, new tokens/s, decode-slot use, rows equal, graphs compiled.
6b. ``refill``: the whole mix as one bundle through ``max(batches)`` compiled slots, each freed
   slot refilled with the next prompt (issue 28): the same figures, rows equal to eager.
7. continuous batching (transformers' ``generate_batch``, paged cache) on the batch-64 prompts
   and the mix: it cannot run the job's processors (they need each row's tokens), so it is
   measured as a candidate, not offered as a job option.
8. ``hf`` eager again (order effects; the hf-vs-hf parity floor of near-flat random logits).

Writes ``gpu_check.json`` and ``gpu_check.md`` under ``--out`` ($OUT on the device; keep them in
bench/results/gpu/). ``--tiny`` runs every stage on a 2-layer model on CPU in seconds (smoke test).

    bench/gpu_check.sh                 # on the GPU machine (< 8 minutes)
    bench/gpu_check.sh --tiny          # anywhere
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from transformers import GPTJConfig, GPTJForCausalLM, LogitsProcessor

from bench.report import markdown_table
from model.config import EngineConfig
from model.decode import DecodeConfig, Decoder, bucket
from bench.generate_loop import decode_slot_use, generate_batch as generate_loop_batch, generate_slot_steps
from model.generation import LoopGuard, TagGrammar, completion_tag_ids, generate_batch, stop_token_ids

GPTJ_6B = Path(__file__).resolve().parent.parent / "configs" / "gptj_6b.json"
TINY = dict(n_positions=512, n_embd=64, n_layer=2, n_head=4, rotary_dim=8)
ROW_COLUMNS = ["engine", "variant", "batch", "tokens_per_s", "decode_step_ms", "bandwidth_bound_ms", "step_over_bound",
               "prefill_ms", "first_call_s"]
MIX_COLUMNS = ["engine", "records", "batches", "seconds", "records_per_s", "new_tokens_per_s", "slot_use",
               "rows_equal_to_eager", "compiled_graphs"]


@dataclass
class Check:
    """The run's settings, its clock and everything measured so far (written after every stage)."""

    tiny: bool
    out: Path
    budget_s: float
    started: float = field(default_factory=time.perf_counter)
    payload: dict[str, Any] = field(default_factory=dict)

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def stage(self, name: str, estimate_s: float, run: Callable[[], Any]) -> None:
        """Run one stage unless less than its estimate is left; a failure is recorded, not fatal."""
        if not self.tiny and self.left() < estimate_s:
            self.payload["skipped"][name] = f"{self.left():.0f} s left, stage needs about {estimate_s:.0f} s"
        else:
            start = time.perf_counter()
            try:
                run()
            except Exception as error:  # one failed engine is a finding, not a reason to lose the others
                traceback.print_exc()
                self.payload["errors"][name] = f"{type(error).__name__}: {error}"[:2000]
            self.payload["stage_seconds"][name] = round(time.perf_counter() - start, 1)
        self.save()

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        stem = "gpu_check_tiny" if self.tiny else "gpu_check"
        (self.out / f"{stem}.json").write_text(json.dumps(self.payload, indent=2) + "\n")
        (self.out / f"{stem}.md").write_text(report(self.payload) + "\n")


def report(payload: dict) -> str:
    parity = "\n".join(f"- {name}: {result}" for name, result in payload["parity"].items())
    problems = "\n".join(f"- {k}: {v}" for k, v in {**payload["errors"], **payload["skipped"]}.items())
    return (f"{payload['device']}; {json.dumps(payload['versions'])}\n\nweights {payload['weight_bytes'] / 1e9:.2f} GB, "
            f"copy bandwidth {payload['copy_bandwidth_gb_s']} GB/s, bound {payload['bandwidth_bound_ms']} ms/step\n\n"
            + markdown_table(payload["rows"], ROW_COLUMNS)
            + "\n\nGreedy rows equal to eager fp16:\n" + parity
            + ("\n\nHeavy-tailed mix through the job's generate_batch:\n\n" + markdown_table(payload["mix"], MIX_COLUMNS)
               if payload["mix"] else "")
            + (f"\n\n--engine_check refuse, --decode compiled: {payload['engine_check']}" if payload.get("engine_check") else "")
            + (f"\n\nErrors and skipped stages:\n{problems}" if problems else ""))


def build_model(shape: dict, device: torch.device, dtype: torch.dtype) -> GPTJForCausalLM:
    """Random weights allocated on ``device`` in ``dtype`` directly (no fp32 copy on the host)."""
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = GPTJForCausalLM(GPTJConfig(**shape))
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


class BanStops(LogitsProcessor):
    """Bans the stop tokens, so every row runs the full forced length (random weights, same work per step)."""

    def __init__(self, stops: Sequence[int]):
        self.stops = list(stops)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return scores.index_fill(1, torch.tensor(self.stops, device=scores.device), float("-inf"))


def timed(decoder: Decoder, tokenizer, prompts: torch.Tensor, new_tokens: int,
          variant: str) -> tuple[torch.Tensor, float]:
    """The job's decode loop forced to ``new_tokens`` per row: its tokens and the seconds it took.

    ``job``: the job's processors and log-probabilities, the loop guard's end token one that is not
    a stop token (same work per step, but a looping random row keeps going); ``bare``: none.
    """
    stops = stop_token_ids(tokenizer)
    processors: list[LogitsProcessor] = []
    if variant == "job":
        not_a_stop = next(i for i in range(1, 100) if i not in stops)
        processors = [TagGrammar(tokenizer), LoopGuard(0, not_a_stop, completion_tag_ids(tokenizer))]
    processors.append(BanStops(stops))
    device = prompts.device
    sync(device)
    start = time.perf_counter()
    decoded = decoder.decode(prompts.tolist(), new_tokens, processors, stops, tokenizer.pad_token_id,
                             "model" if variant == "job" else None)
    sync(device)
    return torch.tensor([row.tokens for row in decoded]), time.perf_counter() - start


def measure(check: Check, engine: str, decoder: Decoder, tokenizer, prompts: dict[int, torch.Tensor],
            new_tokens: int, variant: str = "job") -> dict[int, torch.Tensor]:
    """One row per batch size; the first call (compiling, for the compiled path) is timed apart."""
    bound = check.payload["bandwidth_bound_ms"] / 1e3
    outputs = {}
    for batch, ids in prompts.items():
        _, first = timed(decoder, tokenizer, ids, new_tokens, variant)
        _, prefill = timed(decoder, tokenizer, ids, 1, variant)
        outputs[batch], total = timed(decoder, tokenizer, ids, new_tokens, variant)
        step = (total - prefill) / (new_tokens - 1)
        check.payload["rows"].append({
            "engine": engine, "variant": variant, "batch": batch, "tokens_per_s": round(batch * new_tokens / total, 1),
            "decode_step_ms": round(step * 1e3, 3), "bandwidth_bound_ms": round(bound * 1e3, 3),
            "step_over_bound": round(step / bound, 2), "prefill_ms": round(prefill * 1e3, 2),
            "first_call_s": round(first, 2), "seconds": round(total, 4)})
        print(check.payload["rows"][-1], flush=True)
        check.save()
    return outputs


def parity(reference: dict[int, torch.Tensor], outputs: dict[int, torch.Tensor]) -> dict[str, Any]:
    """Rows identical to the reference, per batch, with the differing rows and their first differing step."""
    result: dict[str, Any] = {}
    equal = total = 0
    for batch, want in reference.items():
        if batch not in outputs:
            continue
        got = outputs[batch]
        same = (got == want).all(dim=1)
        first = {row: int((got[row] != want[row]).nonzero()[0]) for row in (~same).nonzero().flatten().tolist()[:8]}
        differing = [{"row": row, "first_step": step, "eager_id": int(want[row][step]), "other_id": int(got[row][step])}
                     for row, step in first.items()]
        result[str(batch)] = {"equal": f"{int(same.sum())}/{batch}", "differing": differing}
        equal, total = equal + int(same.sum()), total + batch
    result["share_equal"] = round(equal / total, 4) if total else None
    return result


def prompt_mix(n: int, seed: int, vocab: int, budget: int) -> list[list[int]]:
    """Prompts with the CPU bench's heavy-tailed lengths (bench/common.py): a normal base of ~90
    tokens plus Pareto(1.2) extra OCR lines of ~12 tokens (p50 ~104, p90 ~165, p99 ~550), cut at ``budget``."""
    rng = random.Random(seed)
    lengths = [min(budget, int(max(24, rng.gauss(90, 15)) + 12 * (rng.paretovariate(1.2) - 1))) for _ in range(n)]
    return [[rng.randrange(1, vocab) for _ in range(length)] for length in lengths]


def job_batches(prompts: list[list[int]], max_new_tokens: int, budget: int, max_rows: int) -> list[list[int]]:
    """Indices of ``prompts`` cut as the job does: sorted by weight (prompt + ``max_new_tokens``),
    each batch strictly under the token budget and at most ``max_rows``."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    batches: list[list[int]] = [[]]
    weight = 0
    for i in order:
        cost = len(prompts[i]) + max_new_tokens
        if batches[-1] and (weight + cost >= budget or len(batches[-1]) >= max_rows):
            batches.append([])
            weight = 0
        batches[-1].append(i)
        weight += cost
    return batches


def compiled_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"].get("unique_graphs", 0))


def run_mix(check: Check, name: str, device: torch.device, mix: list[list[int]], batches: list[list[int]],
            generate: Callable[[list[list[int]]], list[Any]], decoder: Decoder | None,
            reference: dict[int, Any] | None) -> dict[int, Any]:
    """One decode loop over the mix, batch by batch (real stop tokens and loop guard: rows may end early).

    ``decoder``: the job's loop, whose counts give the decode slots computed; None for ``generate``
    (every row of a batch until its longest ends). ``slot_use``: tokens after each row's first over slots.
    """
    graphs = compiled_graphs()
    slots_before = decoder.counts.slot_steps if decoder else 0
    outputs: dict[int, Any] = {}
    per_batch = []
    sync(device)
    start = time.perf_counter()
    for batch in batches:
        per_batch.append(generate([mix[i] for i in batch]))
        outputs.update(zip(batch, per_batch[-1]))
    sync(device)
    seconds = time.perf_counter() - start
    new = sum(g.output_tokens for g in outputs.values())
    slot_steps = decoder.counts.slot_steps - slots_before if decoder else generate_slot_steps(per_batch)
    same = sum(outputs[i] == reference[i] for i in outputs) if reference else len(outputs)
    check.payload["mix"].append({"engine": name, "records": len(outputs), "batches": len(batches),
                                 "seconds": round(seconds, 2), "records_per_s": round(len(outputs) / seconds, 2),
                                 "new_tokens_per_s": round(new / seconds, 1),
                                 "slot_use": decode_slot_use(outputs.values(), slot_steps),
                                 "rows_equal_to_eager": f"{same}/{len(outputs)}",
                                 "compiled_graphs": compiled_graphs() - graphs})
    print(check.payload["mix"][-1], flush=True)
    check.save()
    return outputs


def continuous_batching(check: Check, model, prompts: torch.Tensor, mix: list[list[int]], new_tokens: int,
                        max_new_mix: int) -> None:
    """transformers' ``generate_batch`` (paged cache, continuous batching): tokens/s on the batch prompts
    (forced length: no end-of-text id) and on the mix (same limit as the job's mix run, no stop either).

    On the GPU it sizes its paged cache itself; on CPU (``--tiny``) a small cache, since the
    automatic one spent a minute allocating for a 2-layer model.
    """
    from transformers import GenerationConfig
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    paged = ContinuousBatchingConfig(num_blocks=64, max_batch_tokens=1024) if check.tiny else None

    for label, inputs, limit in (("fixed", prompts.tolist(), new_tokens), ("mix", mix, max_new_mix)):
        config = GenerationConfig(max_new_tokens=limit, do_sample=False, eos_token_id=-1, pad_token_id=0)
        sync(model.device)
        start = time.perf_counter()
        with torch.inference_mode():
            results = model.generate_batch(inputs=inputs, generation_config=config, continuous_batching_config=paged)
        sync(model.device)
        seconds = time.perf_counter() - start
        new = sum(len(r.generated_tokens) for r in results.values())
        check.payload["continuous_batching"][label] = {"requests": len(inputs), "seconds": round(seconds, 2),
                                                       "new_tokens": new, "new_tokens_per_s": round(new / seconds, 1)}
        print(label, check.payload["continuous_batching"][label], flush=True)
        check.save()


def versions() -> dict[str, str]:
    import transformers

    try:
        import deepspeed
        deepspeed_version = deepspeed.__version__
    except Exception as error:  # ImportError, or a DeepSpeed that fails to import on this stack
        deepspeed_version = f"unavailable ({type(error).__name__})"
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        driver = "no nvidia-smi"
    return {"torch": torch.__version__, "cuda": str(torch.version.cuda), "driver": driver,
            "transformers": transformers.__version__, "deepspeed": deepspeed_version,
            "python": sys.version.split()[0]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="2-layer model on CPU: a smoke test of every stage")
    parser.add_argument("--out", default=os.environ.get("OUT") or "bench/results/gpu",
                        help="folder for gpu_check.{json,md} (default: $OUT, else bench/results/gpu)")
    parser.add_argument("--budget_s", type=float, default=400, help="seconds for all stages; later ones are skipped")
    parser.add_argument("--batches", default=None, help="default 1,8,32,64,128 (tiny: 1,2,4)")
    parser.add_argument("--prompt_tokens", type=int, default=None, help="default 128 (tiny: 16)")
    parser.add_argument("--new_tokens", type=int, default=None, help="default 64 (tiny: 6)")
    parser.add_argument("--mix", type=int, default=None, help="records in the heavy-tailed mix (default 256, tiny 12)")
    parser.add_argument("--mix_new_tokens", type=int, default=None, help="the mix's max_new_tokens (default 136, tiny 6)")
    parser.add_argument("--mix_budget", type=int, default=32768, help="the mix's token budget per batch")
    parser.add_argument("--inject", action="store_true", help="also DeepSpeed kernel injection (JIT build, known to fail)")
    parser.add_argument("--checkpoint", default="data/models/demo-gptj",
                        help="tokenizer for the job's processors, and the checkpoint of the engine check ('' skips it)")
    args = parser.parse_args(argv)

    if not args.tiny and not torch.cuda.is_available():
        parser.error("no GPU: run on the GPU machine, or pass --tiny for the CPU smoke test")
    tiny = args.tiny
    device = torch.device("cpu" if tiny else "cuda")
    dtype = torch.float32 if tiny else torch.float16
    batches = [int(b) for b in (args.batches or ("1,2,4" if tiny else "1,8,32,64,128")).split(",")]
    prompt_tokens = args.prompt_tokens or (16 if tiny else 128)
    new_tokens = args.new_tokens or (6 if tiny else 64)
    mix_new = args.mix_new_tokens or (6 if tiny else 136)

    from model.loading import load_tokenizer
    tokenizer = load_tokenizer(args.checkpoint or "data/models/demo-gptj")
    shape = dict(TINY, vocab_size=len(tokenizer)) if tiny else {
        k: v for k, v in json.loads(GPTJ_6B.read_text()).items() if k not in ("model_type", "architectures")}
    shape.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                 pad_token_id=tokenizer.pad_token_id)
    check = Check(tiny, Path(args.out), args.budget_s)
    model = build_model(shape, device, dtype)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    bandwidth = copy_bandwidth(device, 0.0625 if tiny else 4.0)
    check.payload.update(
        tiny=tiny, device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu", versions=versions(),
        shape=shape, dtype=str(dtype), weight_bytes=weight_bytes, copy_bandwidth_gb_s=round(bandwidth / 1e9, 1),
        bandwidth_bound_ms=round(weight_bytes / bandwidth * 1e3, 3), prompt_tokens=prompt_tokens,
        new_tokens=new_tokens, decode_config=str(DecodeConfig(mode="compiled")), rows=[], parity={}, mix=[],
        continuous_batching={}, errors={}, skipped={}, stage_seconds={})
    check.save()
    generator = torch.Generator().manual_seed(1)
    prompts = {b: torch.randint(1, shape["vocab_size"], (b, prompt_tokens), generator=generator).to(device)
               for b in batches}
    eager = Decoder(DecodeConfig(mode="eager"), model)
    compiled = Decoder(DecodeConfig(mode="compiled", warmup_batches=tuple(sorted({bucket(b, DecodeConfig().batch_buckets)
                                                                                  for b in batches}))), model)
    out: dict[str, dict] = {}

    def eager_rows() -> None:
        out["hf"] = measure(check, "hf", eager, tokenizer, prompts, new_tokens)
        measure(check, "hf", eager, tokenizer, {b: prompts[b] for b in (batches[0], batches[-1])}, new_tokens, "bare")

    def compiled_rows() -> None:
        warm = compiled.warm_up(tokenizer.pad_token_id, new_tokens, widths=(prompt_tokens,))
        check.payload["compiled_warm_up_s"] = round(warm, 1)
        check.payload["compiled_graphs_after_warm_up"] = compiled_graphs()
        out["compiled"] = measure(check, "compiled", compiled, tokenizer, prompts, new_tokens)
        check.payload["parity"]["compiled"] = parity(out["hf"], out["compiled"])
        measure(check, "compiled", compiled, tokenizer, {b: prompts[b] for b in (batches[0], batches[-1])},
                new_tokens, "bare")

    def deepspeed_rows(inject: bool) -> Callable[[], None]:
        def run() -> None:
            from model.engines import deepspeed_module

            name = "deepspeed_inject" if inject else "deepspeed"
            fresh = build_model(shape, device, dtype)
            config = EngineConfig(engine="deepspeed", device=device.type, dtype="float32" if tiny else "float16",
                                  kernel_inject=inject)
            wrapped = deepspeed_module(fresh, config)
            out[name] = measure(check, name, Decoder(DecodeConfig(mode="eager"), wrapped), tokenizer, prompts,
                                new_tokens)
            check.payload["parity"][name] = parity(out["hf"], out[name])
            del wrapped, fresh
            if device.type == "cuda":
                torch.cuda.empty_cache()
        return run

    def engine_check() -> None:
        from model.checkpoint import read_metadata
        from model.verify import load_verified_engine

        config = EngineConfig(engine="hf", device=device.type, decode="compiled")
        max_new = read_metadata(args.checkpoint).get("max_new_tokens", 136)
        engine = load_verified_engine(args.checkpoint, config, max_new, "refuse")
        check.payload["engine_check"] = f"{args.checkpoint}: {engine.name} with compiled decode matches hf eager"

    def job_loop(decoder: Decoder) -> Callable[[list[list[int]]], list[Any]]:
        return lambda prompts: generate_batch(model, tokenizer, prompts, mix_new, decoder=decoder)

    mix = prompt_mix(args.mix or (12 if tiny else 256), 4, shape["vocab_size"], shape["n_positions"] - mix_new)
    mix_batches = job_batches(mix, mix_new, args.mix_budget, max(batches))

    def mix_rows() -> None:
        lengths = sorted(len(p) for p in mix)
        check.payload["mix_prompt_tokens"] = {q: lengths[int(q * (len(lengths) - 1))] for q in (0.0, 0.5, 0.9, 0.99, 1.0)}
        out["mix"] = run_mix(check, "hf", device, mix, mix_batches, job_loop(eager), eager, None)
        run_mix(check, "hf_generate", device, mix, mix_batches,
                lambda prompts: generate_loop_batch(model, tokenizer, prompts, mix_new), None, out["mix"])
        run_mix(check, "compiled", device, mix, mix_batches, job_loop(compiled), compiled, out["mix"])

    def refill_rows() -> None:
        """The whole mix as one bundle through ``max(batches)`` slots, a freed slot refilled at once; a
        first call on two slots' worth of prompts compiles the refill's cache shape, untimed."""
        refill = Decoder(DecodeConfig(mode="compiled", slots=max(batches)), model)
        bundle = [sorted(range(len(mix)), key=lambda i: len(mix[i]))]
        job_loop(refill)([mix[i] for i in bundle[0][:2 * max(batches)]])
        run_mix(check, "compiled_refill", device, mix, bundle, job_loop(refill), refill, out.get("mix"))

    def hf_repeat() -> None:
        out["hf_repeat"] = measure(check, "hf_repeat", eager, tokenizer, prompts, new_tokens)
        check.payload["parity"]["hf_repeat"] = parity(out["hf"], out["hf_repeat"])

    check.stage("hf", 60, eager_rows)
    check.stage("compiled", 150, compiled_rows)
    check.stage("deepspeed", 50, deepspeed_rows(False))
    if args.checkpoint:
        check.stage("engine_check", 60, engine_check)
    check.stage("mix", 120, mix_rows)
    check.stage("refill", 60, refill_rows)
    check.stage("continuous_batching", 45,
                lambda: continuous_batching(check, model, prompts[max(batches)], mix, new_tokens, mix_new))
    check.stage("hf_repeat", 35, hf_repeat)
    if args.inject:
        check.stage("deepspeed_inject", 120, deepspeed_rows(True))
    check.payload["total_seconds"] = round(time.perf_counter() - check.started, 1)
    check.save()
    print(report(check.payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
