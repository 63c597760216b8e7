"""What the per-field confidences and the loop guard cost (issue 14), side by side on CPU.

Same model, records and batches (the job's token budget, bench (c)); only the decoding differs:

* ``before``: greedy within the tag grammar, nothing recorded, no loop guard
  (``generate_batch(loop_rule=None, probabilities=None)``, the decoding before issue 14);
* ``after``: what the job runs now (chosen-token log-probabilities and the loop guard).

Record sets are cut into chunks; each chunk runs both back to back, the order alternating. Reports
records/s (total and median of chunks), generated tokens, rows at the token limit and rows the
guard moved on (``looped``), and how many rows decode the same. Writes ``bench/results/trust_cost.{json,md}``.

    python -m bench.trust_cost --n 400 --trials 4
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Sequence

from bench.common import cpu_machine, engines_side_by_side, prompted, synthetic_records
from bench.report import markdown_table, write_results
from model.checkpoint import model_version, read_metadata, resolve_checkpoint
from model.config import EngineConfig
from model.engines import Engine, load_engine
from model.generation import Generation, generate_batch

REALISTIC = "data/eval/realistic/records.parquet"
COLUMNS = ["records", "decoding", "n", "seconds", "records_per_s", "median_records_per_s", "vs_before",
           "generated_tokens", "hit_limit", "looped", "same_text_as_before"]


class Before:
    """The engine's model decoded as before issue 14: no log-probabilities, no loop guard."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def generate(self, batch_input_ids: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        return generate_batch(self.engine.model, self.engine.tokenizer, batch_input_ids, max_new_tokens,
                              loop_rule=None, probabilities=None)


def side_by_side(label: str, records, engines: dict, trials: int, max_new_tokens: int) -> list[dict]:
    timings, outputs = engines_side_by_side(records, engines, trials, max_new_tokens, label)
    names = list(engines)
    before_rate = sum(t.records for t in timings["before"]) / sum(t.seconds for t in timings["before"])
    rows = []
    for name in names:
        seconds = sum(t.seconds for t in timings[name])
        count = sum(t.records for t in timings[name])
        generated = outputs[name].values()
        same = sum(outputs[name][key].text == outputs["before"][key].text for key in outputs[name])
        rows.append({"records": label, "decoding": name, "n": count, "seconds": round(seconds, 1),
                     "records_per_s": round(count / seconds, 2),
                     "median_records_per_s": round(statistics.median(t.records_per_s for t in timings[name]), 2),
                     "vs_before": round(count / seconds / before_rate, 3),
                     "generated_tokens": sum(g.output_tokens for g in generated),
                     "hit_limit": sum(g.hit_limit for g in generated), "looped": sum(g.looped for g in generated),
                     "same_text_as_before": f"{same}/{count}"})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/models/demo-gptj")
    parser.add_argument("--n", type=int, default=400, help="heavy-tailed synthetic bench records")
    parser.add_argument("--trials", type=int, default=4, help="chunks per record set")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--torch_threads", type=int, default=None)
    args = parser.parse_args(argv)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint)["max_new_tokens"]
    after = load_engine(checkpoint, EngineConfig(device="cpu", decode="eager", torch_threads=args.torch_threads))
    engines = {"before": Before(after), "after": after}
    budget = after.model.config.n_positions - max_new_tokens
    realistic = prompted(Path(REALISTIC), checkpoint, budget)
    with tempfile.TemporaryDirectory() as folder:
        bench = prompted(synthetic_records(args.n, args.seed, Path(folder)), checkpoint, budget)
    rows = side_by_side("bench (c)", bench, engines, args.trials, max_new_tokens)
    rows += side_by_side("realistic", realistic, engines, args.trials, max_new_tokens)
    meta = {"model": args.model, "model_version": model_version(checkpoint), "max_new_tokens": max_new_tokens,
            "trials": args.trials, "bench_seed": args.seed,
            "machine": cpu_machine()}
    table = (f"Cost of per-field confidences and the loop guard on CPU ({meta['machine']['cpu']}, "
             f"{meta['machine']['torch_threads']} torch threads, load average at the end "
             f"{meta['machine']['load_average_at_end'][0]:.1f}); model {args.model} ({meta['model_version']}), "
             f"the job's token batches, {args.trials} chunks per set, order alternating.\n\n"
             + markdown_table(rows, COLUMNS))
    write_results("trust_cost", {"meta": meta, "results": rows}, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
