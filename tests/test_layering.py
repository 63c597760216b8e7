"""The layers depend one way: formats ← model ← pipeline; train uses formats and model (docs/ARCHITECTURE.md).

Two views of the same rule. The import graph, read from the source of every module (imports
inside functions and under ``TYPE_CHECKING`` count too: they are dependencies all the same),
says which layer may name which. A fresh interpreter says what importing a module really
loads, which catches a dependency that arrives through a third-party package (Beam's
``apache_beam.ml.inference`` imports torch, for one).
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("formats", "decisions", "model", "pipeline", "train", "workbench")

# What each layer must not import (top-level package names).
FORBIDDEN = {
    "formats": {"apache_beam", "torch", "transformers", "deepspeed", "model", "pipeline", "train", "decisions",
                "workbench"},
    "decisions": {"apache_beam", "torch", "transformers", "deepspeed", "model", "pipeline", "train", "workbench"},
    "model": {"apache_beam", "pipeline", "train", "decisions", "workbench"},
    "pipeline": {"train", "workbench"},
    "train": {"apache_beam", "pipeline", "workbench"},
    "workbench": {"apache_beam", "torch", "transformers", "deepspeed", "model", "train"},
}
# The command line names every command: ``python -m pipeline workbench|decisions`` hands over to the web layer.
DISPATCHERS = {"pipeline/__main__.py": {"workbench"}}


def imported_packages(path: Path, package: str) -> dict[str, int]:
    """Top-level package of every import in ``path`` → the first line importing it."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [package if node.level else (node.module or "")]  # relative: within its own layer
        else:
            continue
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


def modules_of(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_the_layers_under_it(layer):
    offences = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                for path in modules_of(layer)
                for name, line in imported_packages(path, layer).items()
                if name in FORBIDDEN[layer] - DISPATCHERS.get(str(path.relative_to(ROOT)), set())]
    assert not offences, "\n".join(offences)


def test_the_import_graph_reader_sees_lazy_and_relative_imports(tmp_path):
    """The rule above is only as good as the reader: a function-level import is an import too."""
    module = tmp_path / "m.py"
    module.write_text("from . import tags\nimport os.path\n\ndef f():\n    import torch.nn\n")
    assert imported_packages(module, "formats") == {"formats": 1, "os": 2, "torch": 5}


def loaded_modules(statement: str) -> set[str]:
    """Top-level packages a fresh interpreter loads to run ``statement`` (``python -X importtime``)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)\s*$", result.stderr, flags=re.MULTILINE)
    assert names, "no -X importtime report"
    return {name.split(".")[0] for name in names}


def first_to_load(modules: list[str], packages: set[str]) -> dict[str, list[str]]:
    """Import ``modules`` in order in one fresh interpreter; the first that loads any of ``packages``, and which.

    One interpreter for all keeps the check cheap; the first offender is named exactly, the
    ones after it are not judged (fix it and rerun).
    """
    script = ("import importlib, json, sys\n"
              f"for module in {modules!r}:\n"
              "    importlib.import_module(module)\n"
              f"    loaded = sorted(p for p in {sorted(packages)!r} if p in sys.modules)\n"
              "    if loaded:\n"
              "        print(json.dumps({module: loaded}))\n"
              "        break\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_importing_pipeline_read_loads_neither_torch_nor_transformers():
    """The acceptance check of issue 19, as written: ``python -X importtime -c "import pipeline.read"``."""
    loaded = loaded_modules("import pipeline.read")
    assert "apache_beam" in loaded  # the report is read right: pipeline.read does use Beam
    assert not loaded & {"torch", "transformers"}


# The job's plain I/O modules, its planner, and the commands that only move Parquet.
TORCH_FREE = ["pipeline.read", "pipeline.footers", "pipeline.preflight", "pipeline.manifest", "pipeline.dead_letter",
              "pipeline.options", "pipeline.transforms", "pipeline.job", "pipeline.backfill", "pipeline.latest"]


def test_the_io_modules_and_the_parquet_commands_load_neither_torch_nor_transformers():
    assert first_to_load(TORCH_FREE, {"torch", "transformers"}) == {}


def test_the_formats_layer_loads_neither_beam_nor_torch():
    modules = [".".join(path.relative_to(ROOT).with_suffix("").parts) for path in modules_of("formats")
               if path.stem != "__init__"]
    assert len(modules) >= 8
    assert first_to_load(modules, {"apache_beam", "torch", "transformers", "deepspeed"}) == {}


def test_the_review_workbench_and_the_decisions_store_load_neither_beam_nor_torch():
    """The web layer serves pages from Parquet and SQL: it must start without the job's or the model's stack."""
    modules = [".".join(path.relative_to(ROOT).with_suffix("").parts) for layer in ("decisions", "workbench")
               for path in modules_of(layer) if path.stem != "__init__"]
    assert {"workbench.app", "workbench.api", "workbench.pages", "workbench.cli", "decisions.store"} <= set(modules)
    # A warehouse's queue is read through pipeline.latest and pipeline.catalog (imported only then): Beam-free too.
    readers = ["pipeline.errors", "pipeline.catalog", "pipeline.latest"]
    assert first_to_load(modules + readers, {"apache_beam", "torch", "transformers", "deepspeed"}) == {}


def test_the_probe_names_the_first_module_that_loads_a_package():
    """So that an empty answer above means "none", not "the probe cannot see" (Beam stands in for torch)."""
    assert first_to_load(["formats.tags", "pipeline.dead_letter"], {"apache_beam"}) == {
        "pipeline.dead_letter": ["apache_beam"]}
