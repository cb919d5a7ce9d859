"""The API benchmark's load generator counts answers even on a machine slower than its round: each client
asks at least once, and the rate is taken over the time the answers really took."""

from __future__ import annotations

import asyncio

from benchmarks.api import _figures, _load


async def _serve_and_load(clients: int, seconds: float) -> tuple[list[float], float, int]:
    asked = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal asked
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                asked += 1
                await asyncio.sleep(0.01)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        latencies, took = await _load(port, "/v1/anything", "token", clients, seconds)
    return latencies, took, asked


def test_a_round_shorter_than_one_answer_still_counts_one_answer_per_client():
    latencies, took, asked = asyncio.run(_serve_and_load(clients=5, seconds=0.0))
    assert len(latencies) == asked == 5
    figures = _figures(latencies, took)
    assert figures["requests"] == 5 and figures["seconds"] >= 0.01
    assert figures["requests_per_second"] == round(5 / took, 1)
    assert 10 <= figures["p50_ms"] <= figures["p99_ms"]


def test_a_longer_round_keeps_every_client_asking_until_it_ends():
    latencies, took, asked = asyncio.run(_serve_and_load(clients=3, seconds=0.2))
    assert len(latencies) == asked >= 3 * 10
    assert took >= 0.2
