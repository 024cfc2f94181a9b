"""The ``broadcast`` and ``connect`` groups: many clients of the simulated CMS at once, over each
path of ``routes.py`` (direct, relay on a thread, relay process, nginx when installed), each relay
path held to the target. The simulated CMS shares the clients' event loop (it publishes when
told to, and counts its sockets, in this process), so direct crosses no process there.

- broadcast: N clients (1, 10, 100, 1000), opened 100 at a time; for each publish, each
  client's time from ``publish`` to the frame; p99 over clients and publishes (targets: N=10
  2x, N=1000 1.2x, and no delivery lost).
- connect: N WebSockets (500) opened at once, the time until all are open (target: the relay
  no slower than nginx).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import suppress

from websockets.asyncio.client import ClientConnection

from pytest_wsharness.protocol import Action, Topic
from pytest_wsharness.real.configs import RealConfig
from pytest_wsharness.server import SimulatedCMS
from results import (
    RELAYS,
    SPLICE,
    BenchError,
    Row,
    Table,
    at_most,
    median,
    path_rows,
    percentile,
)
from routes import close_all, open_at_once, path_names, routes, ws_url

SETTLE_TIMEOUT = 30.0  # the server to count (or lose) its sockets
BATCH = 100  # broadcast clients opened at a time (listen backlogs are 128)


async def open_many(url: str, count: int, batch: int) -> list[ClientConnection]:
    """``count`` clients, ``batch`` at a time; all or none (the opened ones closed)."""
    clients: list[ClientConnection] = []
    try:
        for first in range(0, count, batch):
            clients += await open_at_once(url, min(batch, count - first))
    except BenchError:
        await close_all(clients)
        raise
    return clients


async def server_count(cms: SimulatedCMS, wanted: Callable[[int], bool]) -> int:
    """Wait, bounded, until the server's socket count is as ``wanted``; return it."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    # The server offers no event for its socket count: poll it.
    while not wanted(cms.connections) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    return cms.connections


async def broadcast(
    cms: SimulatedCMS, url: str, count: int, publishes: int, repeat: int
) -> tuple[list[float], int]:
    """p99 seconds from publish to frame, one per repeat, and how many deliveries were lost."""
    clients = await open_many(url, count, BATCH)
    arrived: dict[str, list[float]] = {}
    complete: dict[str, asyncio.Event] = {}

    async def read(ws: ClientConnection) -> None:
        async for message in ws:
            now = time.perf_counter()
            marker = json.loads(message)["data"][0]["id"]
            times = arrived.setdefault(marker, [])
            times.append(now)
            if len(times) == count and marker in complete:
                complete[marker].set()

    readers = [asyncio.create_task(read(ws)) for ws in clients]
    p99s: list[float] = []
    lost = 0
    try:
        if await server_count(cms, lambda n: n >= count) < count:
            raise BenchError(f"the server holds {cms.connections} of {count} sockets")
        for run in range(repeat):
            latencies: list[float] = []
            for number in range(publishes):
                marker = f"bench-{count}-{run}-{number}-{time.monotonic_ns()}"
                complete[marker] = asyncio.Event()
                item = {"id": marker, "action": int(Action.SAVED), "subject": marker}
                start = time.perf_counter()
                await cms.publish(Topic.NOTIFICATION, [item])
                with suppress(TimeoutError):
                    await asyncio.wait_for(complete[marker].wait(), 10.0 + count * 0.01)
                times = arrived.get(marker, [])
                lost += count - len(times)
                latencies += [t - start for t in times]
            p99s.append(percentile(latencies, 99) if latencies else math.inf)
    finally:
        await close_all(clients)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await server_count(cms, lambda n: n == 0)
    return p99s, lost


async def bench_broadcast(
    table: Table, sizes: Sequence[int], publishes: int, repeat: int, nginx: RealConfig | None
) -> None:
    p99: dict[tuple[str, int], float] = {}
    lost: dict[tuple[str, int], int] = {}
    async with SimulatedCMS() as cms, routes(cms.url, nginx) as bases:
        for size in sizes:
            for path, base in bases.items():
                url = ws_url(base.url, cms.routes.endpoint)
                runs, lost[path, size] = await broadcast(cms, url, size, publishes, repeat)
                p99[path, size] = median(runs)
    for size in sizes:
        name = f"broadcast p99 N={size}"
        figures = {path: p99[path, size] for path in path_names(nginx)}
        total = size * publishes * repeat

        def target(
            row_name: str, direct: float, measured: float, size: int = size, total: int = total
        ) -> Row:
            path = row_name.rsplit(", ", 1)[1]
            kept = not lost[path, size]
            if size == 10:
                row = at_most(row_name, direct, measured, "ms", 2.0)
            elif size == 1000:
                row = at_most(row_name, direct, measured, "ms", 1.2)
                kept = kept and not lost["direct", size]
                row = dataclasses.replace(row, target=f"{row.target}, 0 lost", met=row.met and kept)
            else:
                row = Row(row_name, direct, measured, "ms", "0 lost", kept)
            notes = tuple(
                f"{p}: {lost[p, size]} of {total} deliveries lost"
                for p in ("direct", path)
                if lost[p, size]
            )
            return dataclasses.replace(row, notes=notes)

        for row in path_rows(name, figures, "ms", target):
            table.row(row)


async def connect_time(cms: SimulatedCMS, url: str, count: int) -> float:
    """Seconds until ``count`` WebSockets opened at once are all open."""
    start = time.perf_counter()
    clients = await open_at_once(url, count)
    elapsed = time.perf_counter() - start
    await close_all(clients)
    await server_count(cms, lambda n: n == 0)
    return elapsed


async def bench_connect(table: Table, count: int, repeat: int, nginx: RealConfig | None) -> None:
    times: dict[str, list[float]] = {}
    async with SimulatedCMS() as cms, routes(cms.url, nginx) as bases:
        for _ in range(repeat):
            for path, base in bases.items():
                url = ws_url(base.url, cms.routes.endpoint)
                times.setdefault(path, []).append(await connect_time(cms, url, count))
    figures = {path: median(values) for path, values in times.items()}
    name = f"connect {count}"
    real = figures.get("nginx")
    for path in RELAYS:
        # The target is nginx's time; the ratio against direct is printed too.
        if real is None:
            target = "<= nginx (none)"
            table.row(Row(f"{name}, {path}", figures["direct"], figures[path], "ms", target))
            continue
        table.row(Row(f"{name}, {path}", figures["direct"], figures[path], "ms"))
        table.row(at_most(f"{name}, {path}/nginx", real, figures[path], "ms", 1.0))
    if real is not None:
        table.row(Row(f"{name}, nginx", figures["direct"], real, "ms"))
    if SPLICE in figures:
        table.row(Row(f"{name}, {SPLICE}", figures["direct"], figures[SPLICE], "ms"))
