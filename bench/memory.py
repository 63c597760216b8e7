"""Does the job's memory stay flat as the input grows? Peak RSS of whole runs at several sizes.

Each size runs the real job (``python -m pipeline run``, DirectRunner) in a fresh process on
synthetic records (train/synthetic.py) with a tiny random GPT-J, while a sampler records the
resident memory of that process and its children every 0.2 s. If memory were proportional
to the records, peak RSS would grow ~10x from the smallest to the largest size; what the
job itself holds per record shows as the slope between sizes.

    python -m bench.memory                # 2,000 and 20,000 records → bench/results/memory.{json,md}
    python -m bench.memory --sizes 500    # a quick look
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.common import synthetic_records
from bench.report import markdown_table, write_results
from tests.tiny_checkpoint import build_tiny_checkpoint

SAMPLE_SECONDS = 0.2


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its children (SDK workers, if the runner starts any)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # a child that ended between listing and reading
            pass
    return total


def measure(records: int, checkpoint: Path, workdir: Path, max_new_tokens: int) -> dict:
    """Run the job on ``records`` synthetic records; return peak RSS, an RSS timeline and the counts."""
    source = synthetic_records(records, seed=7, folder=workdir / f"in-{records}")
    out = workdir / f"out-{records}"
    command = [sys.executable, "-m", "pipeline", "run", "--input", str(source), "--output", str(out),
               "--model", str(checkpoint), "--max_new_tokens", str(max_new_tokens), "--torch_threads", "1"]
    started = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched = psutil.Process(child.pid)
    timeline: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            rss = tree_rss(watched)
            if rss:  # 0 once the process has exited
                timeline.append((round(time.monotonic() - started, 1), rss))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = child.communicate()
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"job failed ({child.returncode}):\n{output[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    peak = max(rss for _, rss in timeline)
    return {
        "records": records, "wall_seconds": round(time.monotonic() - started, 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "rss_at_quarters_mib": [round(timeline[min(len(timeline) - 1, len(timeline) * q // 4)][1] / 2**20, 1)
                                for q in (1, 2, 3, 4)],
        "records_read": manifest["records_read"], "records_written": manifest["records_written"],
        "records_dead_lettered": manifest["records_dead_lettered"],
        "count_invariant_holds": manifest["count_invariant_holds"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")], default=[2000, 20000])
    parser.add_argument("--max_new_tokens", type=int, default=1,
                        help="Generated tokens per record; memory per record does not depend on it, time does.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        checkpoint = build_tiny_checkpoint(workdir / "tiny")
        rows = []
        for n in args.sizes:
            rows.append(measure(n, checkpoint, workdir, args.max_new_tokens))
            print(rows[-1], flush=True)
    smallest, largest = rows[0], rows[-1]
    per_thousand = ((largest["peak_rss_mib"] - smallest["peak_rss_mib"])
                    / max(1, largest["records"] - smallest["records"]) * 1000)
    payload = {"sizes": rows, "peak_rss_growth_mib_per_1000_records": round(per_thousand, 2),
               "max_new_tokens": args.max_new_tokens, "runner": "DirectRunner", "model": "tiny random GPT-J"}
    table = markdown_table(rows, ["records", "wall_seconds", "peak_rss_mib", "rss_at_quarters_mib",
                                  "records_read", "records_written", "records_dead_lettered",
                                  "count_invariant_holds"])
    write_results("memory", payload, table + f"\n\nPeak RSS growth: {per_thousand:.2f} MiB per 1,000 records.\n")


if __name__ == "__main__":
    main()
