"""GET requests to one cinema's exchange, and nothing about what the answers mean.

Transport failures (connection errors, read timeouts, 429 honouring Retry-After, 500/502/503/504) are
retried by urllib3's `Retry` on the session's adapter. A body that arrives broken (undecodable or
truncated JSON, a missing envelope key, a transfer cut short) is retried here, because urllib3 has
already handed the response over by then. One deadline covers every call and every retry.

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
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from ekino_pipeline.exchange.client.connections import ExchangeAdapter, SharedConnections
from ekino_pipeline.exchange.client.decoding import decode_json
from ekino_pipeline.exchange.client.errors import (
    BrokenBody,
    DeadlineExceeded,
    ExchangeAuthError,
    ExchangeConfigError,
    ExchangeConnectionError,
    ExchangeError,
    ExchangeHTTPError,
    MalformedResponse,
    ResponseTooLarge,
)
from ekino_pipeline.exchange.registry import is_loopback_host

logger = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
BEARER_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
# Bodies are read in chunks of up to a megabyte (a page of 1,000 events is about 280 kB): fewer
# iterations through urllib3, and never more than the limit plus one byte held.
_CHUNK_BYTES = 2**20
# An error body is only read for its code and message; anything bigger is not worth holding.
_MAX_ERROR_BODY_BYTES = 64 * 1024
_MAX_SERVER_TEXT = 200
_REDACTED = "[REDACTED]"


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
        self.origin = own_origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        target = origin(request.url or "")
        if target != self.origin:
            raise ExchangeConfigError(
                f"{self._cinema_id}: refusing to send its token to {_show(target)}, "
                f"which is not its exchange {_show(self.origin)}"
            )
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def redact(self, text: str) -> str:
        return text.replace(self._token, _REDACTED)

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


class Transport:
    """One cinema's pooled session, its token, and one deadline shared by all its calls; the deadline
    starts when the transport is created and is measured by `monotonic`. With `connections`, its
    requests go over connections it shares with other cinemas' transports (SharedConnections)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        cinema_id: str,
        connect_timeout: float,
        read_timeout: float,
        retries: int,
        backoff_factor: float,
        max_retry_after: float,
        deadline_seconds: float,
        max_response_bytes: int,
        verify: bool | str,
        allow_plain_http: bool,
        monotonic: Callable[[], float],
        connections: SharedConnections | None = None,
    ):
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
        if retries < 0 or max_response_bytes < 1 or deadline_seconds <= 0:
            raise ValueError("retries must be >= 0, max_response_bytes >= 1 and deadline_seconds > 0")
        self.cinema_id = cinema_id
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.max_response_bytes = max_response_bytes
        self._monotonic = monotonic
        self._deadline_at = monotonic() + deadline_seconds
        self._deadline_seconds = deadline_seconds
        self.auth = _BearerAuth(token, cinema_id, own_origin)

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
        retry.remaining = self.remaining
        retry.label = cinema_id
        self.session = requests.Session()
        self.session.auth = self.auth
        # What requests would read from the environment on every request (proxies, CA bundle) is read
        # once here: every request of this client goes to the same host.
        self.session.trust_env = False
        parts = urlsplit(self.base_url)
        self.session.proxies.update(_environ_proxies(f"{parts.scheme}://{parts.netloc}"))
        self.session.verify = verify
        self._verify = verify
        if verify is True:
            self._verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.headers["Accept"] = "application/json"
        mounted = ExchangeAdapter(retry, connections)
        self.session.mount("http://", mounted)
        self.session.mount("https://", mounted)

    def close(self) -> None:
        self.session.close()

    def remaining(self) -> float:
        return self._deadline_at - self._monotonic()

    def _check_deadline(self, path: str) -> float:
        remaining = self.remaining()
        if remaining <= 0:
            raise DeadlineExceeded(
                f"{self.cinema_id} GET {path}: the client's deadline of {self._deadline_seconds:g}s ran out"
            )
        return remaining

    def get_json(
        self,
        path: str,
        params: dict[str, str],
        envelope: Callable[[object], None],
        columnar: Callable[[bytes], object | None] | None = None,
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
                payload = decode_json(body)
                envelope(payload)
                return payload, len(body)
            except BrokenBody as exc:
                reason = self.auth.redact(str(exc))
                if attempt == attempts:
                    error_type = ExchangeConnectionError if exc.transport else MalformedResponse
                    raise error_type(
                        f"{self.cinema_id} GET {path}: {reason} (after {attempts} attempts)"
                    ) from None
                delay = self.backoff_factor * 2 ** (attempt - 1)
                if delay >= self.remaining():
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
            response = self.session.get(
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
            raise BrokenBody(f"body cut short after {size} bytes ({self._describe(exc)})") from None
        except requests.RequestException as exc:
            raise BrokenBody(
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
                code = self.auth.redact(error["code"])[:_MAX_SERVER_TEXT]
            if isinstance(error.get("message"), str):
                server_message = self.auth.redact(error["message"])[:_MAX_SERVER_TEXT]
        except (ExchangeError, BrokenBody, ValueError, RecursionError, TypeError, KeyError, AttributeError):
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
        own = "" if target == self.auth.origin else ", another origin than the cinema's"
        message = f"{self.cinema_id} GET {path}: HTTP {status} redirect to {where}{own}, not followed"
        logger.warning("%s", message)
        return ExchangeHTTPError(message, status=status)

    def _describe(self, exc: BaseException) -> str:
        return self.auth.redact(f"{type(exc).__name__}: {exc}")


@functools.lru_cache(maxsize=4096)
def _environ_proxies(site: str) -> dict[str, str]:
    """The proxies the environment names for a site (scheme and network location: what they depend
    on), read once per process and site: scanning the environment was most of the cost of making a
    client, and a run makes one per cinema-day, for cinemas whose base URLs differ only in their path."""
    return requests.utils.get_environ_proxies(site)
