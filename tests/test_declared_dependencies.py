"""Every third-party module the job imports is declared in setup.py (issue 16).

Workers install this package from ``setup.py`` (``--setup_file``, or the worker image), so a
module that arrives only through a developer's environment — ``psutil`` from the ``dev`` extra,
``regex`` through another package — fails on the first worker. The rule, read from the source:

* a module imported when a module of ``formats/``, ``model/`` or ``pipeline/`` is imported
  must come from a distribution in ``install_requires``, named there itself (not only as a
  dependency of another);
* a module imported inside a function, for an optional feature (``deepspeed`` for
  ``--engine deepspeed``, GCS clients), may come from an extra instead (``train``, ``gcp``);
* a package that is itself an optional feature (``workbench``, which ``pipeline`` imports only inside
  the command that serves it) may import its extra's modules at import time (``review``).
"""
from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path
from typing import Iterator

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_PACKAGES = ("formats", "model", "pipeline", "decisions", "workbench")
LOCAL = {"formats", "model", "pipeline", "decisions", "workbench", "train", "bench", "tests", "__future__"}
# A package reached only lazily, for an optional feature, and the extra that installs that feature.
OPTIONAL_PACKAGES = {"workbench": "review"}


def _setup_requirements() -> tuple[set[str], dict[str, set[str]]]:
    """Canonical names in ``install_requires`` and in each extra, read from setup.py's ``setup(...)`` call."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    call = next(node for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    keywords = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords
                if keyword.arg in ("install_requires", "extras_require")}

    def names(requirements: list[str]) -> set[str]:
        return {canonicalize_name(Requirement(text).name) for text in requirements}

    extras = {extra: names(requirements) for extra, requirements in keywords["extras_require"].items()}
    return names(keywords["install_requires"]), extras


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(top-level module, imported at module level?) for each absolute import of a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = {id(inner) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            yield module.split(".")[0], id(node) not in lazy


def _third_party_imports() -> list[tuple[str, str, bool]]:
    """(first file importing it, module, imported eagerly anywhere?) per third-party module."""
    found: dict[str, tuple[str, bool]] = {}
    for package in RUNTIME_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for module, eager in _imports(path):
                if module not in LOCAL and module not in sys.stdlib_module_names:
                    where, seen_eager = found.get(module, (str(path.relative_to(ROOT)), False))
                    found[module] = (str(path.relative_to(ROOT)) if eager and not seen_eager else where,
                                     seen_eager or eager)
    return sorted((where, module, eager) for module, (where, eager) in found.items())


DISTRIBUTIONS = importlib.metadata.packages_distributions()
IMPORTS = _third_party_imports()


def test_the_scan_sees_the_job_s_imports():
    """Guards the scan itself: modules known to be imported eagerly and lazily are found as such."""
    assert ("model/memory.py", "psutil", True) in IMPORTS
    assert ("formats/prompt.py", "regex", True) in IMPORTS
    assert ("model/engines.py", "deepspeed", False) in IMPORTS


@pytest.mark.parametrize("where, module, eager", IMPORTS, ids=[module for _, module, _ in IMPORTS])
def test_each_third_party_import_is_declared(where, module, eager):
    required, extras = _setup_requirements()
    distributions = {canonicalize_name(name) for name in DISTRIBUTIONS.get(module, [])}
    assert distributions, f"{where} imports {module}, which no installed distribution provides"
    if eager:
        extra = OPTIONAL_PACKAGES.get(where.split("/")[0])
        allowed = required | extras[extra] if extra else required
        named_in = "install_requires" + (f" or the extra {extra!r}" if extra else "")
        assert distributions & allowed, (f"{where} imports {module} ({', '.join(sorted(distributions))}) at "
                                         f"import time, but setup.py's {named_in} does not name it")
    else:
        declared = required.union(*extras.values())
        assert distributions & declared, (f"{where} imports {module} ({', '.join(sorted(distributions))}), "
                                          "which neither install_requires nor an extra of setup.py names")
