"""The process a run executes in, recorded by the run itself so that the dead-run sensor can vouch for
any run, however it was started.

A run the daemon launches is a process its code server started, and the code server records its pid
("Started process for run (pid: N)"). A run started from a shell (`dagster asset materialize`) is that
command's own process, and nobody records it: killed (SIGKILL, the OOM killer), it stays STARTED and
keeps the `warehouse` pool slot its step had claimed. So a run records its own process when one of its
steps sets up the warehouse (every step of the `warehouse` pool does, WarehouseResource): the pid, the
host and when that process started, as an engine event of the run. Being an event of the run, never a
tag, it is not copied to a retry or a re-execution, which run in other processes.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

RUN_PROCESS = "Run process for run (pid: "


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


def process_started_at(pid: int) -> float | None:
    """When a live process started (seconds since the epoch); None for no such process or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # exited, waiting only for its parent's wait()
        return None
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class RunProcess:
    pid: int
    host: str
    started_at: float

    def message(self) -> str:
        return f"{RUN_PROCESS}{self.pid}, host: {self.host}, started: {self.started_at:.2f})."

    @classmethod
    def from_message(cls, message: str) -> RunProcess | None:
        if not message.startswith(RUN_PROCESS):
            return None
        try:
            pid, host, started = message.removeprefix(RUN_PROCESS).removesuffix(").").split(", ")
            return cls(int(pid), host.removeprefix("host: "), float(started.removeprefix("started: ")))
        except ValueError:
            return None


def this_run_process() -> RunProcess | None:
    """The process running this run: the parent of a step process the multiprocess executor started,
    else this process (in-process execution). None where /proc cannot say when it started."""
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None and parent.pid is not None else os.getpid()
    started = process_started_at(pid)
    return None if started is None else RunProcess(pid, socket.gethostname(), started)


def recorded_run_processes(instance: dg.DagsterInstance, run_id: str) -> list[RunProcess]:
    processes = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        message = entry.dagster_event.message if entry.dagster_event else None
        found = RunProcess.from_message(message) if message else None
        if found is not None:
            processes.append(found)
    return processes


def record_run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunProcess | None:
    """Records the run's process as an engine event of the run, once (each of its steps may ask)."""
    process = this_run_process()
    if process is None or process in recorded_run_processes(instance, run.run_id):
        return process
    instance.report_engine_event(process.message(), run)
    return process
