"""Dead runs: a run whose process was killed (SIGKILL, the OOM killer, a crash) is marked failed.

A run killed that way never reports its end. The code server that launched it notices that its child
died and marks it failed; but until this platform's instances enabled run monitoring, the `warehouse`
pool slot its loader or dbt step had claimed stayed taken, and every later load waited forever. Run
monitoring (`free_slots_after_run_end_seconds` in deploy/*/dagster.yaml) now frees the slots of runs
that ended, dead ones included.

When the code server died too (`make ui` killed as a whole, a crash or restart of the server), or no
code server launched the run (`dagster asset materialize` in a shell), nobody is left to notice, and
the run stays STARTED: run monitoring would learn of it only from a run launcher that checks its
workers' health, which the DefaultRunLauncher (runs as processes of the code server) cannot. This
sensor is that check. A run's process is on record twice over: the code server records the pid of each
run it launches ("Started process for run (pid: N)"; sensors are evaluated by a code server of the same
deployment, on the same host), and every run that sets up the warehouse records its own pid, host and
start time (run_process.py), shell runs included. A run whose process, on this host, is gone, or whose
pid now belongs to a younger process, is reported failed; run monitoring then frees its slots and
`run_retries` re-runs it. A run recorded on another host, or never recorded (it never reached a step
of the warehouse pool, so holds no slot of it), is left alone.
"""

from __future__ import annotations

import socket
from pathlib import Path

import dagster as dg

from ekino_pipeline.run_process import RunProcess, process_started_at

STARTED_PROCESS = "Started process for run (pid: "
# A process that started this much after the run recorded its pid is another process with the same pid.
PID_CLOCK_SLACK_SECONDS = 2.0
# Every SIGKILLed run frees its pool slot within this sensor's interval, plus run monitoring's poll
# interval and free_slots_after_run_end_seconds (deploy/*/dagster.yaml): two minutes at most.
DEAD_RUN_SENSOR_INTERVAL_SECONDS = 30


def run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, a time the process already existed) of the run's process on this host: the one the code
    server started for the run, or the one the run recorded itself (run_process.py); None if neither."""
    host = socket.gethostname()
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        message = entry.dagster_event.message if entry.dagster_event else None
        if not message:
            continue
        if message.startswith(STARTED_PROCESS):
            return int(message.removeprefix(STARTED_PROCESS).split(")")[0]), entry.timestamp
        recorded = RunProcess.from_message(message)
        if recorded is not None and recorded.host == host:
            return recorded.pid, recorded.started_at
    return None


def is_dead(pid: int, recorded_at: float) -> bool:
    started = process_started_at(pid)
    return started is None or started > recorded_at + PID_CLOCK_SLACK_SECONDS


def find_dead_runs(instance: dg.DagsterInstance) -> list[tuple[dg.DagsterRun, int]]:
    """STARTED runs whose process, recorded on this host, is gone: (run, its pid)."""
    dead = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        found = run_process(instance, record.dagster_run.run_id)
        if found is not None and is_dead(*found):
            dead.append((record.dagster_run, found[0]))
    return dead


def build_dead_run_sensor(
    minimum_interval_seconds: int = DEAD_RUN_SENSOR_INTERVAL_SECONDS,
) -> dg.SensorDefinition:
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
            return dg.SkipReason("only runs of the DefaultRunLauncher's instance on Linux can be checked")
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
