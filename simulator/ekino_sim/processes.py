"""No orphans: every process `ekino-sim` starts dies with it, however it is stopped.

Three ways a command ends, three guards:
- a stop signal (SIGTERM, SIGHUP, or SIGINT, which a shell's background job inherits ignored) raises
  `Stopped` in the main thread, so that the `finally` blocks stop the children gracefully;
- each child leads a process group of its own, which its children join (dagster dev's webserver, daemon
  and code server; a run's dbt and pull workers), and is asked to receive a signal when this process dies
  (Linux's PR_SET_PDEATHSIG, set between fork and exec);
- SIGKILL runs no code here at all, and the parent-death signal reaches only the direct children: a
  watchman process, reading a pipe from this one, signals each group's leader when the pipe ends (as it
  does whenever this process dies), then kills what is left of the group, then deletes the scratch
  directories it was given (`remove_on_death`).

`python -m ekino_sim.processes` is the watchman.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived: unwinds like Ctrl-C, whatever the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, _frame) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM, SIGHUP and SIGINT raise `Stopped` in the main thread (SIGINT even when
    inherited ignored: a script's `cmd &` should still stop on a signal sent to the script's group)."""
    previous = {signum: signal.signal(signum, _raise_stopped) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _ignoring_stop_signals() -> Iterator[None]:
    """A second Ctrl-C or SIGTERM while children stop does not cut their stop short (it is bounded)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True).prctl


def _child_setup(prctl, parent: int, death_signal: int):
    """What the child does between fork and exec: resolved before the fork, since the child of a
    threaded process (the simulator serves from threads) must not load libraries or take locks."""

    def setup() -> None:
        # A background job inherits SIGINT ignored, and an ignored signal stays ignored across exec:
        # dagster dev would not stop on the SIGINT it is sent (nor on SIGTERM, which it maps to SIGINT).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
            # The request covers only a parent alive when it is made.
            if os.getppid() != parent:
                os._exit(1)

    return setup


class _Watchman:
    """The watchman of this process's groups: started on first use, alive as long as this process."""

    _proc: subprocess.Popen | None = None

    @classmethod
    def send(cls, line: str) -> None:
        if cls._proc is None or cls._proc.poll() is not None:
            cls._proc = subprocess.Popen(
                [sys.executable, "-m", "ekino_sim.processes"],
                stdin=subprocess.PIPE,
                # Not in any group it kills, nor in ours (a signal to our group is ours to handle).
                start_new_session=True,
            )
        stdin: IO[bytes] = cls._proc.stdin  # type: ignore[assignment]
        with contextlib.suppress(BrokenPipeError):
            stdin.write(f"{line}\n".encode())
            stdin.flush()


def remove_on_death(path: Path) -> None:
    """Have the watchman delete `path` (a scratch directory) if this process dies before it does."""
    _Watchman.send(f"remove {path}")


def forget_on_death(path: Path) -> None:
    _Watchman.send(f"keep {path}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(groups: Mapping[int, tuple[int, float]], reap: Callable[[int], object] | None = None) -> None:
    """Signal each group's leader (pgid: stop signal, grace), give each group its grace to end, then
    kill what is left of it. `reap` collects a leader that is our own child once it has exited: a
    zombie leader still counts as a member of its group, which would then look alive until its grace
    ran out (20 s for dagster dev, on every stop)."""
    started = time.monotonic()
    for pgid, (stop_signal, _) in groups.items():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pgid, stop_signal)
    pending = dict(groups)
    while pending:
        for pgid, (_, grace) in list(pending.items()):
            if reap is not None:
                reap(pgid)
            if not _group_alive(pgid) or time.monotonic() - started >= grace:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                del pending[pgid]
        time.sleep(0.2)


class ChildGroup:
    """A child process leading its own group, started so that it dies with this process.

    `stop_signal` is what stops it gracefully (sent to the leader alone: dagster dev stops its webserver,
    daemon and code server itself, and restarts a code server interrupted first); it is also the signal
    the child receives when this process dies, and what the watchman sends first after a SIGKILL."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        stdout: IO | None = None,
        stop_signal: int = signal.SIGINT,
        grace: float = 20.0,
    ):
        self.stop_signal, self.grace = stop_signal, grace
        self.proc = subprocess.Popen(  # noqa: S603 - our own fixed commands
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            process_group=0,
            preexec_fn=_child_setup(_prctl(), os.getpid(), stop_signal),
        )
        _Watchman.send(f"watch {self.proc.pid} {stop_signal} {grace}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self) -> int:
        return self.proc.wait()

    def stop(self) -> None:
        """Stop it gracefully, then kill whatever of its group outlived it."""
        stop_children(self)

    def __enter__(self) -> ChildGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_children(*children: ChildGroup) -> None:
    """Stop the children together, each gracefully within its grace, then kill what is left of them."""
    with _ignoring_stop_signals():
        alive = {c.pid: c for c in children if c.poll() is None or _group_alive(c.pid)}
        stop_groups(
            {pid: (c.stop_signal, c.grace) for pid, c in alive.items()}, reap=lambda pid: alive[pid].poll()
        )
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)
            _Watchman.send(f"forget {child.pid}")


def _watch(lines: IO[str]) -> None:
    """The watchman: `watch PGID SIGNAL GRACE`, `forget PGID`, `remove PATH` and `keep PATH` lines until
    the pipe ends; then it stops every group still watched and deletes every path still to remove."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # it ends when the pipe does, never before
    watched: dict[int, tuple[int, float]] = {}
    scratch: set[str] = set()
    for line in lines:
        verb, _, rest = line.rstrip("\n").partition(" ")
        if verb == "watch":
            pgid, stop_signal, grace = rest.split()
            watched[int(pgid)] = (int(stop_signal), float(grace))
        elif verb == "forget":
            watched.pop(int(rest), None)
        elif verb == "remove":
            scratch.add(rest)
        elif verb == "keep":
            scratch.discard(rest)
    stop_groups(watched)
    for path in scratch:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    _watch(sys.stdin)
