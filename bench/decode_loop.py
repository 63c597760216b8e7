"""CPU side by side of stock Beam, today's decode loop (``generate``) and the job's own loop, where a finished
row leaves the batch.

Same model, same records, same greedy decoding with the job's processors; the loops and batches differ:

* ``stock_beam``: stock ``RunInference``'s batching (32 records per call in arrival order) with
  ``model.generate``, as Beam's Hugging Face handler runs it;
* ``generate``: one ``model.generate`` call per batch of the job's batches before issue 28 (Beam's
  ``SortAndBatchElements``, token budget 4096), which computes every row until the batch's longest
  ends (bench/generate_loop.py);
* ``job_loop``: the job's loop (model/decode.py, eager, in-place cache) on the job's batches of
  today: a row leaves the batch the step it ends.

Three record sets: typical-length synthetic records (the project's generator), heavy-tailed ones
(bench/common.py: extra OCR lines with a Pareto tail) and the realistic set (data/eval/realistic,
measured only). Each set is cut into chunks and every chunk runs every loop back to back, the order
rotating from chunk to chunk (``interleaved``), so load from other processes falls on all alike.
Reports per set and loop: records/s and generated tokens/s (over all records and the median of the
chunks), decode-slot use (tokens made ÷ rows computed in the decode steps), the ratios to stock
Beam and to ``generate`` (overall, and the median of the per-chunk ratios to ``generate``), and rows
equal token for token. ``--sweep`` first runs the job's loop over token budgets on another seed (the
budget is chosen there, not on the compared records). Writes ``bench/results/decode_loop.{json,md}``
and ``decode_loop.png``.

    python -m bench.decode_loop --model data/models/demo-gptj --n 240 --trials 4
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path
from typing import Sequence

from bench.common import (chunks_of, cpu_machine, engines_side_by_side, fixed_count, interleaved, job_prompt_budget,
                          length_stats, prompted, synthetic_records, token_batches)
from bench.decode import largest_logprob_difference
from bench.generate_loop import GenerateEngine
from bench.report import RESULTS, markdown_table, write_results
from model.checkpoint import model_version, read_metadata, resolve_checkpoint
from model.config import EngineConfig
from model.engines import load_engine
from pipeline.batching import BatchingConfig
from pipeline.job import DEFAULT_MAX_NEW_TOKENS

REALISTIC = Path("data/eval/realistic/records.parquet")
# The job's batches before issue 28: 4096 was the best budget of the CPU sweep for ``generate``, whose
# finished rows keep computing; the job's loop runs the job's batches of today (``BatchingConfig()``).
TODAY_BATCHING = BatchingConfig(max_batch_weight=4096, max_batch_size=64)
LOOPS = ("stock_beam", "generate", "job_loop")
STOCK_BATCH = 32  # stock RunInference: fixed-count batches in arrival order (bench/common.py fixed_count)
COLUMNS = ["records", "loop", "n", "seconds", "records_per_s", "median_records_per_s", "new_tokens_per_s",
           "median_new_tokens_per_s", "slot_use", "vs_stock_beam", "vs_generate", "median_vs_generate", "outputs_equal",
           "max_logprob_diff", "hours_per_million"]


def summarise(label: str, results: dict, outputs: dict) -> list[dict]:
    rows = []
    base, stock = results["generate"], results["stock_beam"]
    base_rate = sum(t.records for t in base) / sum(t.seconds for t in base)
    stock_rate = sum(t.records for t in stock) / sum(t.seconds for t in stock)
    for name in LOOPS:
        chunks = results[name]
        seconds, count = sum(t.seconds for t in chunks), sum(t.records for t in chunks)
        same = sum(outputs[name][key] == outputs["generate"][key] for key in outputs[name])
        rows.append({
            "records": label, "loop": name, "n": count, "seconds": round(seconds, 1),
            "records_per_s": round(count / seconds, 3),
            "median_records_per_s": round(statistics.median(t.records_per_s for t in chunks), 3),
            "new_tokens_per_s": round(sum(t.new_tokens for t in chunks) / seconds, 1),
            "median_new_tokens_per_s": round(statistics.median(t.new_tokens_per_s for t in chunks), 1),
            "slot_use": round(sum(t.new_tokens - t.records for t in chunks)
                              / sum(t.decode_slot_steps for t in chunks), 3),
            "vs_stock_beam": round(count / seconds / stock_rate, 3),
            "vs_generate": round(count / seconds / base_rate, 3),
            "median_vs_generate": round(statistics.median(t.records_per_s / b.records_per_s
                                                          for t, b in zip(chunks, base)), 3),
            "outputs_equal": f"{same}/{count}",
            "max_logprob_diff": f"{largest_logprob_difference(outputs['generate'], outputs[name]):.1e}",
            "hours_per_million": round(1e6 / (count / seconds) / 3600, 1),
            "per_chunk_records_per_s": [t.records_per_s for t in chunks]})
    return rows


def budget_sweep(engine, sets: dict[str, Sequence], budgets: Sequence[int], max_new_tokens: int, chunk: int,
                 rounds: int = 3) -> list[dict]:
    """records/s of the job's loop on each record set at each token budget (the job's batch-size cap
    kept), batches planned in chunks of ``chunk`` records as the comparison plans them: ``rounds``
    runs of every budget, the order rotating from round to round; the median and the range."""
    if not budgets:
        return []
    sweep = []
    for label, records in sets.items():
        parts = chunks_of(records, -(-len(records) // chunk))
        plans = {budget: [batch for part in parts
                          for batch in token_batches(part, BatchingConfig(max_batch_weight=budget), max_new_tokens)]
                 for budget in budgets}
        runs = {budget: (lambda index, budget=budget: (plans[budget], engine)) for budget in budgets}
        results, _ = interleaved(rounds, runs, max_new_tokens, f"{label} sweep")
        for budget in budgets:
            rates = [result.records_per_s for result in results[budget]]
            sweep.append({"records": label, "budget": budget, "batches": len(plans[budget]),
                          "median_records_per_s": round(statistics.median(rates), 2),
                          "range": f"{min(rates):.2f}–{max(rates):.2f}"})
    return sweep


def plot(rows: list[dict], title: str, name: str = "decode_loop") -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on CI or workers
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(row["records"] for row in rows))
    figure, axis = plt.subplots(figsize=(7, 4.2))
    width = 0.27
    for offset, loop in zip((-width, 0, width), LOOPS):
        mine = [next(r for r in rows if r["records"] == label and r["loop"] == loop) for label in labels]
        bars = axis.bar([i + offset for i in range(len(labels))], [r["median_records_per_s"] for r in mine], width,
                        label=loop)
        if loop == "job_loop":
            axis.bar_label(bars, labels=[f"chunk ratio ×{r['median_vs_generate']:.2f}" for r in mine], fontsize=8)
    axis.set_xticks(range(len(labels)), labels)
    axis.set_ylabel("records / s (median of chunks; ratio: median of paired chunks)", fontsize=8)
    axis.set_title(title, fontsize=9)
    axis.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / f"{name}.png", dpi=120)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--n", type=int, default=240, help="records per set (the realistic set holds 132)")
    parser.add_argument("--trials", type=int, default=4, help="chunks per record set, one figure each")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--torch_threads", type=int, default=None)
    parser.add_argument("--sets", default="typical,heavy_tailed,realistic", help="record sets to run, in order")
    parser.add_argument("--name", default="decode_loop", help="results file stem under bench/results/")
    parser.add_argument("--sweep", default="",
                        help="token budgets to sweep the job's loop over first, e.g. 4096,8192,16384 (records/s on "
                             "--sweep_n typical and heavy-tailed records of --sweep_seed, a split the comparison "
                             "does not use)")
    parser.add_argument("--sweep_n", type=int, default=320)
    parser.add_argument("--job_budget", type=int, default=BatchingConfig().max_batch_weight,
                        help="token budget of the job's loop's batches (default: the job's)")
    parser.add_argument("--sweep_seed", type=int, default=5)
    args = parser.parse_args(argv)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint).get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    engine = load_engine(checkpoint, EngineConfig(device="cpu", decode="eager", torch_threads=args.torch_threads))
    generate = GenerateEngine(engine.model, engine.tokenizer)
    loops = {"stock_beam": generate, "generate": generate, "job_loop": engine}
    prompt_budget = job_prompt_budget(checkpoint, max_new_tokens)
    with tempfile.TemporaryDirectory() as folder:
        sets = {"typical": prompted(synthetic_records(args.n, args.seed, Path(folder) / "t", None), checkpoint,
                                    prompt_budget),
                "heavy_tailed": prompted(synthetic_records(args.n, args.seed, Path(folder) / "h"), checkpoint,
                                         prompt_budget),
                "realistic": prompted(REALISTIC, checkpoint, prompt_budget)[:args.n]}
        swept = {"typical": prompted(synthetic_records(args.sweep_n, args.sweep_seed, Path(folder) / "s", None),
                                     checkpoint, prompt_budget),
                 "heavy_tailed": prompted(synthetic_records(args.sweep_n, args.sweep_seed, Path(folder) / "sh"),
                                          checkpoint, prompt_budget)} if args.sweep else {}
    sets = {label: sets[label] for label in args.sets.split(",")}
    for loop in loops.values():  # untimed warm-up
        loop.generate([r.input_ids for r in next(iter(sets.values()))[:2]], max_new_tokens)

    sweep = budget_sweep(engine, swept, [int(b) for b in args.sweep.split(",") if b], max_new_tokens,
                         chunk=-(-args.n // args.trials))
    batching = {"generate": TODAY_BATCHING, "job_loop": BatchingConfig(max_batch_weight=args.job_budget)}
    planners = {"stock_beam": lambda chunk: fixed_count(chunk, STOCK_BATCH),
                **{name: (lambda chunk, config=config: token_batches(chunk, config, max_new_tokens))
                   for name, config in batching.items()}}
    rows: list[dict] = []
    for label, records in sets.items():
        results, outputs = engines_side_by_side(records, loops, args.trials, max_new_tokens, label, planners)
        rows += summarise(label, results, outputs)
    machine = cpu_machine()
    meta = {"model": args.model, "model_version": model_version(checkpoint), "max_new_tokens": max_new_tokens,
            "prompt_tokens": {label: length_stats(records) for label, records in sets.items()},
            "seed": args.seed, "trials": args.trials,
            "batching": {name: dataclasses.asdict(config) for name, config in batching.items()},
            "sweep": sweep, "machine": machine}
    title = (f"Decode loops on CPU ({machine['cpu']}, {machine['torch_threads']} torch threads, load average at the "
             f"end {machine['load_average_at_end'][0]:.1f}), {args.model}")
    table = (f"{title} ({meta['model_version']}), max_new_tokens {max_new_tokens}; stock_beam: "
             f"{STOCK_BATCH} records per generate call in arrival order; the others: batches as the job makes them "
             f"(Beam's SortAndBatchElements), token budget {TODAY_BATCHING.max_batch_weight} for generate (the job's "
             f"before issue 28) and {args.job_budget} for the job's loop (its default now: "
             f"{BatchingConfig().max_batch_weight}), at most {BatchingConfig().max_batch_size} records. "
             f"{args.trials} chunks per set, loops interleaved chunk by chunk; "
             f"median_*: median of the chunks; median_vs_generate: median of the per-chunk ratios; slot_use: "
             f"tokens after each row's first ÷ rows computed in the decode steps; hours_per_million: at the overall "
             f"records/s. Prompt tokens: {meta['prompt_tokens']}.\n\n" + markdown_table(rows, COLUMNS))
    if sweep:
        table += (f"\n\nThe job's loop over token budgets ({args.sweep_n} typical and {args.sweep_n} heavy-tailed "
                  f"records of synthetic seed {args.sweep_seed}, not the seed compared above, batched in chunks of "
                  f"{-(-args.n // args.trials)} records as above; 3 rounds, the budgets' order rotating):\n\n"
                  + markdown_table(sweep, ["records", "budget", "batches", "median_records_per_s", "range"]))
    write_results(args.name, {"meta": meta, "results": rows}, table)
    plot(rows, title, args.name)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
