"""The exchange client over real HTTP, against a scripted ThreadingHTTPServer.

Each test scripts the replies a path gives, in order (the last one repeats), and asserts what the
client makes of them: retries, errors, pages and record verdicts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from ekino_pipeline.calendar import business_day_bounds
from ekino_pipeline.exchange.client import (
    DeadlineExceeded,
    ExchangeAuthError,
    ExchangeClient,
    ExchangeConfigError,
    ExchangeConnectionError,
    ExchangeError,
    ExchangeHTTPError,
    MalformedResponse,
    Page,
    ResponseTooLarge,
    SharedConnections,
)

CINEMA = "ALA-0001"
TOKEN = "tok-9f8e7d6c5b4a-secret"
DAY = date(2024, 3, 1)
WINDOW = business_day_bounds(DAY)
NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


@dataclass
class Reply:
    status: int = 200
    body: object = None  # bytes as they are; anything else is sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    close_without_reply: bool = False
    chunked: bool = False  # no Content-Length, Transfer-Encoding: chunked
    cut_after: int | None = None  # declare the full length, send this many bytes, hang up
    stall_after: int | None = None  # send this many bytes, wait `stall` seconds, send the rest
    stall: float = 0.0


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    peer: tuple = ()  # the client's address and port: one per TCP connection
    target: str = ""  # the request line's target as sent (absolute through a proxy)


class ScriptedExchange:
    """Replies per path (relative to the cinema's base URL), consumed in order; the last one repeats."""

    def __init__(self):
        self.script: dict[str, list[Reply | Callable[[dict[str, str]], Reply]]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        exchange = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                exchange._answer(self)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.handle_error = lambda request, address: None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/cinemas/{CINEMA}"

    def on(self, path: str, *replies) -> None:
        self.script[path] = list(replies)

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def start(self):
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        path = url.path.removeprefix(f"/cinemas/{CINEMA}")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self._lock:
            self.seen.append(Seen(path, query, dict(handler.headers), handler.client_address, handler.path))
            replies = self.script.get(path) or [Reply(404, {"error": {"code": "not_found", "message": path}})]
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if callable(reply):
            reply = reply(query)
        with contextlib.suppress(OSError):  # the client gave up first (timeouts, size limits)
            self._send(handler, reply)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.close_without_reply:
            handler.close_connection = True
            return
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json")
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for start in range(0, len(body), 4096):
                piece = body[start : start + 4096]
                handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")
            return
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if reply.cut_after is not None:
            handler.wfile.write(body[: reply.cut_after])
            handler.wfile.flush()
            handler.close_connection = True
            return
        if reply.stall_after is not None:
            handler.wfile.write(body[: reply.stall_after])
            handler.wfile.flush()
            time.sleep(reply.stall)
            body = body[reply.stall_after :]
        handler.wfile.write(body)


@pytest.fixture
def exchange():
    server = ScriptedExchange()
    server.start()
    yield server
    server.stop()


def make_client(exchange: ScriptedExchange, **overrides) -> ExchangeClient:
    options = {
        "cinema_id": CINEMA,
        "connect_timeout": 1.0,
        "read_timeout": 0.5,
        "retries": 3,
        "backoff_factor": 0.01,
        "max_retry_after": 2.0,
        "deadline_seconds": 20.0,
        "clock": lambda: NOW,
    }
    options.update(overrides)
    base_url = options.pop("base_url", exchange.base_url)
    return ExchangeClient(base_url, TOKEN, **options)


def event(n: int, **overrides) -> dict:
    record = {
        "event_id": f"{CINEMA}:E{n:06d}",
        "event_type": "sale",
        "ticket_id": f"{CINEMA}:T{n:06d}",
        "session_id": f"{CINEMA}:S000001",
        "occurred_at": (WINDOW[0] + timedelta(minutes=n)).isoformat(),
        "amount_kzt": "2500.00",
        "seat_row": 1 + n % 10,
        "seat_number": 1 + n % 20,
        "channel": "online",
        "category": "adult",
    }
    record.update(overrides)
    return record


def events_page(records: list, next_page_token: str | None = None) -> Reply:
    return Reply(body={"events": records, "next_page_token": next_page_token})


def error_reply(status: int, code: str, message: str, **kw) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, **kw)


def pull_events(client: ExchangeClient) -> list[Page]:
    return list(client.iter_ticket_event_pages(*WINDOW))


HEALTH = {"cinema_id": CINEMA, "status": "ok", "server_time": "2024-03-05T17:00:00+05:00"}


# Retries


def test_a_rate_limited_call_waits_for_retry_after_and_then_succeeds(exchange):
    exchange.on(
        "/v1/health",
        error_reply(429, "rate_limited", "slow down", headers={"Retry-After": "1"}),
        Reply(body=HEALTH),
    )
    started = time.monotonic()
    with make_client(exchange) as client:
        assert client.health()["status"] == "ok"
    assert time.monotonic() - started >= 0.95
    assert len(exchange.requests_to("/v1/health")) == 2


def test_a_long_retry_after_is_capped_by_max_retry_after(exchange):
    exchange.on(
        "/v1/health",
        error_reply(429, "rate_limited", "slow down", headers={"Retry-After": "3600"}),
        Reply(body=HEALTH),
    )
    started = time.monotonic()
    with make_client(exchange, max_retry_after=0.2) as client:
        client.health()
    assert time.monotonic() - started < 2


def test_an_unreadable_retry_after_falls_back_to_backoff(exchange):
    limited = error_reply(429, "rate_limited", "later", headers={"Retry-After": "soon, maybe"})
    exchange.on("/v1/health", limited, Reply(body=HEALTH))
    with make_client(exchange) as client:
        assert client.health()["status"] == "ok"


def test_each_retry_is_logged_with_its_cause(exchange, caplog):
    exchange.on("/v1/health", error_reply(503, "maintenance", "back soon"), Reply(body=HEALTH))
    with (
        caplog.at_level(logging.WARNING, logger="ekino_pipeline.exchange.client"),
        make_client(exchange) as client,
    ):
        client.health()
    assert f"{CINEMA} GET /cinemas/{CINEMA}/v1/health: retry 1 after HTTP 503" in caplog.text


def test_a_burst_of_503s_is_retried_until_the_server_recovers(exchange):
    maintenance = error_reply(503, "maintenance", "back soon")
    exchange.on("/v1/health", maintenance, maintenance, maintenance, Reply(body=HEALTH))
    with make_client(exchange) as client:
        assert client.health()["cinema_id"] == CINEMA
    assert len(exchange.requests_to("/v1/health")) == 4


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_gateway_and_server_errors_are_retried(exchange, status):
    exchange.on("/v1/health", Reply(status, b"oops"), Reply(body=HEALTH))
    with make_client(exchange) as client:
        client.health()
    assert len(exchange.requests_to("/v1/health")) == 2


def test_503s_beyond_the_retry_budget_raise_an_http_error_with_the_servers_code(exchange):
    exchange.on("/v1/health", error_reply(503, "maintenance", "back at 06:00"))
    with make_client(exchange, retries=2) as client, pytest.raises(ExchangeHTTPError) as caught:
        client.health()
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        503,
        "maintenance",
        "back at 06:00",
    )
    assert len(exchange.requests_to("/v1/health")) == 3


def test_a_response_slower_than_the_read_timeout_is_retried(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH, delay=1.0), Reply(body=HEALTH))
    with make_client(exchange, read_timeout=0.2) as client:
        assert client.health()["status"] == "ok"
    assert len(exchange.requests_to("/v1/health")) == 2


def test_a_server_that_stays_too_slow_raises_a_connection_error(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH, delay=1.0))
    with make_client(exchange, read_timeout=0.1, retries=1) as client, pytest.raises(ExchangeConnectionError):
        client.health()


def test_a_connection_closed_without_a_response_is_retried(exchange):
    exchange.on("/v1/health", Reply(close_without_reply=True), Reply(body=HEALTH))
    with make_client(exchange) as client:
        assert client.health()["status"] == "ok"
    assert len(exchange.requests_to("/v1/health")) == 2


def test_an_exchange_nobody_listens_on_raises_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ExchangeClient(
        f"http://127.0.0.1:{port}/cinemas/{CINEMA}",
        TOKEN,
        cinema_id=CINEMA,
        retries=1,
        backoff_factor=0.01,
        connect_timeout=0.5,
    )
    with client, pytest.raises(ExchangeConnectionError, match="GET /v1/health"):
        client.health()


def test_truncated_json_is_retried_and_the_good_answer_used(exchange):
    good = json.dumps({"events": [event(1)], "next_page_token": None}).encode()
    exchange.on("/v1/ticket-events", Reply(body=good[:-10]), Reply(body=good))
    with make_client(exchange) as client:
        pages = pull_events(client)
    assert [len(p.valid) for p in pages] == [1]
    assert len(exchange.requests_to("/v1/ticket-events")) == 2


def test_a_body_cut_short_of_its_content_length_is_retried(exchange):
    good = json.dumps({"events": [event(1)], "next_page_token": None}).encode()
    exchange.on("/v1/ticket-events", Reply(body=good, cut_after=20), Reply(body=good))
    with make_client(exchange) as client:
        assert [p.served for p in pull_events(client)] == [1]


def test_a_body_that_stalls_past_the_read_timeout_is_retried(exchange):
    good = json.dumps({"events": [event(1)], "next_page_token": None}).encode()
    exchange.on("/v1/ticket-events", Reply(body=good, stall_after=20, stall=0.6), Reply(body=good))
    with make_client(exchange, read_timeout=0.2) as client:
        assert [p.served for p in pull_events(client)] == [1]
    assert len(exchange.requests_to("/v1/ticket-events")) == 2


def test_a_body_that_keeps_stalling_raises_a_connection_error(exchange):
    good = json.dumps({"events": [event(1)], "next_page_token": None}).encode()
    exchange.on("/v1/ticket-events", Reply(body=good, stall_after=20, stall=0.6))
    client = make_client(exchange, read_timeout=0.1, retries=1)
    with client, pytest.raises(ExchangeConnectionError, match=r"body transfer failed .* Read timed out"):
        pull_events(client)


def test_json_that_stays_truncated_raises_malformed_response(exchange):
    exchange.on("/v1/ticket-events", Reply(body=b'{"events": [{"event_id": "ALA-0001:E'))
    with make_client(exchange, retries=2) as client, pytest.raises(MalformedResponse, match="not valid JSON"):
        pull_events(client)
    assert len(exchange.requests_to("/v1/ticket-events")) == 3


@pytest.mark.parametrize(
    "body",
    [[], {"events": None, "next_page_token": None}, {"records": [], "next_page_token": None}, {"events": []}],
    ids=["a list", "a null list", "another key", "no page token"],
)
def test_a_page_without_the_right_envelope_is_malformed(exchange, body):
    exchange.on("/v1/ticket-events", Reply(body=body))
    with make_client(exchange, retries=1) as client, pytest.raises(MalformedResponse):
        pull_events(client)


def test_non_json_is_malformed(exchange):
    exchange.on("/v1/halls", Reply(body=b"<html>Gateway says hi</html>"))
    with make_client(exchange, retries=1) as client, pytest.raises(MalformedResponse, match="not valid JSON"):
        client.halls()


# Client errors are not retried


@pytest.mark.parametrize(("status", "code"), [(401, "unauthorized"), (403, "forbidden")])
def test_auth_failures_raise_an_auth_error_at_once(exchange, status, code):
    exchange.on("/v1/halls", error_reply(status, code, "token refused"))
    with make_client(exchange) as client, pytest.raises(ExchangeAuthError) as caught:
        client.halls()
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, code, "token refused")
    assert len(exchange.requests_to("/v1/halls")) == 1


def test_a_bad_request_raises_an_http_error_that_is_not_an_auth_error(exchange):
    exchange.on("/v1/ticket-events", error_reply(400, "bad_request", "to must be after from"))
    with make_client(exchange) as client, pytest.raises(ExchangeHTTPError) as caught:
        pull_events(client)
    assert not isinstance(caught.value, ExchangeAuthError)
    assert caught.value.status == 400
    assert "bad_request: to must be after from" in str(caught.value)
    assert len(exchange.requests_to("/v1/ticket-events")) == 1


def test_an_error_status_without_an_error_body_still_raises_with_its_status(exchange):
    exchange.on("/v1/halls", Reply(404, b"no such thing"))
    with make_client(exchange) as client, pytest.raises(ExchangeHTTPError) as caught:
        client.halls()
    assert (caught.value.status, caught.value.code, caught.value.message) == (404, None, None)


def test_a_redirect_is_not_followed(exchange):
    exchange.on("/v1/halls", Reply(302, b"", headers={"Location": "http://example.invalid/steal?t=1"}))
    with make_client(exchange) as client, pytest.raises(ExchangeHTTPError) as caught:
        client.halls()
    assert caught.value.status == 302
    assert str(caught.value) == (
        f"{CINEMA} GET /v1/halls: HTTP 302 redirect to http://example.invalid:80, "
        "another origin than the cinema's, not followed"
    )


class _Listener:
    """A TCP listener that counts the connections it is offered and answers none."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener():
    other = _Listener()
    yield other
    other.close()


def test_a_redirect_to_another_host_sends_it_nothing(exchange, listener):
    # A registry row could point a cinema's token at another listener; a redirect must not either.
    elsewhere = f"http://127.0.0.1:{listener.port}/steal"
    exchange.on("/v1/halls", Reply(307, b"", headers={"Location": elsewhere}))
    with make_client(exchange) as client, pytest.raises(ExchangeHTTPError) as caught:
        client.halls()
    assert f"redirect to http://127.0.0.1:{listener.port}, another origin" in str(caught.value)
    time.sleep(0.3)
    assert listener.connections == 0


@pytest.mark.parametrize(
    "other", ["http://127.0.0.1:{port}", "https://127.0.0.1:{port}", "http://localhost:{port}"]
)
def test_the_token_is_refused_to_any_origin_but_the_cinemas_own(exchange, listener, other):
    # Whatever builds a request on the client's session (a page link, a redirect, a bug), the object
    # that writes the header checks scheme, host and port first.
    with make_client(exchange) as client, pytest.raises(ExchangeConfigError) as caught:
        client._transport.session.get(other.format(port=listener.port) + f"/cinemas/{CINEMA}/v1/halls")
    assert "refusing to send its token to" in str(caught.value)
    assert TOKEN not in str(caught.value)
    time.sleep(0.3)
    assert listener.connections == 0
    assert exchange.seen == []


@pytest.mark.parametrize(
    "base_url",
    ["http://cinema.example/cinemas/ALA-0001", "http://10.0.0.5:8080", "http://128.0.0.1", "http://[::2]:80"],
)
def test_plain_http_beyond_loopback_is_refused_before_anything_is_sent(base_url):
    with pytest.raises(ExchangeConfigError, match=r"refusing plain http to .*EKINO_ALLOW_PLAIN_HTTP"):
        ExchangeClient(base_url, TOKEN, cinema_id=CINEMA)
    with ExchangeClient(base_url, TOKEN, cinema_id=CINEMA, allow_plain_http=True) as client:
        assert client.base_url == base_url.rstrip("/")


@pytest.mark.parametrize(
    "base_url", ["https://cinema.example", "http://127.0.0.1:8765", "http://localhost", "http://[::1]:9"]
)
def test_https_and_loopback_addresses_need_no_permission(base_url):
    with ExchangeClient(base_url, TOKEN, cinema_id=CINEMA) as client:
        assert client.base_url == base_url


# Size limits


def test_a_body_over_the_limit_is_refused_by_its_content_length(exchange):
    body = json.dumps({"halls": [], "padding": "x" * 5000}).encode()
    exchange.on("/v1/halls", Reply(body=body))
    with make_client(exchange, max_response_bytes=1000) as client, pytest.raises(ResponseTooLarge) as caught:
        client.halls()
    assert "limit of 1000 bytes" in str(caught.value)
    assert f"{len(body)} bytes" in str(caught.value)


def test_a_chunked_body_over_the_limit_is_refused_while_streaming(exchange):
    body = json.dumps({"events": [event(n) for n in range(1, 400)], "next_page_token": None}).encode()
    exchange.on("/v1/ticket-events", Reply(body=body, chunked=True))
    with (
        make_client(exchange, max_response_bytes=10_000) as client,
        pytest.raises(ResponseTooLarge) as caught,
    ):
        pull_events(client)
    message = str(caught.value)
    assert "limit of 10000 bytes" in message
    seen = int(message.split("(")[1].split(" bytes")[0])
    assert 10_000 < seen < len(body)
    assert len(exchange.requests_to("/v1/ticket-events")) == 1


def test_a_chunked_body_under_the_limit_is_read_whole(exchange):
    body = json.dumps({"events": [event(n) for n in range(1, 50)], "next_page_token": None}).encode()
    exchange.on("/v1/ticket-events", Reply(body=body, chunked=True))
    with make_client(exchange) as client:
        [page] = pull_events(client)
    assert (page.served, page.bytes) == (49, len(body))


# Deadline


def test_a_deadline_already_spent_stops_the_client_before_any_request(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH))
    ticks = iter([0.0, 301.0])
    client = make_client(exchange, deadline_seconds=300, monotonic=lambda: next(ticks))
    with client, pytest.raises(DeadlineExceeded, match="deadline of 300s"):
        client.health()
    assert exchange.seen == []


def test_the_deadline_shortens_the_read_timeout_of_a_slow_call(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH, delay=3.0))
    started = time.monotonic()
    with (
        make_client(exchange, read_timeout=10, deadline_seconds=0.5) as client,
        pytest.raises(DeadlineExceeded),
    ):
        client.health()
    assert time.monotonic() - started < 2


def test_the_deadline_covers_all_calls_of_a_client_together(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH, delay=0.3))
    with make_client(exchange, deadline_seconds=1.0, read_timeout=2) as client:
        client.health()
        client.health()
        with pytest.raises(DeadlineExceeded):
            for _ in range(5):
                client.health()


def test_a_retry_after_longer_than_the_time_left_raises_deadline_exceeded(exchange):
    exchange.on("/v1/health", error_reply(429, "rate_limited", "later", headers={"Retry-After": "10"}))
    started = time.monotonic()
    with (
        make_client(exchange, deadline_seconds=1.0, max_retry_after=30) as client,
        pytest.raises(DeadlineExceeded),
    ):
        client.health()
    assert time.monotonic() - started < 1


# Pages and records


def test_pages_are_fetched_lazily_one_per_request(exchange):
    def page(query):
        number = int(query.get("page_token", "p1")[1:])
        following = f"p{number + 1}" if number < 3 else None
        return events_page([event(10 * number + i) for i in range(2)], following)

    exchange.on("/v1/ticket-events", page)
    with make_client(exchange, page_size=2) as client:
        pages = client.iter_ticket_event_pages(*WINDOW)
        assert exchange.seen == []
        first = next(pages)
        assert len(exchange.seen) == 1
        rest = list(pages)
    assert [p.number for p in [first, *rest]] == [1, 2, 3]
    assert [s.query.get("page_token") for s in exchange.seen] == [None, "p2", "p3"]
    assert {s.query["limit"] for s in exchange.seen} == {"2"}
    assert [e["event_id"] for e in rest[-1].valid] == [f"{CINEMA}:E000030", f"{CINEMA}:E000031"]


def test_the_window_is_sent_as_utc_rfc_3339(exchange):
    exchange.on("/v1/ticket-events", events_page([]))
    almaty = ZoneInfo("Asia/Almaty")
    with make_client(exchange) as client:
        list(
            client.iter_ticket_event_pages(
                datetime(2024, 3, 1, tzinfo=almaty), datetime(2024, 3, 2, tzinfo=almaty)
            )
        )
    assert exchange.seen[0].query["from"] == "2024-02-29T19:00:00Z"
    assert exchange.seen[0].query["to"] == "2024-03-01T19:00:00Z"


def test_sessions_are_asked_for_by_business_day(exchange):
    exchange.on("/v1/sessions", Reply(body={"sessions": [], "next_page_token": None}))
    with make_client(exchange) as client:
        [page] = client.iter_session_pages(DAY)
    assert page.served == 0
    assert exchange.seen[0].query["date"] == "2024-03-01"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2024, 3, 1), datetime(2024, 3, 2)),
        (WINDOW[1], WINDOW[0]),
        (WINDOW[0], WINDOW[0] + timedelta(days=32)),
    ],
    ids=["naive", "empty", "longer than 31 days"],
)
def test_a_window_the_contract_does_not_allow_is_refused_before_any_request(exchange, start, end):
    with make_client(exchange) as client, pytest.raises(ValueError):
        client.iter_ticket_event_pages(start, end)
    assert exchange.seen == []


def test_bad_records_are_rejected_without_stopping_the_pull(exchange):
    bad = [
        event(2, amount_kzt="-10.00"),
        event(3, session_id="SHY-0002:S000001"),
        event(4, seat_row="A"),
        "not an object",
        event(5, occurred_at="2024-04-01T10:00:00+05:00"),
    ]
    exchange.on("/v1/ticket-events", events_page([event(1), *bad], "p2"), events_page([event(6)], None))
    with make_client(exchange) as client:
        pages = pull_events(client)
    first, second = pages
    assert (first.served, len(first.valid), len(first.rejected)) == (6, 1, 5)
    assert [r.reason for r in first.rejected] == [
        "amount_kzt: negative",
        "session_id: names another cinema (SHY-0002)",
        "seat_row: expected integer, got str",
        "record: expected object, got str",
        "occurred_at: in the future",
    ]
    assert first.rejected[3].raw == "not an object"
    assert second.valid[0]["amount_kzt"] == Decimal("2500.00")
    assert all(p.served == len(p.valid) + len(p.rejected) for p in pages)


def test_a_page_with_more_records_than_the_limit_is_kept_and_flagged(exchange, caplog):
    exchange.on("/v1/ticket-events", events_page([event(n) for n in range(1, 6)]))
    with caplog.at_level(logging.WARNING), make_client(exchange, page_size=3) as client:
        [page] = pull_events(client)
    assert page.exceeded_limit
    assert (page.served, len(page.valid)) == (5, 5)
    assert "5 records served for limit 3" in caplog.text


def test_records_with_undefined_properties_are_counted_and_kept(exchange):
    records = [event(1, loyalty="gold"), event(2), event(3, promo=None, referrer="x")]
    exchange.on("/v1/ticket-events", events_page(records))
    with make_client(exchange) as client:
        [page] = pull_events(client)
    assert (page.extra_fields, len(page.valid)) == (2, 3)
    assert "loyalty" not in page.valid[0]


def test_records_out_of_the_contracts_order_are_counted(exchange):
    exchange.on(
        "/v1/ticket-events", events_page([event(1), event(3), event(2)], "p2"), events_page([event(1)])
    )
    with make_client(exchange) as client:
        first, second = pull_events(client)
    assert (first.out_of_order, second.out_of_order) == (1, 1)


def test_a_page_token_handed_out_again_stops_the_pull(exchange):
    exchange.on("/v1/ticket-events", lambda query: events_page([event(1)], "same"))
    with make_client(exchange) as client, pytest.raises(MalformedResponse, match="already followed"):
        pull_events(client)
    assert len(exchange.seen) == 2


def test_sessions_of_unknown_films_are_rejected_when_the_registry_is_given(exchange):
    base = {
        "session_id": f"{CINEMA}:S1",
        "hall_id": f"{CINEMA}:H01",
        "starts_at": "2024-03-01T19:30:00+05:00",
        "format": "2D",
        "audio_language": "kk",
        "subtitle_language": None,
    }
    sessions = [dict(base, film_id="F00001"), dict(base, session_id=f"{CINEMA}:S2", film_id="F99999")]
    exchange.on("/v1/sessions", Reply(body={"sessions": sessions, "next_page_token": None}))
    with make_client(exchange, known_film_ids=frozenset({"F00001"})) as client:
        [page] = client.iter_session_pages(DAY)
    assert [s["session_id"] for s in page.valid] == [f"{CINEMA}:S1"]
    assert [r.reason for r in page.rejected] == ["film_id: unknown film F99999"]


def test_halls_are_validated(exchange):
    halls = [
        {"hall_id": f"{CINEMA}:H01", "name": "Hall 1", "seats": 120},
        {"hall_id": "X", "name": "?", "seats": 0},
    ]
    exchange.on("/v1/halls", Reply(body={"halls": halls}))
    with make_client(exchange) as client:
        valid, rejected = client.halls()
    assert valid == [halls[0]]
    assert [r.reason for r in rejected] == ["hall_id: does not start with ALA-0001:"]


def test_health_is_normalized_and_must_name_this_cinema(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH), Reply(body=dict(HEALTH, cinema_id="AST-0001")))
    with make_client(exchange, retries=0) as client:
        assert client.health() == {
            "cinema_id": CINEMA,
            "status": "ok",
            "server_time": datetime(2024, 3, 5, 12, 0, tzinfo=UTC),
        }
        with pytest.raises(MalformedResponse, match="AST-0001"):
            client.health()


# The token


def test_every_request_carries_the_bearer_token(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH))
    with make_client(exchange) as client:
        client.health()
    assert exchange.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_token_appears_in_no_exception_log_or_repr_when_calls_fail(exchange, caplog):
    exchange.on("/v1/health", error_reply(401, "unauthorized", f"token {TOKEN} is revoked"))
    exchange.on("/v1/halls", error_reply(503, f"down-{TOKEN}", f"maintenance for {TOKEN}"))
    exchange.on("/v1/sessions", Reply(body=f'{{"sessions": ["{TOKEN}'.encode()))
    exchange.on("/v1/ticket-events", Reply(body={"events": [], "pad": TOKEN * 100, "next_page_token": None}))
    failures: list[ExchangeError] = []
    with caplog.at_level(logging.DEBUG):
        client = make_client(exchange, retries=1, max_response_bytes=500)
        calls = [
            client.health,
            client.halls,
            lambda: list(client.iter_session_pages(DAY)),
            lambda: pull_events(client),
        ]
        for call in calls:
            with pytest.raises(ExchangeError) as caught:
                call()
            failures.append(caught.value)
        client.close()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        unreachable = ExchangeClient(f"http://127.0.0.1:{port}", TOKEN, cinema_id=CINEMA, retries=0)
        with pytest.raises(ExchangeConnectionError) as caught:
            unreachable.health()
        failures.append(caught.value)

    assert [type(f).__name__ for f in failures] == [
        "ExchangeAuthError",
        "ExchangeHTTPError",
        "MalformedResponse",
        "ResponseTooLarge",
        "ExchangeConnectionError",
    ]
    for failure in failures:
        texts = [str(failure), repr(failure), *map(str, failure.args), *map(str, vars(failure).values())]
        assert not any(TOKEN in text for text in texts), failure
        assert failure.__cause__ is None or TOKEN not in repr(failure.__cause__)
    assert "[REDACTED]" in str(failures[0])
    logged = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert caplog.records, "expected the failures to be logged"
    assert not any(TOKEN in text for text in logged)
    adapter = client._transport.session.get_adapter(client.base_url)
    for text in (
        repr(client),
        repr(client._transport.session),
        repr(adapter),
        repr(adapter.max_retries),
        repr(client._transport.auth),
    ):
        assert TOKEN not in text
    assert TOKEN not in str(dict(client._transport.session.headers))
    assert repr(client) == f"ExchangeClient(cinema_id='{CINEMA}', base_url='{exchange.base_url}')"


@pytest.mark.parametrize("token", ["", "tok en", "token\n", "tök"])
def test_a_malformed_token_is_refused_without_being_quoted(exchange, token):
    with pytest.raises(ValueError) as caught:
        ExchangeClient(exchange.base_url, token, cinema_id=CINEMA)
    assert not token or token not in str(caught.value)


def test_tls_verification_is_on_by_default(exchange):
    with make_client(exchange) as client:
        assert client._transport.session.verify is True
    with make_client(exchange, verify="/etc/ssl/certs/ca-certificates.crt") as client:
        assert client._transport.session.verify == "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.parametrize(
    "overrides",
    [{"cinema_id": "ala-1"}, {"base_url": "ftp://exchange"}, {"page_size": 1001}, {"page_size": 0}],
)
def test_a_client_refuses_settings_outside_the_contract(exchange, overrides):
    with pytest.raises(ValueError):
        make_client(exchange, **overrides)


# Connections shared between cinemas' clients

OTHER = "AST-0001"
OTHER_TOKEN = "tok-other-cinema-1234"


def _other_client(exchange: ScriptedExchange, connections: SharedConnections) -> ExchangeClient:
    base_url = exchange.base_url.replace(f"/cinemas/{CINEMA}", f"/cinemas/{OTHER}")
    return ExchangeClient(
        base_url, OTHER_TOKEN, cinema_id=OTHER, clock=lambda: NOW, read_timeout=0.5, connections=connections
    )


def _health_of(cinema_id: str, **reply) -> Reply:
    return Reply(body={**HEALTH, "cinema_id": cinema_id}, **reply)


def test_cinemas_on_one_host_take_turns_on_one_kept_alive_connection_each_with_its_own_token(exchange):
    exchange.on("/v1/health", _health_of(CINEMA, headers={"Set-Cookie": "session=of-the-first-cinema"}))
    exchange.on(f"/cinemas/{OTHER}/v1/health", _health_of(OTHER))
    with SharedConnections(per_host=1) as connections:
        with make_client(exchange, connections=connections) as first:
            first.health()
        with _other_client(exchange, connections) as other:
            other.health()
        with make_client(exchange, connections=connections) as again:
            again.health()
    assert [s.path for s in exchange.seen] == ["/v1/health", f"/cinemas/{OTHER}/v1/health", "/v1/health"]
    assert len({s.peer for s in exchange.seen}) == 1  # one TCP connection for the three clients
    tokens = [s.headers["Authorization"] for s in exchange.seen]
    assert tokens == [f"Bearer {TOKEN}", f"Bearer {OTHER_TOKEN}", f"Bearer {TOKEN}"]
    assert all("Cookie" not in s.headers for s in exchange.seen)  # no cookie crosses between clients


def test_clients_without_shared_connections_each_open_their_own(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH))
    for _ in range(2):
        with make_client(exchange) as client:
            client.health()
    assert len({s.peer for s in exchange.seen}) == 2


def test_a_connection_whose_answer_was_not_read_whole_is_never_handed_to_the_next_client(exchange):
    # The first cinema's answer is refused by its declared length, the second's cut short: neither
    # connection may carry the next request, whose answer would start with the unread bytes.
    exchange.on("/v1/halls", Reply(body={"halls": [], "padding": "x" * 4096}))
    exchange.on(f"/cinemas/{OTHER}/v1/health", _health_of(OTHER, cut_after=20), _health_of(OTHER))
    with SharedConnections(per_host=1) as connections:
        first = make_client(exchange, connections=connections, max_response_bytes=1024)
        with first, pytest.raises(ResponseTooLarge):
            first.halls()
        with _other_client(exchange, connections) as other:
            assert other.health()["cinema_id"] == OTHER  # retried after the cut, on a new connection
    peers = [s.peer for s in exchange.seen]
    assert len(peers) == 3 and len(set(peers)) == 3


def test_closing_the_shared_connections_ends_them_and_a_later_client_connects_anew(exchange):
    exchange.on("/v1/health", Reply(body=HEALTH))
    connections = SharedConnections(per_host=1)
    with make_client(exchange, connections=connections) as client:
        client.health()
    connections.close()
    with make_client(exchange, connections=connections) as client:
        client.health()
    connections.close()
    assert len({s.peer for s in exchange.seen}) == 2


def test_a_cinemas_requests_go_through_the_proxy_the_environment_names_for_its_host(exchange, monkeypatch):
    # The proxies are looked up once per site: a cinema whose base URL has a path still gets them.
    proxy = f"http://127.0.0.1:{exchange.base_url.split(':')[2].split('/')[0]}"
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "")
    exchange.on("/v1/health", Reply(body=HEALTH))
    base_url = f"http://proxied-cinema.example/cinemas/{CINEMA}"
    with make_client(exchange, base_url=base_url, allow_plain_http=True) as client:
        client.health()
    assert [s.target for s in exchange.seen] == [f"{base_url}/v1/health"]


def test_a_host_the_environment_exempts_from_its_proxy_is_reached_directly(exchange, listener, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{listener.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    exchange.on("/v1/health", Reply(body=HEALTH))
    with make_client(exchange) as client:
        client.health()
    assert [s.target for s in exchange.seen] == [f"/cinemas/{CINEMA}/v1/health"]
    assert listener.connections == 0
