"""The live schedule: every minute in Asia/Almaty it starts today's live session unless one is in
progress; the session is a job of its own, apart from the daily job and its warehouse pool."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from ekino_pipeline.calendar import BUSINESS_TZ
from ekino_pipeline.definitions import defs
from ekino_pipeline.live.assets import LIVE_GROUP, LIVE_POOL
from ekino_pipeline.live.session import LIVE_JOB, live_schedule
from ekino_pipeline.warehouse import WAREHOUSE_POOL

TICK = datetime(2025, 6, 14, 19, 7, tzinfo=BUSINESS_TZ)


def _run_of_live_job(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    run = instance.create_run_for_job(defs.resolve_job_def(LIVE_JOB), status=status)
    return run


def test_the_live_schedule_ticks_every_minute_in_almaty_time():
    assert (live_schedule.cron_schedule, live_schedule.execution_timezone) == ("* * * * *", "Asia/Almaty")
    assert live_schedule.job_name == LIVE_JOB


def test_a_tick_requests_a_live_run_when_none_is_in_progress():
    with dg.instance_for_test() as instance:
        _run_of_live_job(instance, dg.DagsterRunStatus.SUCCESS)
        request = live_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK))
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"live-{TICK.isoformat()}"


def test_a_tick_is_skipped_while_the_previous_live_run_is_still_running():
    with dg.instance_for_test() as instance:
        run = _run_of_live_job(instance, dg.DagsterRunStatus.STARTED)
        result = live_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK))
    assert isinstance(result, dg.SkipReason)
    assert run.run_id in result.skip_message


def test_the_daily_job_builds_no_live_asset_and_no_live_step_holds_the_warehouse_pool():
    live_assets_defs = [a for a in defs.assets if any(g == LIVE_GROUP for g in a.group_names_by_key.values())]
    live_keys = {key for a in live_assets_defs for key in a.keys}
    daily_keys = set(defs.resolve_job_def("daily_job").asset_layer.executable_asset_keys)
    assert live_keys and daily_keys and live_keys.isdisjoint(daily_keys)
    assert {a.op.pool for a in live_assets_defs if a.op.pool} == {LIVE_POOL} != {WAREHOUSE_POOL}
    session = defs.resolve_job_def(LIVE_JOB)
    assert [node.name for node in session.nodes] == ["live_session"]
    assert session.graph.node_defs[0].pool == LIVE_POOL
