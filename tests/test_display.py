"""Figures as people read them: separators, Almaty times, errors cut to their cause."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ekino_pipeline.display import ERROR_CELL_CHARS, almaty_time, count, kzt, short_error

REFUSED = (
    "ExchangeConnectionError: ALA-0001 GET /v1/cinemas/ALA-0001/ticket-events: ConnectionError: "
    "HTTPConnectionPool(host='127.0.0.1', port=40123): Max retries exceeded with url: "
    "/v1/cinemas/ALA-0001/ticket-events?business_date=2024-03-01&page_size=1000 (Caused by "
    "NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f3c>: Failed to establish a new "
    "connection: [Errno 111] Connection refused'))"
)


def test_money_and_counts_get_thousand_separators_without_leaving_decimals():
    assert kzt(Decimal("536827460.00")) == "536,827,460.00"
    assert kzt("-1500.5") == "-1,500.50"
    assert count(1051) == "1,051"


def test_instants_read_in_almaty_across_the_2024_change_of_zone():
    assert almaty_time(datetime(2026, 11, 29, 18, 10, tzinfo=UTC)) == "2026-11-29 23:10 +05"
    assert almaty_time("2026-11-29T18:10:00Z") == "2026-11-29 23:10 +05"
    assert almaty_time(datetime(2024, 2, 1, 18, 10)) == "2024-02-02 00:10 +06"  # naive is UTC


def test_an_error_cell_is_its_cause_on_one_bounded_line():
    assert short_error(REFUSED) == "ExchangeConnectionError: Connection refused"
    assert short_error("OSError: [Errno 28] No space left on device: '/x'") == (
        "OSError: No space left on device: '/x'"
    )
    cell = short_error("ExchangeHTTPError: A GET /v1/x: HTTP 503 " + "overloaded " * 40 + "\nTraceback ...")
    assert cell.startswith("ExchangeHTTPError: HTTP 503 overloaded") and len(cell) == ERROR_CELL_CHARS
    assert "\n" not in cell
    assert short_error(None) == ""
