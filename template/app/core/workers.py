"""How many worker processes `auto` means: the CPUs this process may really use.

`os.cpu_count()` counts the host's CPUs; a container limited to one CPU on a 64-core host
would start 64 workers. The limit is the smaller of the cgroup CPU quota and the affinity mask.
"""

import logging
import math
import os
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP = Path("/sys/fs/cgroup")


def cgroup_cpus(root: Path = CGROUP) -> float | None:
    """The CPU quota in CPUs (v2 `cpu.max`, else v1 CFS quota), or None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def affinity_cpus() -> int:
    """The CPUs the scheduler lets this process run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def available_cpus(root: Path = CGROUP) -> tuple[int, str]:
    """The usable CPU count (at least 1) and where it came from, for the start-up log."""
    affinity = affinity_cpus()
    quota = cgroup_cpus(root)
    if quota is not None and math.ceil(quota) < affinity:
        return max(1, math.ceil(quota)), f"cgroup CPU quota {quota:g}"
    return max(1, affinity), f"CPU affinity ({affinity} CPUs)"


def resolve_workers(value: object) -> object:
    """Turn `auto` into a worker count; numbers pass through to the field's validation."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        count, source = available_cpus()
        logger.info("WEB_CONCURRENCY=auto: %d workers from the %s", count, source)
        return count
    return value
