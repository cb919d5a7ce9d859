"""The open data API under load: the daily chart against a static file served by the same server.

The server is `ekino api`'s application (uvicorn, one process) over a synthetic publication in a child
process; the clients are 100 keep-alive HTTP/1.1 connections on asyncio in this process, each sending
its next request as soon as the last answer is in. Each round times the daily chart (top 10 of a day,
JSON) and then a static file of the same server (a mart's Parquet download) for the same time;
`api_chart_vs_static` is the median of the rounds' ratios of requests per second, and the chart's
latencies give its p99.

    python -m benchmarks.api serve --exports DIR --keys FILE --port N   (the child)
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DAY = date(2025, 5, 31)


def write_publication(exports: Path, n_films: int, n_days: int) -> None:
    """Films' days, the nation's days and the films, as the marts name their columns."""
    from ekino_pipeline import publications

    exports.mkdir(parents=True, exist_ok=True)
    money = pa.decimal128(18, 2)
    days = [DAY - timedelta(days=n) for n in range(n_days)]
    rows = [
        (f"F{f:05d}", d, Decimal(1_000_000 - f * 997) + Decimal("0.50"), f + 1)
        for d in days
        for f in range(n_films)
    ]
    reasons = pa.list_(pa.string())
    films = pa.table(
        {
            "film_id": [r[0] for r in rows],
            "business_date": [r[1] for r in rows],
            "title": [f"Film number {r[0]}" for r in rows],
            "gross_kzt": pa.array([r[2] for r in rows], money),
            "admissions": pa.array([int(r[2]) // 1800 for r in rows], pa.int64()),
            "rank_of_day": pa.array([r[3] for r in rows], pa.int32()),
            "cumulative_gross_kzt": pa.array([r[2] * 7 for r in rows], money),
            "gross_source": ["tracked"] * len(rows),
            "cinemas_reporting": pa.array([66] * len(rows), pa.int32()),
            "is_provisional": [False] * len(rows),
            "provisional_reasons": pa.array([[]] * len(rows), reasons),
            "exclusions": pa.array([["presales_not_loaded"]] * len(rows), reasons),
        }
    )
    nation = pa.table(
        {
            "business_date": days,
            "gross_kzt": pa.array([Decimal(10**9)] * n_days, money),
            "cinemas_reporting": pa.array([66] * n_days, pa.int32()),
            "cinemas_connected": pa.array([68] * n_days, pa.int32()),
            "cinemas_total": pa.array([103] * n_days, pa.int32()),
            "is_provisional": [False] * n_days,
            "provisional_reasons": pa.array([[]] * n_days, reasons),
            "exclusions": pa.array([[]] * n_days, reasons),
        }
    )
    performance = pa.table(
        {
            "film_id": [f"F{f:05d}" for f in range(n_films)],
            "is_domestic": [f % 3 == 0 for f in range(n_films)],
            "original_language": ["kk" if f % 3 == 0 else "ru" for f in range(n_films)],
        }
    )
    paths = []
    for name, table in (
        ("film_daily_box_office", films),
        ("national_daily", nation),
        ("film_performance", performance),
    ):
        pq.write_table(table, exports / f"{name}.parquet")
        paths.append(exports / f"{name}.parquet")
    publications.publish(exports, paths)


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from ekino_pipeline.api.app import create_app

    app = create_app(Path(args.exports), Path(args.keys))
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _client(port: int, request: bytes, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        # Every client asks at least once, even when opening the connections took the whole round (a
        # busy machine): a round always has answers to count.
        asked = False
        while not asked or time.perf_counter() < until:
            asked = True
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            status = head[9:12]
            await reader.readexactly(length)
            if status != b"200":
                raise RuntimeError(f"the API answered {status.decode()}: {head[:200]!r}")
            latencies.append(time.perf_counter() - sent)
    finally:
        writer.close()


async def _load(port: int, path: str, token: str, clients: int, seconds: float) -> tuple[list[float], float]:
    """Each answer's latency, and the seconds from the first connection to the last answer."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {token}\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_client(port, request, until, latencies) for _ in range(clients)))
    return latencies, time.perf_counter() - started


def _figures(latencies: list[float], seconds: float) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "seconds": round(seconds, 3),
        "requests_per_second": round(len(ordered) / seconds, 1),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def measure(work: Path, n_films: int, n_days: int, clients: int, seconds: float, rounds: int) -> dict:
    from ekino_pipeline.api.keys import KeyStore

    exports, keys = work / "exports", work / "keys.json"
    write_publication(exports, n_films, n_days)
    token = KeyStore(keys).issue("ministry", rate_per_minute=10**9)[1]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.api", "serve", "--exports", str(exports), "--keys", str(keys),
         "--port", str(port)],
    )  # fmt: skip
    chart = f"/v1/box-office/daily?date={DAY}&limit=10"
    static = "/v1/downloads/national_daily.parquet"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the API server did not start") from None
                time.sleep(0.1)
        asyncio.run(_load(port, chart, token, 4, 0.3))  # warm: the publication loaded, the answer kept
        asyncio.run(_load(port, static, token, 4, 0.3))
        out: dict = {"clients": clients, "seconds": seconds, "films": n_films, "days": n_days, "rounds": []}
        for _ in range(rounds):
            charted = _figures(*asyncio.run(_load(port, chart, token, clients, seconds)))
            served = _figures(*asyncio.run(_load(port, static, token, clients, seconds)))
            ratio = round(charted["requests_per_second"] / served["requests_per_second"], 3)
            out["rounds"].append({"chart": charted, "static": served, "ratio": ratio})
    finally:
        server.terminate()
        server.wait(timeout=20)
    out["chart_vs_static"] = statistics.median(r["ratio"] for r in out["rounds"])
    out["chart_p99_ms"] = statistics.median(r["chart"]["p99_ms"] for r in out["rounds"])
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    child = sub.add_parser("serve")
    child.add_argument("--exports", required=True)
    child.add_argument("--keys", required=True)
    child.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    serve(options)
