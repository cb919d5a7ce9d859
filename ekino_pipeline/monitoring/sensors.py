"""Sensors: cinemas that stop reporting, and runs that fail.

The silent-cinema sensor reads the registry (as it is now: connecting a cinema needs no deploy) and
the landing manifests, never the warehouse. Its cursor holds the cinemas currently flagged, so an
episode is announced once and its end is announced as a recovery.
"""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from pydantic import Field

from ekino_pipeline.calendar import business_date_of, business_day_bounds, parse_date
from ekino_pipeline.display import almaty_time, short_error
from ekino_pipeline.ingestion.resources import LandingResource, RegistryResource
from ekino_pipeline.monitoring.alerts import AlertNotifier, CinemaAlert, CinemaAlertsConfig, cinema_alerts_job
from ekino_pipeline.monitoring.reporting import DESCRIPTIONS, FLAGS, CinemaState, assess_cinemas
from ekino_pipeline.settings import Settings

REPORTING_CHECK = "connected_cinemas_reporting"
TICKET_EVENTS = dg.AssetKey(["landing", "ticket_events"])


class MonitoringResource(dg.ConfigurableResource):
    """Thresholds of the silent-cinema sensor (`EKINO_SILENT_AFTER_HOURS`, `EKINO_SILENT_LOOKBACK_DAYS`)."""

    silent_after_hours: float = Field(default=8.0, gt=0)
    lookback_days: int = Field(default=7, ge=1, le=60)
    live_silent_after_minutes: float = Field(
        default=15.0,
        gt=0,
        description="While the live mode runs: live polls failing this long flag a cinema.",
    )


def _assess(
    landing: LandingResource,
    registry: RegistryResource,
    monitoring: MonitoringResource,
    now: datetime,
    newest_day: date | None = None,
):
    return assess_cinemas(
        landing.zone(),
        registry.load(),
        now,
        newest_day=newest_day or business_date_of(now),
        threshold=timedelta(hours=monitoring.silent_after_hours),
        lookback_days=monitoring.lookback_days,
        live_threshold=timedelta(minutes=monitoring.live_silent_after_minutes),
    )


def _table(flagged: list[CinemaState]) -> dg.TableMetadataValue:
    return dg.TableMetadataValue(
        records=[
            dg.TableRecord(
                {
                    "cinema_id": s.cinema_id,
                    "state": s.state,
                    "since": almaty_time(s.since) if s.since else "",
                    "days": s.days,
                    # One line: an error's cause (the landing manifest keeps the full text).
                    "detail": short_error(s.detail, limit=120),
                }
            )
            for s in flagged
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("cinema_id", "string"),
                dg.TableColumn(
                    "state", "string", description="; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items())
                ),
                dg.TableColumn("since", "string", description="Asia/Almaty time"),
                dg.TableColumn("days", "int"),
                dg.TableColumn("detail", "string"),
            ]
        ),
    )


def _check_metadata(states: list[CinemaState]) -> dict:
    flagged = [s for s in states if s.flagged]
    return {
        "connected": len(states),
        "reporting": len(states) - len(flagged),
        **{flag: sum(s.state == flag for s in flagged) for flag in FLAGS},
        "flagged_cinemas": _table(flagged),
    }


@dg.asset_check(
    asset=TICKET_EVENTS,
    name=REPORTING_CHECK,
    description="Every connected cinema reports: no API down, no silence while sessions are scheduled, "
    "no feed wholly quarantined.",
)
def connected_cinemas_reporting(
    context: dg.AssetCheckExecutionContext,
    landing: LandingResource,
    registry: RegistryResource,
    monitoring: MonitoringResource,
) -> dg.AssetCheckResult:
    now, newest_day = check_moment(context, datetime.now(UTC))
    states = _assess(landing, registry, monitoring, now, newest_day)
    return dg.AssetCheckResult(
        passed=not any(s.flagged for s in states),
        severity=dg.AssetCheckSeverity.WARN,
        metadata=_check_metadata(states),
    )


def check_moment(context: dg.AssetCheckExecutionContext, now: datetime) -> tuple[datetime, date]:
    """The moment and the newest business day a check judges: those of the run's partition window.

    A past partition is judged as at the end of its last day, with the days after it unseen; judged
    against today, a day whose cinemas were silent passed, its silence being out of the lookback or
    hidden behind later days. A run without a partition is judged now.
    """
    if not (context.has_partition_key or context.has_partition_key_range):
        return now, business_date_of(now)
    last_day = parse_date(context.partition_key_range.end)
    return min(now, business_day_bounds(last_day)[1]), last_day


def build_silent_cinema_sensor(
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    minimum_interval_seconds: int = 300,
    settings: Settings | None = None,
) -> dg.SensorDefinition:
    """The sensor, with an injectable clock so that tests can place it at any moment; running from the
    start where the settings say automations run (settings.py)."""

    @dg.sensor(
        name="silent_cinema_sensor",
        job=cinema_alerts_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=(settings or Settings.from_env()).sensor_status,
        description="Flags connected cinemas that stop reporting (API down, nothing sold while "
        "sessions are scheduled, or every record quarantined) once per episode, and their recovery.",
    )
    def silent_cinema_sensor(
        context: dg.SensorEvaluationContext,
        landing: LandingResource,
        registry: RegistryResource,
        monitoring: MonitoringResource,
    ):
        now = clock()
        states = _assess(landing, registry, monitoring, now)
        previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current = {s.cinema_id: s.state for s in states if s.flagged}
        new = [s for s in states if s.flagged and s.cinema_id not in previous]
        recovered = sorted(set(previous) - set(current))
        cursor = json.dumps(current, sort_keys=True)
        if not new and not recovered:
            return dg.SensorResult(cursor=cursor, skip_reason="no new silent cinema and no recovery")
        context.log.warning(
            f"silent cinemas: new {[s.cinema_id for s in new]}, recovered {recovered}, flagged {len(current)}"
        )
        config = CinemaAlertsConfig(
            flagged=[
                CinemaAlert(
                    cinema_id=s.cinema_id,
                    state=s.state,
                    since=s.since.isoformat() if s.since else None,
                    days=s.days,
                    detail=s.detail[:300],
                )
                for s in new
            ],
            recovered=recovered,
        )
        evaluation = dg.AssetCheckEvaluation(
            asset_key=TICKET_EVENTS,
            check_name=REPORTING_CHECK,
            passed=not current,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=_check_metadata(states),
        )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"cinema-alerts-{now.isoformat()}",
                    run_config=dg.RunConfig(ops={"notify_cinema_alerts": config}),
                    tags={"ekino/alert": "silent_cinemas"},
                )
            ],
            asset_events=[evaluation],
            cursor=cursor,
        )

    return silent_cinema_sensor


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=Settings.from_env().sensor_status,
    description="Alerts when any run of the platform fails.",
)
def run_failure_alerts(context: dg.RunFailureSensorContext, notifier: AlertNotifier):
    run = context.dagster_run
    partition = run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start", "")
    message = context.failure_event.message or "failed"
    notifier.send(
        f"e-Kino: run {run.job_name} {run.run_id[:8]} {partition} failed: {message[:500]}".replace("  ", " "),
        context.log,
    )
