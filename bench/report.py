"""Where benchmarks write their results, and how: JSON for machines, a markdown table for people.

Kept free of Beam and of the project's model code so that ``bench.gpu_check`` runs on a GPU
machine that has only torch, transformers and DeepSpeed.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

RESULTS = Path(__file__).parent / "results"


def write_results(name: str, payload: dict, table: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=asdict) + "\n")
    (RESULTS / f"{name}.md").write_text(table + "\n")


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
