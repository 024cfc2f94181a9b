"""Tests for the embedded mitmproxy engine (``MitmProxy``) with real sockets on 127.0.0.1.

Lifecycle (context managers, start/stop, teardown frees the port and ends the thread), then each
built-in profile end to end between a websockets client (or a raw socket, to see a reset) and the
simulated CMS, several proxies at once and in a chain, and errors from the proxy thread.
Records are read after the proxy stopped: its thread has then run every hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pytest_wsharness.errors import ProxyCrashed
from pytest_wsharness.profiles import Behaviour, Catalogue, Expect, Profile
from pytest_wsharness.profiles.behaviours import BEHAVIOURS, BehaviourType
from pytest_wsharness.protocol import HEARTBEAT, Routes, Topic, encode_message
from pytest_wsharness.proxy.mitm import MitmProxy
from pytest_wsharness.proxy.records import ProxyRecord
from pytest_wsharness.server.cms import SimulatedCMS
from pytest_wsharness.server.records import RequestRecord

CATALOGUE = Catalogue()
ENDPOINT = Routes().endpoint
UNUSED_UPSTREAM = "http://127.0.0.1:9"  # lifecycle tests send no request upstream
IO_TIMEOUT = 5.0
HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest_asyncio.fixture
async def cms() -> AsyncIterator[SimulatedCMS]:
    async with SimulatedCMS() as server:
        yield server


def profile(name: str, *behaviours: Behaviour) -> Profile:
    return Profile(name, f"test profile {name}", Expect.FALLBACK, behaviours)


def ws_url(proxy: MitmProxy) -> str:
    return proxy.url.replace("http://", "ws://", 1) + ENDPOINT


def port_of(proxy: MitmProxy) -> int:
    port = urlsplit(proxy.url).port
    assert port
    return port


def raw_handshake(url: str) -> bytes:
    """Send a WebSocket handshake on a plain socket; return the answer's head, b"" on EOF.

    Raises:
        ConnectionResetError: the peer reset the connection (websockets would only say EOF).
    """
    parts = urlsplit(url)
    assert parts.hostname
    assert parts.port
    with socket.create_connection((parts.hostname, parts.port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(HANDSHAKE.format(path=ENDPOINT, host=parts.netloc).encode())
        head = b""
        for _ in range(64):
            chunk = sock.recv(4096)
            head += chunk
            if not chunk or b"\r\n\r\n" in head:
                break
    return head.partition(b"\r\n\r\n")[0]


def outcome(url: str) -> str:
    """What a client sees of a handshake: the status code, ``"reset"`` or ``"eof"``."""
    try:
        head = raw_handshake(url)
    except ConnectionResetError:
        return "reset"
    return head.split(b" ", 2)[1].decode() if head else "eof"


def endpoint_requests(cms: SimulatedCMS) -> list[RequestRecord]:
    return [r for r in cms.requests if r.path == ENDPOINT]


async def refused_status(proxy: MitmProxy) -> int:
    """The status a WebSocket handshake through ``proxy`` was refused with."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(proxy), proxy=None, open_timeout=IO_TIMEOUT):
            pass
    return info.value.response.status_code


def only_record(proxy: MitmProxy) -> ProxyRecord:
    [record] = proxy.records
    assert record.profile == proxy.profile.name
    return record


def assert_stopped(name: str, port: int) -> None:
    assert f"wsharness-proxy-{name}" not in {t.name for t in threading.enumerate()}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT).close()
    with socket.socket() as sock:
        # SO_REUSEADDR: the probe connection may linger in TIME_WAIT on the port (the proxy
        # closed it first), but Linux still refuses the bind while anything listens there.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def assert_running(proxy: MitmProxy) -> int:
    port = port_of(proxy)
    assert proxy.url == f"http://127.0.0.1:{port}"
    assert f"wsharness-proxy-{proxy.profile.name}" in {t.name for t in threading.enumerate()}
    socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT).close()
    return port


@contextlib.contextmanager
def started(proxy: MitmProxy) -> Iterator[MitmProxy]:
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.mark.parametrize("style", [contextlib.nullcontext, started])
def test_sync_lifecycle_frees_port_and_thread(style: object) -> None:
    proxy = MitmProxy(CATALOGUE.get("compliant"), UNUSED_UPSTREAM)
    cm = proxy if style is contextlib.nullcontext else started(proxy)
    with cm:
        port = assert_running(proxy)
    assert_stopped("compliant", port)
    proxy.stop()  # idempotent
    proxy.stop()
    proxy.check()


@pytest.mark.asyncio
async def test_async_lifecycle_frees_port_and_thread() -> None:
    async with MitmProxy(CATALOGUE.get("firewall"), UNUSED_UPSTREAM) as proxy:
        port = assert_running(proxy)
    assert_stopped("firewall", port)


def test_misuse_raises() -> None:
    proxy = MitmProxy(CATALOGUE.get("compliant"), UNUSED_UPSTREAM)
    with pytest.raises(RuntimeError, match="not running"):
        _ = proxy.url
    proxy.stop()  # stopping a proxy that never started does nothing
    with proxy:
        with pytest.raises(RuntimeError, match="already started"):
            proxy.start()
        assert_running(proxy)
    with pytest.raises(RuntimeError, match="already started"):
        proxy.start()


@pytest.mark.asyncio
async def test_compliant_tunnels_both_ways(cms: SimulatedCMS) -> None:
    update = {"id": 7, "action": 1}
    async with (
        MitmProxy(CATALOGUE.get("compliant"), cms.url) as proxy,
        connect(ws_url(proxy), proxy=None, open_timeout=IO_TIMEOUT) as ws,
    ):
        await ws.send(HEARTBEAT)  # client -> server, echoed back
        assert await asyncio.wait_for(ws.recv(), IO_TIMEOUT) == HEARTBEAT
        assert await cms.publish(Topic.NOTIFICATION, update) == 1  # server -> client
        got = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
        assert json.loads(got) == json.loads(encode_message(Topic.NOTIFICATION, update))
    proxy.check()
    record = only_record(proxy)
    assert (record.asked_to_upgrade, record.status, record.answered_by) == (True, 101, "upstream")
    assert (record.upgraded, record.close_code, record.closed_by) == (True, 1000, "client")
    assert record.headers_removed == ()
    [seen] = endpoint_requests(cms)
    assert seen.status == 101


@pytest.mark.asyncio
async def test_header_stripping_lets_backend_answer_200(cms: SimulatedCMS) -> None:
    async with MitmProxy(CATALOGUE.get("header-stripping"), cms.url) as proxy:
        status = await refused_status(proxy)
    assert status == 200
    [seen] = endpoint_requests(cms)
    assert seen.header("Upgrade") is None
    assert not seen.asked_to_upgrade
    assert seen.header("Sec-WebSocket-Key") is not None  # forwarded, as real hops do
    record = only_record(proxy)
    assert record.headers_removed == ("Connection", "Upgrade")
    assert (record.asked_to_upgrade, record.status, record.answered_by) == (True, 200, "upstream")
    assert not record.upgraded


@pytest.mark.asyncio
async def test_firewall_answers_403_itself(cms: SimulatedCMS) -> None:
    async with MitmProxy(CATALOGUE.get("firewall"), cms.url) as proxy:
        status = await refused_status(proxy)
    assert status == 403
    assert endpoint_requests(cms) == []
    record = only_record(proxy)
    assert (record.status, record.answered_by, record.forwarded) == (403, "proxy", False)


@pytest.mark.asyncio
async def test_firewall_reset_resets_the_client(cms: SimulatedCMS) -> None:
    async with MitmProxy(CATALOGUE.get("firewall-reset"), cms.url) as proxy:
        with pytest.raises(ConnectionResetError):
            await asyncio.to_thread(raw_handshake, proxy.url)
    assert endpoint_requests(cms) == []
    record = only_record(proxy)
    assert record.reset
    assert record.status is None
    assert "reset the connection" in record.describe()


@pytest.mark.asyncio
async def test_concurrent_proxies_keep_their_own_behaviour(cms: SimulatedCMS) -> None:
    # The resetting proxy starts first: with one shared mitmproxy ctx it would find the last
    # master's connections, not its own, and close instead of reset. Two deny statuses guard
    # the shared options.
    expected = {
        "firewall-reset": "reset",
        "deny-451": "451",
        "firewall": "403",
        "header-stripping": "200",
        "compliant": "101",
    }
    deny_451 = profile("deny-451", Behaviour("deny-upgrade", {"status": 451}))
    profiles = [deny_451 if n == "deny-451" else CATALOGUE.get(n) for n in expected]
    async with contextlib.AsyncExitStack() as stack:
        proxies = [await stack.enter_async_context(MitmProxy(p, cms.url)) for p in profiles]
        for _ in range(2):  # twice, interleaved across all proxies
            seen = await asyncio.gather(*(asyncio.to_thread(outcome, p.url) for p in proxies))
            assert dict(zip(expected, seen, strict=True)) == expected
    for proxy in proxies:
        proxy.check()
        assert {r.profile for r in proxy.records} == {proxy.profile.name}
        assert len(proxy.records) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize(("inner", "status"), [("header-stripping", 200), ("firewall", 403)])
async def test_chained_proxies_behave_as_the_inner_one(
    cms: SimulatedCMS, inner: str, status: int
) -> None:
    async with (
        MitmProxy(CATALOGUE.get(inner), cms.url) as back,
        MitmProxy(CATALOGUE.get("compliant"), back.url) as front,
    ):
        refused = await refused_status(front)
    assert refused == status
    outer = only_record(front)
    assert (outer.asked_to_upgrade, outer.status, outer.answered_by) == (True, status, "upstream")
    assert outer.headers_removed == ()
    assert only_record(back).status == status
    assert len(endpoint_requests(cms)) == (1 if inner == "header-stripping" else 0)


class Boom(Exception):
    """The error the exploding addon raises."""


class Explode:
    """An addon that fails on every request, in the proxy thread."""

    def requestheaders(self, flow: object) -> None:
        raise Boom("kaboom")


class CountMessages:
    """Counts the messages mitmproxy holds for a flow, after the recorder has run."""

    held: list[int] = []  # noqa: RUF012 - written by the proxy thread, read after it stopped

    def websocket_message(self, flow: object) -> None:
        self.held.append(len(flow.websocket.messages))  # type: ignore[attr-defined]


@pytest.fixture
def extra_behaviours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BEHAVIOURS, "explode", BehaviourType(f"{__name__}:Explode", "raise"))
    monkeypatch.setitem(BEHAVIOURS, "count", BehaviourType(f"{__name__}:CountMessages", "count"))
    monkeypatch.setattr(CountMessages, "held", [])


@pytest.mark.asyncio
@pytest.mark.usefixtures("extra_behaviours")
async def test_addon_error_is_reraised_by_check(cms: SimulatedCMS) -> None:
    async with MitmProxy(profile("exploding", Behaviour("explode")), cms.url) as proxy:
        proxy.check()  # nothing failed yet
        async with connect(ws_url(proxy), proxy=None, open_timeout=IO_TIMEOUT):
            pass  # mitmproxy logs the addon error and carries on
        with pytest.raises(ProxyCrashed, match="exploding") as info:
            proxy.check()
    assert isinstance(info.value.__cause__, Boom)
    assert info.value.error is info.value.__cause__
    assert str(info.value.__cause__) == "kaboom"


@pytest.mark.asyncio
@pytest.mark.usefixtures("extra_behaviours")
async def test_recorder_keeps_no_websocket_messages(cms: SimulatedCMS) -> None:
    async with (
        MitmProxy(profile("counting", Behaviour("count")), cms.url) as proxy,
        connect(ws_url(proxy), proxy=None, open_timeout=IO_TIMEOUT) as ws,
    ):
        for _ in range(200):
            await ws.send(HEARTBEAT)
        for _ in range(200):
            assert await asyncio.wait_for(ws.recv(), IO_TIMEOUT) == HEARTBEAT
    proxy.check()
    assert len(CountMessages.held) == 400  # every message both ways went through the hooks
    assert set(CountMessages.held) == {0}
    assert only_record(proxy).close_code == 1000
