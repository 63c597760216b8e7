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
  size check only);
- **re-checked on reuse**: the verified copy's sha256 of every file and its identity
  (size, mtime_ns, ctime_ns, inode) are stamped beside the entry (``<entry>.verified.json``).
  Reuse compares identities, which any write, truncation or replacement of a file changes
  (ctime cannot be set back by a user), and re-hashes a file whose identity differs: a
  damaged or tampered file makes the entry be copied again. Damage that changes no
  metadata (bit rot) is found by the full re-check, ``python -m model.remote_cache
  --recheck [CACHE_DIR]``, which re-hashes every entry and removes those that differ;
- **confined to the cache folder**: object names come from the store, and GCS accepts
  almost any (``a/../../x``, ``a//b``, backslashes, look-alike Unicode dots). A name is
  copied only if every part of its path is plain ASCII (letters, digits, ``.``, ``_``,
  ``-``, not ``.`` or ``..``), and only after its local path is checked to lie inside
  the staging folder; any other name refuses the checkpoint;
- **only what training recorded**: when ``backstamp.json`` exists, the files it records
  (and it) are copied, nothing else of the folder; names it records obey the same rule;
- **adapters too**: a LoRA adapter folder (``adapter_config.json``) is copied like a
  checkpoint; its base is resolved on the worker (``model.adapters.resolve_base``), so it
  must be named by package or by an absolute path there (a relative one is refused here).

What ``backstamp.json`` cannot defend: whoever can rewrite the folder can rewrite a weight
file *and* its recorded hash consistently. It detects corruption and half-finished or
mixed uploads, not a writer with access to the bucket (that is the bucket's IAM). Such a
change still shows: the cache entry is new, and ``model_version`` (built from the recorded
hashes) changes, so every output row names the weights that produced it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

import fsspec
from filelock import FileLock

from model.adapters import ADAPTER_CONFIG
from model.checkpoint import METADATA_FILE, read_metadata, sha256_file

DEFAULT_CACHE_DIR = "~/.cache/backstamp/models"
# The content checksum each store reports: GCS (crc32c, md5Hash), S3 and others (ETag).
_CHECKSUM_KEYS = ("crc32c", "md5Hash", "ETag")
# One part of a copied file's path; "." and ".." alone are refused separately.
_SAFE_PART = re.compile(r"[A-Za-z0-9._-]+")
STAMP_SUFFIX = ".verified.json"  # beside each entry: the sha256 and identity of every file as verified

logger = logging.getLogger(__name__)


class CheckpointVerificationError(RuntimeError):
    """The copied files do not match the remote listing or the hashes recorded at training."""


def fetch_checkpoint(url: str, cache_dir: Optional[str] = None) -> Path:
    """Return the local cache folder holding a verified copy of the checkpoint at ``url``."""
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    fs.invalidate_cache()  # a listing cached by an earlier run in this process would hide a new upload
    listing = _list_files(fs, root)
    config = next((name for name in (ADAPTER_CONFIG, "config.json") if name in listing), None)
    if config is None:
        raise FileNotFoundError(f"{url}: not a checkpoint folder (no config.json, nor an adapter's {ADAPTER_CONFIG})")
    metadata = fs.cat_file(f"{root}/{METADATA_FILE}") if METADATA_FILE in listing else None
    if config == ADAPTER_CONFIG:
        check_remote_adapter_base(metadata, url)
    listing = files_to_copy(listing, metadata, url)
    if config not in listing:
        raise CheckpointVerificationError(f"{url}: {METADATA_FILE} does not record {config}")
    cache_root = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    entry_name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(root).name).lstrip(".") or "checkpoint"
    target = cache_root / f"{entry_name}-{fingerprint(listing)}"
    if stamp_holds(target, listing):
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{target}.lock"):
        if stamp_holds(target, listing):  # another process copied it while we waited
            return target
        if target.exists():  # an entry damaged after its copy, or never stamped: replace it
            logger.warning("cache entry %s does not match its verified stamp: copying %s again", target, url)
            shutil.rmtree(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_root))
        try:
            names = sorted(name for name in listing if name != METADATA_FILE)
            local = [inside(staging, name) for name in names]
            for path in local:
                path.parent.mkdir(parents=True, exist_ok=True)
            fs.get([f"{root}/{name}" for name in names], [str(path) for path in local])
            if metadata is not None:  # the bytes the selection was made from, not a second read
                (staging / METADATA_FILE).write_bytes(metadata)
            hashes = verify_copy(staging, listing, url)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        write_stamp(target, hashes)  # identities taken in place: renaming the folder changes none of them
    logger.info("copied checkpoint %s to %s", url, target)
    return target


def check_remote_adapter_base(metadata: Optional[bytes], url: str) -> None:
    """A remote adapter's base must be found on the worker: a package's file (installed with the job's
    packages) or an absolute path there. A path relative to the adapter would point into the cache."""
    try:
        base = json.loads(metadata or b"{}").get("base") or {}
    except (ValueError, AttributeError):
        base = {}
    if "package" in base or os.path.isabs(str(base.get("path", ""))):
        return
    raise CheckpointVerificationError(
        f"{url}: an adapter copied from remote storage must name its base by package "
        f"({METADATA_FILE} \"base\": {{\"package\": ...}}) or by an absolute path on each worker, "
        f"not {json.dumps(base.get('path')) if base.get('path') else 'nothing'}")


def is_safe_name(name: str) -> bool:
    """True for a relative path whose parts are plain ASCII names (no ``..``, empty part, backslash ...)."""
    parts = name.split("/")
    return all(_SAFE_PART.fullmatch(part) and part not in (".", "..") for part in parts)


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused unless the name is safe and the path resolves inside ``folder``."""
    path = folder / name
    if not is_safe_name(name) or not path.resolve().is_relative_to(folder.resolve()):
        raise CheckpointVerificationError(f"refusing to copy {name!r}: the path would leave the cache folder")
    return path


def files_to_copy(listing: Mapping[str, Mapping[str, Any]], metadata: Optional[bytes],
                  url: str) -> dict[str, Mapping[str, Any]]:
    """The part of the listing to copy: what ``backstamp.json`` records (and it), else every file.

    Raises ``CheckpointVerificationError`` for an unsafe name among them, a recorded file the
    folder lacks, or a ``backstamp.json`` that is not a JSON object with a ``files`` object.
    """
    if metadata is None:
        wanted = set(listing)
    else:
        try:
            recorded = json.loads(metadata).get("files", {})
            wanted = {METADATA_FILE, *recorded}
        except (ValueError, AttributeError, TypeError):
            raise CheckpointVerificationError(f"{url}/{METADATA_FILE}: not a JSON object with a files map") from None
        missing = sorted(name for name in wanted if name not in listing)
        if missing:
            raise CheckpointVerificationError(
                f"{url}: {METADATA_FILE} records {', '.join(map(repr, missing))}, which the folder lacks")
        ignored = sorted(set(listing) - wanted)
        if ignored:
            logger.warning("%s: not copying %d file(s) that %s does not record: %s", url, len(ignored),
                           METADATA_FILE, ", ".join(map(repr, ignored[:10])))
    unsafe = sorted(name for name in wanted if not is_safe_name(name))
    if unsafe:
        raise CheckpointVerificationError(
            f"{url}: refusing object name(s) {', '.join(map(repr, unsafe[:10]))}: only plain relative names "
            "(letters, digits, '.', '_', '-' separated by single '/') are copied into the cache")
    return {name: listing[name] for name in wanted}


def fingerprint(listing: Mapping[str, Mapping[str, Any]]) -> str:
    """16 hex digits that change when any file of the remote folder is added, removed or rewritten."""
    digest = hashlib.sha256()
    for name in sorted(listing):
        info = listing[name]
        checksum = next((str(info[key]) for key in _CHECKSUM_KEYS if info.get(key)), "")
        digest.update(f"{name}\t{info['size']}\t{checksum}\n".encode())
    return digest.hexdigest()[:16]


def verify_copy(local_dir: Path, listing: Mapping[str, Mapping[str, Any]], url: str) -> dict[str, str]:
    """Every copied file's sha256 (for the stamp); raises ``CheckpointVerificationError`` unless ``local_dir``
    holds exactly what was listed and recorded."""
    for name, info in listing.items():
        size = inside(local_dir, name).stat().st_size
        if size != int(info["size"]):
            raise CheckpointVerificationError(f"{url}/{name}: copied {size} bytes, the store lists {info['size']}")
    hashes = {name: sha256_file(inside(local_dir, name)) for name in listing}
    for name, recorded in read_metadata(local_dir).get("files", {}).items():
        if name not in listing:
            raise CheckpointVerificationError(f"{url}: backstamp.json records {name}, which the folder lacks")
        if hashes[name] != recorded["sha256"]:
            raise CheckpointVerificationError(
                f"{url}/{name}: sha256 differs from the one recorded in backstamp.json (changed or corrupt copy)")
    return hashes


def _list_files(fs: fsspec.AbstractFileSystem, root: str) -> dict[str, dict[str, Any]]:
    """Files under ``root`` by relative name (folders excluded)."""
    found = fs.find(root, detail=True)
    return {path[len(root) + 1:]: info for path, info in found.items() if info.get("type") != "directory"}


def stamp_path(entry: Path) -> Path:
    return entry.with_name(entry.name + STAMP_SUFFIX)


def _identity(path: Path) -> list[int]:
    """What any write, truncation or replacement of a file changes: size, mtime, ctime, inode."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def write_stamp(entry: Path, hashes: Mapping[str, str]) -> None:
    """Stamp ``entry`` as verified: each file's sha256 and identity, written atomically beside it."""
    stamp = {name: {"sha256": digest, "identity": _identity(entry / name)} for name, digest in sorted(hashes.items())}
    staging = stamp_path(entry).with_suffix(".tmp")
    staging.write_text(json.dumps(stamp, indent=1))
    os.replace(staging, stamp_path(entry))


def _read_stamp(entry: Path) -> dict[str, dict[str, Any]] | None:
    try:
        stamp = json.loads(stamp_path(entry).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def stamp_holds(entry: Path, listing: Optional[Mapping[str, Mapping[str, Any]]] = None, full: bool = False) -> bool:
    """True when ``entry`` holds, unchanged, every file its stamp verified (and ``listing`` names, when given).

    A file is re-hashed when its identity differs from the stamp's (or always, ``full``); one that
    hashes as stamped is intact (copied back, say) and its identity is stamped anew.
    """
    stamp = _read_stamp(entry)
    if not entry.is_dir() or stamp is None or (listing is not None and set(stamp) != set(listing)):
        return False
    moved = False
    for name, stamped in stamp.items():
        path = entry / name
        if not is_safe_name(name) or not path.is_file():
            return False
        if full or _identity(path) != stamped.get("identity"):
            if sha256_file(path) != stamped.get("sha256"):
                return False
            moved = moved or _identity(path) != stamped.get("identity")
    if moved:
        write_stamp(entry, {name: stamped["sha256"] for name, stamped in stamp.items()})
    return True


def recheck(cache_dir: Optional[str] = None) -> dict[str, bool]:
    """The full re-check: re-hash every stamped entry of the cache; remove (to be copied again) those that differ.

    Returns ``{entry name: intact}``. Takes each entry's lock, so it is safe beside running jobs.
    """
    cache_root = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    results = {}
    for stamp in sorted(cache_root.glob(f"*{STAMP_SUFFIX}")):
        entry = stamp.with_name(stamp.name.removesuffix(STAMP_SUFFIX))
        with FileLock(f"{entry}.lock"):
            results[entry.name] = stamp_holds(entry, full=True)
            if not results[entry.name]:
                shutil.rmtree(entry, ignore_errors=True)
                stamp.unlink(missing_ok=True)
    return results


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m model.remote_cache --recheck [CACHE_DIR]``: exit 1 when an entry was damaged (and removed)."""
    parser = argparse.ArgumentParser(prog="python -m model.remote_cache",
                                     description="Re-hash every cached checkpoint against its verified stamp; "
                                                 "remove the entries that differ (the next run copies them again).")
    parser.add_argument("--recheck", nargs="?", const=DEFAULT_CACHE_DIR, required=True, metavar="CACHE_DIR",
                        help=f"the cache folder (default {DEFAULT_CACHE_DIR}, as --model_cache_dir)")
    results = recheck(parser.parse_args(argv).recheck)
    for name, intact in results.items():
        print(f"{'intact ' if intact else 'DAMAGED'} {name}{'' if intact else ' (removed)'}")
    print(f"{sum(results.values())} of {len(results)} cache entries intact")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
