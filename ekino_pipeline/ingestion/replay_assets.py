"""Quarantine replay in Dagster: an asset between the landing pulls and the warehouse loader, and a job
that replays a window and republishes it without asking the exchange.

`landing/quarantine_replay` depends on the pulls (it rewrites what they landed, so it must run after
them) and the raw tables depend on it (they must load what it landed). `daily_job` therefore runs it
after every pull, where it finds nothing (the day was just validated with the same registry and rules)
unless the run re-pulled only some cinemas. `quarantine_replay_job` selects it and everything
downstream of it: the loader and the dbt models of the window, never the pulls.
"""

from collections import Counter
from datetime import date

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from ekino_pipeline import ownership
from ekino_pipeline.ingestion.assets import GROUP
from ekino_pipeline.ingestion.landing import LandingZone
from ekino_pipeline.ingestion.metadata import RECONCILE_CHECK
from ekino_pipeline.ingestion.replay import DATASETS, ReplayResult, replay_quarantine
from ekino_pipeline.ingestion.resources import LandingResource, RegistryResource
from ekino_pipeline.partitions import (
    AFTER_FORECASTS_ASSETS,
    DAILY_PARTITIONS,
    FILM_WEEK_ASSETS,
    partition_days,
)

REPLAY_KEY = dg.AssetKey(["landing", "quarantine_replay"])


class ReplayConfig(dg.Config):
    cinemas: list[str] = Field(
        default_factory=list, description="Replay only these cinema ids; empty replays every cinema."
    )


def _metadata(results: list[ReplayResult], days: list[date], missing_films: list[str]) -> dict:
    changed = [r for r in results if r.changed]
    by_reason: Counter[tuple[str, str]] = Counter()
    for r in changed:
        for reason, n in r.reasons.items():
            by_reason[(r.dataset, reason)] += n
    reasons = dg.TableMetadataValue(
        records=[
            dg.TableRecord({"dataset": dataset, "reason": reason, "records": n})
            for (dataset, reason), n in sorted(by_reason.items())
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("dataset", "string"),
                dg.TableColumn("reason", "string", description="why the records had been quarantined"),
                dg.TableColumn("records", "int"),
            ]
        ),
    )
    touched = [f"- {r.dataset} {r.business_date} {r.cinema_id}: {r.replayed}" for r in changed]
    metadata = {
        "window": f"{days[0]}..{days[-1]}",
        "replayed": sum(r.replayed for r in changed),
        **{
            f"replayed_{dataset}": sum(r.replayed for r in changed if r.dataset == dataset)
            for dataset in DATASETS
        },
        "duplicates_dropped": sum(r.duplicates_dropped for r in changed),
        "reasons": reasons,
        "cinema_days_touched": len(changed),
        "cinema_days": dg.MetadataValue.md("\n".join(touched[:100]) or "none"),
        "cinema_days_with_quarantine": len(results),
        "still_quarantined": sum(r.remaining for r in results),
        "skipped_committed_meanwhile": sum(1 for r in results if r.skipped),
    }
    if missing_films:
        metadata["films_missing_from_registry_snapshot"] = ", ".join(missing_films[:50])
    return metadata


def _reconcile(zone: LandingZone, days: list[date]) -> dg.AssetCheckResult:
    mismatched = [
        f"{dataset} {cinema_id} {day}"
        for dataset in DATASETS
        for day, cinema_id, m in zone.manifests(dataset, days)
        if m.get("served", 0) != m.get("landed", 0) + m.get("quarantined", 0) + m.get("duplicates_dropped", 0)
    ]
    return dg.AssetCheckResult(
        check_name=RECONCILE_CHECK,
        passed=not mismatched,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "mismatches": len(mismatched),
            "details": dg.MetadataValue.md("\n".join(f"- {m}" for m in mismatched[:50]) or "none"),
        },
    )


def _films_missing_from_snapshot(zone: LandingZone, film_ids: frozenset[str]) -> list[str]:
    """Films the replay knows that the newest landed registry snapshot (what the loader gives the
    warehouse as raw.films) does not: the marts name them only after the next registry snapshot."""
    days = sorted(
        p.name.removeprefix("business_date=") for p in (zone.root / "registry_films").glob("business_date=*")
    )
    for day in reversed(days):
        files = zone.committed_files("registry_films", [date.fromisoformat(day)])
        if files:
            snapshot = set(pq.read_table(files[0], columns=["film_id"]).column("film_id").to_pylist())
            return sorted(film_ids - snapshot)
    return []


@dg.asset(
    key=REPLAY_KEY,
    group_name=GROUP,
    kinds={"parquet"},
    owners=ownership.PLATFORM_OWNERS,
    tags={**ownership.INGESTION, **ownership.QUALITY},
    description=(
        "Quarantined sessions and ticket events of the window validated again with today's registry and "
        "rules; those that now pass are landed (the manifest counts them as `replayed`). Asks the "
        "exchange nothing; writes nothing when nothing passes."
    ),
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[["landing", "sessions"], ["landing", "ticket_events"]],
    check_specs=[
        dg.AssetCheckSpec(
            RECONCILE_CHECK,
            asset=REPLAY_KEY,
            blocking=True,
            description="After the replay, per cinema-day: served = landed + quarantined + duplicates.",
        )
    ],
)
def quarantine_replay(
    context: dg.AssetExecutionContext,
    config: ReplayConfig,
    landing: LandingResource,
    registry: RegistryResource,
):
    zone = landing.zone()
    reg = registry.load()
    days = partition_days(context)
    try:
        results = replay_quarantine(zone, reg, days, cinemas=config.cinemas or None)
    except ValueError as exc:  # an invalid cinema id in the config
        raise dg.Failure(str(exc)) from None
    for r in results:
        if r.skipped:
            context.log.warning(f"{r.dataset} {r.business_date} {r.cinema_id}: not replayed, {r.skipped}")
        elif r.changed:
            context.log.info(
                f"{r.dataset} {r.business_date} {r.cinema_id}: replayed {r.replayed} {r.reasons}, "
                f"{r.remaining} still quarantined"
            )
    missing = _films_missing_from_snapshot(zone, reg.film_ids) if any(r.changed for r in results) else []
    if missing:
        context.log.warning(
            f"the newest registry snapshot lacks {len(missing)} films of the registry "
            f"({', '.join(missing[:10])}): the marts name them after the next run snapshots the registry"
        )
    yield dg.MaterializeResult(metadata=_metadata(results, days, missing))
    yield _reconcile(zone, days)


quarantine_replay_job = dg.define_asset_job(
    "quarantine_replay_job",
    # The forecasts, and the marts built from them, are left to the next daily run: a replay revises a
    # few sessions, not how runs end (a dbt build less per replay).
    selection=dg.AssetSelection.assets(REPLAY_KEY).downstream()
    - FILM_WEEK_ASSETS
    - dg.AssetSelection.tag("forecast", "")
    - AFTER_FORECASTS_ASSETS,
    description=(
        "Replays the quarantine of a window of landed days and reloads the warehouse and the marts for it, "
        "without pulling from the exchange."
    ),
)

ASSETS = [quarantine_replay]
