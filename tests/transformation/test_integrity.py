"""The integrity checks on a real run of the simulator: each fault scenario, injected at one cinema for
one film and week, is found by its rule for that cinema and film only; every finding's evidence adds up
to the ticket events of the sessions it names; a finding is a warning, never a failed build."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest

from benchmarks.integrity import RULES
from ekino_pipeline.exchange.registry import load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim import faults as F
from ekino_sim.network import Network
from ekino_sim.raw_warehouse import simulated_warehouse
from tests.transformation.dbt_helpers import query, run_dbt

WEEK = date(2025, 3, 6)  # a Thursday
SEED = 5
N_CINEMAS = 18


@pytest.fixture(scope="module")
def integrity_run(tmp_path_factory):
    registry = load_registry(SAMPLE_REGISTRY_DIR)
    cinemas = [c.cinema_id for c in registry.connected_cinemas][:N_CINEMAS]
    clean = Network(registry, SEED)
    cases = {}
    for scenario, cinema_id in zip(sorted(RULES), cinemas[1::3], strict=False):
        screened = Counter(
            s.film.film_id for d in range(7) for s in clean.plan(cinema_id, WEEK + timedelta(days=d))
        )
        cases[scenario] = (cinema_id, screened.most_common(1)[0][0])
    faults = [
        {
            "cinema_id": c,
            "scenario": s,
            "film_id": f,
            "from_date": WEEK,
            "until_date": WEEK + timedelta(days=6),
        }
        for s, (c, f) in cases.items()
    ]
    network = Network(registry, SEED, F.FaultPlan(F.load_faults(faults)))
    warehouse = tmp_path_factory.mktemp("integrity") / "warehouse.duckdb"
    simulated_warehouse(warehouse, network, cinemas, WEEK, WEEK + timedelta(days=6))
    result = run_dbt(
        warehouse,
        "build",
        "--select",
        "+integrity_findings",
        "+integrity_cinema_weekly",
        "--exclude",
        "test_type:unit",
        "--indirect-selection",
        "cautious",
        as_of_date=(WEEK + timedelta(days=14)).isoformat(),
    )
    return cases, warehouse, result


def test_each_scenario_is_found_by_its_rule_for_its_cinema_and_film_only(integrity_run):
    cases, warehouse, _ = integrity_run
    findings = query(
        warehouse, "select rule, cinema_id, film_id, film_week_start from marts.integrity_findings"
    )
    assert {f["film_week_start"] for f in findings} == {WEEK}
    found = {(f["cinema_id"], f["film_id"]) for f in findings}
    assert found <= set(cases.values()), f"findings beyond the injected cases: {found - set(cases.values())}"
    for scenario, (cinema_id, film_id) in cases.items():
        rules = {f["rule"] for f in findings if (f["cinema_id"], f["film_id"]) == (cinema_id, film_id)}
        assert rules & set(RULES[scenario]), f"{scenario} at {cinema_id} for {film_id}: found by {rules}"


def test_a_findings_evidence_adds_up_to_the_events_of_the_sessions_it_names(integrity_run):
    _, warehouse, _ = integrity_run
    findings = query(warehouse, "select * from marts.integrity_findings")
    assert findings
    for finding in findings:
        [named] = query(
            warehouse,
            """select count(*) filter (where event_type = 'sale') as sold,
                      coalesce(sum(case event_type when 'sale' then amount_kzt else -amount_kzt end), 0)
                          as gross,
                      count(distinct session_id) as sessions
               from raw.ticket_events where list_contains(?, session_id)""",
            finding["session_ids"],
        )
        assert named["sessions"] == finding["n_sessions"] == len(finding["session_ids"]) > 0
        assert (named["sold"], Decimal(named["gross"])) == (finding["n_tickets"], finding["money_kzt"])
    # The cinema's week states the money of the sessions named, each once, within its own gross.
    weekly = query(warehouse, "select * from marts.integrity_cinema_weekly where n_findings > 0")
    assert weekly and all(0 < w["flagged_gross_kzt"] <= w["gross_kzt"] for w in weekly)


def test_findings_warn_and_the_build_succeeds(integrity_run):
    _, _, result = integrity_run
    assert "assert_integrity_findings_are_looked_into" in result.stdout
    warned = [line for line in result.stdout.splitlines() if "assert_integrity_findings" in line]
    assert any("WARN" in line for line in warned), warned
