"""HTTP client for one cinema's ticketing exchange (openapi.yaml), built on `requests`.

Transport failures (connection errors, read timeouts, 429 honouring Retry-After, 500/502/503/504) are
retried by urllib3's `Retry` on the session's adapter. A body that arrives broken (undecodable or
truncated JSON, a missing envelope key, a transfer cut short) is retried here, because urllib3 has
already handed the response over by then. Every record goes through `contract.py`; a bad record is
rejected and counted, never allowed to stop the pull.

The bearer token lives only in the auth object that writes the header; it is kept out of logs,
exception messages, reprs, and exception chains (requests' exceptions carry the prepared request and
with it the header, so they are not chained). That object writes it only on a request to the cinema's
own origin (scheme, host and port of its base URL), which must be https unless it is a loopback host
or plain http is allowed on purpose (`EKINO_ALLOW_PLAIN_HTTP`); redirects are never followed.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from ekino_pipeline import calendar
from ekino_pipeline.exchange import contract
from ekino_pipeline.exchange.contract import Rejected
from ekino_pipeline.exchange.registry import is_loopback_host, validate_cinema_id

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000
MAX_WINDOW = timedelta(days=31)
RETRY_STATUSES = (429, 500, 502, 503, 504)
BEARER_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
# Bodies are read in chunks of up to a megabyte (a page of 1,000 events is about 280 kB): fewer
# iterations through urllib3, and never more than the limit plus one byte held.
_CHUNK_BYTES = 2**20
# An error body is only read for its code and message; anything bigger is not worth holding.
_MAX_ERROR_BODY_BYTES = 64 * 1024
_MAX_SERVER_TEXT = 200
_REDACTED = "[REDACTED]"
# What a page of ticket events looks like to the columnar reader; it refuses any other field or type.
_EVENTS_ENVELOPE = pa.schema(
    [("events", pa.list_(contract.TICKET_EVENT_JSON_TYPE)), ("next_page_token", pa.string())]
)
# The reader cannot tell a missing next_page_token from a null one; the compact tail of the body can.
# The last member before the root object's closing brace is a member of the root.
_PAGE_TAIL = re.compile(rb'\],"next_page_token":(null|"([^"\\\x00-\x1f]+)")\}\Z')


class ExchangeError(Exception):
    """Base of every error the client raises; messages never contain the token."""


class ExchangeConfigError(ExchangeError, ValueError):
    """The cinema's settings forbid the request: no usable token, an address a token must not travel
    to, a request leaving the cinema's origin. Nothing was sent, and retrying cannot help."""


class ExchangeHTTPError(ExchangeError):
    """The exchange answered with an error status (after retries, for the retryable ones)."""

    def __init__(
        self, message: str, *, status: int, code: str | None = None, server_message: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = server_message


class ExchangeAuthError(ExchangeHTTPError):
    """401 (missing or invalid token) or 403 (a valid token of another cinema)."""


class ExchangeConnectionError(ExchangeError):
    """The exchange could not be reached or stopped answering, after retries."""


class ResponseTooLarge(ExchangeError):
    """A response body over `max_response_bytes`; refused without reading it all."""


class MalformedResponse(ExchangeError):
    """Non-JSON, truncated JSON or a wrong envelope, still so after retries."""


class DeadlineExceeded(ExchangeError):
    """The client's overall deadline (all calls together) ran out."""


@dataclass
class Page:
    """One page as served: `served == len(valid) + len(rejected)` always holds.

    `exceeded_limit` marks a page holding more records than the `limit` asked for; its records are
    still validated and kept (the contract caps pages, it does not make extra records invalid).
    `out_of_order` counts valid records that sort before the previous valid record of the same pull
    (the contract orders events by occurred_at then event_id, sessions by starts_at then session_id).

    A columnar pull (`columnar=True`) of a page whose every record is valid carries them as `table`
    (an Arrow table of the normalized records) and leaves `valid` empty; `n_valid` counts either.
    """

    number: int
    served: int
    valid: list[dict] = field(default_factory=list)
    table: pa.Table | None = None
    rejected: list[Rejected] = field(default_factory=list)
    extra_fields: int = 0
    bytes: int = 0
    exceeded_limit: bool = False
    out_of_order: int = 0

    @property
    def n_valid(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.valid)


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, the port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ExchangeConfigError(f"{url[:200]!r} has no valid port") from None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def _show(where: tuple[str, str, int]) -> str:
    scheme, host, port = where
    return f"{scheme}://{host if ':' not in host else f'[{host}]'}:{port}"


class _BearerAuth(requests.auth.AuthBase):
    """Writes the cinema's token on requests to the cinema's own origin, and refuses any other."""

    def __init__(self, token: str, cinema_id: str, own_origin: tuple[str, str, int]):
        self._token = token
        self._cinema_id = cinema_id
        self._origin = own_origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        target = origin(request.url or "")
        if target != self._origin:
            raise ExchangeConfigError(
                f"{self._cinema_id}: refusing to send its token to {_show(target)}, "
                f"which is not its exchange {_show(self._origin)}"
            )
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={_REDACTED})"


class _ExchangeRetry(Retry):
    """urllib3's Retry that logs each retry and never sleeps past the client's deadline."""

    remaining: Callable[[], float] = staticmethod(lambda: float("inf"))
    label: str = ""

    def new(self, **kw: Any) -> _ExchangeRetry:
        retry = super().new(**kw)
        retry.remaining = self.remaining
        retry.label = self.label
        return retry

    def get_retry_after(self, response: Any) -> float | None:
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            return None  # an unreadable Retry-After falls back to exponential backoff

    def _last_failure(self) -> tuple[str, str]:
        """(path without query, cause) of the attempt that failed last."""
        if not self.history:
            return "?", "an error"
        last = self.history[-1]
        path = (last.url or "?").split("?", 1)[0]
        if last.status:
            return path, f"HTTP {last.status}"
        if last.error is not None:
            return path, type(last.error).__name__
        return path, "an error"

    def sleep(self, response: Any = None) -> None:
        delay = None
        if self.respect_retry_after_header and response is not None:
            delay = self.get_retry_after(response)
        if not delay:
            delay = self.get_backoff_time()
        where, cause = self._last_failure()
        remaining = self.remaining()
        if delay >= remaining:
            raise DeadlineExceeded(
                f"{self.label} GET {where}: deadline reached while retrying after {cause} "
                f"(next retry in {delay:.2f}s, {max(remaining, 0):.2f}s left)"
            )
        logger.warning(
            "%s GET %s: retry %d after %s in %.2fs", self.label, where, len(self.history), cause, delay
        )
        super().sleep(response)


class _BrokenBody(Exception):
    """Internal: a 200 response whose body cannot be used; `transport` when the transfer failed."""

    def __init__(self, reason: str, *, transport: bool = False):
        super().__init__(reason)
        self.transport = transport


class ExchangeClient:
    """One cinema's exchange: one pooled session, one deadline shared by all its calls.

    `clock` gives the current time (aware) for the contract's "not in the future" rule; `monotonic`
    measures the deadline, which starts when the client is created.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        cinema_id: str,
        page_size: int = MAX_PAGE_SIZE,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retries: int = 4,
        backoff_factor: float = 0.5,
        max_retry_after: float = 30.0,
        deadline_seconds: float = 300.0,
        max_response_bytes: int = 16 * 2**20,
        verify: bool | str = True,
        allow_plain_http: bool = False,
        known_film_ids: frozenset[str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.cinema_id = validate_cinema_id(cinema_id)
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ExchangeConfigError(
                f"{cinema_id}: base_url must be an absolute http(s) URL, got {str(base_url)[:200]!r}"
            )
        own_origin = origin(base_url)
        if own_origin[0] != "https" and not (allow_plain_http or is_loopback_host(own_origin[1])):
            raise ExchangeConfigError(
                f"{cinema_id}: refusing plain http to {_show(own_origin)}: its token would cross the "
                "network in clear text (use https, or set EKINO_ALLOW_PLAIN_HTTP=1 on purpose)"
            )
        # Checked here because requests would otherwise quote a malformed header value, token and all.
        if not isinstance(token, str) or not BEARER_TOKEN_PATTERN.fullmatch(token):
            raise ExchangeConfigError(
                f"{cinema_id}: token must be a non-empty RFC 6750 bearer token "
                "(no spaces or control characters)"
            )
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        if retries < 0 or max_response_bytes < 1 or deadline_seconds <= 0:
            raise ValueError("retries must be >= 0, max_response_bytes >= 1 and deadline_seconds > 0")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.max_response_bytes = max_response_bytes
        self.known_film_ids = known_film_ids
        self._clock = clock
        self._monotonic = monotonic
        self._deadline_at = monotonic() + deadline_seconds
        self._deadline_seconds = deadline_seconds
        self._auth = _BearerAuth(token, self.cinema_id, own_origin)

        retry = _ExchangeRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            redirect=0,
            raise_on_redirect=False,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff_factor,
            respect_retry_after_header=True,
            retry_after_max=max_retry_after,
            raise_on_status=False,
        )
        retry.remaining = self._remaining
        retry.label = self.cinema_id
        self._session = requests.Session()
        self._session.auth = self._auth
        # What requests would read from the environment on every request (proxies, CA bundle) is read
        # once here: every request of this client goes to the same host.
        self._session.trust_env = False
        self._session.proxies.update(_environ_proxies(self.base_url))
        self._session.verify = verify
        self._verify = verify
        if verify is True:
            self._verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._session.headers["Accept"] = "application/json"
        adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=2)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"ExchangeClient(cinema_id={self.cinema_id!r}, base_url={self.base_url!r})"

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def health(self) -> dict:
        """{cinema_id, status, server_time (aware UTC)} of the cinema's ticketing system."""

        def envelope(payload: object) -> None:
            if not isinstance(payload, dict):
                raise _BrokenBody(f"expected a JSON object, got {_type_name(payload)}")
            if payload.get("cinema_id") != self.cinema_id:
                raise _BrokenBody(f"health answers for cinema {str(payload.get('cinema_id'))[:20]!r}")
            if payload.get("status") not in ("ok", "degraded"):
                raise _BrokenBody("health status is neither ok nor degraded")
            try:
                contract.parse_timestamp(payload.get("server_time"))
            except (TypeError, ValueError):
                raise _BrokenBody("health server_time is not an RFC 3339 timestamp") from None

        payload, _ = self._get_json("/v1/health", {}, envelope)
        return {
            "cinema_id": payload["cinema_id"],
            "status": payload["status"],
            "server_time": contract.parse_timestamp(payload["server_time"])[0],
        }

    def halls(self) -> tuple[list[dict], list[Rejected]]:
        """All halls (the endpoint is not paginated), validated."""
        payload, size = self._get_json("/v1/halls", {}, _list_envelope("halls", paged=False))
        valid: list[dict] = []
        rejected: list[Rejected] = []
        extra = 0
        for raw in payload["halls"]:
            extra += bool(contract.extra_fields(raw, contract.HALL_FIELDS))
            result = contract.validate_hall(raw, cinema_id=self.cinema_id)
            (rejected if isinstance(result, Rejected) else valid).append(result)
        logger.info(
            "%s halls: served %d, valid %d, rejected %d, with extra fields %d, %d bytes",
            self.cinema_id,
            len(valid) + len(rejected),
            len(valid),
            len(rejected),
            extra,
            size,
        )
        return valid, rejected

    def iter_session_pages(self, business_day: date) -> Iterator[Page]:
        """Lazily, the pages of one business day's sessions; page N+1 is fetched when asked for."""
        if not isinstance(business_day, date) or isinstance(business_day, datetime):
            raise TypeError(f"business_day must be a date, got {business_day!r}")

        def validate(raw: object) -> dict | Rejected:
            return contract.validate_session(
                raw,
                cinema_id=self.cinema_id,
                business_day=business_day,
                known_film_ids=self.known_film_ids,
            )

        return self._iter_pages(
            "/v1/sessions",
            {"date": business_day.isoformat()},
            "sessions",
            validate,
            contract.SESSION_FIELDS,
            lambda s: (s["starts_at"], s["session_id"]),
        )

    def iter_ticket_event_pages(
        self, start: datetime, end: datetime, *, columnar: bool = False
    ) -> Iterator[Page]:
        """Lazily, the pages of sales and refunds whose occurred_at lies in [start, end).

        With `columnar`, a page is decoded and validated as a whole in Arrow when it can be (see
        `contract.ticket_events_table`) and carries its records as `Page.table`; a page with any record
        that is not plainly valid is decoded and validated record by record as without it.
        """
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime, got {value!r}")
        if not start < end:
            raise ValueError(f"the window must not be empty: start {start} is not before end {end}")
        if end - start > MAX_WINDOW:
            raise ValueError(f"the window may span at most {MAX_WINDOW.days} days, got {end - start}")
        window = (start.astimezone(UTC), end.astimezone(UTC))

        def validate(raw: object) -> dict | Rejected:
            return contract.validate_ticket_event(
                raw, cinema_id=self.cinema_id, window=window, now=self._clock()
            )

        def validate_table(events: pa.StructArray) -> pa.Table | None:
            return contract.ticket_events_table(
                events, cinema_id=self.cinema_id, window=window, now=self._clock()
            )

        params = {"from": _rfc3339(window[0]), "to": _rfc3339(window[1])}
        return self._iter_pages(
            "/v1/ticket-events",
            params,
            "events",
            validate,
            contract.TICKET_EVENT_FIELDS,
            lambda e: (e["occurred_at"], e["event_id"]),
            columnar=(lambda body: _columnar_events(body, validate_table)) if columnar else None,
        )

    def iter_box_office_return_pages(self, film_week_start: date) -> Iterator[Page]:
        """Lazily, the pages of the cinema's declared returns for a film week (keyed by its Thursday);
        none until the cinema has declared the week."""
        if not isinstance(film_week_start, date) or isinstance(film_week_start, datetime):
            raise TypeError(f"film_week_start must be a date, got {film_week_start!r}")
        if film_week_start != calendar.film_week_start(film_week_start):
            raise ValueError(
                f"film_week_start must be a Thursday, got {film_week_start} ({film_week_start:%A})"
            )
        closed_at = calendar.business_day_bounds(film_week_start + timedelta(days=7))[0]

        def validate(raw: object) -> dict | Rejected:
            return contract.validate_box_office_return(
                raw,
                cinema_id=self.cinema_id,
                film_week_start=film_week_start,
                closed_at=closed_at,
                now=self._clock(),
            )

        return self._iter_pages(
            "/v1/box-office-returns",
            {"week": film_week_start.isoformat()},
            "returns",
            validate,
            contract.BOX_OFFICE_RETURN_FIELDS,
            lambda r: (r["film_id"], r["return_id"]),
        )

    def _iter_pages(
        self,
        path: str,
        params: dict[str, str],
        key: str,
        validate: Callable[[object], dict | Rejected],
        defined_fields: tuple[str, ...],
        sort_key: Callable[[dict], tuple],
        columnar: Callable[[bytes], _Columnar | None] | None = None,
    ) -> Iterator[Page]:
        envelope = _list_envelope(key, paged=True)
        page_token: str | None = None
        # Page tokens, not records: a server that hands out a token again would loop forever.
        seen_tokens: set[str] = set()
        previous_key: tuple | None = None
        number = 0
        while True:
            number += 1
            query = {**params, "limit": str(self.page_size)}
            if page_token is not None:
                query["page_token"] = page_token
            payload, size = self._get_json(path, query, envelope, columnar)
            if isinstance(payload, _Columnar):
                table, page_token = payload.table, payload.next_page_token
                page = Page(number=number, served=table.num_rows, bytes=size, table=table)
                records = []
                if table.num_rows:
                    page.out_of_order = _out_of_order(table, previous_key)
                    previous_key = sort_key(table.slice(table.num_rows - 1).to_pylist()[0])
            else:
                records = payload[key]
                page_token = payload["next_page_token"]
                page = Page(number=number, served=len(records), bytes=size)
            del payload
            page.exceeded_limit = page.served > self.page_size
            for raw in records:
                if contract.extra_fields(raw, defined_fields):
                    page.extra_fields += 1
                result = validate(raw)
                if isinstance(result, Rejected):
                    page.rejected.append(result)
                    logger.debug("%s %s page %d: rejected %s", self.cinema_id, path, number, result.reason)
                    continue
                page.valid.append(result)
                record_key = sort_key(result)
                if previous_key is not None and record_key < previous_key:
                    page.out_of_order += 1
                previous_key = record_key
            del records
            if page.exceeded_limit:
                logger.warning(
                    "%s %s page %d: %d records served for limit %d",
                    self.cinema_id,
                    path,
                    number,
                    page.served,
                    self.page_size,
                )
            logger.info(
                "%s %s page %d: served %d, valid %d, rejected %d, with extra fields %d, "
                "out of order %d, %d bytes%s",
                self.cinema_id,
                path,
                number,
                page.served,
                page.n_valid,
                len(page.rejected),
                page.extra_fields,
                page.out_of_order,
                page.bytes,
                "" if page_token else " (last page)",
            )
            if page_token is not None:
                if page_token in seen_tokens:
                    raise MalformedResponse(
                        f"{self.cinema_id} GET {path}: page {number} hands out a page token already "
                        "followed; stopping to avoid a loop"
                    )
                seen_tokens.add(page_token)
            yield page
            if page_token is None:
                return

    def _remaining(self) -> float:
        return self._deadline_at - self._monotonic()

    def _check_deadline(self, path: str) -> float:
        remaining = self._remaining()
        if remaining <= 0:
            raise DeadlineExceeded(
                f"{self.cinema_id} GET {path}: the client's deadline of {self._deadline_seconds:g}s ran out"
            )
        return remaining

    def _get_json(
        self,
        path: str,
        params: dict[str, str],
        envelope: Callable[[object], None],
        columnar: Callable[[bytes], _Columnar | None] | None = None,
    ) -> tuple[Any, int]:
        """The decoded body of a 200 answer that passes `envelope`, and its size in bytes; with
        `columnar`, what it makes of the body when it can (else the body is decoded as JSON).

        Broken bodies are retried `retries` times with exponential backoff; the adapter's Retry has
        already handled connection errors and retryable statuses for each attempt.
        """
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                body = self._fetch(path, params)
                if columnar is not None:
                    fast = columnar(body)
                    if fast is not None:
                        return fast, len(body)
                payload = _decode(body)
                envelope(payload)
                return payload, len(body)
            except _BrokenBody as exc:
                reason = self._redact(str(exc))
                if attempt == attempts:
                    error_type = ExchangeConnectionError if exc.transport else MalformedResponse
                    raise error_type(
                        f"{self.cinema_id} GET {path}: {reason} (after {attempts} attempts)"
                    ) from None
                delay = self.backoff_factor * 2 ** (attempt - 1)
                if delay >= self._remaining():
                    raise DeadlineExceeded(
                        f"{self.cinema_id} GET {path}: deadline reached while retrying after: {reason}"
                    ) from None
                logger.warning(
                    "%s GET %s: %s; retry %d in %.2fs", self.cinema_id, path, reason, attempt, delay
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _fetch(self, path: str, params: dict[str, str]) -> bytes:
        remaining = self._check_deadline(path)
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        url = f"{self.base_url}{path}"
        logger.debug("%s GET %s %s", self.cinema_id, path, params)
        try:
            response = self._session.get(
                url, params=params, timeout=timeout, stream=True, allow_redirects=False, verify=self._verify
            )
        except requests.RequestException as exc:
            raise ExchangeConnectionError(f"{self.cinema_id} GET {path}: {self._describe(exc)}") from None
        with response:
            if response.is_redirect:
                raise self._redirect_error(path, response)
            if response.status_code != 200:
                raise self._http_error(path, response)
            return self._read_body(path, response, self.max_response_bytes)

    def _read_body(self, path: str, response: requests.Response, limit: int) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise ResponseTooLarge(
                f"{self.cinema_id} GET {path}: response of {int(declared)} bytes (Content-Length) "
                f"exceeds the limit of {limit} bytes"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(min(_CHUNK_BYTES, limit + 1)):
                size += len(chunk)
                if size > limit:
                    raise ResponseTooLarge(
                        f"{self.cinema_id} GET {path}: response exceeds the limit of {limit} bytes "
                        f"({size} bytes read before stopping)"
                    )
                chunks.append(chunk)
                self._check_deadline(path)
        except requests.exceptions.ChunkedEncodingError as exc:
            raise _BrokenBody(f"body cut short after {size} bytes ({self._describe(exc)})") from None
        except requests.RequestException as exc:
            raise _BrokenBody(
                f"body transfer failed after {size} bytes ({self._describe(exc)})", transport=True
            ) from None
        return b"".join(chunks)

    def _http_error(self, path: str, response: requests.Response) -> ExchangeHTTPError:
        status = response.status_code
        code = server_message = None
        try:
            body = self._read_body(path, response, _MAX_ERROR_BODY_BYTES)
            error = json.loads(body.decode("utf-8"))["error"]
            if isinstance(error.get("code"), str):
                code = self._redact(error["code"])[:_MAX_SERVER_TEXT]
            if isinstance(error.get("message"), str):
                server_message = self._redact(error["message"])[:_MAX_SERVER_TEXT]
        except (ExchangeError, _BrokenBody, ValueError, RecursionError, TypeError, KeyError, AttributeError):
            pass  # an error status without a readable error body is still that error status
        detail = ": ".join(part for part in (code, server_message) if part)
        message = f"{self.cinema_id} GET {path}: HTTP {status}" + (f" {detail}" if detail else "")
        error_type = ExchangeAuthError if status in (401, 403) else ExchangeHTTPError
        logger.warning("%s", message)
        return error_type(message, status=status, code=code, server_message=server_message)

    def _redirect_error(self, path: str, response: requests.Response) -> ExchangeHTTPError:
        status = response.status_code
        # Where it points is named by its origin only: a path or query could carry anything.
        location = response.headers.get("Location", "")
        try:
            target = origin(urljoin(response.url, location)) if location else None
        except (ExchangeConfigError, ValueError):
            target = None
        where = _show(target) if target else "an unreadable location"
        own = "" if target == self._auth._origin else ", another origin than the cinema's"
        message = f"{self.cinema_id} GET {path}: HTTP {status} redirect to {where}{own}, not followed"
        logger.warning("%s", message)
        return ExchangeHTTPError(message, status=status)

    def _describe(self, exc: BaseException) -> str:
        return self._redact(f"{type(exc).__name__}: {exc}")

    def _redact(self, text: str) -> str:
        return text.replace(self._auth._token, _REDACTED)


def _list_envelope(key: str, *, paged: bool) -> Callable[[object], None]:
    def check(payload: object) -> None:
        if not isinstance(payload, dict):
            raise _BrokenBody(f"expected a JSON object, got {_type_name(payload)}")
        if not isinstance(payload.get(key), list):
            raise _BrokenBody(f"no {key!r} list in the response")
        if paged:
            if "next_page_token" not in payload:
                raise _BrokenBody("no 'next_page_token' in the response")
            token = payload["next_page_token"]
            if token is not None and (not isinstance(token, str) or not token):
                raise _BrokenBody("next_page_token is neither null nor a non-empty string")

    return check


@functools.lru_cache(maxsize=4096)
def _environ_proxies(base_url: str) -> dict[str, str]:
    """The proxies the environment names for a base URL, read once per process: scanning the
    environment was most of the cost of making a client, and a run makes one per cinema-day."""
    return requests.utils.get_environ_proxies(base_url)


@dataclass(frozen=True)
class _Columnar:
    """A page read and validated in Arrow: every record valid, in served order."""

    table: pa.Table
    next_page_token: str | None


def _columnar_events(body: bytes, validate: Callable[[pa.StructArray], pa.Table | None]) -> _Columnar | None:
    """A page of ticket events through Arrow's JSON reader, or None when anything about it (its
    layout, a type, a field, a record) calls for the record-by-record path, which decides."""
    tail = _PAGE_TAIL.search(body, max(0, len(body) - 4096))
    if tail is None:
        return None
    try:
        token = None if tail.group(2) is None else tail.group(2).decode("utf-8")
        # open_json, not read_json: read_json starts (and ends) a thread on every call, whatever
        # use_threads says, which cost more than parsing a small page.
        read = pa_json.open_json(
            pa.BufferReader(body),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1),
            parse_options=pa_json.ParseOptions(
                explicit_schema=_EVENTS_ENVELOPE, unexpected_field_behavior="error"
            ),
        ).read_all()
    except (pa.ArrowException, ValueError):  # a field, type or byte the contract's reader refuses
        return None
    if read.num_rows != 1:  # several JSON documents in one body
        return None
    events = read.column("events").chunk(0)
    if events.null_count:
        return None
    table = validate(events.flatten())
    return None if table is None else _Columnar(table, token)


def _out_of_order(table: pa.Table, previous_key: tuple | None) -> int:
    """Records that sort before the one served just before them, by (occurred_at, event_id)."""
    ts, ids = table.column("occurred_at"), table.column("event_id")
    earlier = pc.or_(pc.less(ts[1:], ts[:-1]), pc.and_(pc.equal(ts[1:], ts[:-1]), pc.less(ids[1:], ids[:-1])))
    count = pc.sum(earlier).as_py() or 0
    if previous_key is not None and (ts[0].as_py(), ids[0].as_py()) < previous_key:
        count += 1
    return count


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise _BrokenBody("body is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise _BrokenBody(f"body is not valid JSON ({str(exc)[:80]}; {len(body)} bytes)") from None


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
