"""Declared box office returns: the contract's rules, the simulator's endpoint and its fault, and the
client over HTTP. A cinema's return for a film week must equal what its ticket events for the week's
sessions add up to, unless the cinema misdeclares."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import requests
import yaml

from ekino_pipeline.calendar import business_day_bounds, daterange
from ekino_pipeline.exchange.client import ExchangeClient
from ekino_pipeline.exchange.contract import OPENAPI_PATH as CONTRACT_PATH
from ekino_pipeline.exchange.contract import Rejected, validate_box_office_return
from ekino_sim import faults as F
from ekino_sim.server import SimulatorServer

WEEK = date(2024, 3, 7)  # a Thursday
CLOSED_AT = business_day_bounds(WEEK + timedelta(days=7))[0]
NOW = datetime(2024, 3, 20, tzinfo=UTC)  # after WEEK was declared, before the next week was
TRUTHFUL, UNDER, OVER, BROKEN = "ALA-0002", "ALA-0007", "ALA-0008", "ALA-0009"


@pytest.fixture(scope="module")
def sim():
    faults = [
        {"cinema_id": UNDER, "scenario": F.MISDECLARED_RETURNS, "factor": 0.8},
        {"cinema_id": OVER, "scenario": F.MISDECLARED_RETURNS, "factor": 1.25, "from_date": "2024-03-14"},
        *(
            {"cinema_id": BROKEN, "scenario": scenario, "records": "returns", "rate": 0.2}
            for scenario in (F.WRONG_TYPES, F.MISSING_FIELDS, F.EXTRA_FIELDS)
        ),
    ]
    with SimulatorServer(seed=7, faults=faults, now=NOW) as server:
        yield server


def client_for(sim: SimulatorServer, cinema_id: str, **overrides) -> ExchangeClient:
    options = {"cinema_id": cinema_id, "retries": 0, "deadline_seconds": 60.0, "clock": lambda: NOW}
    options.update(overrides)
    return ExchangeClient(f"{sim.url}/cinemas/{cinema_id}", sim.tokens[cinema_id], **options)


def declared(sim: SimulatorServer, cinema_id: str, week: date = WEEK, **options) -> dict[str, dict]:
    with client_for(sim, cinema_id, **options) as client:
        pages = list(client.iter_box_office_return_pages(week))
    for page in pages:
        assert page.served == len(page.valid) + len(page.rejected)
    assert not any(page.rejected for page in pages)
    return {r["film_id"]: r for page in pages for r in page.valid}


def tracked(sim: SimulatorServer, cinema_id: str, week: date = WEEK) -> dict[str, tuple[int, Decimal]]:
    """(admissions, gross) per film from the cinema's sessions and ticket events, by session day."""
    film_of: dict[str, str] = {}
    with client_for(sim, cinema_id) as client:
        for day in daterange(week, week + timedelta(days=6)):
            film_of.update(
                {s["session_id"]: s["film_id"] for p in client.iter_session_pages(day) for s in p.valid}
            )
        start = business_day_bounds(week - timedelta(days=8))[0]
        events = [e for p in client.iter_ticket_event_pages(start, NOW) for e in p.valid]
    totals: dict[str, list] = defaultdict(lambda: [0, Decimal("0.00")])
    for film_id in film_of.values():
        totals[film_id]  # a film screened without a ticket sold is declared at zero
    for e in events:
        film_id = film_of.get(e["session_id"])
        if film_id is not None:
            sign = 1 if e["event_type"] == "sale" else -1
            totals[film_id][0] += sign
            totals[film_id][1] += sign * e["amount_kzt"]
    return {film_id: (n, gross) for film_id, (n, gross) in totals.items()}


# -- the contract ---------------------------------------------------------------------------------------


def a_return(**overrides) -> dict:
    record = {
        "return_id": "ALA-0001:R20240307-F00042",
        "film_id": "F00042",
        "film_week_start": "2024-03-07",
        "admissions": 1200,
        "gross_kzt": "2150400.00",
        "declared_at": "2024-03-14T09:30:00+05:00",
        "revision": 1,
    }
    record.update(overrides)
    return record


def check(raw):
    return validate_box_office_return(
        raw, cinema_id="ALA-0001", film_week_start=WEEK, closed_at=CLOSED_AT, now=NOW
    )


def test_a_valid_return_is_normalized_to_a_date_decimal_money_and_utc_time():
    assert check(a_return()) == {
        "return_id": "ALA-0001:R20240307-F00042",
        "film_id": "F00042",
        "film_week_start": WEEK,
        "admissions": 1200,
        "gross_kzt": Decimal("2150400.00"),
        "declared_at": datetime(2024, 3, 14, 4, 30, tzinfo=UTC),
        "revision": 1,
    }


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"film_week_start": "2024-03-14"}, "film_week_start: not the week asked for (2024-03-07)"),
        ({"film_week_start": "2024-3-7"}, "film_week_start: not a date YYYY-MM-DD '2024-3-7'"),
        ({"declared_at": "2024-03-13T23:59:59+05:00"}, "declared_at: before the film week closed"),
        ({"declared_at": "2024-03-21T09:30:00+05:00"}, "declared_at: in the future"),
        ({"admissions": -3}, "admissions: negative, got -3"),
        ({"admissions": "1200"}, "admissions: expected integer, got str"),
        ({"gross_kzt": 2150400}, "gross_kzt: expected string, got int"),
        ({"revision": 0}, "revision: must be at least 1, got 0"),
        ({"return_id": "AST-0001:R1"}, "return_id: names another cinema (AST-0001)"),
    ],
)
def test_a_return_breaking_a_rule_is_rejected_with_the_reason(overrides, reason):
    result = check(a_return(**overrides))
    assert isinstance(result, Rejected) and result.reason == reason


def test_a_return_without_a_field_names_it():
    record = a_return()
    del record["gross_kzt"]
    assert check(record).reason == "missing field: gross_kzt"


def test_a_misdeclaring_factor_of_one_would_be_the_truth_and_is_refused():
    with pytest.raises(ValueError, match="factor must be a number from 0 to 10 other than 1"):
        F.parse_fault({"cinema_id": UNDER, "scenario": F.MISDECLARED_RETURNS, "factor": 1})


# -- the simulator --------------------------------------------------------------------------------------


def _from_openapi(node):
    if isinstance(node, list):
        return [_from_openapi(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _from_openapi(v) for k, v in node.items()}
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    return node


def test_every_served_page_of_returns_validates_against_the_contract(sim):
    contract = _from_openapi(yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8")))
    schemas = referencing.Registry().with_resource(
        "urn:ekino-contract", referencing.jsonschema.DRAFT7.create_resource(contract)
    )
    pointer = "/paths/~1v1~1box-office-returns/get/responses/200/content/application~1json/schema"
    page_schema = jsonschema.Draft7Validator({"$ref": f"urn:ekino-contract#{pointer}"}, registry=schemas)
    served = 0
    for cinema_id in (TRUTHFUL, UNDER):
        token, params = None, {"week": WEEK.isoformat(), "limit": 7}
        while True:
            answer = requests.get(
                f"{sim.url}/cinemas/{cinema_id}/v1/box-office-returns",
                params={**params, **({"page_token": token} if token else {})},
                headers={"Authorization": f"Bearer {sim.tokens[cinema_id]}"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            page_schema.validate(body)
            served += len(body["returns"])
            token = body["next_page_token"]
            if token is None:
                break
    assert served > 14  # more than one page each


def test_a_week_must_be_named_by_its_thursday(sim):
    answer = requests.get(
        f"{sim.url}/cinemas/{TRUTHFUL}/v1/box-office-returns",
        params={"week": "2024-03-08"},
        headers={"Authorization": f"Bearer {sim.tokens[TRUTHFUL]}"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert "Thursday" in answer.json()["error"]["message"]


def test_a_week_not_declared_yet_has_no_returns(sim):
    assert declared(sim, TRUTHFUL, WEEK + timedelta(days=7)) == {}


# -- the client against the simulator -------------------------------------------------------------------


def test_a_truthful_cinema_declares_what_its_ticket_events_add_up_to_by_session_day(sim):
    returns = declared(sim, TRUTHFUL, page_size=5)
    assert returns, "the cinema screened films that week"
    assert {f: (r["admissions"], r["gross_kzt"]) for f, r in returns.items()} == tracked(sim, TRUTHFUL)
    assert {r["declared_at"] >= CLOSED_AT for r in returns.values()} == {True}


def test_an_under_declaring_cinema_declares_less_than_its_tickets_by_its_factor(sim):
    returns = declared(sim, UNDER)
    truth = tracked(sim, UNDER)
    assert returns.keys() == truth.keys()
    declared_gross = sum(r["gross_kzt"] for r in returns.values())
    tracked_gross = sum(gross for _, gross in truth.values())
    assert tracked_gross > 0
    assert abs(declared_gross - tracked_gross * Decimal("0.8")) <= Decimal("0.01") * len(returns)


def test_a_misdeclaring_fault_touches_only_the_weeks_it_covers(sim):
    returns = declared(sim, OVER)  # its fault starts the week after
    assert {f: (r["admissions"], r["gross_kzt"]) for f, r in returns.items()} == tracked(sim, OVER)


def test_broken_returns_are_rejected_with_their_reason_and_every_served_one_is_accounted_for(sim):
    with client_for(sim, BROKEN, page_size=4) as client:
        pages = list(client.iter_box_office_return_pages(WEEK))
    served = sum(page.served for page in pages)
    valid = [r for page in pages for r in page.valid]
    rejected = [r for page in pages for r in page.rejected]
    assert served == len(valid) + len(rejected) == len(sim.network.declared_returns(BROKEN, WEEK))
    assert rejected and valid
    assert {r.reason.split(":")[0] for r in rejected} <= {
        "admissions",
        "gross_kzt",
        "declared_at",
        "missing field",
    }
    assert sum(page.extra_fields for page in pages) > 0  # an undefined property is accepted, and counted
    truth = tracked(sim, BROKEN)
    assert all((r["admissions"], r["gross_kzt"]) == truth[r["film_id"]] for r in valid)
