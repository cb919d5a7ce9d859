"""Extract + land of one business day, three ways, against the same page server.

- `bare_fetch`: the limit: every cinema's ticket-event pages fetched, 16 cinemas at a time, JSON
  decoded, nothing else (no validation, no Arrow, no Parquet, no manifest).
- `ours`: the `landing/ticket_events` asset, materialized by Dagster for the day's partition.
- `dlt_rest_api`: dlt's `rest_api` source over the same endpoint (bearer token per cinema, the
  paginator following `next_page_token` as the `page_token` query parameter) into DuckDB.

Each runs in a child process (benchmarks.child); the timed section excludes imports and set-up.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date
from pathlib import Path

PAGE_SIZE = 1000
CONCURRENCY = 16


def _window(day: str) -> dict[str, str]:
    from ekino_pipeline.calendar import business_day_bounds

    start, end = business_day_bounds(date.fromisoformat(day))
    as_text = lambda ts: ts.astimezone(UTC).isoformat().replace("+00:00", "Z")  # noqa: E731
    return {"from": as_text(start), "to": as_text(end)}


def _connected(registry_dir: str, limit: int | None = None) -> list[str]:
    from ekino_pipeline.exchange.registry import load_registry

    ids = [c.cinema_id for c in load_registry(Path(registry_dir)).connected_cinemas]
    return ids[:limit] if limit else ids


def bare_fetch(
    url: str, secrets_file: str, registry_dir: str, day: str, concurrency: int = CONCURRENCY
) -> dict:
    import requests

    tokens = json.loads(Path(secrets_file).read_text(encoding="utf-8"))
    cinemas = _connected(registry_dir)
    window = _window(day)

    def pull(cinema_id: str) -> tuple[int, int, int]:
        events = pages = size = 0
        with requests.Session() as session:
            session.trust_env = False  # as lean as a fetch gets: no proxy lookups per request
            session.headers["Authorization"] = f"Bearer {tokens[cinema_id]}"
            params = {**window, "limit": str(PAGE_SIZE)}
            while True:
                response = session.get(
                    f"{url}/cinemas/{cinema_id}/v1/ticket-events", params=params, timeout=60
                )
                response.raise_for_status()
                payload = json.loads(response.content)
                events += len(payload["events"])
                pages += 1
                size += len(response.content)
                if payload["next_page_token"] is None:
                    return events, pages, size
                params["page_token"] = payload["next_page_token"]

    cpu, started = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        totals = list(pool.map(pull, cinemas))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "cinemas": len(cinemas),
        "events": sum(t[0] for t in totals),
        "pages": sum(t[1] for t in totals),
        "bytes": sum(t[2] for t in totals),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
    }


def ours(
    url: str,
    secrets_file: str,
    registry_dir: str,
    home: str,
    day: str,
    concurrency: int | None = None,
    profile: str | None = None,
    processes: int = 0,
) -> dict:
    """The asset as the daily job runs it: `dg.materialize` of `landing/ticket_events` for the day.
    `concurrency` (max_concurrency) and `processes` (0: one worker process per core for a large day) are
    the asset's own settings, its defaults unless given. The CPU of every process the run started (the
    pull workers and what starts them) is added to this process's; their peak memory comes from what the
    asset reports."""
    os.environ.update(
        {
            "EKINO_HOME": home,
            "EKINO_EXCHANGE_BASE_URL": url,
            "EKINO_SECRETS_FILE": secrets_file,
            "EKINO_REGISTRY_DIR": registry_dir,
            "EKINO_START_DATE": "2024-01-01",
        }
    )
    import dagster as dg

    from ekino_pipeline.definitions import build_resources
    from ekino_pipeline.ingestion.assets import ticket_events
    from ekino_pipeline.processes import descendants_cpu_seconds
    from ekino_pipeline.settings import Settings

    resources = build_resources(Settings.from_env())
    # The day alone: a fresh home would also pull the presale lookback's eight days of ticket events.
    config: dict = {"processes": processes, "presale_lookback_days": 0}
    if concurrency is not None:  # else the asset's own default, as the daily job runs it
        config["max_concurrency"] = concurrency
    run_config = {"ops": {ticket_events.op.name: {"config": config}}}
    instance = dg.DagsterInstance.ephemeral()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu, started = time.process_time() + descendants_cpu_seconds(), time.perf_counter()
    result = dg.materialize(
        [ticket_events], partition_key=day, resources=resources, run_config=run_config, instance=instance
    )
    seconds = time.perf_counter() - started
    cpu = time.process_time() + descendants_cpu_seconds() - cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    landed = Settings.from_env().landing_root / "ticket_events"
    landed_bytes = sum(path.stat().st_size for path in landed.rglob("data-*.parquet"))
    (event,) = result.asset_materializations_for_node(ticket_events.op.name)
    metadata = {name: value.value for name, value in event.metadata.items()}
    return {
        "cinemas": metadata["cinemas_connected"],
        "events": metadata["landed"],
        "served": metadata["served"],
        "failed_cinema_days": metadata["failed_cinema_days"],
        "landed_parquet_bytes": landed_bytes,
        # The asset's own clock (pulls only); `run_seconds` adds Dagster's run around it.
        "seconds": metadata["duration_seconds"],
        "run_seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "worker_processes": metadata.get("worker_processes", 0),
        "worker_cpu_seconds": metadata.get("worker_cpu_seconds", 0),
        "worker_peak_rss_mb": metadata.get("worker_peak_rss_mb", 0),
    }


def dlt_rest_api(
    url: str,
    secrets_file: str,
    registry_dir: str,
    workdir: str,
    day: str,
    cinemas: int,
    parallelized: bool = False,
) -> dict:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt
    import duckdb
    from dlt.sources.rest_api import rest_api_source

    tokens = json.loads(Path(secrets_file).read_text(encoding="utf-8"))
    ids = _connected(registry_dir, cinemas)
    window = _window(day)
    source = rest_api_source(
        {
            "client": {
                "base_url": url,
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_page_token",
                    "cursor_param": "page_token",
                },
            },
            "resource_defaults": {"write_disposition": "append", "parallelized": parallelized},
            "resources": [
                {
                    "name": f"events_{cinema_id.replace('-', '_').lower()}",
                    "table_name": "ticket_events",
                    "endpoint": {
                        "path": f"cinemas/{cinema_id}/v1/ticket-events",
                        "params": {**window, "limit": PAGE_SIZE},
                        "data_selector": "events",
                        "auth": {"type": "bearer", "token": tokens[cinema_id]},
                    },
                }
                for cinema_id in ids
            ],
        }
    )
    database = Path(workdir) / "dlt.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name="ekino_bench",
        pipelines_dir=str(Path(workdir) / "pipelines"),
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="exchange",
    )
    cpu, started = time.process_time(), time.perf_counter()
    pipeline.run(source)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    with duckdb.connect(str(database), read_only=True) as con:
        (events,) = con.execute("select count(*) from exchange.ticket_events").fetchone()
    return {
        "cinemas": len(ids),
        "events": events,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "dlt_version": dlt.__version__,
    }
