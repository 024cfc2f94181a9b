"""The paths a WebSocket benchmark compares: straight to the server (the baseline), through the
relay (the ``compliant`` profile) and, when installed, through nginx's ``nginx-websocket``
config; and the clients that take them. It measures nothing itself.

nginx gets ``worker_connections`` raised from the catalogue's 64 (which holds 31 proxied
sockets) to 4096. The relay runs on a thread of its own in this interpreter; nginx is a process
of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from websockets.asyncio.client import ClientConnection, connect

from pytest_wsharness.errors import MissingPart
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.real.configs import RealCatalogue, RealConfig
from pytest_wsharness.real.local import LocalProxy, find_binary
from results import BenchError

OPEN_TIMEOUT = 30.0  # each client's handshake
CLOSE_TIMEOUT = 2.0  # each client's closing handshake
NGINX = "nginx-websocket"
NGINX_CONNECTIONS = 4096


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


def path_names(nginx: RealConfig | None) -> list[str]:
    """The paths measured: direct and relay, and nginx when it runs."""
    return ["direct", "relay", *(["nginx"] if nginx is not None else [])]


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
    async with AsyncExitStack() as stack:
        yield {
            path: await stack.enter_async_context(route(path, upstream, nginx))
            for path in path_names(nginx)
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
