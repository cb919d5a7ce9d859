"""One cinema's exchange endpoints (openapi.yaml): what to ask for, and what the answers hold.

Every record goes through `contract.py`; a bad record is rejected and counted, never allowed to stop
the pull. Paged endpoints are read lazily, one page per `next()`. How a request travels (the token,
retries, limits, the deadline) is `transport.py`'s business; how a body is decoded, `decoding.py`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from ekino_pipeline import calendar
from ekino_pipeline.exchange import contract
from ekino_pipeline.exchange.client.connections import SharedConnections
from ekino_pipeline.exchange.client.decoding import (
    ColumnarPage,
    columnar_events,
    events_out_of_order,
    list_envelope,
    type_name,
)
from ekino_pipeline.exchange.client.errors import BrokenBody, MalformedResponse
from ekino_pipeline.exchange.client.transport import Transport
from ekino_pipeline.exchange.contract import Rejected
from ekino_pipeline.exchange.registry import validate_cinema_id

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000
MAX_WINDOW = timedelta(days=31)


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


class ExchangeClient:
    """One cinema's exchange: one pooled session, one deadline shared by all its calls.

    `clock` gives the current time (aware) for the contract's "not in the future" rule; `monotonic`
    measures the deadline, which starts when the client is created. With `connections`, the client's
    requests go over HTTP connections kept open for other cinemas' clients too (SharedConnections).
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
        connections: SharedConnections | None = None,
    ):
        self.cinema_id = validate_cinema_id(cinema_id)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        self._transport = Transport(
            base_url,
            token,
            cinema_id=self.cinema_id,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries=retries,
            backoff_factor=backoff_factor,
            max_retry_after=max_retry_after,
            deadline_seconds=deadline_seconds,
            max_response_bytes=max_response_bytes,
            verify=verify,
            allow_plain_http=allow_plain_http,
            monotonic=monotonic,
            connections=connections,
        )
        self.base_url = self._transport.base_url
        self.page_size = page_size
        self.known_film_ids = known_film_ids
        self._clock = clock

    def __repr__(self) -> str:
        return f"ExchangeClient(cinema_id={self.cinema_id!r}, base_url={self.base_url!r})"

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def health(self) -> dict:
        """{cinema_id, status, server_time (aware UTC)} of the cinema's ticketing system."""

        def envelope(payload: object) -> None:
            if not isinstance(payload, dict):
                raise BrokenBody(f"expected a JSON object, got {type_name(payload)}")
            if payload.get("cinema_id") != self.cinema_id:
                raise BrokenBody(f"health answers for cinema {str(payload.get('cinema_id'))[:20]!r}")
            if payload.get("status") not in ("ok", "degraded"):
                raise BrokenBody("health status is neither ok nor degraded")
            try:
                contract.parse_timestamp(payload.get("server_time"))
            except (TypeError, ValueError):
                raise BrokenBody("health server_time is not an RFC 3339 timestamp") from None

        payload, _ = self._transport.get_json("/v1/health", {}, envelope)
        return {
            "cinema_id": payload["cinema_id"],
            "status": payload["status"],
            "server_time": contract.parse_timestamp(payload["server_time"])[0],
        }

    def halls(self) -> tuple[list[dict], list[Rejected]]:
        """All halls (the endpoint is not paginated), validated."""
        payload, size = self._transport.get_json("/v1/halls", {}, list_envelope("halls", paged=False))
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
            columnar=(lambda body: columnar_events(body, validate_table)) if columnar else None,
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
        columnar: Callable[[bytes], ColumnarPage | None] | None = None,
    ) -> Iterator[Page]:
        envelope = list_envelope(key, paged=True)
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
            payload, size = self._transport.get_json(path, query, envelope, columnar)
            if isinstance(payload, ColumnarPage):
                table, page_token = payload.table, payload.next_page_token
                page = Page(number=number, served=table.num_rows, bytes=size, table=table)
                records = []
                if table.num_rows:
                    page.out_of_order = events_out_of_order(table, previous_key)
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


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
