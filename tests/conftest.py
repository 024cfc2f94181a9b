"""Suite-wide guard: no test may leave a thread or a socket behind."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_wsharness.browser.chromium import find_browser
from pytest_wsharness.errors import MissingPart
from pytest_wsharness.require import skip_or_fail

LINGER_TIMEOUT = 5.0


@pytest.fixture
def chromium() -> Path:
    """The system's Chromium; skips naming it when missing (fails in CI, which installs it)."""
    try:
        return find_browser()
    except MissingPart as missing:
        skip_or_fail(missing, "WSHARNESS_REQUIRE_BROWSER")


def _sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed while listing
        if target.startswith("socket:"):
            found.add(f"{fd}->{target}")
    return found


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


@pytest.fixture(scope="session")
def mitmproxy_runtime() -> None:
    """Start mitmproxy_rs's tokio runtime, which lives as long as the process.

    mitmproxy creates it when a proxy first listens on UDP (a reverse proxy to an ``https``
    server also listens for HTTP/3), and it keeps a few sockets of its own from then on. Started
    here once, those are not counted against the first test that runs such a proxy.
    """
    import mitmproxy_rs

    async def listen_once() -> None:
        async def ignore(stream: object) -> None:
            return None

        server = await mitmproxy_rs.udp.start_udp_server("127.0.0.1", 0, ignore)
        server.close()
        await server.wait_closed()

    asyncio.run(listen_once())


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest, mitmproxy_runtime: None) -> Iterator[None]:
    """Fail a test that leaves a thread or a socket open after its fixtures are torn down."""
    if request.node.get_closest_marker("leaks_allowed"):
        yield
        return
    threads, sockets = _threads(), _sockets()
    yield
    # Threads that finished their work may still be exiting: wait on each, bounded.
    for thread in _threads() - threads:
        thread.join(LINGER_TIMEOUT)
    left = [t.name for t in _threads() - threads]
    assert not left, f"threads left running: {left}"
    opened = _sockets() - sockets
    assert not opened, f"sockets left open: {sorted(opened)}"
