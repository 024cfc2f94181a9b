"""Benchmarks: what the proxy path costs, and how long the catalogue takes.

    python benchmarks/run.py [--round-trips N] [--repeat R]

Every figure is measured against a baseline taken in the same run on the same machine, and
printed as a ratio, so that a slow day does not read as a regression:

- heartbeat round trips per second over one WebSocket: through the relay (``compliant``), and
  through the relay opening TLS, each against the same socket straight to the server (ws:// or
  wss://);
- the whole catalogue (every profile, WebSockets on and off, time scale 0.05) against one
  ``compliant`` scenario. The target: the catalogue in well under a minute.

Nothing here is a test: it asserts nothing, it reports. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import connect

from pytest_wsharness.matrix import run_matrix, run_row
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.protocol import HEARTBEAT
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.server import SimulatedCMS
from pytest_wsharness.tls import TestCA

CATALOGUE_TARGET = 60.0  # seconds
SCALE = 0.05


async def round_trips(url: str, count: int, tls: ssl.SSLContext | None) -> float:
    """Heartbeats sent and echoed one after the other over one socket; returns per second."""
    # websockets refuses ssl= for a ws:// URL, even None.
    extra: dict[str, Any] = {"ssl": tls} if tls is not None else {}
    async with connect(url, proxy=None, **extra) as ws:
        await ws.send(HEARTBEAT)
        await ws.recv()  # warm up
        start = time.perf_counter()
        for _ in range(count):
            await ws.send(HEARTBEAT)
            await ws.recv()
        return count / (time.perf_counter() - start)


async def best_of(repeat: int, measure: Callable[[], Awaitable[float]]) -> float:
    return max([await measure() for _ in range(repeat)])


async def bench_relay(count: int, repeat: int, secure: bool) -> tuple[float, float]:
    ca = TestCA() if secure else None
    server_tls = ca.issue().server_context() if ca else None
    client_tls = ca.client_context() if ca else None
    async with SimulatedCMS(ssl=server_tls) as cms:
        endpoint = cms.routes.endpoint
        direct = cms.url.replace("http", "ws", 1) + endpoint
        baseline = await best_of(repeat, lambda: round_trips(direct, count, client_tls))
        async with ProfileProxy(Catalogue().get("compliant"), cms.url, ca=ca) as proxy:
            relayed = proxy.url.replace("http", "ws", 1) + endpoint
            through = await best_of(repeat, lambda: round_trips(relayed, count, client_tls))
    return baseline, through


async def bench_catalogue() -> tuple[float, float, int]:
    catalogue = Catalogue()
    start = time.perf_counter()
    await run_row(catalogue.get("compliant"), True, SCALE)
    one = time.perf_counter() - start
    start = time.perf_counter()
    rows = await run_matrix(list(catalogue), SCALE)
    return one, time.perf_counter() - start, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--round-trips", type=int, default=2000, metavar="N")
    parser.add_argument("--repeat", type=int, default=3, metavar="R")
    args = parser.parse_args()
    if args.round_trips < 1 or args.repeat < 1:
        parser.error("--round-trips and --repeat must be at least 1")

    print(f"heartbeat round trips over one WebSocket, best of {args.repeat} x {args.round_trips}")
    for secure in (False, True):
        baseline, through = asyncio.run(bench_relay(args.round_trips, args.repeat, secure))
        scheme = "wss" if secure else "ws"
        print(
            f"  {scheme + '://':7} direct {baseline:8.0f}/s   through the relay {through:8.0f}/s"
            f"   ratio {through / baseline:.2f}"
        )

    one, whole, rows = asyncio.run(bench_catalogue())
    print(f"catalogue at time scale {SCALE}: {rows} scenarios")
    print(
        f"  one compliant scenario {one:.2f}s   whole catalogue {whole:.2f}s"
        f"   ratio {whole / one:.1f}   target < {CATALOGUE_TARGET:.0f}s: "
        + ("met" if whole < CATALOGUE_TARGET else "MISSED")
    )


if __name__ == "__main__":
    main()
