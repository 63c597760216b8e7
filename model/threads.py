"""How many CPU threads one model should use.

torch sizes its intra-op pool from the cores it can see, which in a container is often
the whole host; with a CPU quota of a few cores that oversubscribes the quota and decode
steps slow down several-fold. So the default is the cores this process may really use:
its CPU affinity, capped by the cgroup quota (v2 ``cpu.max`` or v1 ``cfs_quota_us``).
Several models per machine (``--direct_num_workers``, several SDK processes) should split
these cores between them with ``--torch_threads``; see docs/throughput.md.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

_CGROUP = Path("/sys/fs/cgroup")


def _cgroup_quota_cpus() -> float | None:
    """CPUs allowed by the cgroup quota, or None when there is no quota."""
    v2 = _CGROUP / "cpu.max"
    if v2.is_file():
        quota, period = v2.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    quota_file, period_file = _CGROUP / "cpu" / "cpu.cfs_quota_us", _CGROUP / "cpu" / "cpu.cfs_period_us"
    if quota_file.is_file() and period_file.is_file():
        quota = int(quota_file.read_text())
        return None if quota <= 0 else quota / int(period_file.read_text())
    return None


def available_cpus() -> int:
    """Cores this process may use: its affinity set, capped by the cgroup quota (at least 1)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota_cpus()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
