"""The ``path`` group: what the relay costs one socket, against the same socket straight.

- echo: a 100-byte message echoed by a WebSocket server of this script's own, round-trip time
  p50 (target: 1.3x) and pipelined throughput, K sent then K read (0.8x); with nginx also the
  nginx and relay/nginx ratios (no target).
- heartbeats: the simulated CMS's heartbeat round trips per second over ws:// and over wss://
  (the relay opening TLS) (0.7x).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.protocol import HEARTBEAT
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.real.configs import RealConfig
from pytest_wsharness.server import SimulatedCMS
from pytest_wsharness.tls import TestCA
from results import Row, Table, at_least, at_most, median
from routes import OPEN_TIMEOUT, close_all, open_client, routes, ws_url

MESSAGE = "m" * 100  # 100 bytes of text, a small CMS push
WARM_UP = 20  # messages each way before a measurement


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@asynccontextmanager
async def echo_client(url: str, count: int) -> AsyncIterator[ClientConnection]:
    """A client of the echo server, warmed up, for ``count`` messages (bounded in time)."""
    async with asyncio.timeout(OPEN_TIMEOUT + count * 0.1):
        ws = await open_client(url)
        try:
            for _ in range(WARM_UP):
                await ws.send(MESSAGE)
                await ws.recv()
            yield ws
        finally:
            await close_all([ws])


async def echo_rtt(url: str, count: int) -> float:
    """p50 seconds of a 100-byte message sent and echoed, one at a time."""
    async with echo_client(url, count) as ws:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            await ws.send(MESSAGE)
            await ws.recv()
            samples.append(time.perf_counter() - start)
    return median(samples)


async def echo_pipelined(url: str, count: int) -> float:
    """Messages per second: ``count`` sent without waiting, then ``count`` read."""
    async with echo_client(url, count) as ws:
        start = time.perf_counter()
        for _ in range(count):
            await ws.send(MESSAGE)
        for _ in range(count):
            await ws.recv()
        return count / (time.perf_counter() - start)


async def round_trips(url: str, count: int, tls: ssl.SSLContext | None) -> float:
    """Heartbeats sent and echoed one after the other over one socket; returns per second."""
    # websockets refuses ssl= for a ws:// URL, even None.
    extra: dict[str, Any] = {"ssl": tls} if tls is not None else {}
    async with (
        asyncio.timeout(OPEN_TIMEOUT + count * 0.1),
        connect(url, proxy=None, open_timeout=OPEN_TIMEOUT, **extra) as ws,
    ):
        await ws.send(HEARTBEAT)
        await ws.recv()  # warm up
        start = time.perf_counter()
        for _ in range(count):
            await ws.send(HEARTBEAT)
            await ws.recv()
        return count / (time.perf_counter() - start)


async def median_of(repeat: int, measure: Callable[[], Awaitable[float]]) -> float:
    return median([await measure() for _ in range(repeat)])


async def bench_echo(table: Table, count: int, repeat: int, nginx: RealConfig | None) -> None:
    rtts: dict[str, list[float]] = {}
    rates: dict[str, list[float]] = {}
    async with serve(echo, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with routes(f"http://127.0.0.1:{port}", nginx) as bases:
            for _ in range(repeat):  # the paths take turns: a drift of the machine hits all
                for path, base in bases.items():
                    rtts.setdefault(path, []).append(await echo_rtt(ws_url(base), count))
                    rates.setdefault(path, []).append(await echo_pipelined(ws_url(base), count))
    rtt = {path: median(values) for path, values in rtts.items()}
    rate = {path: median(values) for path, values in rates.items()}
    table.row(at_most("echo RTT p50, relay", rtt["direct"], rtt["relay"], "us", 1.3))
    table.row(at_least("echo pipelined, relay", rate["direct"], rate["relay"], "/s", 0.8))
    if nginx is not None:
        table.row(Row("echo RTT p50, nginx", rtt["direct"], rtt["nginx"], "us"))
        table.row(Row("echo pipelined, nginx", rate["direct"], rate["nginx"], "/s"))
        table.row(Row("echo RTT p50, relay/nginx", rtt["nginx"], rtt["relay"], "us"))
        table.row(Row("echo pipelined, relay/nginx", rate["nginx"], rate["relay"], "/s"))


async def bench_heartbeats(table: Table, count: int, repeat: int, secure: bool) -> None:
    ca = TestCA() if secure else None
    server_tls = ca.issue().server_context() if ca else None
    client_tls = ca.client_context() if ca else None
    async with SimulatedCMS(ssl=server_tls) as cms:
        endpoint = cms.routes.endpoint
        direct = ws_url(cms.url, endpoint)
        baseline = await median_of(repeat, lambda: round_trips(direct, count, client_tls))
        async with ProfileProxy(Catalogue().get("compliant"), cms.url, ca=ca) as proxy:
            relayed = ws_url(proxy.url, endpoint)
            through = await median_of(repeat, lambda: round_trips(relayed, count, client_tls))
    scheme = "wss" if secure else "ws"
    table.row(at_least(f"heartbeats {scheme}://, relay", baseline, through, "/s", 0.7))
