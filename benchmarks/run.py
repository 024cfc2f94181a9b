"""Benchmarks: what the plugin, the fixtures and the proxy path cost, each against a baseline.

    python benchmarks/run.py [--quick] [--repeat R] [--only GROUP,...] [--tests N]
                             [--round-trips N] [--echo N] [--clients 1,10,100,1000]
                             [--publishes P] [--connect N] [--catalogue-profiles K]

Every figure is measured against a baseline taken in the same run on the same machine, and
printed as a ratio, so that a slow day does not read as a regression. Each is the median of
``--repeat`` runs (3), printed in one table with its target and ``met`` or ``MISSED``:

- ``fixtures``: the marginal cost of one more test, from a ``pytest`` subprocess on a generated
  file of N tests against the same file with 1 test ((t(N) - t(1)) / (N - 1), so start-up and
  first-test warm-up cancel out); the baseline is N tests that use no fixture. Rows:
  ``cms_client`` + ``assert_updates_delivered`` behind ``compliant`` (target: +20 ms a test),
  ``assert_fell_back`` behind ``header-stripping`` (+60 ms over the assertion's own designed
  wait, its quiet window), ``cms_browser`` behind ``compliant`` (+200 ms; skipped without
  Chromium). Time scale 0.01.
- ``startup``: ``pytest`` running one trivial test, and ``--collect-only``, with the plugins
  against ``-p no:`` each of them (target: +50 ms).
- ``path``: a 100-byte message echoed by a WebSocket server of this script's own, straight and
  through the relay (``compliant``): round-trip time p50 (target: 1.3x) and pipelined
  throughput, K sent then K read (0.8x); the simulated CMS's heartbeat round trips per second
  over ws:// and wss:// (the relay opening TLS) (0.7x).
- ``broadcast``: N clients (1, 10, 100, 1000) of the simulated CMS, straight and through the
  relay (opened 100 at a time); for each publish, each client's time from ``publish`` to the
  frame; p99 over clients and publishes (targets: N=10 2x, N=1000 1.2x, and no delivery
  lost).
- ``connect``: 500 WebSockets opened at once, the time until all are open (target: the relay
  no slower than nginx).
- ``catalogue``: every profile, WebSockets on and off (time scale 0.05), against one
  ``compliant`` scenario (target: under a minute).

With nginx installed, ``path``, ``broadcast`` and ``connect`` also run through the real
``nginx-websocket`` config (``worker_connections`` raised from the catalogue's 64, which holds
31 proxied sockets, to 4096), and print relay/nginx ratios. The clients, the simulated CMS and
the relay share this interpreter (the relay on a thread of its own); nginx is a process of its
own. The open-file soft limit is raised to the hard limit first.

``--quick`` is a smoke run: tiny sizes, 1 repeat, 2 profiles of the catalogue (no verdict on
that row). Nothing here is a test: it reports, and exits 1 only when a measurement failed.
Traffic stays on 127.0.0.1; every server binds port 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

import pytest_wsharness
from pytest_wsharness.errors import MissingPart
from pytest_wsharness.matrix import run_matrix, run_row
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.protocol import HEARTBEAT, Action, Topic
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.real.configs import RealCatalogue, RealConfig
from pytest_wsharness.real.local import LocalProxy, find_binary
from pytest_wsharness.scenario import quiet_window
from pytest_wsharness.server import SimulatedCMS
from pytest_wsharness.tls import TestCA

GROUPS = ("fixtures", "startup", "path", "broadcast", "connect", "catalogue")
# The checkout whose package this script imported: the pytest subprocesses import the same.
SOURCE = Path(pytest_wsharness.__file__).resolve().parent.parent

CATALOGUE_TARGET = 60.0  # seconds
SCALE = 0.05  # the catalogue's time scale
FIXTURE_SCALE = 0.01
PYTEST_INI = (
    f"[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    f"wsharness_time_scale = {FIXTURE_SCALE}\n"
)
PLAIN_TESTS = """\
import pytest


@pytest.mark.parametrize("number", range({count}))
def test_plain(number):
    pass
"""
FIXTURE_TESTS = """\
import pytest
from pytest_wsharness.assertions import {assertion}


@pytest.mark.wsharness_profiles("{profile}")
@pytest.mark.parametrize("number", range({count}))
def test_{name}(number, {driver}, cms_server, cms_proxy):
    {assertion}({driver}, cms_server, proxy=cms_proxy)
"""
# pytest-asyncio warns without its loop scope, with the plugins or without.
STARTUP_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
NO_PLUGINS = ("wsharness", "wsharness-browser", "wsharness-real", "wsharness-report")
STARTUP_TARGET_MS = 50.0

MESSAGE = "m" * 100  # 100 bytes of text, a small CMS push
WARM_UP = 20  # messages each way before a measurement
OPEN_TIMEOUT = 30.0  # each client's handshake
CLOSE_TIMEOUT = 2.0  # each client's closing handshake
SETTLE_TIMEOUT = 30.0  # the server to count (or lose) its sockets
BATCH = 100  # broadcast clients opened at a time (listen backlogs are 128)
NGINX = "nginx-websocket"
NGINX_CONNECTIONS = 4096


class BenchError(Exception):
    """A measurement that could not be made; the row says why."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the table: a baseline, what was measured, and its target."""

    name: str
    baseline: float
    measured: float
    unit: str  # "ms", "us", "/s" or "s"
    target: str = "-"
    met: bool | None = None  # None: no target for this row
    notes: tuple[str, ...] = ()

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline if self.baseline else math.inf

    def line(self) -> str:
        result = "-" if self.met is None else ("met" if self.met else "MISSED")
        text = (
            f"{self.name:<32} {_value(self.baseline, self.unit):>9} "
            f"{_value(self.measured, self.unit):>9} {self.ratio:>7.2f}x {self.target:<19} {result}"
        )
        return "\n".join([text, *(f"    {note}" for note in self.notes)])


def _value(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "-"
    if unit == "us":
        return f"{value * 1e6:.0f}us"
    if unit == "ms":
        return f"{value * 1e3:.1f}ms"
    if unit == "/s":
        return f"{value:.0f}/s"
    return f"{value:.2f}s"


def at_most(name: str, baseline: float, measured: float, unit: str, limit: float) -> Row:
    """A row whose ratio must stay at or under ``limit`` (a time)."""
    ratio = measured / baseline if baseline else math.inf
    return Row(name, baseline, measured, unit, f"<= {limit:g}x", ratio <= limit)


def at_least(name: str, baseline: float, measured: float, unit: str, limit: float) -> Row:
    """A row whose ratio must stay at or over ``limit`` (a rate)."""
    return Row(name, baseline, measured, unit, f">= {limit:g}x", measured >= limit * baseline)


def added(name: str, baseline: float, measured: float, limit_ms: float, text: str = "") -> Row:
    """A row whose measured time may exceed the baseline by ``limit_ms`` at most."""
    extra = (measured - baseline) * 1e3
    target = text or f"+{limit_ms:g}ms"
    return Row(name, baseline, measured, "ms", f"<= {target}", extra <= limit_ms)


class Table:
    """Prints rows as they come, keeps count of failures."""

    def __init__(self) -> None:
        self.failed = 0

    def header(self) -> None:
        print(f"{'row':<32} {'baseline':>9} {'measured':>9} {'ratio':>8} {'target':<19} result")
        print("-" * 86)

    def row(self, row: Row) -> None:
        print(row.line(), flush=True)

    def skip(self, name: str, reason: str) -> None:
        self._say(name, f"skipped: {reason}")

    def fail(self, name: str, error: BaseException) -> None:
        self.failed += 1
        self._say(name, f"FAILED: {type(error).__name__}: {error}")

    def _say(self, name: str, text: str) -> None:
        lines = textwrap.wrap(text, 100 - 33) or [""]
        print(f"{name:<32} {lines[0]}", flush=True)
        for line in lines[1:]:
            print(f"{'':<32} {line}", flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# fixtures and startup: pytest in a subprocess.


def pytest_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE), env.get("PYTHONPATH")]))
    env.pop("PYTEST_ADDOPTS", None)
    return env


def pytest_seconds(folder: Path, args: Sequence[str], limit: float) -> float:
    """Run ``pytest args`` in ``folder``; its wall time. Raises BenchError unless it passed."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv, cwd=folder, env=pytest_env(), capture_output=True, text=True, timeout=limit
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"pytest {' '.join(args)} did not end within {limit:g}s") from None
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:])
        raise BenchError(f"pytest {' '.join(args)} exited {done.returncode}: {tail}")
    return elapsed


def marginal(folder: Path, name: str, source: str, count: int, repeat: int, limit: float) -> float:
    """Seconds one more test of ``source`` (a template of ``count`` tests) adds."""
    many, one = f"test_{name}_{count}.py", f"test_{name}_1.py"
    (folder / many).write_text(source.format(count=count), encoding="utf-8")
    (folder / one).write_text(source.format(count=1), encoding="utf-8")
    times: dict[str, list[float]] = {many: [], one: []}
    for _ in range(repeat):
        for file in (one, many):
            times[file].append(pytest_seconds(folder, [file], limit))
    return (median(times[many]) - median(times[one])) / (count - 1)


def bench_fixtures(table: Table, count: int, repeat: int) -> None:
    fallback_wait = quiet_window(FIXTURE_SCALE) * 1e3
    kinds = [
        ("compliant", "cms_client", "assert_updates_delivered", 20.0, ""),
        (
            "header-stripping",
            "cms_client",
            "assert_fell_back",
            60.0 + fallback_wait,
            f"+60+{fallback_wait:g}ms wait",
        ),
        ("compliant", "cms_browser", "assert_updates_delivered", 200.0, ""),
    ]
    with tempfile.TemporaryDirectory(prefix="wsharness-bench-") as work:
        folder = Path(work)
        (folder / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
        try:
            plain = marginal(folder, "plain", PLAIN_TESTS, count, repeat, 60.0 + count)
        except BenchError as error:
            table.fail("fixtures/test: baseline", error)
            return
        for profile, driver, assertion, limit_ms, text in kinds:
            name = f"fixtures/test {'browser' if driver == 'cms_browser' else profile}"
            if driver == "cms_browser":
                from pytest_wsharness.browser.chromium import find_browser

                try:
                    find_browser()
                except MissingPart as missing:
                    table.skip(name, str(missing))
                    continue
            source = FIXTURE_TESTS.format(
                assertion=assertion,
                profile=profile,
                count="{count}",
                name=profile.replace("-", "_") + "_" + driver,
                driver=driver,
            )
            limit = 120.0 + count * (20.0 if driver == "cms_browser" else 5.0)
            try:
                cost = marginal(
                    folder, name.split()[-1].replace("-", "_"), source, count, repeat, limit
                )
            except BenchError as error:
                table.fail(name, error)
                continue
            table.row(added(name, plain, cost, limit_ms, text))


def bench_startup(table: Table, repeat: int) -> None:
    without = [arg for plugin in NO_PLUGINS for arg in ("-p", f"no:{plugin}")]
    with tempfile.TemporaryDirectory(prefix="wsharness-bench-") as work:
        folder = Path(work)
        (folder / "pytest.ini").write_text(STARTUP_INI, encoding="utf-8")
        (folder / "test_one.py").write_text("def test_one():\n    pass\n", encoding="utf-8")
        for name, extra in (
            ("start-up, 1 test", []),
            ("start-up, --collect-only", ["--collect-only"]),
        ):
            runs: dict[bool, list[float]] = {True: [], False: []}
            try:
                for plugins in (True, False):  # warm the file cache; not counted
                    pytest_seconds(folder, [*extra, *([] if plugins else without)], 60.0)
                for _ in range(repeat):
                    for plugins in (True, False):
                        args = [*extra, *([] if plugins else without), "test_one.py"]
                        runs[plugins].append(pytest_seconds(folder, args, 60.0))
            except BenchError as error:
                table.fail(name, error)
                continue
            table.row(added(name, median(runs[False]), median(runs[True]), STARTUP_TARGET_MS))


# path, broadcast, connect: WebSockets in this process.


def nginx_config() -> tuple[RealConfig | None, str]:
    """The nginx config to run, or ``None`` and why not."""
    try:
        binary = find_binary("nginx")
    except MissingPart as missing:
        return None, f"not run ({missing})"
    config = RealCatalogue().get(NGINX)
    text = config.config.replace(
        "worker_connections 64;", f"worker_connections {NGINX_CONNECTIONS};"
    )
    if text == config.config:
        return config, f"{binary}, {NGINX} as it stands (no worker_connections 64 to raise)"
    raised = dataclasses.replace(config, config=text)
    return raised, f"{binary}, {NGINX} with worker_connections {NGINX_CONNECTIONS}"


@asynccontextmanager
async def route(path: str, upstream: str, nginx: RealConfig | None) -> AsyncIterator[str]:
    """The base URL that reaches ``upstream`` over ``path``: direct, relay or nginx."""
    if path == "direct":
        yield upstream
    elif path == "relay":
        async with ProfileProxy(Catalogue().get("compliant"), upstream) as proxy:
            yield proxy.url
    else:
        assert nginx is not None
        async with LocalProxy(nginx, upstream) as real:
            yield real.url
            real.check()


@asynccontextmanager
async def routes(upstream: str, nginx: RealConfig | None) -> AsyncIterator[dict[str, str]]:
    """Every path to ``upstream`` at once, so that their runs can take turns."""
    paths = ["direct", "relay", *(["nginx"] if nginx is not None else [])]
    async with AsyncExitStack() as stack:
        yield {
            path: await stack.enter_async_context(route(path, upstream, nginx)) for path in paths
        }


def ws_url(base: str, endpoint: str = "/") -> str:
    return base.replace("http", "ws", 1) + endpoint


async def open_client(url: str) -> ClientConnection:
    return await connect(
        url,
        proxy=None,
        compression=None,
        max_queue=None,  # reads on while the test sends: pipelining cannot deadlock
        ping_interval=None,
        open_timeout=OPEN_TIMEOUT,
        close_timeout=CLOSE_TIMEOUT,
    )


async def close_all(clients: Sequence[ClientConnection]) -> None:
    closing = asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT * 3)
    except TimeoutError:
        for client in clients:
            client.transport.abort()


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def echo_rtt(url: str, count: int) -> float:
    """p50 seconds of a 100-byte message sent and echoed, one at a time."""
    async with asyncio.timeout(OPEN_TIMEOUT + count * 0.1):
        ws = await open_client(url)
        try:
            for _ in range(WARM_UP):
                await ws.send(MESSAGE)
                await ws.recv()
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                await ws.send(MESSAGE)
                await ws.recv()
                samples.append(time.perf_counter() - start)
        finally:
            await close_all([ws])
    return median(samples)


async def echo_pipelined(url: str, count: int) -> float:
    """Messages per second: ``count`` sent without waiting, then ``count`` read."""
    async with asyncio.timeout(OPEN_TIMEOUT + count * 0.1):
        ws = await open_client(url)
        try:
            for _ in range(WARM_UP):
                await ws.send(MESSAGE)
                await ws.recv()
            start = time.perf_counter()
            for _ in range(count):
                await ws.send(MESSAGE)
            for _ in range(count):
                await ws.recv()
            return count / (time.perf_counter() - start)
        finally:
            await close_all([ws])


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


async def open_many(url: str, count: int, batch: int) -> list[ClientConnection]:
    """``count`` clients, ``batch`` at a time; all or none (the opened ones closed)."""
    clients: list[ClientConnection] = []
    for first in range(0, count, batch):
        size = min(batch, count - first)
        opened = await asyncio.gather(
            *(open_client(url) for _ in range(size)), return_exceptions=True
        )
        clients += [c for c in opened if isinstance(c, ClientConnection)]
        errors = [e for e in opened if isinstance(e, BaseException)]
        if errors:
            await close_all(clients)
            raise BenchError(f"{len(errors)} of {size} clients did not open: {errors[0]!r}")
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
    paths = ["direct", "relay", *(["nginx"] if nginx is not None else [])]
    p99: dict[tuple[str, int], float] = {}
    lost: dict[tuple[str, int], int] = {}
    async with SimulatedCMS() as cms, routes(cms.url, nginx) as bases:
        for size in sizes:
            for path, base in bases.items():
                url = ws_url(base, cms.routes.endpoint)
                runs, lost[path, size] = await broadcast(cms, url, size, publishes, repeat)
                p99[path, size] = median(runs)
    for size in sizes:
        name = f"broadcast p99 N={size}"
        direct, relay = p99["direct", size], p99["relay", size]
        notes = tuple(
            f"{path}: {lost[path, size]} of {size * publishes * repeat} deliveries lost"
            for path in paths
            if lost[path, size]
        )
        if size == 10:
            row = at_most(f"{name}, relay", direct, relay, "ms", 2.0)
        elif size == 1000:
            row = at_most(f"{name}, relay", direct, relay, "ms", 1.2)
            no_loss = not lost["direct", size] and not lost["relay", size]
            row = dataclasses.replace(
                row, target=f"{row.target}, 0 lost", met=bool(row.met) and no_loss
            )
        else:
            row = Row(f"{name}, relay", direct, relay, "ms", "0 lost", not lost["relay", size])
        table.row(dataclasses.replace(row, notes=notes))
        if nginx is not None:
            table.row(Row(f"{name}, nginx", direct, p99["nginx", size], "ms"))
            table.row(Row(f"{name}, relay/nginx", p99["nginx", size], relay, "ms"))


async def connect_time(cms: SimulatedCMS, url: str, count: int) -> float:
    """Seconds until ``count`` WebSockets opened at once are all open."""
    start = time.perf_counter()
    opened = await asyncio.gather(*(open_client(url) for _ in range(count)), return_exceptions=True)
    elapsed = time.perf_counter() - start
    clients = [c for c in opened if isinstance(c, ClientConnection)]
    await close_all(clients)
    await server_count(cms, lambda n: n == 0)
    errors = [e for e in opened if isinstance(e, BaseException)]
    if errors:
        raise BenchError(f"{len(errors)} of {count} clients did not open: {errors[0]!r}")
    return elapsed


async def bench_connect(table: Table, count: int, repeat: int, nginx: RealConfig | None) -> None:
    times: dict[str, list[float]] = {}
    async with SimulatedCMS() as cms, routes(cms.url, nginx) as bases:
        for _ in range(repeat):
            for path, base in bases.items():
                url = ws_url(base, cms.routes.endpoint)
                times.setdefault(path, []).append(await connect_time(cms, url, count))
    direct, relay = median(times["direct"]), median(times["relay"])
    name = f"connect {count}"
    if nginx is None:
        table.row(Row(f"{name}, relay", direct, relay, "ms", "<= nginx (none)"))
        return
    real = median(times["nginx"])
    table.row(Row(f"{name}, relay", direct, relay, "ms"))
    table.row(Row(f"{name}, nginx", direct, real, "ms"))
    table.row(at_most(f"{name}, relay/nginx", real, relay, "ms", 1.0))


async def bench_catalogue(profiles: int) -> tuple[float, float, int]:
    catalogue = Catalogue()
    chosen = list(catalogue)[:profiles] if profiles else list(catalogue)
    start = time.perf_counter()
    await run_row(catalogue.get("compliant"), True, SCALE)
    one = time.perf_counter() - start
    start = time.perf_counter()
    rows = await run_matrix(chosen, SCALE)
    return one, time.perf_counter() - start, len(rows)


def raise_file_limit() -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == wanted:
        return f"open-file soft limit {soft}, the hard limit already"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as error:
        return f"open-file soft limit {soft}: could not raise it to {wanted} ({error})"
    return f"open-file soft limit raised from {soft} to {wanted} (the hard limit)"


def sizes(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"client counts of at least 1, got {text!r}")
    return values


def groups(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"groups among {', '.join(GROUPS)}, got {text!r}")
    return chosen


QUICK = {
    "repeat": 1,
    "tests": 2,
    "round_trips": 50,
    "echo": 50,
    "clients": [1, 10],
    "publishes": 2,
    "connect": 20,
    "catalogue_profiles": 2,
}
FULL = {
    "repeat": 3,
    "tests": 30,
    "round_trips": 2000,
    "echo": 2000,
    "clients": [1, 10, 100, 1000],
    "publishes": 5,
    "connect": 500,
    "catalogue_profiles": 0,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 1 repeat")
    parser.add_argument("--repeat", type=int, metavar="R", help="runs per figure (median); 3")
    parser.add_argument("--only", type=groups, metavar="GROUP,...", help=", ".join(GROUPS))
    parser.add_argument("--tests", type=int, metavar="N", help="tests per generated file; 30")
    parser.add_argument("--round-trips", type=int, metavar="N", help="heartbeats; 2000")
    parser.add_argument("--echo", type=int, metavar="N", help="echo round trips/messages; 2000")
    parser.add_argument("--clients", type=sizes, metavar="N,...", help="1,10,100,1000")
    parser.add_argument("--publishes", type=int, metavar="P", help="publishes per run; 5")
    parser.add_argument("--connect", type=int, metavar="N", help="clients opened at once; 500")
    parser.add_argument(
        "--catalogue-profiles", type=int, metavar="K", help="the first K profiles; 0 = all"
    )
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.repeat, args.round_trips, args.echo, args.publishes, args.connect) < 1:
        parser.error("--repeat, --round-trips, --echo, --publishes and --connect: at least 1")
    if args.tests < 2:
        parser.error("--tests must be at least 2 (the cost is t(N) - t(1))")
    only = args.only or list(GROUPS)

    print(raise_file_limit())
    nginx, about = nginx_config()
    print(f"nginx: {about}")
    print(
        f"median of {args.repeat}; {args.tests} tests a file, {args.echo} echoes, "
        f"{args.round_trips} heartbeats, clients {','.join(map(str, args.clients))} x "
        f"{args.publishes} publishes, {args.connect} connects"
    )
    table = Table()
    table.header()
    if "fixtures" in only:
        bench_fixtures(table, args.tests, args.repeat)
    if "startup" in only:
        bench_startup(table, args.repeat)
    measurements: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
    if "path" in only:
        measurements += [
            ("echo", lambda: bench_echo(table, args.echo, args.repeat, nginx)),
            (
                "heartbeats ws://",
                lambda: bench_heartbeats(table, args.round_trips, args.repeat, False),
            ),
            (
                "heartbeats wss://",
                lambda: bench_heartbeats(table, args.round_trips, args.repeat, True),
            ),
        ]
    if "broadcast" in only:
        measurements.append(
            (
                "broadcast",
                lambda: bench_broadcast(table, args.clients, args.publishes, args.repeat, nginx),
            )
        )
    if "connect" in only:
        measurements.append(
            (
                f"connect {args.connect}",
                lambda: bench_connect(table, args.connect, args.repeat, nginx),
            )
        )
    for name, measure in measurements:
        try:
            asyncio.run(measure())
        except Exception as error:
            table.fail(name, error)
    if "catalogue" in only:
        try:
            one, whole, rows = asyncio.run(bench_catalogue(args.catalogue_profiles))
        except Exception as error:
            table.fail("catalogue", error)
        else:
            name = f"catalogue, {rows} scenarios"
            if args.catalogue_profiles:
                table.row(Row(name, one, whole, "s", f"< {CATALOGUE_TARGET:g}s (all only)"))
            else:
                target = f"< {CATALOGUE_TARGET:g}s"
                table.row(Row(name, one, whole, "s", target, whole < CATALOGUE_TARGET))
    return 1 if table.failed else 0


if __name__ == "__main__":
    sys.exit(main())
