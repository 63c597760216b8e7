"""The workbench on a big queue: how long a reviewer waits for the next record and for a decision to be kept.

``python -m bench.workbench [--records 100000] [--steps 300]`` generates a run of N written records
(no model: outputs and their input OCR made up, every record sent to review, input hashes as the
job computes them), starts the app in-process (FastAPI TestClient: the whole ASGI stack with its
security middleware, SQLite store in a temporary folder), and times, per step of a reviewer working
through the queue:

* ``next``: ``GET /next`` (find the next record left, claim it) and the record page it redirects to;
* ``decide``: ``POST /decide`` (CSRF checked, validated, stored, redirect);
* ``api_decide``: ``POST /api/decisions`` with one decision.

Then the same again with the store already holding many decisions (a queue far along), and the
store's size on disk as decisions are added. Figures: ``bench/results/workbench.{json,md}``;
the target is p95 ≤ 100 ms for ``next`` and ``decide`` on this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = ("title", "agency", "photographer", "date")
AGENCIES = ["KEYSTONE PRESS AGENCY", "AP WIREPHOTO", "UPI TELEPHOTO", "CENTRAL PRESS PHOTOS", "FOX PHOTOS"]
NAMES = ["WILLIAM DOIG", "MARY LEE", "JOHN SMITH", "ANNA KOWALSKA", "PIERRE DUBOIS", "ELSA BERG"]


def machine() -> dict[str, Any]:
    return {"cpu": platform.processor() or platform.machine(), "cores_usable": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "load_average_at_end": os.getloadavg(),
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def generate_run(folder: Path, n: int, seed: int = 7) -> Path:
    """A run folder of ``n`` written records, all needing review, and its input Parquet."""
    from formats.prompt import prompt_hash
    from formats.queue import possible_prompts
    from formats.records import validate_row

    rng = random.Random(seed)
    (folder / "out" / "records").mkdir(parents=True)
    (folder / "input").mkdir()
    inputs, outputs = [], []
    for i in range(n):
        name, agency, year = rng.choice(NAMES), rng.choice(AGENCIES), rng.randint(1920, 1995)
        back = [agency, f"PHOTO: {name}, LONDON", f"{rng.randint(1, 28)} MARCH {year}", "RETURN TO FILE"]
        front = [f"{name} AT THE PREMIERE", str(year)]
        source = {"id": f"p{i:06d}", "front_ocr": front, "back_ocr": back, "language": "en",
                  "collection": f"box {i % 40}"}
        inputs.append(source)
        review = rng.sample(FIELDS, rng.randint(1, 2))
        row: dict[str, Any] = {
            "id": source["id"], "language": "en", "description": f"{name.title()} at a premiere.",
            "title": name, "agency": agency.title(), "photographer": "", "date": str(year), "date_iso": str(year),
            "parse_status": "ok", "raw_output": "", "prompt_tokens": 60, "output_tokens": 30, "truncated": False,
            "input_hash": prompt_hash(next(possible_prompts(validate_row(source)))),
            "model_version": "bench", "run_id": "bench-run", "processed_at": datetime(2026, 12, 1, tzinfo=timezone.utc),
            "collection": source["collection"],
            **{f"{f}_confidence": rng.random() for f in FIELDS},
            "title_source": "back:1", "agency_source": "back:0", "photographer_source": "", "date_source": "front:1",
            "review_fields": sorted(review), "review_reasons": [f"low_confidence:{f}" for f in sorted(review)],
            "needs_review": True}
        outputs.append(row)
    pq.write_table(pa.Table.from_pylist(inputs), folder / "input" / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(outputs), folder / "out" / "records" / "part-0.parquet")
    (folder / "out" / "manifest.json").write_text(json.dumps({
        "run_id": "bench-run", "input": str(folder / "input" / "*.parquet"), "options": {}}))
    return folder / "out"


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"n": len(ordered), "p50_ms": round(1000 * statistics.median(ordered), 2),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
            "max_ms": round(1000 * ordered[-1], 2)}


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def work_through(client, steps: int) -> dict[str, dict[str, float]]:
    """A reviewer: next record, decide its first field to review; every tenth step also one API decision."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    times: dict[str, list[float]] = {"next": [], "decide": [], "api_decide": []}
    after = -1
    for step in range(steps):
        took, page = timed(lambda: client.get(f"/next?after={after}"))
        times["next"].append(took)
        record_id = re.search(r'data-record-id="([^"]*)"', page.text).group(1)
        after = int(re.search(r'href="/next\?after=(\d+)', page.text).group(1))
        field = re.search(r'data-selected="([^"]*)"', page.text).group(1)
        took, answer = timed(lambda: client.post("/decide", data={
            "csrf_token": csrf, "id": record_id, "field": field, "decision": "accept", "value": ""},
            follow_redirects=False))
        assert answer.status_code == 303, answer.text[:300]
        times["decide"].append(took)
        if step % 3 == 0:
            took, answer = timed(lambda: client.post("/api/decisions", headers={"X-CSRF-Token": csrf}, json={
                "decisions": [{"id": record_id, "field": "description", "decision": "accept"}]}))
            assert answer.status_code == 200
            times["api_decide"].append(took)
    return {name: percentiles(values) for name, values in times.items()}


def fill_store(store, rows: list[dict[str, Any]], count: int, batch: int = 5000) -> None:
    """Add ``count`` decisions about ``rows`` (through ``validate``, as the API stores them)."""
    from decisions import validate

    records = {row["id"]: row for row in rows}
    done = 0
    while done < count:
        chunk = rows[done % len(rows):][:min(batch, count - done)]
        store.add(validate([{"id": r["id"], "field": "title", "decision": "correct", "value": r["title"].title(),
                             "reviewer": "bench", "note": ""} for r in chunk], records))
        done += len(chunk)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--prefilled", type=int, default=50_000,
                        help="decisions already in the store for the second round")
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient

    from decisions import DecisionStore
    from workbench.app import WorkbenchConfig, create_app
    from workbench.source import open_source, queue_from
    from workbench.state import ReviewState

    folder = Path(tempfile.mkdtemp(prefix="bench-workbench-"))
    took_generate, run = timed(lambda: generate_run(folder, args.records))
    took_load, source = timed(lambda: open_source(run=str(run), spot_check_rate=0.0))
    took_queue, queue = timed(lambda: queue_from(source, filter_columns=("collection",)))
    results: dict[str, Any] = {"records": args.records, "queue": len(queue.rows), "steps": args.steps,
                               "generate_s": round(took_generate, 1),
                               "load_queue_with_ocr_s": round(took_load + took_queue, 1)}

    sizes = []
    store_path = folder / "reviews.db"
    store = DecisionStore(str(store_path))
    client = TestClient(create_app(ReviewState(queue, store, 15.0), WorkbenchConfig(reviewer="bench")))
    sizes.append({"decisions": 0, "bytes": store.size_bytes(), "store": "fresh"})
    results["fresh_store"] = work_through(client, args.steps)
    stored = len(store.history())
    sizes.append({"decisions": stored, "bytes": store.size_bytes(), "store": "fresh, after the round"})

    prefill_store = DecisionStore(str(folder / "prefilled.db"))
    rows = queue.rows
    for target in sorted({1_000, 10_000, args.prefilled}):
        fill_store(prefill_store, rows, target - len(prefill_store.history()))
        sizes.append({"decisions": target, "bytes": prefill_store.size_bytes(), "store": "prefilled"})
    took_state, state = timed(lambda: ReviewState(queue, prefill_store, 15.0))
    results["state_over_prefilled_store_s"] = round(took_state, 2)
    client = TestClient(create_app(state, WorkbenchConfig(reviewer="bench")))
    results["prefilled_store"] = work_through(client, args.steps)
    results["store_size"] = sizes
    per_decision = (sizes[-1]["bytes"] - sizes[-3]["bytes"]) / (sizes[-1]["decisions"] - sizes[-3]["decisions"])
    results["store_bytes_per_decision"] = round(per_decision, 1)
    results["machine"] = machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "workbench.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "workbench.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# Workbench on a {r['records']:,}-record queue (`python -m bench.workbench`)", "",
             f"In-process (TestClient through the whole ASGI app, security middleware included), SQLite store; "
             f"{r['steps']} steps of one reviewer: next record, decide a field; one API decision every third step. "
             f"Generated queue, no model. Loading the queue with its OCR joined: {r['load_queue_with_ocr_s']} s.",
             "", "| store | request | n | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|---|"]
    for store in ("fresh_store", "prefilled_store"):
        for name, figures in r[store].items():
            lines.append(f"| {store.replace('_', ' ')} | {name} | {figures['n']} | {figures['p50_ms']} | "
                         f"{figures['p95_ms']} | {figures['max_ms']} |")
    lines += ["", "Target: p95 ≤ 100 ms for `next` and `decide`. The prefilled store held "
              f"{r['store_size'][-1]['decisions']:,} decisions before the round "
              f"(reading them at start-up: {r['state_over_prefilled_store_s']} s).", "",
              "| store | decisions stored | size on disk (bytes) |", "|---|---|---|"]
    lines += [f"| {s.get('store', 'prefilled')} | {s['decisions']:,} | {s['bytes']:,} |" for s in r["store_size"]]
    m = r["machine"]
    lines += ["", f"Store growth: {r['store_bytes_per_decision']} bytes per decision from 1,000 to "
              f"{r['store_size'][-1]['decisions']:,} (SQLite file and its write-ahead log, which SQLite lets grow to "
              "about 4 MB before it folds it into the file: small stores read large; every decision kept, with its "
              "index).", "",
              f"Machine: {m['cpu']}, {m['cores_usable']} usable cores shared with other work "
              f"(load average at the end {', '.join(f'{x:.1f}' for x in m['load_average_at_end'])}), "
              f"Python {m['python']}; {m['finished']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
