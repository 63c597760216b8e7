"""Will the weights fit? Checked before loading, so a too-small worker says so in one line.

Without the check a GPT-J-6B on a small worker either dies by the kernel's OOM killer (no
message at all, and the runner retries the bundle on the same machine) or fails deep in
``from_pretrained``. The estimate is the number of parameters, read from the safetensors
headers (no weights are read), times the bytes of the dtype the model is loaded in.
"""
from __future__ import annotations

from pathlib import Path

import psutil
import torch
from safetensors import safe_open

# Loading needs more than the weights (buffers, allocator slack, the first activations).
HEADROOM = 1.1
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")
_CGROUP_USED = Path("/sys/fs/cgroup/memory.current")


class ModelDoesNotFitError(MemoryError):
    """The weights alone need more memory than the device has free."""


def parameter_count(local_dir: str) -> int:
    """Parameters in the checkpoint's safetensors files, from their headers."""
    total = 0
    for path in sorted(Path(local_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as weights:
            for name in weights.keys():
                shape = weights.get_slice(name).get_shape()
                count = 1
                for size in shape:
                    count *= size
                total += count
    return total


def weight_bytes(local_dir: str, dtype: torch.dtype) -> int:
    """Bytes the weights take in memory as ``dtype``; for pickle-only checkpoints, their file size."""
    params = parameter_count(local_dir)
    if params:
        return params * torch.empty((), dtype=dtype).element_size()
    return sum(path.stat().st_size for path in Path(local_dir).glob("*.bin"))


def available_bytes(device: torch.device) -> int:
    """Free memory of the GPU, or of the machine capped by this container's cgroup limit."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    free = psutil.virtual_memory().available
    try:
        limit = _CGROUP_LIMIT.read_text().strip()
        if limit != "max":
            free = min(free, int(limit) - int(_CGROUP_USED.read_text()))
    except (OSError, ValueError):
        pass
    return free


def check_model_fits(local_dir: str, device: torch.device, dtype: torch.dtype,
                     available: int | None = None) -> None:
    """Raise ``ModelDoesNotFitError`` with the figures when the weights cannot fit on ``device``.

    The whole model is on one device: each worker process or GPU holds its own copy.
    """
    needed = int(weight_bytes(local_dir, dtype) * HEADROOM)
    free = available_bytes(device) if available is None else available
    if needed > free:
        dtype_name = str(dtype).removeprefix("torch.")
        raise ModelDoesNotFitError(
            f"{local_dir}: the model needs about {needed / 2**30:.2f} GiB as {dtype_name} on {device}, but only "
            f"{free / 2**30:.2f} GiB are free there. Use a machine with more memory, a GPU, or --dtype float16 or "
            f"bfloat16.")
