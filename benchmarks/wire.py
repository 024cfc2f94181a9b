"""The ``path`` group: what the relay costs one socket, against the same socket straight.

Every figure is taken over each path of ``routes.py`` (direct, relay on a thread, relay process,
nginx), the paths taking turns; each relay path is held to the target.

- echo: a 100-byte message echoed by a WebSocket server of this script's own, round-trip time
  p50 (target: 1.3x) and pipelined throughput, K sent then K read (0.8x); with nginx also the
  nginx and relay/nginx ratios (no target). The echo server runs twice: on the clients' event
  loop (the first rows: direct then crosses no thread and no process, which no proxy can
  match), and in a process of its own (``echo_server.py``; rows marked ``server process``),
  as a real CMS is, where direct crosses processes as a proxied path does.
- heartbeats: the simulated CMS's heartbeat round trips per second over ws:// and over wss://
  (the relay opening TLS) (0.7x). The simulated CMS shares the clients' loop; nginx is left
  out of wss:// (its config proxies to plain HTTP).
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import serve

from echo_server import echo
from pytest_wsharness.protocol import HEARTBEAT
from pytest_wsharness.real.configs import RealConfig
from pytest_wsharness.runtime.tls import TestCA
from pytest_wsharness.server import SimulatedCMS
from results import Row, Table, at_least, at_most, median, path_rows
from routes import OPEN_TIMEOUT, URL, child, close_all, open_client, routes, ws_url

MESSAGE = "m" * 100  # 100 bytes of text, a small CMS push
WARM_UP = 20  # messages each way before a measurement


ECHO_SERVER = Path(__file__).with_name("echo_server.py")


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


async def echo_figures(
    upstream: str, count: int, repeat: int, nginx: RealConfig | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Median RTT and pipelined rate of each path to the echo server at ``upstream``."""
    rtts: dict[str, list[float]] = {}
    rates: dict[str, list[float]] = {}
    async with routes(upstream, nginx) as bases:
        for _ in range(repeat):  # the paths take turns: a drift of the machine hits all
            for path, base in bases.items():
                rtts.setdefault(path, []).append(await echo_rtt(ws_url(base.url), count))
                rates.setdefault(path, []).append(await echo_pipelined(ws_url(base.url), count))
    rtt = {path: median(values) for path, values in rtts.items()}
    rate = {path: median(values) for path, values in rates.items()}
    return rtt, rate


async def bench_echo(table: Table, count: int, repeat: int, nginx: RealConfig | None) -> None:
    async with serve(echo, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        in_loop = await echo_figures(f"http://127.0.0.1:{port}", count, repeat, nginx)
    async with child([sys.executable, str(ECHO_SERVER)], [URL]) as (upstream,):
        own = await echo_figures(upstream, count, repeat, nginx)
    for where, (rtt, rate) in (("", in_loop), (" (server process)", own)):

        def rtt_target(name: str, base: float, measured: float) -> Row:
            return at_most(name, base, measured, "us", 1.3)

        def rate_target(name: str, base: float, measured: float) -> Row:
            return at_least(name, base, measured, "/s", 0.8)

        for row in path_rows(f"echo RTT p50{where}", rtt, "us", rtt_target):
            table.row(row)
        for row in path_rows(f"echo pipelined{where}", rate, "/s", rate_target):
            table.row(row)


async def bench_heartbeats(
    table: Table, count: int, repeat: int, secure: bool, nginx: RealConfig | None
) -> None:
    ca = TestCA() if secure else None
    server_tls = ca.issue().server_context() if ca else None
    rates: dict[str, list[float]] = {}
    async with SimulatedCMS(ssl=server_tls) as cms, routes(cms.url, nginx, ca) as bases:
        endpoint = cms.routes.endpoint
        for _ in range(repeat):  # the paths take turns
            for path, base in bases.items():
                url = ws_url(base.url, endpoint)
                rates.setdefault(path, []).append(await round_trips(url, count, base.tls))
    rate = {path: median(values) for path, values in rates.items()}
    scheme = "wss" if secure else "ws"

    def target(name: str, base: float, measured: float) -> Row:
        return at_least(name, base, measured, "/s", 0.7)

    for row in path_rows(f"heartbeats {scheme}://", rate, "/s", target):
        table.row(row)
