"""Declared box office returns: what each connected cinema declares it grossed per film for a film week,
landed per cinema and film week like any cinema-day (immutable Parquet, quarantine, manifest).

The asset is partitioned by film week (Thursday-keyed, existing once the week closed); the landing slot
`business_date=` of a return is its week's Thursday. A cinema that fails is recorded in its manifest and
the others carry on; the run fails only past the allowed share of failed cinema-weeks. A cinema that
has not declared the week yet answers with no returns: a success with nothing landed, which a later
run of the same week replaces.
"""

import contextlib
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
from pydantic import Field

from ekino_pipeline import ownership
from ekino_pipeline.calendar import parse_date
from ekino_pipeline.display import kzt, short_error
from ekino_pipeline.ingestion.metadata import RECONCILE_CHECK, reconcile
from ekino_pipeline.ingestion.partition_pull import connected_targets, pull_plan
from ekino_pipeline.ingestion.resources import ExchangeResource, LandingResource, RegistryResource
from ekino_pipeline.ingestion.workers import PullTask, pull_in_threads
from ekino_pipeline.partitions import FILM_WEEK_PARTITIONS
from ekino_pipeline.processes import step_process_dies_with_its_run
from ekino_pipeline.settings import Settings

# Weekly, unlike the daily ingestion: a group of their own, so that `--select group:ingestion` stays daily.
GROUP = "declared_returns"

DATASET = "declared_returns"
KEY = ["landing", DATASET]
# The warehouse tables the loader (loading.raw_declared_returns) fills from this dataset.
RAW_TABLES = ("declared_returns", "declared_returns_quarantine", "declared_returns_manifests")


def partition_weeks(context: dg.AssetExecutionContext) -> list[date]:
    """The film weeks (their Thursdays) of the run's partition window."""
    key_range = context.partition_key_range
    first, last = parse_date(key_range.start), parse_date(key_range.end)
    return [first + timedelta(days=7 * n) for n in range((last - first).days // 7 + 1)]


class DeclaredReturnsConfig(dg.Config):
    cinemas: list[str] = Field(
        default_factory=list,
        description="Pull only these cinema ids (say, the failed ones); empty pulls every connected cinema.",
    )
    max_concurrency: int = Field(default=16, ge=1, le=256, description="Cinemas pulled at once.")
    max_failed_share: float = Field(
        default=0.25, ge=0, le=1, description="The run fails when more than this share of cinema-weeks fail."
    )
    max_attempts: int = Field(default=2, ge=1, le=5, description="Whole-pull attempts per cinema-week.")


def _metadata(manifests: dict[tuple[str, date], dict], weeks: list[date], n_connected: int) -> dict:
    records = [
        dg.TableRecord(
            {
                "cinema_id": cinema_id,
                "film_week_start": week.isoformat(),
                "status": m["status"],
                "returns": m.get("landed") or 0,
                "declared_gross_kzt": kzt(m.get("gross_kzt") or "0.00"),
                "quarantined": m.get("quarantined") or 0,
                # The cause only: the landing manifest of the cinema-week keeps the full text.
                "error": short_error(m.get("error")),
            }
        )
        for (cinema_id, week), m in sorted(manifests.items())
    ]
    columns = [
        dg.TableColumn("cinema_id", "string"),
        dg.TableColumn("film_week_start", "string"),
        dg.TableColumn("status", "string", description="success or failed"),
        dg.TableColumn("returns", "int", description="returns landed: one per film the cinema declared"),
        dg.TableColumn("declared_gross_kzt", "string", description="exact decimal, tenge"),
        dg.TableColumn("quarantined", "int"),
        dg.TableColumn("error", "string", description="the cause; the full text is in the landing manifest"),
    ]
    total = lambda field: sum(m.get(field) or 0 for m in manifests.values())  # noqa: E731
    return {
        "cinemas": dg.TableMetadataValue(records=records, schema=dg.TableSchema(columns=columns)),
        "weeks": ", ".join(w.isoformat() for w in weeks),
        "served": total("served"),
        "landed": total("landed"),
        "quarantined": total("quarantined"),
        "duplicates_dropped": total("duplicates_dropped"),
        "failed_cinema_weeks": sum(1 for m in manifests.values() if m["status"] != "success"),
        "cinema_weeks_declared": sum(1 for m in manifests.values() if m.get("landed")),
        "cinemas_connected": n_connected,
        "declared_gross_kzt": kzt(sum(Decimal(m.get("gross_kzt") or 0) for m in manifests.values())),
        "dagster/row_count": total("landed"),
    }


@dg.asset(
    key=KEY,
    group_name=GROUP,
    kinds={"parquet"},
    owners=ownership.PLATFORM_OWNERS,
    tags={**ownership.INGESTION, **ownership.SETTLEMENT},
    description=(
        "Every connected cinema's declared box office returns for the film week (one per film), as "
        "Parquet per cinema and week, with quarantine and manifest."
    ),
    partitions_def=FILM_WEEK_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[["landing", "registry_cinemas"]],
    check_specs=[
        dg.AssetCheckSpec(
            RECONCILE_CHECK,
            asset=KEY,
            blocking=True,
            description="Per cinema-week, served = landed + quarantined + duplicates dropped.",
        )
    ],
)
def declared_returns(
    context: dg.AssetExecutionContext,
    config: DeclaredReturnsConfig,
    exchange: ExchangeResource,
    landing: LandingResource,
    registry: RegistryResource,
):
    step_process_dies_with_its_run()
    reg = registry.load()
    weeks = partition_weeks(context)
    targets = connected_targets(reg, config.cinemas)
    plan = pull_plan(context, DATASET, exchange, landing.zone(), config.max_attempts)
    tasks = [PullTask(c.cinema_id, c.base_url, week) for week in weeks for c in targets]
    context.log.info(f"declared returns: pulling {len(targets)} cinemas x {len(weeks)} film weeks")
    manifests: dict[tuple[str, date], dict] = {}
    statuses: Counter[str] = Counter()
    with contextlib.closing(pull_in_threads(plan, tasks, config.max_concurrency)) as pulls:
        for manifest in pulls:
            week = date.fromisoformat(manifest["business_date"])
            manifests[(manifest["cinema_id"], week)] = manifest
            statuses[manifest["status"]] += 1
            if manifest["status"] != "success":
                context.log.warning(
                    f"declared returns {manifest['cinema_id']} {week}: failed: {manifest['error']}"
                )
    metadata = _metadata(manifests, weeks, len(reg.connected_cinemas))
    failed = statuses["failed"]
    if tasks and failed / len(tasks) > config.max_failed_share:
        raise dg.Failure(
            description=(
                f"{failed} of {len(tasks)} cinema-weeks failed, more than the allowed share "
                f"{config.max_failed_share:.0%}; see the cinemas table"
            ),
            metadata=metadata,
        )
    if len(weeks) > 1:  # each film week's partition gets its own week's figures, not the window's
        for week in weeks:
            of_week = [m for (_, w), m in manifests.items() if w == week]
            context.add_asset_metadata(
                {
                    "dagster/partition_row_count": sum(m.get("landed") or 0 for m in of_week),
                    "declared_gross_kzt": kzt(sum(Decimal(m.get("gross_kzt") or 0) for m in of_week)),
                    "failed_cinema_weeks": sum(1 for m in of_week if m["status"] != "success"),
                    "cinema_weeks_declared": sum(1 for m in of_week if m.get("landed")),
                },
                asset_key=KEY,
                partition_key=week.isoformat(),
            )
    yield dg.MaterializeResult(asset_key=KEY, metadata=metadata)
    yield reconcile(manifests)


# Pull and load, per film week; the next daily run's dbt build publishes the discrepancies (dbt runs on
# the daily partitions).
WEEKLY_SELECTION = dg.AssetSelection.assets(KEY, *(["raw", table] for table in RAW_TABLES))
declared_returns_job = dg.define_asset_job(
    "declared_returns_job",
    selection=WEEKLY_SELECTION,
    description="Declared box office returns of a film week (or a window of them): pulled and loaded.",
)
# Cinemas declare the morning after the week closes (Thursday); the afternoon pull finds them all.
declared_returns_schedule = dg.build_schedule_from_partitioned_job(
    declared_returns_job,
    name="declared_returns_schedule",
    hour_of_day=14,
    default_status=Settings.from_env().schedule_status,
)

ASSETS = [declared_returns]
