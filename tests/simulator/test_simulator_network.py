"""The simulated network's generation: determinism, realism, magnitudes and content faults (no HTTP)."""

from __future__ import annotations

import collections
import csv
import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ekino_pipeline.calendar import BUSINESS_TZ, business_date_of, business_day_bounds
from ekino_pipeline.exchange.registry import load_registry
from ekino_sim import SAMPLE_REGISTRY_DIR, reference
from ekino_sim import faults as F
from ekino_sim.network import Network
from ekino_sim.network.tickets import emit_fast, emit_general

IDENTIFIER = re.compile(r"^[A-Za-z0-9:_-]{1,64}$")
NOW = datetime(2024, 4, 1, tzinfo=UTC)
DAY = date(2024, 3, 8)  # a Friday


@pytest.fixture(scope="module")
def registry():
    return load_registry(SAMPLE_REGISTRY_DIR)


@pytest.fixture(scope="module")
def network(registry):
    return Network(registry, seed=7, now=NOW)


def window(first: date, last: date) -> tuple[datetime, datetime]:
    return business_day_bounds(first)[0], business_day_bounds(last)[1]


def session_tickets(network: Network, cinema_id: str, day: date):
    """The day's sessions by id, and every event that names one of them (sales start 7 days ahead)."""
    sessions = {s["session_id"]: s for s in network.sessions(cinema_id, day)}
    events = [
        e
        for e in network.ticket_events(cinema_id, *window(day - timedelta(days=7), day + timedelta(days=1)))
        if e["session_id"] in sessions
    ]
    return sessions, events


def test_the_shipped_registry_is_what_reference_generates():
    for name, rows in reference.generate_registry().items():
        with (SAMPLE_REGISTRY_DIR / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
            shipped = list(csv.DictReader(fh))
        assert shipped == [{k: str(v) for k, v in row.items()} for row in rows], name


def test_the_same_seed_gives_the_same_bytes_whatever_order_days_are_asked_in(registry):
    days = [DAY, DAY - timedelta(days=3), DAY + timedelta(days=5), date(2019, 6, 1)]
    first, second = Network(registry, seed=7, now=NOW), Network(registry, seed=7, now=NOW)
    seen = {}
    for day in days:
        seen[day] = (first.session_items("ALA-0002", day), first.event_items("ALA-0002", *_seconds(day)))
    for day in reversed(days):
        assert second.event_items("ALA-0002", *_seconds(day)) == seen[day][1]
        assert second.session_items("ALA-0002", day) == seen[day][0]


def _seconds(day: date) -> tuple[int, int]:
    start, end = business_day_bounds(day)
    return int(start.timestamp()), int(end.timestamp())


def test_another_seed_gives_another_network(registry, network):
    other = Network(registry, seed=8, now=NOW)
    assert other.sessions("ALA-0002", DAY) != network.sessions("ALA-0002", DAY)
    assert other.ticket_events("ALA-0002", *window(DAY, DAY)) != network.ticket_events(
        "ALA-0002", *window(DAY, DAY)
    )


def test_a_window_returns_the_same_events_as_its_days_put_together(network):
    whole = network.ticket_events("SHY-0001", *window(DAY, DAY + timedelta(days=2)))
    parts = [
        network.ticket_events("SHY-0001", *window(d, d))
        for d in (DAY, DAY + timedelta(1), DAY + timedelta(2))
    ]
    assert whole == [e for part in parts for e in part]
    assert whole, "a city cinema sells tickets every day"


def test_every_id_begins_with_the_cinema_id_and_is_a_valid_identifier(network, registry):
    film_ids = registry.film_ids
    for cinema in registry.connected_cinemas[:12]:
        prefix = cinema.cinema_id + ":"
        hall_ids = {h.hall_id for h in cinema.halls}
        for s in network.sessions(cinema.cinema_id, DAY):
            assert s["session_id"].startswith(prefix) and IDENTIFIER.match(s["session_id"])
            assert s["hall_id"] in hall_ids
            assert s["film_id"] in film_ids
        for e in network.ticket_events(cinema.cinema_id, *window(DAY, DAY)):
            for name in ("event_id", "ticket_id", "session_id"):
                assert e[name].startswith(prefix) and IDENTIFIER.match(e[name]), e
            assert e["event_id"] == e["ticket_id"].replace(":T", ":E", 1) + (
                "-S" if e["event_type"] == "sale" else "-R"
            )


def test_halls_are_never_oversold_and_no_seat_is_sold_twice(network, registry):
    for cinema in registry.connected_cinemas[:20]:
        halls = {h.hall_id: h for h in cinema.halls}
        sessions, events = session_tickets(network, cinema.cinema_id, DAY)
        sales = collections.defaultdict(list)
        for e in events:
            if e["event_type"] == "sale":
                sales[e["session_id"]].append(e)
        for session_id, sold in sales.items():
            hall = halls[sessions[session_id]["hall_id"]]
            seats = [(e["seat_row"], e["seat_number"]) for e in sold]
            assert len(sold) <= hall.seats
            assert len(set(seats)) == len(seats), session_id
            assert all(
                1 <= r <= hall.seat_rows and 1 <= n <= math.ceil(hall.seats / hall.seat_rows)
                for r, n in seats
            )


def test_sales_open_a_week_ahead_and_close_a_quarter_hour_after_the_start(network, registry):
    same_day = sales = refunds = 0
    for cinema in registry.connected_cinemas[:20]:
        sessions, events = session_tickets(network, cinema.cinema_id, DAY)
        sold_at = {}
        for e in sorted(events, key=lambda e: e["event_type"] == "refund"):
            starts = datetime.fromisoformat(sessions[e["session_id"]]["starts_at"])
            occurred = datetime.fromisoformat(e["occurred_at"])
            if e["event_type"] == "sale":
                sales += 1
                same_day += business_date_of(occurred) == DAY
                assert starts - timedelta(days=7) <= occurred <= starts + timedelta(minutes=15)
                sold_at[e["ticket_id"]] = occurred
            else:
                refunds += 1
                assert sold_at[e["ticket_id"]] < occurred < starts
    assert 0.5 < same_day / sales < 0.8
    assert 0.02 < refunds / sales < 0.045


def test_the_pilot_network_sells_about_35000_tickets_a_day_over_a_week(network, registry):
    # 2024's published 22 bn tenge at about 1,750 tenge a ticket over 366 days
    week = [DAY + timedelta(days=k) for k in range(7)]
    per_day = {d: sum(network.tickets_sold(c.cinema_id, d) for c in registry.cinemas) for d in week}
    assert 28_000 <= sum(per_day.values()) / 7 <= 42_000
    saturday, tuesday = date(2024, 3, 9), date(2024, 3, 12)
    assert per_day[saturday] > 1.5 * per_day[tuesday], "weekends are the peak"


def test_evening_sessions_sell_better_than_morning_ones(network, registry):
    by_slot = collections.defaultdict(list)
    for cinema in registry.cinemas[:40]:
        for s in network.plan(cinema.cinema_id, DAY):
            hour = datetime.fromtimestamp(s.start_ts, BUSINESS_TZ).hour
            by_slot["evening" if 18 <= hour < 22 else "morning" if hour < 12 else "other"].append(
                s.n / s.hall.seats
            )
    assert sum(by_slot["evening"]) / len(by_slot["evening"]) > 2 * sum(by_slot["morning"]) / len(
        by_slot["morning"]
    )


def test_tickets_cost_1500_to_2200_tenge_invitations_nothing_and_paid_tickets_something(network, registry):
    total, count, invitations = Decimal(0), 0, 0
    by_city = collections.defaultdict(list)
    for cinema in registry.cinemas:
        for e in network.ticket_events(cinema.cinema_id, *window(DAY, DAY)):
            if e["event_type"] != "sale":
                continue
            amount = Decimal(e["amount_kzt"])
            assert amount == amount.quantize(Decimal("10"))  # rounded to 10 tenge
            assert (amount == 0) == (e["category"] == "invitation")
            total, count = total + amount, count + 1
            invitations += e["category"] == "invitation"
            if e["category"] == "adult":
                by_city[cinema.city].append(amount)
    assert 1500 <= total / count <= 2200
    assert 0.01 < invitations / count < 0.035
    mean = {city: sum(v) / len(v) for city, v in by_city.items()}
    assert mean["Almaty"] > mean["Kokshetau"] and mean["Astana"] > mean["Taraz"]


def test_the_hall_decides_the_format_and_subtitles_come_only_with_the_original_language(network, registry):
    films = {f.film_id: f for f in registry.films}
    formats = collections.Counter()
    for cinema in registry.connected_cinemas:
        halls = {h.hall_id: h for h in cinema.halls}
        for s in network.sessions(cinema.cinema_id, DAY):
            hall_format, film = halls[s["hall_id"]].format, films[s["film_id"]]
            assert s["format"] in ({"3D", "2D"} if hall_format == "3D" else {hall_format})
            formats[s["format"]] += 1
            assert DAY - timedelta(days=56) < film.release_date <= DAY
            if film.is_domestic:
                assert (s["audio_language"], s["subtitle_language"]) in {("kk", None), ("ru", None)}
            elif s["subtitle_language"] is not None:
                assert s["audio_language"] == film.original_language
    assert set(formats) == {"2D", "3D", "IMAX", "4DX"}


def test_any_business_day_can_be_asked_for(registry):
    network = Network(registry, seed=7, now=datetime(2030, 1, 1, tzinfo=UTC))
    for day in (date(2019, 2, 14), date(2027, 12, 31)):
        assert network.sessions("ALA-0002", day)
        assert network.ticket_events("ALA-0002", *window(day, day))


def test_events_that_have_not_happened_yet_are_not_served(registry):
    network = Network(registry, seed=7, now=datetime(2024, 3, 8, 9, 0, tzinfo=UTC))
    events = network.ticket_events("ALA-0002", *window(DAY, DAY))
    assert events and all(datetime.fromisoformat(e["occurred_at"]) <= network.now for e in events)
    network.now = NOW
    assert len(network.ticket_events("ALA-0002", *window(DAY, DAY))) > len(events)


# -- content faults: valid records the marts must flag ------------------------------------------------

CONTENT = [F.LATE_REFUND, F.OVERSOLD_SESSION, F.DOUBLE_SOLD_SEAT, F.LATE_SALE, F.ORPHAN_REFUND, F.SILENT]


@pytest.fixture(scope="module")
def faulty(registry):
    """One cinema per content fault, all from DAY on; the cinemas match the clean `network`'s."""
    faults = [{"cinema_id": "AST-0003", "scenario": s, "from_date": DAY.isoformat()} for s in CONTENT]
    faults = [dict(f, cinema_id=c) for f, c in zip(faults, _cinemas(registry), strict=False)]
    return Network(registry, seed=7, fault_plan=F.FaultPlan(F.load_faults(faults)), now=NOW)


def _cinemas(registry) -> list[str]:
    return [c.cinema_id for c in registry.connected_cinemas if len(c.halls) >= 3][: len(CONTENT)]


def _cinema(registry, scenario: str) -> str:
    return _cinemas(registry)[CONTENT.index(scenario)]


def test_an_oversold_session_sells_more_tickets_than_its_hall_has_seats(faulty, registry):
    cinema_id = _cinema(registry, F.OVERSOLD_SESSION)
    halls = {h.hall_id: h.seats for h in registry.cinema(cinema_id).halls}
    sessions, events = session_tickets(faulty, cinema_id, DAY)
    sold = collections.Counter(e["session_id"] for e in events if e["event_type"] == "sale")
    over = [sid for sid, n in sold.items() if n > halls[sessions[sid]["hall_id"]]]
    assert len(over) == 1


def test_a_double_sold_seat_is_sold_twice_without_a_refund(faulty, network, registry):
    cinema_id = _cinema(registry, F.DOUBLE_SOLD_SEAT)
    _, events = session_tickets(faulty, cinema_id, DAY)
    refunded = {e["ticket_id"] for e in events if e["event_type"] == "refund"}
    held = collections.Counter(
        (e["session_id"], e["seat_row"], e["seat_number"])
        for e in events
        if e["event_type"] == "sale" and e["ticket_id"] not in refunded
    )
    assert [seat for seat, n in held.items() if n > 1] != []
    _, clean = session_tickets(network, cinema_id, DAY)
    assert len(events) == len(clean) + 1, "one extra sale, nothing else changes"


def test_a_late_sale_comes_hours_after_its_session_started(faulty, registry):
    cinema_id = _cinema(registry, F.LATE_SALE)
    sessions, events = session_tickets(faulty, cinema_id, DAY)
    late = [
        e
        for e in events
        if datetime.fromisoformat(e["occurred_at"])
        > datetime.fromisoformat(sessions[e["session_id"]]["starts_at"]) + timedelta(hours=1)
    ]
    assert len(late) == 1 and late[0]["event_type"] == "sale"


def test_an_orphan_refund_names_a_ticket_never_sold(faulty, registry):
    cinema_id = _cinema(registry, F.ORPHAN_REFUND)
    _, events = session_tickets(faulty, cinema_id, DAY)
    sold = {e["ticket_id"] for e in events if e["event_type"] == "sale"}
    orphans = [e for e in events if e["event_type"] == "refund" and e["ticket_id"] not in sold]
    assert len(orphans) == 1


def test_late_refunds_arrive_on_one_day_for_tickets_sold_earlier_for_later_sessions(
    faulty, network, registry
):
    cinema_id = _cinema(registry, F.LATE_REFUND)
    events = faulty.ticket_events(cinema_id, *window(DAY - timedelta(days=7), DAY + timedelta(days=7)))
    sold_at = {e["ticket_id"]: e["occurred_at"] for e in events if e["event_type"] == "sale"}
    refunds_on_day = [
        e
        for e in events
        if e["event_type"] == "refund" and business_date_of(datetime.fromisoformat(e["occurred_at"])) == DAY
    ]
    late = [
        e
        for e in refunds_on_day
        if business_date_of(datetime.fromisoformat(sold_at[e["ticket_id"]])) < DAY
        and f":S{DAY:%Y%m%d}" not in e["session_id"]
    ]
    clean_refunds = [
        e for e in network.ticket_events(cinema_id, *window(DAY, DAY)) if e["event_type"] == "refund"
    ]
    assert len(late) > 3 * max(1, len(clean_refunds))
    assert len({e["ticket_id"] for e in events if e["event_type"] == "refund"}) == sum(
        e["event_type"] == "refund" for e in events
    ), "no ticket is refunded twice"


def test_a_silent_cinema_keeps_serving_sessions_but_no_ticket_events(faulty, registry):
    cinema_id = _cinema(registry, F.SILENT)
    assert faulty.sessions(cinema_id, DAY + timedelta(days=1))
    assert faulty.ticket_events(cinema_id, *window(DAY, DAY + timedelta(days=3))) == []
    assert faulty.ticket_events(cinema_id, *window(DAY - timedelta(days=1), DAY - timedelta(days=1)))


def test_content_faults_do_not_touch_other_days(faulty, network, registry):
    before = DAY - timedelta(days=9)
    for cinema_id in _cinemas(registry):
        assert faulty.ticket_events(cinema_id, *window(before, before)) == network.ticket_events(
            cinema_id, *window(before, before)
        )


def test_the_fast_event_path_builds_the_same_events_as_the_general_one(network):
    # Without late refunds the day's events come from an optimised loop; it must not drift from the
    # straightforward one that late refunds use.
    start, end = _seconds(DAY)
    for cinema_id in ("ALA-0002", "AKT-0001", "SHY-0001"):
        fast, general = [], []
        for j in range(8):
            for s in network.plan(cinema_id, DAY + timedelta(days=j)):
                emit_fast(s, j, start, end, fast)
                emit_general(s, j, start, end, general)
        assert fast and sorted(fast) == sorted(general)
