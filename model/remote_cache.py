"""Copy a remote checkpoint (``gs://`` or any fsspec URL) once per machine into a local cache.

A GPT-J checkpoint is gigabytes; every SDK process and every DoFn instance of a worker asks
for it, and a worker VM often runs several jobs in a row. So the copy is:

- **keyed by a fingerprint** of the remote folder (names, sizes and the store's content
  checksums, one listing call): an unchanged checkpoint maps to the same cache entry across
  bundles and runs, a re-uploaded one to a new entry;
- **downloaded once**: a file lock serialises the processes of a machine, and whoever waited
  finds the finished entry;
- **atomic**: files go to a staging folder beside the entry, which is renamed into place
  only after verification, so a crashed or half-finished copy is never used;
- **verified**: every size against the listing, and every file recorded in
  ``backstamp.json`` against its sha256 (foreign checkpoints without that file get the
  size check only).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

import fsspec
from filelock import FileLock

from model.checkpoint import read_metadata, sha256_file

DEFAULT_CACHE_DIR = "~/.cache/backstamp/models"
# The content checksum each store reports: GCS (crc32c, md5Hash), S3 and others (ETag).
_CHECKSUM_KEYS = ("crc32c", "md5Hash", "ETag")

logger = logging.getLogger(__name__)


class CheckpointVerificationError(RuntimeError):
    """The copied files do not match the remote listing or the hashes recorded at training."""


def fetch_checkpoint(url: str, cache_dir: Optional[str] = None) -> Path:
    """Return the local cache folder holding a verified copy of the checkpoint at ``url``."""
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    fs.invalidate_cache()  # a listing cached by an earlier run in this process would hide a new upload
    listing = _list_files(fs, root)
    if "config.json" not in listing:
        raise FileNotFoundError(f"{url}: not a checkpoint folder (no config.json)")
    cache_root = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    target = cache_root / f"{Path(root).name}-{fingerprint(listing)}"
    if _is_complete(target, listing):
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{target}.lock"):
        if _is_complete(target, listing):  # another process copied it while we waited
            return target
        if target.exists():  # an entry damaged after its copy: replace it
            shutil.rmtree(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_root))
        try:
            names = sorted(listing)
            for name in names:
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
            fs.get([f"{root}/{name}" for name in names], [str(staging / name) for name in names])
            verify_copy(staging, listing, url)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    logger.info("copied checkpoint %s to %s", url, target)
    return target


def fingerprint(listing: Mapping[str, Mapping[str, Any]]) -> str:
    """16 hex digits that change when any file of the remote folder is added, removed or rewritten."""
    digest = hashlib.sha256()
    for name in sorted(listing):
        info = listing[name]
        checksum = next((str(info[key]) for key in _CHECKSUM_KEYS if info.get(key)), "")
        digest.update(f"{name}\t{info['size']}\t{checksum}\n".encode())
    return digest.hexdigest()[:16]


def verify_copy(local_dir: Path, listing: Mapping[str, Mapping[str, Any]], url: str) -> None:
    """Raise ``CheckpointVerificationError`` unless ``local_dir`` holds exactly what was listed and recorded."""
    for name, info in listing.items():
        size = (local_dir / name).stat().st_size
        if size != int(info["size"]):
            raise CheckpointVerificationError(f"{url}/{name}: copied {size} bytes, the store lists {info['size']}")
    for name, recorded in read_metadata(local_dir).get("files", {}).items():
        if name not in listing:
            raise CheckpointVerificationError(f"{url}: backstamp.json records {name}, which the folder lacks")
        if sha256_file(local_dir / name) != recorded["sha256"]:
            raise CheckpointVerificationError(
                f"{url}/{name}: sha256 differs from the one recorded in backstamp.json (changed or corrupt copy)")


def _list_files(fs: fsspec.AbstractFileSystem, root: str) -> dict[str, dict[str, Any]]:
    """Files under ``root`` by relative name (folders excluded)."""
    found = fs.find(root, detail=True)
    return {path[len(root) + 1:]: info for path, info in found.items() if info.get("type") != "directory"}


def _is_complete(target: Path, listing: Mapping[str, Mapping[str, Any]]) -> bool:
    """An entry exists only after verification; the size check catches later damage cheaply."""
    if not target.is_dir():
        return False
    return all((target / name).is_file() and (target / name).stat().st_size == int(info["size"])
               for name, info in listing.items())
