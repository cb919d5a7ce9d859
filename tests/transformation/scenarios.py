"""Hand-made pilot days for the dbt tests: clean box office over the 25-hour day 2024-02-29 and the
days after it, and the anomaly patterns added on top."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from tests.transformation.raw_fixture import RawFixture, days, local

FEB29, MAR1, MAR2, MAR5 = date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 5)
DOMESTIC_FILM = "F00456"  # Zhuldyz Bauyrym, funded by KFP-2019-007
FOREIGN_FILM = "F00001"
CINEMAS = ["ALA-0001", "ALA-0002", "ALA-0020", "SHY-0001"]
# Every cinema has landed days since 2024-02-20 (nothing sold before 2024-02-28), so the absence of a
# sale or a session is provable for the scenario days.
HISTORY = days(date(2024, 2, 20), MAR2)
# Sessions listed in advance (pulled for the presale horizon after the last day).
LISTED_AHEAD = days(MAR2 + timedelta(days=1), MAR2 + timedelta(days=8))
UNREGISTERED_FILM = "F99999"
GHOST_SESSION = "ALA-0002:zz-99"
RETURNS_WEEK = FEB29  # a Thursday: the film week 2024-02-29..2024-03-06
STEADY_FILM = "F00002"  # Broken Machine, screened once a day at ALA-0001 from 2024-02-22


def clean_days() -> RawFixture:
    fx = RawFixture(cinemas=CINEMAS, days=HISTORY, listed_ahead=LISTED_AHEAD)
    # The 25-hour day (UTC+6 until its end, UTC+5 after).
    s0 = fx.session("ALA-0001:S20240229-001", DOMESTIC_FILM, "H01", local(FEB29, 22, 0), "kk")
    fx.sell(s0, local(FEB29, 21, 0), "2200.00")
    fx.sell(s0, local(FEB29, 22, 5), "2200.00")

    s1 = fx.session("ALA-0001:S20240301-001", DOMESTIC_FILM, "H01", local(MAR1, 19, 0), "kk")
    fx.sell(s1, local(FEB29, 10, 0), "2500.00")  # presale
    child = fx.sell(s1, local(FEB29, 10, 5), "1800.00", category="child")
    fx.sell(s1, local(MAR1, 18, 0), "2500.00")
    fx.sell(s1, local(MAR1, 18, 1), "0.00", category="invitation")
    fx.refund(child, local(MAR1, 12, 0))

    # 23:50: a walk-in sale during the trailers falls on the next business day but counts on this one.
    s2 = fx.session("ALA-0002:S20240301-001", FOREIGN_FILM, "H08", local(MAR1, 23, 50), "ru", "3D")
    fx.sell(s2, local(MAR1, 20, 0), "3000.00")
    fx.sell(s2, local(MAR2, 0, 5), "2700.50", category="student")

    s3 = fx.session("SHY-0001:S20240302-001", FOREIGN_FILM, "H01", local(MAR2, 18, 0), "en")
    fx.sell(s3, local(MAR1, 9, 0), "1500.00")
    fx.sell(s3, local(MAR2, 17, 0), "1500.00", category="senior")

    # Listed in advance for 2024-03-05 and presold on 2024-03-02: an advance sale, in no day's box office.
    ahead = fx.session("ALA-0001:S20240305-001", DOMESTIC_FILM, "H01", local(MAR5, 19, 0), "kk")
    fx.sell(ahead, local(MAR2, 11, 0), "2500.00")
    presold = fx.sell(ahead, local(MAR2, 11, 5), "2500.00")
    fx.refund(presold, local(MAR2, 12, 0))

    # ALA-0020 scheduled a screening on 2024-03-02 and sold nothing: silent, not reporting.
    fx.session("ALA-0020:S20240302-001", FOREIGN_FILM, "H01", local(MAR2, 20, 0), "ru")

    # ALA-0020 is connected but did not answer on 2024-03-01.
    fx.failed.add(("ALA-0020", MAR1))
    # ALA-0001's ticket-events pull of 2024-03-02 was killed once, then pulled again successfully.
    fx.killed.add(("ALA-0001", MAR2))
    return fx


def with_declared_returns(fx: RawFixture) -> RawFixture:
    """Returns for the film week of 2024-02-29: ALA-0002 declares what its two sessions of FOREIGN_FILM
    sold (s2 and the 45-ticket one of with_anomalies), ALA-0001 declares one ticket of DOMESTIC_FILM,
    SHY-0001's returns could not be pulled and ALA-0020's were not asked for."""
    declared_at = local(MAR1 + timedelta(days=6), 9, 0)
    for cinema_id, film_id, admissions, gross in (
        ("ALA-0002", FOREIGN_FILM, 47, "95700.50"),
        ("ALA-0001", DOMESTIC_FILM, 1, "2200.00"),
    ):
        fx.declared_returns.append(
            {
                "return_id": f"{cinema_id}:R-{film_id}",
                "cinema_id": cinema_id,
                "film_id": film_id,
                "film_week_start": RETURNS_WEEK,
                "admissions": admissions,
                "gross_kzt": Decimal(gross),
                "declared_at": declared_at,
                "revision": 1,
            }
        )
        fx.returns_pulled[(cinema_id, RETURNS_WEEK)] = True
    fx.returns_pulled[("SHY-0001", RETURNS_WEEK)] = False
    return fx


def with_anomalies(fx: RawFixture) -> RawFixture:
    """One of each pattern, on sessions of 2024-03-02."""
    # 45 tickets for a 44-seat hall.
    full = fx.session("ALA-0002:S20240302-002", FOREIGN_FILM, "H08", local(MAR2, 20, 0), "ru")
    for n in range(45):
        fx.sell(full, local(MAR2, 10) + timedelta(minutes=n), "2000.00", seat=(n // 11 + 1, n % 11 + 1))

    # Row 3 seat 7 sold twice, the first ticket never refunded; a refunded seat may be sold again.
    twice = fx.session("ALA-0001:S20240302-002", DOMESTIC_FILM, "H01", local(MAR2, 19, 0), "kk")
    fx.sell(twice, local(MAR2, 11, 0), "2500.00", seat=(3, 7))
    fx.sell(twice, local(MAR2, 12, 0), "2500.00", seat=(3, 7))
    resold = fx.sell(twice, local(MAR2, 11, 0), "2500.00", seat=(4, 1))
    fx.refund(resold, local(MAR2, 11, 30))
    fx.sell(twice, local(MAR2, 12, 0), "2500.00", seat=(4, 1))

    # Sold two hours after the screening started.
    fx.sell(twice, local(MAR2, 21, 0), "2500.00", seat=(5, 5))

    # A refund of a ticket that was never sold.
    fx.refund("ALA-0001:T20240302-002-9999", local(MAR2, 13, 0), session_id=twice)

    # Sales on two days naming a session the cinema never listed; its id follows the contract, not the
    # habit of carrying a date, so the finding is dated by the events (the last one's day).
    ghost = GHOST_SESSION
    fx.sell(ghost, local(MAR1, 14, 0), "2000.00", ticket_id="ALA-0002:ghost-t1")
    fx.sell(ghost, local(MAR2, 14, 0), "2000.00", ticket_id="ALA-0002:ghost-t2")
    fx.sell(ghost, local(MAR2, 14, 5), "2000.00", ticket_id="ALA-0002:ghost-t3")

    # A session of a film not yet in the registry: quarantined, its two landed sales held back.
    unregistered = "SHY-0001:S20240302-050"
    fx.quarantine(
        "sessions",
        "SHY-0001",
        MAR2,
        {
            "session_id": unregistered,
            "film_id": UNREGISTERED_FILM,
            "hall_id": "SHY-0001:H01",
            "starts_at": local(MAR2, 21, 0).isoformat(),
            "format": "2D",
            "audio_language": "kk",
            "subtitle_language": None,
        },
        f"film_id: unknown film {UNREGISTERED_FILM}",
    )
    fx.sell(unregistered, local(MAR2, 15, 0), "1500.00")
    fx.sell(unregistered, local(MAR2, 15, 1), "1500.00")

    # A sale quarantined for a malformed amount, and the refund of that ticket, landed.
    quarantined_sale = {
        "event_id": "SHY-0001:EQ1",
        "event_type": "sale",
        "ticket_id": "SHY-0001:TQ1",
        "session_id": "SHY-0001:S20240302-001",
        "occurred_at": local(MAR2, 9, 0).isoformat(),
        "amount_kzt": "1500.00",
        "seat_row": "seven",
        "seat_number": 3,
        "channel": "online",
        "category": "adult",
    }
    fx.quarantine("ticket_events", "SHY-0001", MAR2, quarantined_sale, "seat_row: expected an integer")
    fx.refund("SHY-0001:TQ1", local(MAR2, 10, 0), session_id="SHY-0001:S20240302-001")

    # ALA-0004 answered, and the one event it sent was quarantined: a whole-feed quarantine.
    fx.quarantine(
        "ticket_events",
        "ALA-0004",
        MAR2,
        {
            "event_id": "ALA-0004:EQ1",
            "event_type": "sale",
            "ticket_id": "ALA-0004:TQ1",
            "session_id": "ALA-0004:evening",
            "occurred_at": local(MAR2, 12, 0).isoformat(),
            "amount_kzt": "2000.00",
            "seat_row": 1,
            "seat_number": 1,
            "channel": "telepathy",
            "category": "adult",
        },
        "channel: 'telepathy' is not one of box_office, online, kiosk",
    )
    return fx


def with_a_steady_film(fx: RawFixture) -> RawFixture:
    """STEADY_FILM's one daily screening at ALA-0001 from Thursday 2024-02-22 to Saturday 2024-03-02:
    its whole film week of 2024-02-22 grosses 1000.00 a day Thursday to Saturday and 500.00 Sunday
    to Wednesday (5000.00), the week of 2024-02-29, three days in, 1200.00 a day (3600.00)."""
    for day in days(date(2024, 2, 22), MAR2):
        session = fx.session(f"ALA-0001:S{day:%Y%m%d}-101", STEADY_FILM, "H01", local(day, 15, 0), "ru")
        amount = "1200.00" if day >= FEB29 else "1000.00" if day.isoweekday() in (4, 5, 6) else "500.00"
        fx.sell(session, local(day, 12, 0), amount)
    return fx
