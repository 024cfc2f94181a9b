"""The paths a WebSocket benchmark compares, and the clients that take them. It measures nothing
itself.

- ``direct``: straight to the server, the baseline;
- ``relay``: the relay (the ``compliant`` profile) on a thread of its own in this interpreter,
  as the fixtures run it: it shares the GIL with the clients and the server here, so every hop
  through it also waits for this interpreter's other threads;
- ``relay process``: ``wsharness proxy compliant`` in a process of its own, as a support
  engineer runs it and as nginx runs;
- ``nginx``, when installed: the real ``nginx-websocket`` config, with ``worker_connections``
  raised from the catalogue's 64 (which holds 31 proxied sockets) to 4096;
- ``python splice``: ``splice.py`` in a process of its own, a TCP splice on asyncio protocols
  that does nothing but copy bytes: the floor of any Python proxy, against which ``relay
  process`` shows the relay's own work (ws:// only, as nginx: it would pass TLS through).

The direct baseline is not a neutral one: its client and server may share one event loop (the
simulated CMS and the echo server of ``wire.py`` do), and then a message crosses no process and
no thread, which no proxy can match: nginx itself is 1.5-2x there. ``wire.py`` therefore also
runs its echo server in a process of its own, as a real CMS is, and prints both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from pytest_wsharness.errors import MissingPart
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.real.configs import RealCatalogue, RealConfig
from pytest_wsharness.real.local import LocalProxy, find_binary
from pytest_wsharness.runtime.tls import TestCA
from results import BenchError

OPEN_TIMEOUT = 30.0  # each client's handshake
CLOSE_TIMEOUT = 2.0  # each client's closing handshake
NGINX = "nginx-websocket"
NGINX_CONNECTIONS = 4096
START_TIMEOUT = 30.0  # a child process to print where it listens
STOP_TIMEOUT = 10.0  # a child process to end once asked
ANNOUNCE_LINES = 20  # lines a child may print before the ones wanted
URL = re.compile(r"https?://127\.0\.0\.1:\d+")
SPLICE = "python splice"
SPLICE_SCRIPT = Path(__file__).with_name("splice.py")
TRUST = re.compile(r"certificates come from (\S+): trust it")


@dataclass(frozen=True)
class Route:
    """Where a client connects to reach the server, and the TLS context it needs (wss://)."""

    url: str
    tls: ssl.SSLContext | None = None


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


def path_names(nginx: RealConfig | None, *, tls: bool = False) -> list[str]:
    """The paths measured: direct, relay and relay process, and over ws:// the python splice
    and nginx when it runs (its config proxies to a plain HTTP upstream)."""
    if tls:
        return ["direct", "relay", "relay process"]
    real = ["nginx"] if nginx is not None else []
    return ["direct", "relay", "relay process", SPLICE, *real]


@asynccontextmanager
async def child(args: Sequence[str], wanted: Sequence[re.Pattern[str]]) -> AsyncIterator[list[str]]:
    """Run ``args``; yield the first match of each of ``wanted``, in order, from its output.

    Its later output is read and dropped, so that it never blocks on a full pipe. At the end
    its standard input is closed and it is terminated (SIGTERM), killed if it does not end.
    """
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    draining: asyncio.Task[None] | None = None
    try:
        found = await asyncio.wait_for(announced(proc.stdout, wanted, args), START_TIMEOUT)
        draining = asyncio.create_task(drain(proc.stdout))
        yield found
    finally:
        proc.stdin.close()
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if draining is not None:
            draining.cancel()
            await asyncio.gather(draining, return_exceptions=True)


async def announced(
    out: asyncio.StreamReader, wanted: Sequence[re.Pattern[str]], args: Sequence[str]
) -> list[str]:
    found: list[str] = []
    said: list[str] = []
    for _ in range(ANNOUNCE_LINES):
        line = (await out.readline()).decode(errors="replace")
        if not line:
            break
        said.append(line.rstrip())
        match = wanted[len(found)].search(line)
        if match is not None:
            found.append(match.group(match.lastindex or 0))
            if len(found) == len(wanted):
                return found
    raise BenchError(f"{' '.join(args[1:4])} did not say where it listens: {' | '.join(said)}")


async def drain(out: asyncio.StreamReader) -> None:
    while await out.read(1 << 16):
        pass


@asynccontextmanager
async def relay_process(upstream: str, ca: TestCA | None) -> AsyncIterator[Route]:
    """``wsharness proxy compliant`` in a process of its own, in front of ``upstream``."""
    args = [sys.executable, "-m", "pytest_wsharness.cli", "proxy", "compliant"]
    with tempfile.TemporaryDirectory(prefix="wsharness-bench-") as folder:
        wanted = [URL]
        if ca is not None:
            # It trusts the test CA upstream and opens the clients' TLS with a CA of its own.
            args += ["--upstream-ca", str(ca.write(folder))]
            wanted.append(TRUST)
        async with child([*args, "--upstream", upstream], wanted) as found:
            tls = ssl.create_default_context(cafile=found[1]) if ca is not None else None
            yield Route(found[0], tls)


@asynccontextmanager
async def route(
    path: str, upstream: str, nginx: RealConfig | None, ca: TestCA | None = None
) -> AsyncIterator[Route]:
    """How to reach ``upstream`` over ``path``; ``ca``: the https upstream's test CA."""
    tls = ca.client_context() if ca is not None else None
    if path == "direct":
        yield Route(upstream, tls)
    elif path == "relay":
        async with ProfileProxy(Catalogue().get("compliant"), upstream, ca=ca) as proxy:
            yield Route(proxy.url, tls)
    elif path == "relay process":
        async with relay_process(upstream, ca) as through:
            yield through
    elif path == SPLICE:
        async with child([sys.executable, str(SPLICE_SCRIPT), upstream], [URL]) as (url,):
            yield Route(url)
    else:
        assert nginx is not None
        async with LocalProxy(nginx, upstream) as real:
            yield Route(real.url)
            real.check()


@asynccontextmanager
async def routes(
    upstream: str, nginx: RealConfig | None, ca: TestCA | None = None
) -> AsyncIterator[dict[str, Route]]:
    """Every path to ``upstream`` at once, so that their runs can take turns."""
    async with AsyncExitStack() as stack:
        yield {
            path: await stack.enter_async_context(route(path, upstream, nginx, ca))
            for path in path_names(nginx, tls=ca is not None)
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


async def open_at_once(url: str, count: int) -> list[ClientConnection]:
    """``count`` clients opened at once; all or none (the opened ones closed)."""
    opened = await asyncio.gather(*(open_client(url) for _ in range(count)), return_exceptions=True)
    clients = [c for c in opened if isinstance(c, ClientConnection)]
    errors = [e for e in opened if isinstance(e, BaseException)]
    if errors:
        await close_all(clients)
        raise BenchError(f"{len(errors)} of {count} clients did not open: {errors[0]!r}")
    return clients


async def close_all(clients: Sequence[ClientConnection]) -> None:
    closing = asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT * 3)
    except TimeoutError:
        for client in clients:
            client.transport.abort()
