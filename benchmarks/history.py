"""The incremental dbt build of one new day, on top of a long history and on top of one day.

Simulating a year through the exchange would take the whole budget, so the history is made in bulk: the
simulator's pilot network is pulled for one week of session days (the events of those sessions, from
their first presale to their last late sale, and the sessions themselves) through the real assets into
`raw.*`; that week is then copied into every week of the history inside DuckDB, dates and the dates
inside ids shifted together, so every copy is as consistent as the week it copies (each session
appears once, with all its tickets). The marts are built over the history (not timed), the new day is
loaded, and `dbt build` for that day is timed, tests and snapshots included, as the daily job runs it.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from ekino_pipeline.transformation.dbt_args import dbt_build_args
from ekino_pipeline.transformation.project import DBT_PROJECT_DIR, dbt_executable

WEEK = 7
# Ids carry their session's day: "<cinema>:<S|E|T>YYYYMMDD-...", the cinema id being 8 characters.
_ID_PREFIX, _ID_DATE_END = 10, 18
RAW_TABLES = ("ticket_events", "sessions", "landing_manifests", "cinemas_daily")


def pull_template(env: dict[str, str], day: date) -> None:
    """Land and load the template week: session days day-7..day-1, events of days day-14..day."""
    import dagster as dg

    os.environ.update(env)
    from ekino_pipeline.definitions import build_resources
    from ekino_pipeline.ingestion import assets as ingestion
    from ekino_pipeline.ingestion import loading
    from ekino_pipeline.settings import Settings

    resources = build_resources(Settings.from_env())
    instance = dg.DagsterInstance.ephemeral()

    # These windows alone: the template needs no presale lookback or upcoming days beside them.
    window_only = {"presale_lookback_days": 0, "upcoming_session_days": 0}

    def run(assets, first: date, last: date) -> None:
        pulls = [a for a in assets if a in (ingestion.sessions, ingestion.ticket_events)]
        result = dg.materialize(
            assets,
            resources=resources,
            instance=instance,
            run_config={"ops": {a.op.name: {"config": window_only} for a in pulls}},
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )
        if not result.success:
            raise RuntimeError(f"the template pull of {first}..{last} failed")

    run(
        [ingestion.national_registries, ingestion.sessions],
        day - timedelta(days=WEEK),
        day - timedelta(days=1),
    )
    run([ingestion.ticket_events], day - timedelta(days=2 * WEEK), day)
    run([loading.raw_tables], day - timedelta(days=2 * WEEK), day)


def template(home: str, day: str, now: str, n_cinemas: int) -> dict:
    """Child task: a simulator of n_cinemas in this process, the template week pulled and set apart."""
    from ekino_sim.server import SimulatorServer

    home_path, new_day = Path(home), date.fromisoformat(day)
    secrets, registry = home_path / "secrets.json", home_path / "registry"
    with SimulatorServer(
        n_cinemas=n_cinemas, secrets_file=secrets, registry_dir=registry, now=datetime.fromisoformat(now)
    ) as sim:
        env = {
            "EKINO_HOME": str(home_path),
            "EKINO_EXCHANGE_BASE_URL": sim.url,
            "EKINO_SECRETS_FILE": str(secrets),
            "EKINO_REGISTRY_DIR": str(registry),
            "EKINO_START_DATE": "2024-01-01",
        }
        pull_template(env, new_day)
    warehouse = home_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        counts = keep_template(con, new_day)
    return {"warehouse": str(warehouse), "template": counts}


def _shift_id(column: str, days: str) -> str:
    return (
        f"left({column}, {_ID_PREFIX}) || strftime(session_date + {days}, '%Y%m%d') "
        f"|| substr({column}, {_ID_DATE_END + 1})"
    )


def keep_template(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, int]:
    """Move the template week out of `raw` into `template`, leaving `raw` empty for the copies."""
    first, last = day - timedelta(days=WEEK), day - timedelta(days=1)
    session_day = f"cast(strptime(substr(session_id, {_ID_PREFIX + 1}, 8), '%Y%m%d') as date)"
    con.execute("create schema if not exists template")
    con.execute(
        f"create or replace table template.ticket_events as select *, {session_day} as session_date "
        f"from raw.ticket_events where {session_day} between ? and ?",
        [first, last],
    )
    con.execute(
        "create or replace table template.sessions as select *, business_date as session_date "
        "from raw.sessions where business_date between ? and ?",
        [first, last],
    )
    # One day's manifests and registry snapshot stand for every day.
    for table in ("landing_manifests", "cinemas_daily"):
        con.execute(
            f"create or replace table template.{table} as select * from raw.{table} where business_date = ?",
            [last],
        )
    for table in RAW_TABLES:
        con.execute(f"delete from raw.{table}")
    return {
        table: con.execute(f"select count(*) from template.{table}").fetchone()[0]
        for table in ("ticket_events", "sessions")
    }


def load_copies(con: duckdb.DuckDBPyConnection, day: date, first: date, last: date) -> int:
    """Insert into `raw` the business days first..last, copied from the template week."""
    base = day - timedelta(days=WEEK)
    weeks = range((first - base).days // WEEK - 2, (last - base).days // WEEK + 3)
    con.execute(
        "create or replace temp table copies as select unnest(?::integer[]) * 7 as shift", [list(weeks)]
    )
    window = [first, last]
    con.execute(
        f"""
        insert into raw.ticket_events by name
        select * exclude (session_date, shift) replace (
            {_shift_id("event_id", "shift")} as event_id,
            {_shift_id("ticket_id", "shift")} as ticket_id,
            {_shift_id("session_id", "shift")} as session_id,
            occurred_at + to_days(shift) as occurred_at,
            business_date + shift as business_date
        )
        from template.ticket_events, copies
        where business_date + shift between ? and ?
        order by business_date + shift, cinema_id
        """,
        window,
    )
    con.execute(
        f"""
        insert into raw.sessions by name
        select * exclude (session_date, shift) replace (
            {_shift_id("session_id", "shift")} as session_id,
            starts_at + to_days(shift) as starts_at,
            business_date + shift as business_date
        )
        from template.sessions, copies
        where business_date + shift between ? and ?
        order by business_date + shift, cinema_id
        """,
        window,
    )
    for table in ("landing_manifests", "cinemas_daily"):
        con.execute(
            f"""
            insert into raw.{table} by name
            select template.* exclude (business_date), days.day as business_date
            from template.{table} as template,
                (select unnest(generate_series(?::date, ?::date, interval 1 day))::date as day) as days
            """,
            window,
        )
    return con.execute(
        "select count(*) from raw.ticket_events where business_date between ? and ?", window
    ).fetchone()[0]


def dbt_build(
    warehouse: Path, first: date, last: date, target: Path, full_history_tests: bool = False
) -> dict:
    """`dbt build` over first..last as the dbt asset runs it; wall and CPU time, slowest nodes."""
    args = dbt_build_args(first, last, str(warehouse), full_history_tests=full_history_tests)
    command = [dbt_executable(), *args]
    command += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    command += ["--target-path", str(target), "--log-path", str(target / "logs"), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    nodes = sorted(
        ((r["unique_id"], r["execution_time"], r["status"]) for r in run_results["results"]),
        key=lambda n: -n[1],
    )
    failed = [uid for uid, _, status in nodes if status in ("error", "fail", "skipped")]
    if done.returncode != 0 and not failed:
        raise RuntimeError(f"dbt build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3),
        "nodes": len(nodes),
        "failed_nodes": failed,
        "node_seconds": round(sum(n[1] for n in nodes), 3),
        "slowest_nodes": [{"node": uid, "seconds": round(t, 3)} for uid, t, _ in nodes[:8]],
        # The event_id tests, which read the whole history until they were limited to the window.
        "event_id_test_seconds": round(
            sum(t for uid, t, _ in nodes if uid.startswith("test.") and "event_id" in uid), 3
        ),
    }


def measure(
    template_warehouse: Path,
    work: Path,
    day: date,
    history_days: list[int],
    weekly: bool = False,
    day_builds: int = 2,
) -> dict:
    """For each history length: copy the template warehouse, build the history, time the new day (the
    best of `day_builds` builds), and with `weekly` the same day as the weekly run builds it (data tests
    over the whole history)."""
    out: dict = {}
    for n in history_days:
        warehouse = work / f"history-{n}" / "warehouse.duckdb"
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(template_warehouse, warehouse)
        first, last = day - timedelta(days=n), day - timedelta(days=1)
        with duckdb.connect(str(warehouse)) as con:
            con.execute("set TimeZone = 'UTC'")
            history_events = load_copies(con, day, first, last)
        target = work / f"history-{n}" / "target"
        built = dbt_build(warehouse, first, last, target)
        with duckdb.connect(str(warehouse)) as con:
            con.execute("set TimeZone = 'UTC'")
            day_events = load_copies(con, day, day, day)
        # The same day built again does the same work (delete+insert of its window): the better of two
        # builds stands for the day, the machine being shared and noisy.
        timed = min(
            (dbt_build(warehouse, day, day, target) for _ in range(day_builds)), key=lambda b: b["seconds"]
        )
        timed["events"] = day_events
        timed["events_per_cpu_second"] = round(day_events / max(timed["cpu_seconds"], 1e-9), 1)
        if weekly:
            timed["weekly_build_seconds"] = dbt_build(warehouse, day, day, target, full_history_tests=True)[
                "seconds"
            ]
        built["events"] = history_events
        built["events_per_cpu_second"] = round(history_events / max(built["cpu_seconds"], 1e-9), 1)
        out[str(n)] = {"history_build": built, "new_day_build": timed, "warehouse_mb": _size_mb(warehouse)}
        shutil.rmtree(warehouse.parent, ignore_errors=True)
    return out


def _size_mb(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 1)


def stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")
