"""The synthetic generator's speed and the lengths of what it makes, per layout of the training mix.

Training generates every example on the fly (about 110,000 for the demo model), so the generator must
stay far ahead of the optimiser; prompt and completion lengths, in the demo model's tokens, show what
the layouts ask of the prompt budget. Writes ``bench/results/synthetic.{json,md}``.

    python -m bench.synthetic --n 3000 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Sequence

from bench.report import markdown_table, write_results
from formats.prompt import build_completion, build_prompt
from train.synthetic import LAYOUTS, Generator

COLUMNS = ["layout", "share", "prompt_tokens_median", "prompt_tokens_p95", "completion_tokens_median",
           "completion_tokens_p95"]


def _p95(values: list[int]) -> int:
    return sorted(values)[max(0, int(0.95 * len(values)) - 1)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="records per timed repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uncued_credits", type=float, default=0.5, help="the training mix's knob")
    parser.add_argument("--tokenizer", default="data/models/demo-gptj")
    args = parser.parse_args(argv)

    generator = Generator(0, "train", uncued_credits=args.uncued_credits)
    list(generator.records(20))  # build the pools once, outside the timing
    rates = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        records = list(generator.records(args.n, start=repeat * args.n))
        rates.append(args.n / (time.perf_counter() - start))

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    rows = []
    for layout in LAYOUTS:
        chosen = [r for r in records if r.layout == layout]
        prompts = [len(tokenizer(build_prompt(r.back_ocr or [], r.front_ocr or [], r.language)).input_ids)
                   for r in chosen]
        completions = [len(tokenizer(build_completion(r.language, r.labels)).input_ids) for r in chosen]
        rows.append({"layout": layout, "share": round(len(chosen) / len(records), 3),
                     "prompt_tokens_median": statistics.median(prompts), "prompt_tokens_p95": _p95(prompts),
                     "completion_tokens_median": statistics.median(completions),
                     "completion_tokens_p95": _p95(completions)})
    machine = {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
               "load_average_1m": os.getloadavg()[0]}
    summary = {"records_per_s": [round(r) for r in rates], "records_per_s_median": round(statistics.median(rates))}
    table = (f"Generator(0, 'train', uncued_credits={args.uncued_credits}): {summary['records_per_s_median']} "
             f"records/s (median of {args.repeats} x {args.n}, one process; load average "
             f"{machine['load_average_1m']:.1f} on {machine['cpus']} CPUs). Tokens: {args.tokenizer}'s tokenizer.\n\n"
             + markdown_table(rows, COLUMNS))
    write_results("synthetic", {"args": vars(args), "machine": machine, **summary, "layouts": rows}, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
