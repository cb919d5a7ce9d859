"""The simulated cinema network over HTTP: one process serves every connected cinema's exchange API.

Each cinema lives under `/cinemas/{cinema_id}` and answers exactly as `openapi.yaml` says, with its
own bearer token. Two admin endpoints without authentication help tests reconcile:
`/_sim/truth?cinema_id=&date=` (what the cinema serves for a business day) and `/_sim/requests`
(request counts per cinema and status code). The contract itself is served at `/openapi.yaml`.
"""

from __future__ import annotations

import logging
import math
import re
import signal
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ekino_pipeline.calendar import business_date_of, film_week_start, parse_date
from ekino_pipeline.errors import ConfigError
from ekino_pipeline.exchange.contract import OPENAPI_PATH
from ekino_pipeline.exchange.registry import CINEMA_ID_PATTERN
from ekino_sim import faults as F
from ekino_sim import reference
from ekino_sim.http_server import HTTPServer
from ekino_sim.network import I_JSON, Network, SimulatedClock, check_day
from ekino_sim.replies import (
    BadRequest,
    Paging,
    Reply,
    error_reply,
    gateway_page,
    json_reply,
    micros,
    parse_instant,
)
from ekino_sim.tokens import network_registry, token_for, write_secrets

__all__ = ["Reply", "SimulatorServer", "network_registry", "run_simulator", "token_for", "write_secrets"]

log = logging.getLogger(__name__)

DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
MAX_WINDOW = timedelta(days=31)
ROUTE = re.compile(r"^/cinemas/([^/]+)(/.*)?$")
ENDPOINTS = ("/v1/health", "/v1/halls", "/v1/sessions", "/v1/ticket-events", "/v1/box-office-returns")
# The paged endpoints whose answers `cache_pages` keeps.
CACHED_ENDPOINTS = ("/v1/sessions", "/v1/ticket-events")


class SimulatorServer:
    """A simulated national cinema network served over HTTP from a background thread."""

    def __init__(
        self,
        seed: int = 7,
        n_cinemas: int = reference.PILOT_CINEMAS,
        faults: str | Path | list[dict] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        secrets_file: Path | str | None = None,
        registry_dir: Path | str | None = None,
        now: datetime | None = None,
        clock: SimulatedClock | None = None,
        cache_pages: bool = False,
    ):
        self.seed = seed
        self.registry = network_registry(n_cinemas, registry_dir)
        connected = [c.cinema_id for c in self.registry.connected_cinemas]
        self.fault_plan = F.FaultPlan(F.load_faults(faults, cinema_ids=set(connected)))
        self.network = Network(self.registry, seed, self.fault_plan, now, clock=clock)
        self.tokens = {cid: token_for(seed, cid) for cid in connected}
        self._cinema_of_token = {token: cid for cid, token in self.tokens.items()}
        self._connected = set(connected)
        self.host, self.port = host, port
        self.secrets_file = Path(secrets_file) if secrets_file else None
        self._paging = Paging(seed)
        self._contract = OPENAPI_PATH.read_bytes()
        self._counts: dict[str, Counter[str]] = {}
        self._counts_lock = threading.Lock()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        # With `cache_pages`, every page of sessions and ticket events answered 200 is kept and sent
        # again as it was (a benchmark's server then only copies bytes). Faults fire per request, so
        # only a fault-free network may cache.
        if cache_pages and self.fault_plan.faults:
            raise ConfigError("cache_pages serves a fault-free network only: faults fire per request")
        self._pages: dict[tuple, Reply] | None = {} if cache_pages else None

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the simulator is not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        # Bind before writing the tokens: a start that cannot listen (the port is taken, say by the
        # simulator already running) must leave the secrets file that one serves untouched.
        try:
            httpd = HTTPServer((self.host, self.port), self)
        except (OSError, OverflowError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {reason}") from exc
        if self.secrets_file is not None:
            try:
                write_secrets(self.secrets_file, self.tokens)
            except OSError as exc:
                httpd.server_close()
                where = self.secrets_file
                raise ConfigError(f"cannot write the secrets file {where}: {exc.strerror}") from exc
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="ekino-simulator",
            daemon=True,
        )
        self._thread.start()
        log.info("simulator serving %d connected cinemas at %s", len(self.tokens), self.url)
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reconciliation ---------------------------------------------------------------------------

    def truth(self, cinema_id: str, day: date) -> dict:
        return self.network.truth(cinema_id, day)

    def request_counts(self) -> dict[str, dict[str, int]]:
        """Requests answered per cinema and status code ("closed" when the connection was dropped)."""
        with self._counts_lock:
            return {cid: dict(sorted(counts.items())) for cid, counts in sorted(self._counts.items())}

    def reset_counters(self) -> None:
        """Forget request counts and re-arm every response-level fault."""
        with self._counts_lock:
            self._counts.clear()
        self.fault_plan.reset()

    def _count(self, cinema_key: str | None, outcome: str) -> None:
        if cinema_key is None:
            return
        with self._counts_lock:
            self._counts.setdefault(cinema_key, Counter())[outcome] += 1

    # -- requests ---------------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        cinema_key = None
        match = ROUTE.match(urlsplit(handler.path).path)
        if match:
            segment = match.group(1)
            cinema_key = segment if CINEMA_ID_PATTERN.fullmatch(segment) else "_unknown"
        try:
            reply = self._reply(handler)
        except BadRequest as exc:
            reply = error_reply(400, "bad_request", str(exc))
        except Exception:
            log.exception("simulator failed on %s", handler.path)
            reply = error_reply(500, "internal_error", "the simulator failed; see its log")
        if reply.drop_connection:
            self._count(cinema_key, "closed")
            handler.close_connection = True
            return
        self._count(cinema_key, str(reply.status))
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(reply.body)

    def _reply(self, handler: BaseHTTPRequestHandler) -> Reply:
        parts = urlsplit(handler.path)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        if handler.command not in ("GET", "HEAD"):
            handler.close_connection = True  # any request body is left unread
            return error_reply(405, "method_not_allowed", "only GET is served", Allow="GET, HEAD")
        if path == "/openapi.yaml":
            return Reply(200, self._contract, "text/yaml; charset=utf-8")
        if path == "/_sim/truth":
            return self._truth_reply(query)
        if path == "/_sim/requests":
            return json_reply(200, self.request_counts())
        match = ROUTE.match(path)
        if not match:
            return error_reply(404, "not_found", f"no such path {path}")
        cinema_id, endpoint = match.group(1), match.group(2) or ""
        if cinema_id not in self._connected:
            return error_reply(404, "not_found", f"no connected cinema {cinema_id!r}")
        if endpoint not in ENDPOINTS:
            return error_reply(404, "not_found", f"no such path {path}")
        auth = self._authenticate(handler.headers.get("Authorization"), cinema_id)
        if auth is not None:
            return auth
        if endpoint == "/v1/health":
            return self._respond(cinema_id, None, self._health)
        if endpoint == "/v1/halls":
            return self._respond(cinema_id, None, self._halls)
        if self._pages is not None and endpoint in CACHED_ENDPOINTS:
            return self._cached(endpoint, cinema_id, query)
        if endpoint == "/v1/sessions":
            return self._sessions(cinema_id, query)
        if endpoint == "/v1/box-office-returns":
            return self._box_office_returns(cinema_id, query)
        return self._ticket_events(cinema_id, query)

    def _cached(self, endpoint: str, cinema_id: str, query: dict[str, list[str]]) -> Reply:
        key = (endpoint, cinema_id, tuple(sorted((name, tuple(values)) for name, values in query.items())))
        reply = self._pages.get(key)
        if reply is None:
            answer = self._sessions if endpoint == "/v1/sessions" else self._ticket_events
            reply = answer(cinema_id, query)
            if reply.status == 200:
                self._pages[key] = reply
        return reply

    def _authenticate(self, header: str | None, cinema_id: str) -> Reply | None:
        challenge = {"WWW-Authenticate": 'Bearer realm="ekino"'}
        if not header:
            return error_reply(401, "unauthorized", "missing bearer token", **challenge)
        scheme, _, token = header.partition(" ")
        owner = self._cinema_of_token.get(token.strip()) if scheme.lower() == "bearer" else None
        if owner is None:
            return error_reply(401, "unauthorized", "invalid bearer token", **challenge)
        if owner != cinema_id:
            return error_reply(403, "forbidden", f"this token belongs to another cinema, not {cinema_id}")
        return None

    def _respond(self, cinema_id: str, days: tuple[date, date] | None, build) -> Reply:
        """Answer a valid request, unless a response-level fault answers it instead."""
        if days is None:  # health and halls: the fault dates apply to the simulator's today
            today = business_date_of(self.network.now)
            days = (today, today)
        taken = self.fault_plan.take_response_fault(cinema_id, *days)
        if taken is None:
            return build(cinema_id)
        fault, fired = taken
        scenario = fault.scenario
        if scenario == F.API_DOWN:
            return Reply(0, drop_connection=True)
        if scenario == F.OUTAGE:
            return error_reply(503, "maintenance", f"{cinema_id}'s ticketing system is down for maintenance")
        if scenario == F.SERVER_ERRORS:
            status = (500, 502, 504)[fired % 3]
            if status == 500:
                return error_reply(500, "internal_error", "unexpected error in the ticketing system")
            return gateway_page(status, "Bad Gateway" if status == 502 else "Gateway Timeout")
        if scenario == F.RATE_LIMIT:
            retry = str(fault.params["retry_after"])
            return error_reply(
                429, "rate_limited", f"too many requests; retry after {retry} s", **{"Retry-After": retry}
            )
        if scenario == F.SLOW:
            time.sleep(fault.params["delay_seconds"])
            return build(cinema_id)
        reply = build(cinema_id)
        if reply.status != 200:
            return reply
        if scenario == F.TRUNCATED_JSON:
            reply.body = reply.body[: len(reply.body) // 2]
        elif scenario == F.OVERSIZED_PAGE:
            padding = b"x" * fault.params["size_bytes"]
            reply.body = reply.body[:-1] + b',"padding":"' + padding + b'"}'
        return reply

    def _health(self, cinema_id: str) -> Reply:
        now = math.floor(self.network.now.timestamp())
        return json_reply(
            200,
            {
                "cinema_id": cinema_id,
                "status": "ok",
                "server_time": self.network.clock(cinema_id).format(now),
            },
        )

    def _halls(self, cinema_id: str) -> Reply:
        halls = [
            {
                "hall_id": h.hall_id,
                "name": h.name,
                "seats": h.seats,
                "seat_rows": h.seat_rows,
                "format": h.format,
            }
            for h in self.network.cinema(cinema_id).halls
        ]
        return json_reply(200, {"halls": halls})

    def _limit(self, query: dict[str, list[str]]) -> int:
        text = self._param(query, "limit")
        if text is None:
            return DEFAULT_LIMIT
        if not re.fullmatch(r"[0-9]{1,7}", text):
            raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, got {text!r}")
        limit = int(text)
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be from 1 to {MAX_LIMIT}, got {limit}")
        return limit

    @staticmethod
    def _param(query: dict[str, list[str]], name: str, required: bool = False) -> str | None:
        values = query.get(name)
        if not values:
            if required:
                raise BadRequest(f"{name} is required")
            return None
        if len(values) > 1:
            raise BadRequest(f"{name} is given more than once")
        return values[0]

    def _page(self, key: str, texts: list[str], query: dict[str, list[str]], query_key: str) -> Reply:
        limit = self._limit(query)
        token = self._param(query, "page_token")
        offset = self._paging.decode(token, query_key) if token else 0
        if offset > len(texts):
            raise BadRequest("page_token points past the last record")
        end = offset + limit
        following = f'"{self._paging.encode(end, query_key)}"' if end < len(texts) else "null"
        body = f'{{"{key}":[' + ",".join(texts[offset:end]) + f'],"next_page_token":{following}}}'
        return Reply(200, body.encode())

    def _sessions(self, cinema_id: str, query: dict[str, list[str]]) -> Reply:
        text = self._param(query, "date", required=True)
        try:
            day = check_day(parse_date(text))
        except ValueError as exc:
            raise BadRequest(f"date must be a day YYYY-MM-DD: {exc}") from None
        self._limit(query)  # a bad limit is a 400 even when a fault would answer

        def build(cid: str) -> Reply:
            texts = [t for t, _, _ in self.network.session_items(cid, day)]
            return self._page("sessions", texts, query, f"{cid}|sessions|{day}")

        self._page_token_check(query, f"{cinema_id}|sessions|{day}")
        return self._respond(cinema_id, (day, day), build)

    def _box_office_returns(self, cinema_id: str, query: dict[str, list[str]]) -> Reply:
        text = self._param(query, "week", required=True)
        try:
            week = check_day(parse_date(text))
        except ValueError as exc:
            raise BadRequest(f"week must be a day YYYY-MM-DD: {exc}") from None
        if week != film_week_start(week):
            raise BadRequest(f"week must be the Thursday that opens a film week, got {week} ({week:%A})")
        self._limit(query)
        query_key = f"{cinema_id}|returns|{week}"
        self._page_token_check(query, query_key)

        def build(cid: str) -> Reply:
            return self._page("returns", self.network.return_items(cid, week), query, query_key)

        return self._respond(cinema_id, (week, week + timedelta(days=6)), build)

    def _ticket_events(self, cinema_id: str, query: dict[str, list[str]]) -> Reply:
        start = parse_instant("from", self._param(query, "from", required=True))
        end = parse_instant("to", self._param(query, "to", required=True))
        if end <= start:
            raise BadRequest("to must be after from")
        if end - start > MAX_WINDOW:
            raise BadRequest("the window from..to may span at most 31 days")
        try:
            first, last = business_date_of(start), business_date_of(end - timedelta(microseconds=1))
            check_day(first)
            check_day(last)
        except (ValueError, OverflowError) as exc:
            raise BadRequest(str(exc)) from None
        # [start, end) in whole seconds: events happen on whole seconds
        lo, hi = -(-micros(start) // 10**6), -(-micros(end) // 10**6)
        query_key = f"{cinema_id}|ticket-events|{lo}|{hi}"
        self._limit(query)
        self._page_token_check(query, query_key)

        def build(cid: str) -> Reply:
            texts = [it[I_JSON] for it in self.network.event_items(cid, lo, hi)]
            return self._page("events", texts, query, query_key)

        return self._respond(cinema_id, (first, last), build)

    def _page_token_check(self, query: dict[str, list[str]], query_key: str) -> None:
        token = self._param(query, "page_token")
        if token:
            self._paging.decode(token, query_key)

    def _truth_reply(self, query: dict[str, list[str]]) -> Reply:
        cinema_id = self._param(query, "cinema_id", required=True)
        text = self._param(query, "date", required=True)
        try:
            day = check_day(parse_date(text))
        except ValueError as exc:
            raise BadRequest(f"date must be a day YYYY-MM-DD: {exc}") from None
        try:
            self.network.cinema(cinema_id)
        except KeyError:
            return error_reply(404, "not_found", f"no cinema {cinema_id!r} in the registry")
        return json_reply(200, self.network.truth(cinema_id, day))


def run_simulator(
    host: str,
    port: int,
    seed: int,
    secrets_file: Path | str | None,
    n_cinemas: int = reference.PILOT_CINEMAS,
    faults_file: Path | str | None = None,
    registry_dir: Path | str | None = None,
    clock: SimulatedClock | None = None,
) -> None:
    """Serve the simulated network until SIGINT or SIGTERM."""
    sim = SimulatorServer(
        clock=clock,
        seed=seed,
        n_cinemas=n_cinemas,
        faults=faults_file,
        host=host,
        port=port,
        secrets_file=secrets_file,
        registry_dir=registry_dir,
    )
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("simulator stopping on signal %d", signum)
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with sim:
            where = f"; tokens in {sim.secrets_file}" if sim.secrets_file else ""
            print(
                f"e-Kino simulator: {len(sim.registry.cinemas)} cinemas ({len(sim.tokens)} connected), "
                f"seed {seed}, at {sim.url}{where}",
                flush=True,
            )
            while not stopping.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
