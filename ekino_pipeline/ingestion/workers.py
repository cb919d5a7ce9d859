"""Running many cinema-day pulls at once: threads in this process, or worker processes for a large day.

A pull is mostly waiting on HTTP, so threads overlap it well; but reading, checking and writing pages
also costs CPU, and one Python process does that on one core at a time (the GIL). A large network's day
is therefore split into shards, each pulled by `python -m ekino_pipeline.ingestion.workers` with its own
threads. No Dagster here: the asset decides how many processes, and gets every committed manifest back.

The protocol is JSON lines over the worker's pipes. The parent writes the shard's plan (tokens
included: a pipe, unlike argv or the environment, is not readable by other users' processes) as one
line on stdin, and keeps stdin open. The worker writes `MANIFEST <json>` for each cinema-day it
committed, then `DONE <json>` with its CPU seconds and peak memory. A worker whose stdin reaches end of
file before it is done exits at once, and the kernel kills a worker whose parent dies (a parent-death
signal, see ekino_pipeline/processes.py), so a killed or cancelled run leaves no pull running behind it.
Everything a worker commits goes through the landing zone's atomic manifest, so a worker killed midway
leaves each cinema-day at its last committed state; a cinema-day a dead worker never reported is
recorded as failed, with the reason, like any other failed pull.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from ekino_pipeline.exchange.client import ExchangeClient, ExchangeConfigError
from ekino_pipeline.exchange.registry import resolve_base_url
from ekino_pipeline.ingestion.landing import CinemaDay, LandingZone, record_failed_pull
from ekino_pipeline.ingestion.pull import pull_cinema_day, redact
from ekino_pipeline.processes import cpu_seconds, die_with_parent, peak_rss_mb

log = logging.getLogger(__name__)

MANIFEST_LINE = "MANIFEST "
DONE_LINE = "DONE "
# A day smaller than this is pulled in the run's own process: a worker costs about half a second of
# start-up, more than a small day's CPU.
MIN_TASKS_PER_PROCESS = 200
_EXIT_ORPHANED = 70  # the parent closed our stdin before we were done
# The pid of the process that started the worker: the worker checks it is still its parent once it
# has asked to die with it (the parent may die before the worker starts).
PARENT_PID_ENV = "EKINO_PULL_WORKER_PARENT_PID"


class MissingToken(ExchangeConfigError):
    """No token for a cinema in the secrets (the message names the cinema, never a token)."""


@dataclass(frozen=True)
class PullTask:
    cinema_id: str
    base_url: str  # the cinema's registered exchange address
    business_date: date


@dataclass(frozen=True)
class PullPlan:
    """What any process needs to pull a set of cinema-days. `client_options` are the keyword arguments
    of ExchangeClient other than the address, token, cinema and film list."""

    dataset: str
    landing_root: str
    client_options: dict
    base_url: str | None = None  # overrides the registered addresses (a simulator, a proxy)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)
    known_film_ids: frozenset[str] | None = None
    run_id: str | None = None
    max_attempts: int = 2

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self.tokens.values())

    def pull(self, task: PullTask, zone: LandingZone) -> dict:
        token = self.tokens.get(task.cinema_id)

        def client() -> ExchangeClient:
            if not token:
                raise MissingToken(f"no token for cinema {task.cinema_id} in the secrets")
            return ExchangeClient(
                resolve_base_url(task.base_url, self.base_url),
                token,
                cinema_id=task.cinema_id,
                known_film_ids=self.known_film_ids,
                **self.client_options,
            )

        return pull_cinema_day(
            CinemaDay(self.dataset, task.cinema_id, task.business_date),
            client,
            zone,
            run_id=self.run_id,
            max_attempts=self.max_attempts,
            secrets=self.secrets,
        )

    def shard(self, tasks: list[PullTask]) -> dict:
        """This plan as JSON for a worker pulling `tasks`, with only their cinemas' tokens."""
        cinemas = {t.cinema_id for t in tasks}
        out = asdict(self)
        out["tokens"] = {c: t for c, t in self.tokens.items() if c in cinemas}
        out["known_film_ids"] = sorted(self.known_film_ids) if self.known_film_ids is not None else None
        out["tasks"] = [[t.cinema_id, t.base_url, t.business_date.isoformat()] for t in tasks]
        return out

    @classmethod
    def from_shard(cls, payload: dict) -> tuple[PullPlan, list[PullTask]]:
        tasks = [PullTask(c, url, date.fromisoformat(d)) for c, url, d in payload.pop("tasks")]
        films = payload.pop("known_film_ids")
        return cls(**payload, known_film_ids=frozenset(films) if films is not None else None), tasks


@dataclass
class WorkerUsage:
    processes: int = 0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the sum of the workers' peaks: what they may hold at once


def pull_in_threads(plan: PullPlan, tasks: list[PullTask], threads: int) -> Iterator[dict]:
    """Pull in this process; yields each committed manifest as it completes."""
    zone = LandingZone(Path(plan.landing_root))
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="pull") as pool:
        futures = {pool.submit(plan.pull, task, zone): task for task in tasks}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # a pull records its own failures: this is a bug, still isolated
                task = futures[future]
                log.exception("%s %s %s: pull crashed", plan.dataset, task.cinema_id, task.business_date)
                yield record_failed_pull(
                    CinemaDay(plan.dataset, task.cinema_id, task.business_date),
                    zone,
                    error=redact(f"{type(exc).__name__}: {exc}", plan.secrets),
                    error_type=type(exc).__name__,
                    run_id=plan.run_id,
                )


def process_count(n_tasks: int, requested: int) -> int:
    """`requested` worker processes, or with 0, one per core once the day is large enough to pay."""
    if requested:
        return max(1, min(requested, n_tasks))
    return max(1, min(os.cpu_count() or 1, n_tasks // MIN_TASKS_PER_PROCESS))


def pull_in_processes(
    plan: PullPlan,
    tasks: list[PullTask],
    processes: int,
    threads: int,
    usage: WorkerUsage | None = None,
    on_message: Callable[[str], None] = log.info,
) -> Iterator[dict]:
    """Pull `tasks` over `processes` workers with `threads` threads each; yields each committed
    manifest as a worker reports it. Stopping the iteration (a cancelled run) stops the workers."""
    shards = [tasks[i::processes] for i in range(processes)]
    shards = [s for s in shards if s]
    usage = usage if usage is not None else WorkerUsage()
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    workers: list[subprocess.Popen] = []

    def read(index: int, stream) -> None:
        for line in stream:
            lines.put((index, line))
        lines.put((index, None))

    def relay(stream) -> None:
        # The workers log warnings only (failed attempts, unexpected errors): they become ours.
        for line in stream:
            log.warning("%s", line.rstrip("\n"))

    relays: list[threading.Thread] = []

    try:
        for index, shard in enumerate(shards):
            payload = {**plan.shard(shard), "threads": threads}
            worker = subprocess.Popen(  # noqa: S603 - our own module, by this interpreter
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                env={**os.environ, PARENT_PID_ENV: str(os.getpid())},
            )
            workers.append(worker)
            relays.append(threading.Thread(target=relay, args=(worker.stderr,), daemon=True))
            relays[-1].start()
            worker.stdin.write(json.dumps(payload) + "\n")
            worker.stdin.flush()  # and kept open: its end of file tells the worker to stop
            threading.Thread(target=read, args=(index, worker.stdout), daemon=True).start()
        on_message(f"pulling {len(tasks)} cinema-days in {len(shards)} worker processes x {threads} threads")
        usage.processes = len(shards)
        reported: list[set[tuple[str, str]]] = [set() for _ in shards]
        running = len(shards)
        while running:
            try:
                index, line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                running -= 1
                code = workers[index].wait()
                relays[index].join(timeout=10)  # its last words come before its cinema-days' failure
                yield from _unreported(plan, shards[index], reported[index], code)
            elif line.startswith(MANIFEST_LINE):
                manifest = json.loads(line.removeprefix(MANIFEST_LINE))
                reported[index].add((manifest["cinema_id"], manifest["business_date"]))
                yield manifest
            elif line.startswith(DONE_LINE):
                done = json.loads(line.removeprefix(DONE_LINE))
                usage.cpu_seconds += done["cpu_seconds"]
                usage.peak_rss_mb += done["peak_rss_mb"]
            else:  # something a library printed: pass it on rather than lose it
                sys.stderr.write(line)
    finally:
        for worker in workers:
            if worker.stdin and not worker.stdin.closed:
                with contextlib.suppress(OSError):  # a worker that died has a broken pipe
                    worker.stdin.close()
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for thread in relays:
            thread.join(timeout=10)


def _unreported(plan: PullPlan, shard: list[PullTask], reported: set, code: int) -> Iterator[dict]:
    """Cinema-days of a worker that ended without reporting them, each recorded as failed."""
    zone = LandingZone(Path(plan.landing_root))
    for task in shard:
        if (task.cinema_id, task.business_date.isoformat()) not in reported:
            yield record_failed_pull(
                CinemaDay(plan.dataset, task.cinema_id, task.business_date),
                zone,
                error=f"the pull worker process ended (exit code {code}) before reporting this cinema-day",
                error_type="WorkerExited",
                run_id=plan.run_id,
            )


def _exit_when_orphaned(finished: threading.Event) -> None:
    sys.stdin.read()  # returns at end of file: the parent closed the pipe or is gone
    if not finished.is_set():
        os._exit(_EXIT_ORPHANED)


def main() -> None:
    die_with_parent(int(os.environ.get(PARENT_PID_ENV) or os.getppid()))
    logging.basicConfig(
        level=logging.WARNING, format=f"pull worker {os.getpid()}: %(levelname)s %(name)s: %(message)s"
    )
    payload = json.loads(sys.stdin.readline())
    threads = payload.pop("threads")
    plan, tasks = PullPlan.from_shard(payload)
    del payload
    finished = threading.Event()
    threading.Thread(target=_exit_when_orphaned, args=(finished,), daemon=True).start()
    out = sys.stdout
    for manifest in pull_in_threads(plan, tasks, threads):
        out.write(MANIFEST_LINE + json.dumps(manifest, default=str) + "\n")
        out.flush()
    finished.set()
    done = {"cpu_seconds": round(cpu_seconds(), 3), "peak_rss_mb": round(peak_rss_mb(), 1)}
    out.write(DONE_LINE + json.dumps(done) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
