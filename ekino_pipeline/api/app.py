"""The ASGI application (Starlette): every request goes key, rate limit, parameters, publication,
conditional request, answer.

An answer is bound to the publication it was read from: its ETag is a hash of that publication's id and
the request (so it is known before the answer is built and a 304 costs nothing), `Last-Modified` is the
publication's time, and the answer itself is kept in memory under the same key until the publication
changes (publications never change, so neither do their answers). Errors are one JSON shape,
`{"error": {"status", "code", "message", "parameters"}}`. The access log names the path without its
query and the key by its id, never a token.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ekino_pipeline.api import answers
from ekino_pipeline.api.answers import ApiError
from ekino_pipeline.api.keys import ApiKey, KeyStore
from ekino_pipeline.api.openapi import API_KEY_HEADER, document
from ekino_pipeline.api.params import BadParameters, Param, parse
from ekino_pipeline.api.rate_limit import ANONYMOUS_RATE_PER_MINUTE, RateLimiter, retry_after
from ekino_pipeline.api.reader import PUBLIC_MARTS, LoadedPublication, NoPublication, PublicationReader
from ekino_pipeline.api.routes import ENDPOINTS, Endpoint

log = logging.getLogger("ekino_pipeline.api")
PUBLIC_CACHE = "public, max-age=60"
PRIVATE_CACHE = "private, no-cache"
CACHED_ANSWERS = 2048
CACHED_BYTES = 1 << 20  # a larger answer is built again each time
DOWNLOAD = Param("name", "string", "", location="path", pattern=r"[a-z0-9_]{1,60}\.parquet")


def error_response(
    status: int, code: str, message: str, parameters: dict | None = None, headers=None
) -> Response:
    body = {"error": {"status": status, "code": code, "message": message, "parameters": parameters or {}}}
    return Response(answers.dumps(body), status, headers=headers, media_type="application/json")


class AnswerCache:
    def __init__(self, size: int = CACHED_ANSWERS):
        self._size, self._lock, self._items = size, threading.Lock(), OrderedDict()

    def get(self, key: str) -> tuple[bytes, dict] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, value: tuple[bytes, dict]) -> None:
        if len(value[0]) > CACHED_BYTES:
            return
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class _RateLimited(ApiError):
    def __init__(self, rate: int, wait: float):
        super().__init__(429, "rate_limited", f"the rate limit of {rate} requests a minute is reached")
        self.retry_after = retry_after(wait)


class Api:
    def __init__(
        self,
        exports_dir: Path,
        keys_file: Path,
        require_key: bool = False,
        anonymous_rate: int = ANONYMOUS_RATE_PER_MINUTE,
    ):
        self.reader = PublicationReader(exports_dir)
        self.keys = KeyStore(keys_file)
        self.limiter = RateLimiter()
        self.cache = AnswerCache()
        self.require_key, self.anonymous_rate = require_key, anonymous_rate
        self._documents: dict[str, bytes] = {}

    # -- the steps every request takes --------------------------------------------------------------
    def authenticate(self, request: Request) -> ApiKey | None:
        token = request.headers.get(API_KEY_HEADER)
        authorization = request.headers.get("authorization", "")
        if token is None and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        if token is None:
            if self.require_key:
                raise ApiError(401, "key_required", f"this server needs an API key (header {API_KEY_HEADER})")
            return None
        key = self.keys.verify(token.strip())
        if key is None:
            raise ApiError(401, "bad_key", "the API key is unknown or revoked")
        return key

    def limit(self, request: Request, key: ApiKey | None) -> None:
        if key is not None:
            who, rate = f"key:{key.key_id}", key.rate_per_minute
        else:
            who, rate = f"addr:{request.client.host if request.client else '-'}", self.anonymous_rate
        wait = self.limiter.take(who, rate)
        if wait > 0:
            raise _RateLimited(rate, wait)

    # -- endpoints ----------------------------------------------------------------------------------
    async def answer(self, request: Request, endpoint: Endpoint) -> Response:
        key = self.authenticate(request)
        self.limit(request, key)
        values = parse(endpoint.params, request.query_params.multi_items(), dict(request.path_params))
        pub = await run_in_threadpool(self.reader.current)
        fmt = values.get("format") or "json"
        scope = "public"
        if endpoint.restricted:
            scope = f"{key.role}:{key.distributor_id}" if key else "anonymous"
        canonical = "&".join(f"{k}={values[k]}" for k in sorted(values))
        cache_key = f"{pub.id}|{endpoint.path}|{canonical}|{scope}"
        headers = self.publication_headers(pub, cache_key, private=endpoint.restricted)
        if self.not_modified(request, pub, headers["ETag"]):
            return Response(status_code=304, headers=headers)
        cached = self.cache.get(cache_key)
        if cached is None:
            cached = await run_in_threadpool(self.build, pub, endpoint, values, key, request.url.path, fmt)
            self.cache.put(cache_key, cached)
        body, extra = cached
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        return Response(body, headers={**headers, **extra}, media_type=media)

    def build(self, pub, endpoint: Endpoint, values: dict, key, path: str, fmt: str) -> tuple[bytes, dict]:
        answer = endpoint.answer(pub, values, key)
        page = None
        if endpoint.paged:
            query = {p.name: values[p.name] for p in endpoint.params if p.location == "query"}
            page = answers.page_of(answer, values["limit"], values["offset"], path, query)
        if fmt == "csv":
            return answers.render_csv(answer, page), answers.coverage_headers(pub, answer, page)
        return answers.render_json(pub, answer, page), {}

    async def download(self, request: Request) -> Response:
        key = self.authenticate(request)
        self.limit(request, key)
        values = parse((DOWNLOAD,), request.query_params.multi_items(), dict(request.path_params))
        pub = await run_in_threadpool(self.reader.current)
        mart = values["name"].removesuffix(".parquet")
        if mart not in PUBLIC_MARTS or not pub.has(mart):
            raise ApiError(404, "not_found", f"no public mart {mart} in the publication (GET /v1/downloads)")
        headers = self.publication_headers(pub, f"{pub.id}|download|{mart}", private=False)
        if self.not_modified(request, pub, headers["ETag"]):
            return Response(status_code=304, headers=headers)
        return FileResponse(
            pub.publication.path(mart), headers=headers, media_type="application/vnd.apache.parquet",
            filename=f"{mart}.parquet",
        )  # fmt: skip

    async def openapi(self, request: Request) -> Response:
        try:
            pub: LoadedPublication | None = await run_in_threadpool(self.reader.current)
        except NoPublication:
            pub = None
        cache_key = pub.id if pub else "-"
        if cache_key not in self._documents:
            self._documents = {cache_key: answers.dumps(document(pub))}
        return Response(self._documents[cache_key], media_type="application/json")

    # -- caching headers ------------------------------------------------------------------------------
    @staticmethod
    def publication_headers(pub: LoadedPublication, cache_key: str, private: bool) -> dict[str, str]:
        etag = '"' + hashlib.sha256(cache_key.encode()).hexdigest()[:32] + '"'
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(pub.published_at.replace(microsecond=0), usegmt=True),
            "Cache-Control": PRIVATE_CACHE if private else PUBLIC_CACHE,
        }
        if private:
            headers["Vary"] = f"{API_KEY_HEADER}, Authorization"
        return headers

    @staticmethod
    def not_modified(request: Request, pub: LoadedPublication, etag: str) -> bool:
        match = request.headers.get("if-none-match")
        if match is not None:
            tags = [t.strip().removeprefix("W/") for t in match.split(",")]
            return "*" in tags or etag in tags
        since = request.headers.get("if-modified-since")
        if since:
            try:
                return pub.published_at.replace(microsecond=0) <= parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
        return False


def _guarded(api: Api, handler):
    """Runs a handler; turns every failure into the one error shape, and logs the request."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except BadParameters as exc:
            response = error_response(400, "bad_parameter", f"bad parameters: {exc}", exc.problems)
        except _RateLimited as exc:
            response = error_response(
                exc.status, exc.code, exc.message, headers={"Retry-After": exc.retry_after}
            )
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message, exc.parameters)
        except NoPublication as exc:
            response = error_response(503, "no_publication", f"{exc}: a daily_job build publishes the marts")
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            response = error_response(
                500, "internal", "the server failed to answer; the failure is in its log"
            )
        log.info(
            "%s %s %s %.1f ms", request.method, request.url.path, response.status_code,
            (time.perf_counter() - started) * 1000,
        )  # fmt: skip
        return response

    return endpoint


async def _http_error(_request: Request, exc: HTTPException) -> Response:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))


def create_app(
    exports_dir: Path,
    keys_file: Path,
    require_key: bool = False,
    anonymous_rate: int = ANONYMOUS_RATE_PER_MINUTE,
) -> Starlette:
    """The API over `exports_dir`'s current publication; anonymous clients (unless a key is required)
    may make `anonymous_rate` requests a minute each."""
    api = Api(exports_dir, keys_file, require_key, anonymous_rate)
    routes = [
        Route(
            e.path, _guarded(api, lambda request, e=e: api.answer(request, e)), methods=["GET"], name=e.name
        )
        for e in ENDPOINTS
    ]
    routes.append(
        Route("/v1/downloads/{name}", _guarded(api, api.download), methods=["GET"], name="download")
    )
    routes.append(Route("/openapi.json", _guarded(api, api.openapi), methods=["GET"], name="openapi"))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.api = api
    return app
