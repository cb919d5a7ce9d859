"""Dead runs: a run whose process was killed (SIGKILL, the OOM killer, a crash) is marked failed.

A run killed that way never reports its end. The code server that launched it notices that its child
died and marks it failed; but until this platform's instances enabled run monitoring, the `warehouse`
pool slot its loader or dbt step had claimed stayed taken, and every later load waited forever. Run
monitoring (`free_slots_after_run_end_seconds` in deploy/*/dagster.yaml) now frees the slots of runs
that ended, dead ones included.

When the code server died too (`make ui` killed as a whole, a crash or restart of the server), nobody
is left to notice, and the run stays STARTED: run monitoring would learn of it only from a run launcher
that checks its workers' health, which the DefaultRunLauncher (runs as processes of the code server)
cannot. This sensor is that check. The code server records the pid of each run's process ("Started
process for run (pid: N)"); sensors are evaluated by a code server of the same deployment, on the same
host, so the pid can be looked up. A run whose process is gone, or whose pid now belongs to a younger
process, is reported failed; run monitoring then frees its slots and `run_retries` re-runs it. Runs not
started by the DefaultRunLauncher (another launcher, `dagster asset materialize` in a shell, perhaps on
another host) carry no such pid and are left alone: the README says what an operator does about them.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

STARTED_PROCESS = "Started process for run (pid: "
# A process that started this much after the run recorded its pid is another process with the same pid.
PID_CLOCK_SLACK_SECONDS = 2.0


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


def run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, time recorded) of the process the code server started for the run, if it recorded one."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        message = entry.dagster_event.message if entry.dagster_event else None
        if message and message.startswith(STARTED_PROCESS):
            return int(message.removeprefix(STARTED_PROCESS).split(")")[0]), entry.timestamp
    return None


def is_dead(pid: int, recorded_at: float) -> bool:
    started = process_started_at(pid)
    return started is None or started > recorded_at + PID_CLOCK_SLACK_SECONDS


def find_dead_runs(instance: dg.DagsterInstance) -> list[tuple[dg.DagsterRun, int]]:
    """STARTED runs whose process, started by this host's code server, is gone: (run, its pid)."""
    dead = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        found = run_process(instance, record.dagster_run.run_id)
        if found is not None and is_dead(*found):
            dead.append((record.dagster_run, found[0]))
    return dead


def build_dead_run_sensor(minimum_interval_seconds: int = 60) -> dg.SensorDefinition:
    @dg.sensor(
        name="dead_run_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks failed a STARTED run whose process is gone (killed with SIGKILL, crashed), so "
        "that run monitoring frees its warehouse pool slot and the run is retried.",
    )
    def dead_run_sensor(context: dg.SensorEvaluationContext):
        instance = context.instance
        if not isinstance(instance.run_launcher, dg.DefaultRunLauncher) or not Path("/proc/stat").exists():
            return dg.SkipReason("only runs started by the DefaultRunLauncher on Linux can be checked")
        dead = []
        for run, pid in find_dead_runs(instance):
            # The code server that launched the run may have marked it failed meanwhile: once is enough.
            current = instance.get_run_by_id(run.run_id)
            if current is None or current.status != dg.DagsterRunStatus.STARTED:
                continue
            dead.append((current, pid))
        for run, pid in dead:
            message = (
                f"The run's process (pid {pid}) is gone (killed or crashed) while the run was STARTED: "
                "marked failed by dead_run_sensor; run monitoring frees its pool slots."
            )
            context.log.warning(f"run {run.run_id}: {message}")
            instance.report_run_failed(run, message)
        if not dead:
            return dg.SkipReason("no dead run")
        return dg.SkipReason(f"marked {len(dead)} dead runs failed: {', '.join(r.run_id for r, _ in dead)}")

    return dead_run_sensor
