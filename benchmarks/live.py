"""The live mode under the clock, as deployed: how long a sale takes to reach live_today's export, and
what it costs.

A simulator process serves the network on its real clock, started on a busy Saturday evening and run at
`rate` (simulated seconds per wall second). The live session runs as Dagster runs it: `dagster job
execute` of `live_job` in a process of its own (the run process; its one step ticks every
`tick_seconds` in it, dbt included), with its clock on the simulator's. It ends by itself after its
ticks.

* Sale to mart: the benchmark watches live_today's export; when the file is replaced, every sale of the
  batches committed before it appears there for the first time. Its latency is the instant the
  replacement was seen minus the sale's occurred_at, both on the wall clock (the simulated clock mapped
  back at `rate`). Only sales that occurred after the benchmark began count (the first tick also lands
  the day so far).
* CPU share: the CPU seconds of the session process and everything it started, over the wall seconds
  from the first export to its end; the simulator excluded (it stands for the cinemas). Starting the
  process, parsing the dbt project and the first tick (it lands the day so far and pulls the week's
  screenings) are a warm-up paid once a day, reported apart.
* The fixed cost of one live refresh: the dbt build of the live models in the session (wall and CPU
  seconds, from the session's log line of each tick), and the whole tick's CPU.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
# A Saturday evening, 18:00 in Almaty: the week's busiest hours.
START = datetime(2025, 5, 31, 13, 0, tzinfo=UTC)
SEED = 7
TICK_LINE = re.compile(r"live tick (\d+) as of (\S+): (\{.*\})")


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
        sys.executable, "-m", "ekino_sim.cli", "simulate", "--port", "0", "--seed", str(SEED),
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


def _process_cpu(pid: int) -> float:
    """CPU seconds of a live process and its reaped children (/proc/<pid>/stat utime..cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _drain(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def measure(
    workdir: str, minutes: float, rate: float, n_cinemas: int, tick_seconds: float = 60.0, min_ticks: int = 1
) -> dict:
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "dagster_home").mkdir(exist_ok=True)
    load_before = os.getloadavg()
    sim, url, origin = _start_simulator(work, n_cinemas, rate)
    env = {
        **os.environ,
        "EKINO_HOME": str(work / "home"),
        "EKINO_EXCHANGE_BASE_URL": url,
        "EKINO_SECRETS_FILE": str(work / "secrets.json"),
        "EKINO_REGISTRY_DIR": str(work / "registry"),
        "DAGSTER_HOME": str(work / "dagster_home"),
    }
    ticks = max(min_ticks, 1 + round(minutes * 60 / tick_seconds))
    config = {
        "tick_seconds": tick_seconds,
        "ticks": ticks,
        "clock_start": START.isoformat(),
        "clock_start_wall": origin,
        "clock_rate": rate,
    }
    config_path = work / "live_session.json"
    config_path.write_text(json.dumps({"ops": {"live_session": {"config": config}}}))

    def wall_of(ts: datetime) -> float:
        return origin + (ts - START).total_seconds() / rate

    from ekino_pipeline.ingestion.landing import LandingZone
    from ekino_pipeline.live.pull import batch_files, live_manifests

    zone = LandingZone(work / "home" / "landing")
    export = work / "home" / "exports" / "live_today.parquet"
    seen: set[str] = set()
    latencies: list[float] = []
    refreshes: list[dict] = []
    log_lines: list[str] = []
    cpu_before = _children_cpu()
    began = time.time()
    command = [
        str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "ekino_pipeline.definitions",
        "-j", "live_job", "-c", str(config_path),
    ]  # fmt: skip
    session = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    reader = threading.Thread(target=_drain, args=(session.stderr, log_lines), daemon=True)
    reader.start()
    first_export = warmup_cpu = None
    last_mtime = None
    try:
        while True:
            ended = session.poll() is not None
            try:
                mtime = export.stat().st_mtime
            except FileNotFoundError:
                mtime = None
            if mtime is not None and mtime != last_mtime:
                seen_at = time.time()
                last_mtime = mtime
                if first_export is None:
                    first_export, warmup_cpu = seen_at, _process_cpu(session.pid)
                new = 0
                for manifest in live_manifests(
                    zone, _business_day(START + timedelta(seconds=rate * (seen_at - origin)))
                ):
                    for batch in manifest["batches"]:
                        # A batch of the tick under way is not in this export yet.
                        if (
                            batch["batch_id"] in seen
                            or datetime.fromisoformat(batch["extracted_at"]).timestamp() > mtime
                        ):
                            continue
                        seen.add(batch["batch_id"])
                        path = dict(batch_files(zone, manifest))[batch["batch_id"]]
                        table = pq.read_table(path, columns=["event_type", "occurred_at"])
                        for kind, ts in zip(
                            table["event_type"].to_pylist(), table["occurred_at"].to_pylist(), strict=True
                        ):
                            new += 1
                            if kind == "sale" and ts >= START:
                                latencies.append(seen_at - wall_of(ts))
                refreshes.append({"seen": round(seen_at - began, 1), "events": new})
            if ended:
                break
            time.sleep(0.25)
        finished = time.time()
        total_cpu = _children_cpu() - cpu_before
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
        sim.terminate()
        sim.wait(timeout=30)
    reader.join(timeout=10)
    if session.returncode != 0:
        raise RuntimeError("the live session failed:\n" + "".join(log_lines[-40:]))
    tick_figures = []
    for line in log_lines:
        found = TICK_LINE.search(line)
        if found:
            tick_figures.append(
                {"tick": int(found.group(1)), "as_of": found.group(2), **json.loads(found.group(3))}
            )
    steady = tick_figures[1:] or tick_figures
    if first_export is not None and len(refreshes) > 1:
        wall, cpu = finished - first_export, total_cpu - warmup_cpu
    else:
        wall, cpu = finished - began, total_cpu
    return {
        "rate": rate,
        "cinemas": n_cinemas,
        "minutes": round((finished - began) / 60, 2),
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "warmup_seconds": round((first_export or finished) - began, 1),
        "warmup_cpu_seconds": round(warmup_cpu or 0.0, 2),
        "steady_wall_seconds": round(wall, 1),
        "ticks": [
            {
                k: t.get(k)
                for k in (
                    "tick",
                    "as_of",
                    "events_loaded",
                    "pull_seconds",
                    "load_seconds",
                    "dbt_seconds",
                    "dbt_cpu_seconds",
                    "export_seconds",
                    "tick_cpu_seconds",
                )
            }
            for t in tick_figures
        ],
        "refreshes_seen": refreshes,
        "sales_measured": len(latencies),
        "sale_to_mart_p95_seconds": _round(_percentile(latencies, 0.95)),
        "sale_to_mart_median_seconds": _round(statistics.median(latencies) if latencies else None),
        "sale_to_mart_max_seconds": _round(max(latencies, default=None)),
        "cpu_seconds": round(cpu, 2),
        "live_cpu_share_of_core": round(cpu / wall, 4),
        "dbt_refresh_seconds": [t.get("dbt_seconds") for t in tick_figures],
        "refresh_fixed_cost": {
            "dbt_seconds_median": _median(t.get("dbt_seconds") for t in steady),
            "dbt_cpu_seconds_median": _median(t.get("dbt_cpu_seconds") for t in steady),
            "tick_cpu_seconds_median": _median(t.get("tick_cpu_seconds") for t in steady),
        },
    }


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _business_day(ts: datetime) -> date:
    from ekino_pipeline.calendar import business_date_of

    return business_date_of(ts)
