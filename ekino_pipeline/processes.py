"""The processes a run starts: they die with the process that started them, and they say what they cost.

No orphans. A run killed with SIGKILL cannot stop its children, and a child left behind finishes its pull
or its load, then waits forever on a parent that is gone, holding what it held: a warehouse write lock,
a thread per cinema, the cinemas' tokens (a pull worker would go on retrying an exchange address that
whatever binds it next would receive them on). Linux can deliver a signal to a process when its parent
dies (prctl PR_SET_PDEATHSIG); the request only covers a parent that is still alive when it is made, so
right after making it we check that our parent is still the one that started us, and die at once
otherwise.

The setting is per process and cleared by fork: each process that wants it asks for itself, the step
processes at the start of the asset bodies that run in them, the pull pool's workers in their
initializer (ingestion/workers.py), which also die when the pool's pipe closes.

What they cost: a process's CPU seconds and peak memory, and its children's CPU, as the pull pool and
the benchmarks report them.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import resource
import signal
import sys
import threading
from multiprocessing.connection import Connection, wait
from pathlib import Path

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# The exit code of a process whose parent closed its pipe, or died, before it was done.
ORPHANED_EXIT_CODE = 70


def die_with_parent(parent_pid: int) -> bool:
    """SIGKILL this process when its parent `parent_pid` dies; False where the system cannot (not Linux).

    SIGKILL rather than SIGTERM: whatever the orphan had not committed is debris that the next commit
    removes (see ingestion/landing/), while a handler for a gentler signal could itself hang."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent_pid:  # the parent died before the request: no signal will ever come
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def step_process_dies_with_its_run() -> bool:
    """Called at the start of an asset body: in a step process that the run's process started (the
    multiprocess executor), die with that run process. A run executing in its own process (in-process
    execution, tests) is nobody's child here and is left as it is."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return False
    return die_with_parent(parent.pid)


def exit_at_end_of_file(pipe: Connection) -> None:
    """End this process at once when `pipe` (a reading end) reaches end of file: the process holding the
    writing end closed it, or died, whichever came first. A daemon thread waits for it."""

    def watch() -> None:
        wait([pipe])
        os._exit(ORPHANED_EXIT_CODE)

    threading.Thread(target=watch, name="exit-at-end-of-file", daemon=True).start()


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds of this process, or of process `pid` (read from /proc): its own, not its children's."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    # After the command's closing parenthesis: state, ppid, ..., utime, stime, cutime, cstime.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants_cpu_seconds() -> float:
    """CPU seconds of every process this one started, and of theirs: those that ended and were waited
    for, and those still running (a fork server, say) with what they waited for themselves."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    children: dict[int, list[int]] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        # utime and stime, then cutime and cstime: what its children that it waited for used.
        times[int(entry.name)] = sum(int(value) for value in fields[11:15])
    ticks, todo = os.sysconf("SC_CLK_TCK"), list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += times[pid] / ticks
        todo.extend(children.get(pid, []))
    return total


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak RSS of this process's own address space (or of process `pid`'s). Linux keeps ru_maxrss
    across exec, so a process started from a big parent would report the parent's size; VmHWM belongs
    to the process itself."""
    try:
        for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    if pid is not None:
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
