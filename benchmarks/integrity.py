"""Integrity checks measured honestly: recall on injected frauds, false positives on clean weeks.

A seeded pilot network runs for a few film weeks with cases of each integrity scenario injected
(`ekino_sim.faults`: padded admissions, ghost screenings, price outliers, no discounts, burst sales) at
half, full and double strength, each on its own cinema, spread over regions and weeks, each on the film
that cinema screens most that week (what a cinema padding its box office would pad). Its records go into
a warehouse's raw schema (`ekino_sim.raw_warehouse`: what the cinemas serve, checked by the contract),
dbt builds the integrity models over all of it, and every cinema x film x film week is judged:

* recall: the injected cases one of their scenario's rules finds (per scenario, per strength, per rule);
* false positive rate: the cinema x film x film weeks without a fault that any rule flags, out of all
  of them (the clean controls: every other film of every cinema, the injected cinemas' included).

The thresholds are the dbt project's defaults, learnt from the data's own norms; nothing here tunes
them to the scenarios' parameters, which vary (0.5, 1, 2).
"""

from __future__ import annotations

import collections
import json
import subprocess
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from ekino_pipeline.exchange.registry import load_registry
from ekino_pipeline.transformation.project import DBT_PROJECT_DIR, dbt_executable
from ekino_sim import SAMPLE_REGISTRY_DIR
from ekino_sim import faults as F
from ekino_sim.network import Network
from ekino_sim.raw_warehouse import simulated_warehouse

SEED = 23
FIRST_WEEK = date(2025, 4, 3)  # a Thursday: film weeks run Thursday to Wednesday
STRENGTHS = (0.5, 1.0, 2.0)
# The rules that answer each scenario; a case is found when one of them flags its cinema x film x week.
RULES = {
    F.PADDED_ADMISSIONS: ("sold_out_share", "session_admissions"),
    F.GHOST_SCREENINGS: ("hall_overlap",),
    F.PRICE_OUTLIERS: ("price_outlier",),
    F.NO_DISCOUNTS: ("discount_mix",),
    F.BURST_SALES: ("sales_burst",),
}


@dataclass(frozen=True)
class Case:
    scenario: str
    strength: float
    cinema_id: str
    region_code: str
    film_id: str
    week: date

    def fault(self) -> dict:
        return {
            "cinema_id": self.cinema_id,
            "scenario": self.scenario,
            "film_id": self.film_id,
            "strength": self.strength,
            "from_date": self.week.isoformat(),
            "until_date": (self.week + timedelta(days=6)).isoformat(),
        }


def choose_cases(network: Network, cinema_ids: list[str], weeks: list[date], per_strength: int) -> list[Case]:
    """Each case on a cinema of its own, taking cinemas region by region in turn and weeks in turn; its
    film the one the cinema screens most that week (in the clean plan)."""
    registry = network.registry
    by_region: dict[str, list[str]] = collections.defaultdict(list)
    for cinema_id in cinema_ids:
        by_region[registry.cinema(cinema_id).region_code].append(cinema_id)
    spread = [
        ids[i] for i in range(max(map(len, by_region.values()))) for ids in by_region.values() if i < len(ids)
    ]
    plan = [(s, strength, n) for n in range(per_strength) for s in sorted(RULES) for strength in STRENGTHS]
    if len(plan) > len(spread):
        raise ValueError(f"{len(plan)} cases need as many cinemas, the network has {len(spread)}")
    cases = []
    for number, ((scenario, strength, _), cinema_id) in enumerate(zip(plan, spread, strict=False)):
        week = weeks[number % len(weeks)]
        screened = collections.Counter(
            s.film.film_id for d in range(7) for s in network.plan(cinema_id, week + timedelta(days=d))
        )
        if not screened:
            continue
        film_id = screened.most_common(1)[0][0]
        region = registry.cinema(cinema_id).region_code
        cases.append(Case(scenario, strength, cinema_id, region, film_id, week))
    return cases


def build(warehouse: Path, first: date, last: date) -> float:
    """dbt run of the integrity models and what they read, as of a week after the last day."""
    target = warehouse.parent / "dbt"
    variables = {"warehouse_path": str(warehouse), "as_of_date": (last + timedelta(days=7)).isoformat()}
    command = [dbt_executable(), "run", "--select", "+int_integrity_cells", "--vars", json.dumps(variables)]
    command += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    command += ["--target-path", str(target), "--log-path", str(target / "logs"), "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dbt failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def judge(warehouse: Path, cases: list[Case]) -> dict:
    """Recall per scenario, strength and rule, and the false positive rate of the clean controls."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cursor = con.cursor()
        cursor.execute(
            "select cinema_id, film_id, film_week_start, rule, is_finding "
            "from intermediate.int_integrity_cells"
        )
        rows = cursor.fetchall()
    finally:
        con.close()
    found: dict[tuple, set[str]] = collections.defaultdict(set)
    for cinema_id, film_id, week, rule, is_finding in rows:
        key = (cinema_id, film_id, week)
        found.setdefault(key, set())
        if is_finding:
            found[key].add(rule)
    injected = {(c.cinema_id, c.film_id, c.week): c for c in cases}
    recall: dict[str, dict] = {}
    hits = 0
    for case in cases:
        rules = found.get((case.cinema_id, case.film_id, case.week), set())
        hit = bool(rules & set(RULES[case.scenario]))
        hits += hit
        per = recall.setdefault(case.scenario, {"cases": 0, "found": 0, "by_strength": {}, "by_rule": {}})
        per["cases"] += 1
        per["found"] += hit
        strength = per["by_strength"].setdefault(str(case.strength), {"cases": 0, "found": 0})
        strength["cases"] += 1
        strength["found"] += hit
        for rule in rules:
            per["by_rule"][rule] = per["by_rule"].get(rule, 0) + 1
    controls = [key for key in found if key not in injected]
    flagged = [key for key in controls if found[key]]
    by_rule = collections.Counter(rule for key in flagged for rule in found[key])
    return {
        "cases": len(cases),
        "found": hits,
        "recall": hits / len(cases) if cases else None,
        "by_scenario": recall,
        "missed": [
            vars(c) | {"week": c.week.isoformat()}
            for c in cases
            if not found.get((c.cinema_id, c.film_id, c.week), set()) & set(RULES[c.scenario])
        ],
        "controls": len(controls),
        "false_positives": len(flagged),
        "false_positive_rate": len(flagged) / len(controls) if controls else None,
        "false_positives_by_rule": dict(by_rule),
        "false_positive_examples": [list(map(str, key)) + sorted(found[key]) for key in flagged[:10]],
    }


def measure(work: Path, n_cinemas: int | None, n_weeks: int, per_strength: int) -> dict:
    """The whole measurement: network, cases, warehouse, dbt, verdicts."""
    registry = load_registry(SAMPLE_REGISTRY_DIR)
    connected = [c.cinema_id for c in registry.connected_cinemas][:n_cinemas]
    weeks = [FIRST_WEEK + timedelta(days=7 * i) for i in range(n_weeks)]
    cases = choose_cases(Network(registry, SEED), connected, weeks, per_strength)
    network = Network(registry, SEED, F.FaultPlan(F.load_faults([c.fault() for c in cases])))
    first, last = weeks[0], weeks[-1] + timedelta(days=6)
    warehouse = work / "integrity" / "warehouse.duckdb"
    started = time.perf_counter()
    rows = simulated_warehouse(warehouse, network, connected, first, last)
    simulated = time.perf_counter() - started
    dbt_seconds = build(warehouse, first, last)
    verdict = judge(warehouse, cases)
    return {
        "cinemas": len(connected),
        "regions": len({registry.cinema(c).region_code for c in connected}),
        "weeks": [w.isoformat() for w in weeks],
        "seed": SEED,
        "events": rows["ticket_events"],
        "sessions": rows["sessions"],
        "simulate_seconds": round(simulated, 1),
        "dbt_seconds": round(dbt_seconds, 1),
        **verdict,
    }
