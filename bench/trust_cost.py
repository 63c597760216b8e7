"""What the per-field confidences, the loop guard (issue 14) and the evidence rules (issue 24) cost,
side by side on CPU.

Same model, records and batches (the job's token budget, bench (c)); only the decoding differs:

* ``before``: greedy within the tag grammar, nothing recorded, no loop guard
  (``generate_batch(loop_rule=None, probabilities=None)``, the decoding before issue 14);
* ``after``: what the job runs now (chosen-token log-probabilities and the loop guard).

and, for issue 24, the job's decoding followed by its per-record parse and review routing:

* ``routing before 24``: ``formats/evidence.py`` and ``formats/review.py`` as of ``BASELINE`` (read
  from git at run time, no copy kept in the tree): fuzzy evidence, no line roles, no description;
* ``routing now``: the job's routing (digits exact, line roles, missed fields, description).

The job's generation runs once per chunk; both routings then parse and route its generations, the
order rotating by chunk, and each one's records/s is records / (generation + its own parse and route).

Record sets are cut into chunks; each chunk runs both back to back, the order alternating. Reports
records/s (total and median of chunks), generated tokens, rows at the token limit and rows the
guard moved on (``looped``), and how many rows decode the same. Writes ``bench/results/trust_cost.{json,md}``
(``trust_cost.<only>.{json,md}`` with ``--only``).

    python -m bench.trust_cost --n 400 --trials 4
    python -m bench.trust_cost --only routing       # issue 24's routing alone
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, Sequence

from bench.common import cpu_machine, engines_side_by_side, job_prompt_budget, prompted, synthetic_records
from bench.report import markdown_table, write_results
from model.checkpoint import model_version, read_metadata, resolve_checkpoint
from model.config import EngineConfig
from model.engines import Engine, load_engine
from formats.parse import parse_completion
from formats.review import THRESHOLD_FIELDS, ReviewInput, route
from model.generation import Generation, generate_batch

REALISTIC = "data/eval/realistic/records.parquet"
BASELINE = "66728df"  # the last commit before issue 24's routing
COLUMNS = ["records", "decoding", "n", "seconds", "records_per_s", "median_records_per_s", "vs_before",
           "generated_tokens", "hit_limit", "looped", "same_text_as_before", "routing_ms_per_record"]


class Before:
    """The engine's model decoded as before issue 14: no log-probabilities, no loop guard."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def generate(self, batch_input_ids: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        return generate_batch(self.engine.model, self.engine.tokenizer, batch_input_ids, max_new_tokens,
                              loop_rule=None, probabilities=None)


def parse_and_route(records, generations: dict, route_fn: Callable, fields: Sequence[str]) -> float:
    """Seconds to parse and route every record's generation, as ``ParseGenerations`` does."""
    start = time.perf_counter()
    for record in records:
        generation = generations[record.id]
        parsed = parse_completion(generation.text, record.language, generation.hit_limit)
        route_fn(ReviewInput(
            values={name: getattr(parsed, name) for name in fields}, date_iso=parsed.date_iso,
            tokens=generation.fields, back=record.back_lines, front=record.front_lines,
            parse_status=parsed.status, truncated=record.truncated, looped=generation.looped,
            hit_limit=generation.hit_limit))
    return time.perf_counter() - start


def routing_side_by_side(label: str, records, engine: Engine, routes: dict, trials: int,
                         max_new_tokens: int) -> list[dict]:
    """Per chunk: the job's generation once (timed), then each routing over its generations, the order
    rotating by chunk. A routing's records/s is records / (generation + its parsing and routing)."""
    timings, outputs = engines_side_by_side(records, {"job": engine}, trials, max_new_tokens, label)
    generation_seconds = sum(t.seconds for t in timings["job"])
    chunks = [records[i::trials] for i in range(trials)]
    spent = {name: [] for name in routes}
    names = list(routes)
    for function, fields in routes.values():  # imports and compiled patterns before the clock starts
        parse_and_route(records[:5], outputs["job"], function, fields)
    for index, chunk in enumerate(chunks):
        for name in names[index % len(names):] + names[:index % len(names)]:
            function, fields = routes[name]
            spent[name].append(parse_and_route(chunk, outputs["job"], function, fields))
    reference = len(records) / (generation_seconds + sum(spent[names[0]]))
    return [{"records": label, "decoding": name, "n": len(records),
             "seconds": round(generation_seconds + sum(spent[name]), 1),
             "records_per_s": round(len(records) / (generation_seconds + sum(spent[name])), 2),
             "routing_ms_per_record": round(1000 * sum(spent[name]) / len(records), 2),
             "vs_before": round(len(records) / (generation_seconds + sum(spent[name])) / reference, 3)}
            for name in names]


def baseline_route(folder: Path) -> Callable:
    """``route`` of ``BASELINE`` (its evidence and review modules read from git into ``folder``)."""
    package = folder / "baseline_routing"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("evidence", "review"):
        source = subprocess.run(["git", "show", f"{BASELINE}:formats/{name}.py"], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).resolve().parents[1]).stdout
        (package / f"{name}.py").write_text(source.replace("from formats.evidence import",
                                                           "from baseline_routing.evidence import"))
    sys.path.insert(0, str(folder))
    module: ModuleType = importlib.import_module("baseline_routing.review")
    return lambda item: module.route(item)


def side_by_side(label: str, records, engines: dict, trials: int, max_new_tokens: int,
                 reference: str = "before") -> list[dict]:
    timings, outputs = engines_side_by_side(records, engines, trials, max_new_tokens, label)
    names = list(engines)
    before_rate = sum(t.records for t in timings[reference]) / sum(t.seconds for t in timings[reference])
    rows = []
    for name in names:
        seconds = sum(t.seconds for t in timings[name])
        count = sum(t.records for t in timings[name])
        generated = outputs[name].values()
        same = sum(outputs[name][key].text == outputs[reference][key].text for key in outputs[name])
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
    parser.add_argument("--only", choices=("decoding", "routing"), default=None,
                        help="measure only the decoding (issue 14) or only the routing (issue 24) comparison")
    args = parser.parse_args(argv)

    checkpoint = resolve_checkpoint(args.model)
    max_new_tokens = read_metadata(checkpoint)["max_new_tokens"]
    after = load_engine(checkpoint, EngineConfig(device="cpu", decode="eager", torch_threads=args.torch_threads))
    budget = job_prompt_budget(checkpoint, max_new_tokens)
    realistic = prompted(Path(REALISTIC), checkpoint, budget)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        bench = prompted(synthetic_records(args.n, args.seed, Path(folder)), checkpoint, budget)
        if args.only != "routing":
            engines = {"before": Before(after), "after": after}
            rows += side_by_side("bench (c)", bench, engines, args.trials, max_new_tokens)
            rows += side_by_side("realistic", realistic, engines, args.trials, max_new_tokens)
        if args.only != "decoding":
            routes = {"routing before 24": (baseline_route(Path(folder)), THRESHOLD_FIELDS[:-1]),
                      "routing now": (route, THRESHOLD_FIELDS)}
            for label, records in (("bench (c)", bench), ("realistic", realistic)):
                rows += routing_side_by_side(label, records, after, routes, args.trials, max_new_tokens)
    meta = {"model": args.model, "model_version": model_version(checkpoint), "max_new_tokens": max_new_tokens,
            "trials": args.trials, "bench_seed": args.seed, "routing_baseline": BASELINE,
            "machine": cpu_machine()}
    table = (f"Cost of per-field confidences and the loop guard (decoding before/after, vs_before against "
             f"before) and of issue 24's routing (routing before 24/now: generation, parsing and routing, vs_before "
             f"against routing before 24, {BASELINE}) on CPU ({meta['machine']['cpu']}, "
             f"{meta['machine']['torch_threads']} torch threads, load average at the end "
             f"{meta['machine']['load_average_at_end'][0]:.1f}); model {args.model} ({meta['model_version']}), "
             f"the job's token batches, {args.trials} chunks per set, order alternating.\n\n"
             + markdown_table(rows, COLUMNS))
    name = "trust_cost" if args.only is None else f"trust_cost.{args.only}"
    write_results(name, {"meta": meta, "results": rows}, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
