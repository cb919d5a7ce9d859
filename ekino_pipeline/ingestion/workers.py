"""Running many cinema-day pulls at once: threads in this process, or a pool of worker processes for a
large day.

A pull is mostly waiting on HTTP, so threads overlap it well; but reading, checking and writing pages
also costs CPU, and one Python process does that on one core at a time (the GIL). A large network's day
is therefore pulled by the standard library's process pool (`concurrent.futures.ProcessPoolExecutor`),
one worker process per core, each pulling a chunk of cinema-days at a time with its own threads. No
Dagster here: the asset decides how many processes, and gets every committed manifest back.

- Workers come from a fork server (start method "forkserver"), never from a fork of the run's own
  process, which has threads (Dagster's, the pool's own); the fork server imports this module once, so
  a worker starts in milliseconds. Python's multiprocessing still has each worker import the main
  module of the process that started the pool: nothing for `python -m dagster` (the daemon's runs),
  about a second of CPU for a run started by the `dagster` console script.
- A chunk's plan carries its own cinemas' tokens only, pickled through the pool's pipe: never argv or
  the environment, which other users' processes can read.
- A worker dies with the run: it asks for the parent-death signal, and it ends at once when the pool's
  pipe closes (ekino_pipeline/processes.py), which the run's process does when it stops early (a
  cancelled run) and the kernel does when it dies (SIGKILL, the OOM killer). A killed run leaves no pull
  running behind it, none retrying the exchange with the cinemas' tokens.
- Everything a worker commits goes through the landing zone's atomic manifest, so a worker killed
  midway leaves each cinema-day at its last committed state. A worker that dies breaks the whole pool
  (the standard pool then stops every worker): the cinema-days the broken pool left undone are pulled
  again by a fresh pool (an attempt it killed is put on record first, as after any killed run), and
  those a second broken pool leaves undone are recorded as failed, with the reason.
- Each chunk brings back its worker's CPU seconds and peak memory so far, and its warnings, which the
  run logs as its own.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import date
from multiprocessing.connection import Connection
from pathlib import Path

from ekino_pipeline.exchange.client import (
    ExchangeClient,
    ExchangeConfigError,
    ExchangeConnectionError,
    SharedConnections,
)
from ekino_pipeline.exchange.registry import resolve_base_url
from ekino_pipeline.ingestion.landing import KILLED, CinemaDay, LandingZone, record_failed_pull
from ekino_pipeline.ingestion.pull import pull_cinema_day, redact
from ekino_pipeline.processes import cpu_seconds, die_with_parent, exit_at_end_of_file, peak_rss_mb

log = logging.getLogger(__name__)

# A day smaller than this is pulled in the run's own process: starting workers costs more than a small
# day's CPU.
MIN_TASKS_PER_PROCESS = 200
# Cinema-days per thread in a chunk: a worker's threads wait for each other only at a chunk's end, and
# the last chunks of a day are small enough to keep every worker busy until the end.
CHUNK_TASKS_PER_THREAD = 4
# Pools a cinema-day gets at most: a broken pool's undone cinema-days go to one fresh pool.
POOLS = 2
START_METHOD = "forkserver"
WORKER_EXITED = "WorkerExited"


# The failure that marks a cinema unreachable for the rest of a run (after the client's retries).
UNREACHABLE = ExchangeConnectionError.__name__
# The cinemas each recent run could not reach, in this process (its threads, or a worker's chunks).
_UNREACHABLE: dict[str, set[str]] = {}
_UNREACHABLE_RUNS_KEPT = 8
_UNREACHABLE_LOCK = threading.Lock()


def _unreachable_in_run(run_id: str | None) -> set[str]:
    """The set of cinemas `run_id` could not reach so far; a fresh set for a pull outside any run."""
    if run_id is None:
        return set()
    with _UNREACHABLE_LOCK:
        if run_id not in _UNREACHABLE:
            while len(_UNREACHABLE) >= _UNREACHABLE_RUNS_KEPT:
                _UNREACHABLE.pop(next(iter(_UNREACHABLE)))
            _UNREACHABLE[run_id] = set()
        return _UNREACHABLE[run_id]


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

    def for_tasks(self, tasks: list[PullTask]) -> PullPlan:
        """This plan with the tokens of the cinemas of `tasks` only: what a worker gets."""
        cinemas = {t.cinema_id for t in tasks}
        return replace(self, tokens={c: t for c, t in self.tokens.items() if c in cinemas})

    def pull(self, task: PullTask, zone: LandingZone, connections: SharedConnections | None = None) -> dict:
        token = self.tokens.get(task.cinema_id)
        # A cinema this run could not reach is tried once more per cinema-day, without retries: a
        # cinema that is down costs the run one round of back-off, not one per day of the window.
        unreachable = _unreachable_in_run(self.run_id)
        known_down = task.cinema_id in unreachable
        options = {**self.client_options, "retries": 0} if known_down else self.client_options

        def client() -> ExchangeClient:
            if not token:
                raise MissingToken(f"no token for cinema {task.cinema_id} in the secrets")
            return ExchangeClient(
                resolve_base_url(task.base_url, self.base_url),
                token,
                cinema_id=task.cinema_id,
                known_film_ids=self.known_film_ids,
                connections=connections,
                **options,
            )

        manifest = pull_cinema_day(
            self.cinema_day(task),
            client,
            zone,
            run_id=self.run_id,
            max_attempts=1 if known_down else self.max_attempts,
            secrets=self.secrets,
            failure_note="tried once: unreachable earlier in this run" if known_down else None,
        )
        if manifest.get("error_type") == UNREACHABLE:
            unreachable.add(task.cinema_id)
        elif manifest.get("status") == "success":
            unreachable.discard(task.cinema_id)
        return manifest

    def cinema_day(self, task: PullTask) -> CinemaDay:
        return CinemaDay(self.dataset, task.cinema_id, task.business_date)


@dataclass
class WorkerUsage:
    """What the worker processes of a pull cost, and the fork server they came from, as the workers
    reported with their last chunk. The fork server's CPU is all of its own since it started (its
    imports, mostly): each pull of a process that runs several counts it again."""

    processes: int = 0  # the workers of a pool, whether or not each got a chunk
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the sum of the processes' peaks: what they may hold at once
    _workers: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)
    _servers: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)

    def record(self, done: _ChunkDone) -> None:
        self._workers[done.pid] = (done.cpu_seconds, done.peak_rss_mb)
        if done.parent_pid != os.getpid():  # a fork server; with "spawn", the run's own process
            self._servers[done.parent_pid] = (done.parent_cpu_seconds, done.parent_peak_rss_mb)
        both = [*self._workers.values(), *self._servers.values()]
        self.cpu_seconds = sum(cpu for cpu, _ in both)
        self.peak_rss_mb = sum(rss for _, rss in both)


def pull_in_threads(
    plan: PullPlan, tasks: list[PullTask], threads: int, connections: SharedConnections | None = None
) -> Iterator[dict]:
    """Pull in this process; yields each committed manifest as it completes. The threads' clients keep
    their HTTP connections open for each other's next cinema-days on the same exchange host: in
    `connections` when given (a worker's, kept from one chunk to the next), else in the call's own."""
    zone = LandingZone(Path(plan.landing_root))
    threads = max(1, threads)
    scope = SharedConnections(threads) if connections is None else contextlib.nullcontext(connections)
    with (
        scope as connections,
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pull") as pool,
    ):
        futures = {pool.submit(plan.pull, task, zone, connections): task for task in tasks}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # a pull records its own failures: this is a bug, still isolated
                task = futures[future]
                log.exception("%s %s %s: pull crashed", plan.dataset, task.cinema_id, task.business_date)
                yield record_failed_pull(
                    plan.cinema_day(task),
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
    """Pull `tasks` over a pool of `processes` workers with `threads` threads each; yields each
    committed manifest as its chunk comes back. Stopping the iteration (a cancelled run) stops the
    workers at once."""
    usage = usage if usage is not None else WorkerUsage()
    undone = list(tasks)
    for number in range(1, POOLS + 1):
        undone = yield from _pool(plan, undone, processes, threads, usage, on_message)
        if not undone:
            return
        if number < POOLS:
            on_message(f"a pull worker process died: {len(undone)} cinema-days left undone go to a new pool")
    zone = LandingZone(Path(plan.landing_root))
    for task in undone:
        yield record_failed_pull(
            plan.cinema_day(task),
            zone,
            error=f"the pull worker processes died before this cinema-day was done, {POOLS} pools in a row",
            error_type=WORKER_EXITED,
            run_id=plan.run_id,
        )


@dataclass(frozen=True)
class _ChunkDone:
    manifests: list[dict]
    log_lines: list[str]
    # The worker's and its parent's figures so far.
    pid: int
    cpu_seconds: float
    peak_rss_mb: float
    parent_pid: int
    parent_cpu_seconds: float
    parent_peak_rss_mb: float


def _chunks(tasks: list[PullTask], processes: int, threads: int) -> list[list[PullTask]]:
    size = max(1, min(threads * CHUNK_TASKS_PER_THREAD, -(-len(tasks) // processes)))
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def _pool(
    plan: PullPlan,
    tasks: list[PullTask],
    processes: int,
    threads: int,
    usage: WorkerUsage,
    on_message: Callable[[str], None],
) -> Generator[dict, None, list[PullTask]]:
    """One pool over `tasks`: yields the manifests, returns the cinema-days left undone when the pool
    broke (a worker died)."""
    chunks = _chunks(tasks, processes, threads)
    workers = min(processes, len(chunks))
    context = multiprocessing.get_context(START_METHOD)
    # Imported once by the fork server, if this pool starts it (a worker never imports pandas: below).
    context.set_forkserver_preload([__name__])
    stop_reading, stop_writing = context.Pipe(duplex=False)
    pool = ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=(stop_reading, threads))
    usage.processes = max(usage.processes, workers)
    zone = LandingZone(Path(plan.landing_root))
    broken: list[PullTask] = []
    finished = False
    try:
        futures = {pool.submit(_pull_chunk, plan.for_tasks(chunk), chunk, threads): chunk for chunk in chunks}
        on_message(
            f"pulling {len(tasks)} cinema-days in {workers} worker processes x {threads} threads, "
            f"{len(chunks)} chunks"
        )
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                done: _ChunkDone = future.result()
            except BrokenProcessPool:
                broken.extend(chunk)
                continue
            except Exception as exc:  # the chunk's result could not come back: a bug, still isolated
                log.exception("%s: a chunk of %d cinema-days failed", plan.dataset, len(chunk))
                error = redact(f"{type(exc).__name__}: {exc}", plan.secrets)
                for task in chunk:
                    yield _pulled_by_run(zone, plan, task) or record_failed_pull(
                        plan.cinema_day(task),
                        zone,
                        error=error,
                        error_type=type(exc).__name__,
                        run_id=plan.run_id,
                    )
                continue
            usage.record(done)
            for line in done.log_lines:
                log.warning("%s", line)
            yield from done.manifests
        finished = True
    finally:
        if not finished:
            stop_writing.close()  # the workers end at once, wherever they are
        pool.shutdown(wait=True, cancel_futures=True)
        stop_writing.close()
        stop_reading.close()
    undone = []
    for task in broken:
        # What this run's pulls committed before the pool broke needs no second pull.
        manifest = _pulled_by_run(zone, plan, task)
        if manifest is not None:
            yield manifest
        else:
            undone.append(task)
    return undone


def _pulled_by_run(zone: LandingZone, plan: PullPlan, task: PullTask) -> dict | None:
    """The cinema-day's manifest if a pull of this run committed it; a killed attempt of this run put
    on record by a later pull is no pull's result."""
    if plan.run_id is None:
        return None
    try:
        manifest = zone.read_manifest(plan.dataset, task.business_date, task.cinema_id)
    except (OSError, ValueError):
        return None
    if not manifest or manifest.get("run_id") != plan.run_id or manifest.get("error_type") == KILLED:
        return None
    return manifest


# In a worker: its warnings since its last chunk, brought back with the next one.
_log_lines: list[str] = []
# In a worker: the HTTP connections its chunks' clients share, open from one chunk to the next.
_connections: SharedConnections | None = None


class _KeepLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _log_lines.append(self.format(record))


class _WithoutPandas:
    """An import finder that says pandas is not installed. pyarrow imports pandas (about a second of
    CPU, on the pool's critical path) on its first conversion of a Python value, only to recognise
    pandas objects, which a pull never has; told pandas is missing, it converts without it."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("a pull worker does without pandas", name=name)


def _start_worker(stop: Connection, threads: int) -> None:
    """A worker's first act: die with its parent (the fork server, which ends with the run), and end
    when the pool's pipe closes (the run stopped early, or died). Its chunks then share its HTTP
    connections, kept open from one chunk to the next."""
    global _connections
    die_with_parent(os.getppid())
    exit_at_end_of_file(stop)
    _connections = SharedConnections(threads)
    sys.meta_path.insert(0, _WithoutPandas)
    keep = _KeepLines(logging.WARNING)
    keep.setFormatter(logging.Formatter(f"pull worker {os.getpid()}: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [keep]
    root.setLevel(logging.WARNING)


def _pull_chunk(plan: PullPlan, tasks: list[PullTask], threads: int) -> _ChunkDone:
    manifests = list(pull_in_threads(plan, tasks, threads, _connections))
    lines = _log_lines[:]
    _log_lines.clear()
    parent = os.getppid()
    try:
        parent_cpu, parent_rss = cpu_seconds(parent), peak_rss_mb(parent)
    except OSError:  # the parent is gone: this worker is about to be too
        parent_cpu = parent_rss = 0.0
    return _ChunkDone(
        manifests, lines, os.getpid(), cpu_seconds(), peak_rss_mb(), parent, parent_cpu, parent_rss
    )
