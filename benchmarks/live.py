"""The live mode under the clock: how long a sale takes to reach live_today's export, and what it costs.

A simulator process serves the network on its real clock, started on a busy Saturday evening and run at
`rate` (simulated seconds per wall second). Every `tick_seconds` the live job runs as a fresh process,
as a Dagster run process would (`python -m benchmarks.live TICK`): every connected cinema's increment,
the load, the live dbt build and the export. A tick that overruns its slot makes the next slots skip,
as the schedule does.

* Sale to mart: when a tick's process ends, live_today's export has just been replaced; every sale of
  the batches that tick committed appears there for the first time. Its latency is that instant minus
  the sale's occurred_at, both on the wall clock (the simulated clock mapped back at `rate`). Only
  sales that occurred after the benchmark began count (the first tick also lands the day so far).
* CPU share: the CPU seconds of the tick processes and their children (dbt) over the wall seconds
  from the end of the first tick to the end, the simulator excluded (it stands for the cinemas). The
  first tick is a warm-up paid once a day (it lands the day so far, pulls the week's screenings and
  parses the dbt project); it is reported apart.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
# A Saturday evening, 18:00 in Almaty: the week's busiest hours.
START = datetime(2025, 5, 31, 13, 0, tzinfo=UTC)
SEED = 7


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def _start_simulator(work: Path, n_cinemas: int, rate: float) -> tuple[subprocess.Popen, str, float]:
    command = [
        sys.executable, "-m", "ekino_pipeline.cli", "simulate", "--port", "0", "--seed", str(SEED),
        "--secrets-file", str(work / "secrets.json"), "--cinemas", str(n_cinemas),
        "--registry-dir", str(work / "registry"), "--rate", str(rate), "--start", START.isoformat(),
    ]  # fmt: skip
    sim = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = sim.stdout.readline()
    # The clock started just before this line: taking its wall origin here errs by well under a second.
    origin = time.time()
    if " at http" not in line:
        sim.kill()
        raise RuntimeError(f"the simulator did not start: {line!r}")
    url = line.split(" at ", 1)[1].split(";", 1)[0].strip()
    return sim, url, origin


def measure(
    workdir: str, minutes: float, rate: float, n_cinemas: int, tick_seconds: float = 60.0, min_ticks: int = 1
) -> dict:
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    sim, url, origin = _start_simulator(work, n_cinemas, rate)
    env = {
        **os.environ,
        "EKINO_HOME": str(work / "home"),
        "EKINO_EXCHANGE_BASE_URL": url,
        "EKINO_SECRETS_FILE": str(work / "secrets.json"),
        "EKINO_REGISTRY_DIR": str(work / "registry"),
    }

    def simulated(wall: float) -> datetime:
        return START + timedelta(seconds=rate * (wall - origin))

    def wall_of(ts: datetime) -> float:
        return origin + (ts - START).total_seconds() / rate

    from ekino_pipeline.ingestion.landing import LandingZone
    from ekino_pipeline.ingestion.live import batch_files, live_manifests

    zone = LandingZone(work / "home" / "landing")
    seen: set[str] = set()
    latencies: list[float] = []
    ticks: list[dict] = []
    cpu_before = _children_cpu()
    began = time.time()
    steady_cpu, steady_began = cpu_before, began
    deadline = began + minutes * 60
    slot = began
    try:
        while slot < deadline or len(ticks) < min_ticks:
            time.sleep(max(0.0, slot - time.time()))
            started = time.time()
            as_of = simulated(started)
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.live", "TICK", as_of.isoformat()],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False,
            )  # fmt: skip
            ended = time.time()
            if done.returncode != 0:
                raise RuntimeError(f"live tick failed:\n{done.stdout[-3000:]}")
            steps = json.loads(done.stdout.strip().splitlines()[-1])
            new = 0
            for manifest in live_manifests(zone, _business_day(as_of)):
                for batch, path in batch_files(zone, manifest):
                    if batch in seen:
                        continue
                    seen.add(batch)
                    table = pq.read_table(path, columns=["event_type", "occurred_at"])
                    for kind, ts in zip(
                        table["event_type"].to_pylist(), table["occurred_at"].to_pylist(), strict=True
                    ):
                        new += 1
                        if kind == "sale" and ts >= START:
                            latencies.append(ended - wall_of(ts))
            ticks.append(
                {
                    "started": round(started - began, 1),
                    "seconds": round(ended - started, 2),
                    "events": new,
                    **steps,
                }
            )
            if len(ticks) == 1:
                # The first tick catches up on the day so far and parses the dbt project: a warm-up the
                # live mode pays once a day, kept apart from the steady cost.
                steady_cpu, steady_began = _children_cpu(), ended
            # The schedule skips the slots a run overran.
            while slot <= ended:
                slot += tick_seconds
    finally:
        finished = time.time()
        total_cpu = _children_cpu() - cpu_before
        sim.terminate()
        sim.wait(timeout=30)
    warmup_cpu = steady_cpu - cpu_before
    if len(ticks) > 1:
        wall, cpu = finished - steady_began, total_cpu - warmup_cpu
    else:
        wall, cpu = finished - began, total_cpu
    return {
        "rate": rate,
        "cinemas": n_cinemas,
        "minutes": round((finished - began) / 60, 2),
        "warmup_seconds": round(steady_began - began, 1),
        "warmup_cpu_seconds": round(warmup_cpu, 2),
        "steady_wall_seconds": round(wall, 1),
        "ticks": ticks,
        "sales_measured": len(latencies),
        "sale_to_mart_p95_seconds": _round(_percentile(latencies, 0.95)),
        "sale_to_mart_median_seconds": _round(statistics.median(latencies) if latencies else None),
        "sale_to_mart_max_seconds": _round(max(latencies, default=None)),
        "cpu_seconds": round(cpu, 2),
        "live_cpu_share_of_core": round(cpu / wall, 4),
        "dbt_refresh_seconds": [t.get("live_dbt_models") for t in ticks],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _business_day(ts: datetime) -> date:
    from ekino_pipeline.calendar import business_date_of

    return business_date_of(ts)


def tick(as_of: str) -> dict:
    """One live run in this process, as the run launcher would start it; seconds per step."""
    import dagster as dg

    from ekino_pipeline.definitions import build_resources
    from ekino_pipeline.ingestion import live_assets
    from ekino_pipeline.settings import Settings
    from ekino_pipeline.transformation import live as live_transformation

    config = {"as_of": as_of}
    instance = dg.DagsterInstance.ephemeral()
    ops = {"landing__live_ticket_events": {"config": config}, "live_raw_tables": {"config": config}}
    result = dg.materialize(
        [*live_assets.ASSETS, *live_transformation.ASSETS],
        resources=build_resources(Settings.from_env()),
        run_config={"ops": ops},
        instance=instance,
        raise_on_error=True,
    )
    seconds = {
        stats.step_key: round(stats.end_time - stats.start_time, 2)
        for stats in instance.get_run_step_stats(result.run_id)
        if stats.end_time and stats.start_time
    }
    return {"live_dbt_models": seconds.get("live_dbt_models"), "steps": seconds}


if __name__ == "__main__":
    if sys.argv[1] == "TICK":
        print(json.dumps(tick(sys.argv[2])), flush=True)
