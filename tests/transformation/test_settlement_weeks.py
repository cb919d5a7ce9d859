"""The film-week asset for real: a closed week settled, its statements written, and a late refund that
revises it kept as a new revision."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import dagster as dg

from ekino_pipeline.settings import Settings
from ekino_pipeline.transformation.assets import ekino_film_week_models, transformation_resources
from ekino_pipeline.warehouse import WarehouseResource
from ekino_sim.demo_tables import print_settlement
from tests.transformation.conftest import AS_OF
from tests.transformation.dbt_helpers import query, run_dbt
from tests.transformation.raw_fixture import local
from tests.transformation.scenarios import FOREIGN_FILM, MAR1, clean_days, with_anomalies

WEEK = "2024-02-29"  # Thursday; the scenario's days reach 2024-03-02


def _settle(home) -> dg.ExecuteInProcessResult:
    settings = Settings.from_env({"EKINO_HOME": str(home)})
    return dg.materialize(
        [ekino_film_week_models],
        partition_key=WEEK,
        resources={
            **transformation_resources(settings),
            "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )


def _revisions(warehouse) -> list[dict]:
    return query(
        warehouse,
        "select gross_kzt, rental_due_kzt, provisional_reasons, dbt_valid_to "
        "from revisions.settlement_weekly_revisions "
        "where cinema_id = 'SHY-0001' and film_id = ? and film_week_start = ? order by dbt_valid_from",
        FOREIGN_FILM,
        WEEK,
    )


def test_a_late_refund_revises_a_closed_week_and_the_settled_figure_is_kept(built_scenario, tmp_path, capsys):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built_scenario.warehouse, warehouse)

    # The week closed long ago (this run stands on today): settled, it is no longer day_open.
    result = _settle(tmp_path)
    assert all(e.passed for e in result.get_asset_check_evaluations())
    [provisional, closed] = _revisions(warehouse)
    assert provisional["provisional_reasons"][0] == "day_open"
    assert "day_open" not in closed["provisional_reasons"] and closed["gross_kzt"] == provisional["gross_kzt"]
    statements = tmp_path / "exports" / "statements" / WEEK
    assert (statements / "aurora-film-distribution.csv").is_file()
    assert (statements / "aurora-film-distribution.md").is_file()

    # Shymkent's presale of 2024-03-01 for the screening of 2024-03-02 was refunded that evening, but the
    # cinema's events of that day arrive only now: the daily run of 2024-03-01 loads them.
    fx = with_anomalies(clean_days())
    presale = next(e for e in fx.events if e["session_id"] == "SHY-0001:S20240302-001")
    fx.refund(presale["ticket_id"], local(MAR1, 21, 0))
    fx.write(warehouse)
    run_dbt(
        warehouse,
        "build",
        "--exclude",
        "tag:film_week",
        start_date="2024-03-01",
        end_date="2024-03-01",
        as_of_date=AS_OF,
    )
    assert len(_revisions(warehouse)) == 2  # the daily run does not touch the settled week

    _settle(tmp_path)  # the Thursday schedule settles the week before once more
    [_, settled, revised] = _revisions(warehouse)
    assert revised["gross_kzt"] == settled["gross_kzt"] - Decimal("1500.00")
    assert revised["rental_due_kzt"] < settled["rental_due_kzt"]
    assert settled["dbt_valid_to"] is not None and revised["dbt_valid_to"] is None
    shymkent = next(
        line
        for line in (statements / "aurora-film-distribution.csv").read_text().splitlines()
        if line.startswith("SHY-0001,")
    )
    assert f",{revised['gross_kzt']}," in shymkent

    # What `make demo` prints of the week, from the analysts' export.
    capsys.readouterr()
    print_settlement(tmp_path / "exports", date.fromisoformat(WEEK))
    printed = capsys.readouterr().out
    assert "Aurora Film Distribution" in printed and "Altyn Kino" in printed
    [summary] = [line for line in printed.splitlines() if "= tax + rental due + exhibitor share" in line]
    gross, parts = summary.split(" gross ")[1].split()[0], summary.split(" share ")[1]
    assert Decimal(gross) == Decimal(parts)
