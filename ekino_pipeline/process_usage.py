"""This process's own CPU time and peak memory, as the pull workers and the benchmarks report them."""

from __future__ import annotations

import resource
from pathlib import Path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak RSS of this process's own address space. Linux keeps ru_maxrss across exec, so a process
    started from a big parent would report the parent's size; VmHWM belongs to the process itself."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
