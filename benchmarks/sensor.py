"""The silent-cinema sensor over a national landing zone: 10,000 connected cinemas, a week of manifests.

The landing zone is synthesized in bulk (a manifest per cinema-day as the pull writes it; 3% of the
cinemas silent in either way, so the sensor has episodes to walk back through), then the real sensor is
evaluated with the platform's resources, twice: a first tick that announces every episode, and a
steady tick with the cursor the first one left.
"""

from __future__ import annotations

import csv
import json
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ekino_pipeline.processes import peak_rss_mb

BUDGET_SECONDS = 60.0  # Dagster's default sensor evaluation timeout


def synthesize(root: Path, n_cinemas: int, newest: date, days: int = 7) -> dict:
    """Registry of n_cinemas, all connected, and their manifests for `days` days up to `newest`."""
    from ekino_pipeline.calendar import business_day_bounds
    from ekino_sim.reference import write_registry

    registry = write_registry(root / "registry", n_cinemas=n_cinemas)
    cinemas_csv = registry / "cinemas.csv"
    with cinemas_csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["connected"] = "true"
    with cinemas_csv.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    landing = root / "landing"
    counts = {"ok": 0, "api_down": 0, "no_sales": 0}
    for index, row in enumerate(rows):
        cinema_id = row["cinema_id"]
        kind = "api_down" if index % 100 < 2 else "no_sales" if index % 100 == 2 else "ok"
        counts[kind] += 1
        for back in range(days):
            day = newest - timedelta(days=back)
            start, end = business_day_bounds(day)
            bad_day = kind != "ok" and back < 3
            events = {
                "dataset": "ticket_events",
                "cinema_id": cinema_id,
                "business_date": day.isoformat(),
                "status": "failed" if bad_day and kind == "api_down" else "success",
                "error": "ExchangeConnectionError: connection refused"
                if bad_day and kind == "api_down"
                else None,
                "landed": 0 if bad_day else 640,
                "served": 0 if bad_day else 640,
                "quarantined": 0,
                "duplicates_dropped": 0,
                "first_record_at": None if bad_day else (start + timedelta(hours=3)).isoformat(),
                "last_record_at": None if bad_day else (end - timedelta(hours=1)).isoformat(),
                "window": {"from": start.isoformat(), "to": end.isoformat()},
                "files": {},
            }
            sessions = dict(events, dataset="sessions", status="success", error=None, landed=42, served=42)
            for dataset, manifest in (("ticket_events", events), ("sessions", sessions)):
                folder = landing / dataset / f"business_date={day.isoformat()}" / f"cinema_id={cinema_id}"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "_manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return {
        "cinemas": len(rows),
        "days": days,
        "states": counts,
        "registry": str(registry),
        "landing": str(landing),
    }


def evaluate(workdir: str, n_cinemas: int) -> dict:
    """Child task: synthesize the landing zone, then time the real sensor on it."""
    import dagster as dg

    from ekino_pipeline.calendar import business_date_of
    from ekino_pipeline.definitions import build_resources
    from ekino_pipeline.monitoring.sensors import build_silent_cinema_sensor
    from ekino_pipeline.settings import Settings

    root = Path(workdir)
    now = datetime(2025, 6, 1, 9, tzinfo=UTC)
    started = time.perf_counter()
    made = synthesize(root, n_cinemas, business_date_of(now))
    synthesis_seconds = time.perf_counter() - started
    rss_before_mb = peak_rss_mb()
    env = {
        "EKINO_HOME": str(root / "home"),
        "EKINO_LANDING_ROOT": made["landing"],
        "EKINO_REGISTRY_DIR": made["registry"],
    }
    os.environ.update(env)
    resources = build_resources(Settings.from_env(env))
    sensor = build_silent_cinema_sensor(clock=lambda: now)
    instance = dg.DagsterInstance.ephemeral()
    ticks, cursor = [], None
    for _ in range(2):
        context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
        cpu, tick_started = time.process_time(), time.perf_counter()
        result = sensor(context)
        ticks.append(
            {
                "seconds": round(time.perf_counter() - tick_started, 3),
                "cpu_seconds": round(time.process_time() - cpu, 3),
                "run_requests": len(result.run_requests or []),
            }
        )
        cursor = result.cursor
    flagged = len(json.loads(cursor or "{}"))
    worst = max(tick["seconds"] for tick in ticks)
    return {
        "cinemas": made["cinemas"],
        "days": made["days"],
        "states": made["states"],
        "flagged": flagged,
        "synthesis_seconds": round(synthesis_seconds, 1),
        "ticks": ticks,
        "seconds": worst,
        "share_of_budget": round(worst / BUDGET_SECONDS, 4),
        "peak_rss_before_ticks_mb": round(rss_before_mb, 1),
    }
