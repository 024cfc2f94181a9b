"""End-to-end tests of the relay: a real Relay between a websockets client and the simulated CMS,
all on 127.0.0.1. Each fault must look to the client as it does behind a real middlebox, and the
relay's records must say what happened. Durations are scaled by SCALE."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK

from pytest_wsharness.commands.proxy import _Reporter
from pytest_wsharness.errors import ProxyCrashed, UnknownChoiceError, UsageError
from pytest_wsharness.protocol import HEARTBEAT, Routes, Topic
from pytest_wsharness.relay import FAULTS, FaultType, Relay
from pytest_wsharness.relay.fault_base import Direction, Fault, Segment
from pytest_wsharness.relay.records import ConnectionRecord
from pytest_wsharness.scenario.explain import relay_summary
from pytest_wsharness.server import SimulatedCMS

# Lines read word by word; their width has tests of its own.
pytestmark = pytest.mark.usefixtures("wide_terminal")

SCALE = 0.01
IO = 5.0  # bound on every wait for something that should happen
QUIET = 0.2  # how long to watch for something that should not happen
ENDPOINT = Routes().endpoint
HANDSHAKE = (
    f"GET {ENDPOINT} HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest_asyncio.fixture
async def cms() -> AsyncIterator[SimulatedCMS]:
    async with SimulatedCMS() as server:
        yield server


def relay(cms: SimulatedCMS, *faults: tuple[str, dict[str, Any]], **options: Any) -> Relay:
    return Relay(cms.url, faults, time_scale=SCALE, **options)


def client(relay: Relay, **options: Any) -> Any:
    url = relay.url.replace("http://", "ws://", 1) + ENDPOINT
    options = {"open_timeout": IO, "close_timeout": 1, **options}
    return connect(url, proxy=None, ping_interval=None, **options)


async def recv(ws: ClientConnection) -> Any:
    return await asyncio.wait_for(ws.recv(), IO)


async def nothing_arrives(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), QUIET)


async def closed(ws: ClientConnection) -> ConnectionClosed:
    for _ in range(100):
        try:
            await recv(ws)
        except ConnectionClosed as error:
            return error
    raise AssertionError("the connection stayed open")


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + IO
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def raw_answer(relay: Relay) -> bytes:
    """Send a handshake on a plain socket; return what comes back before EOF (or raise)."""
    with socket.create_connection(("127.0.0.1", relay.port), timeout=IO) as sock:
        sock.sendall(HANDSHAKE.encode())
        return sock.recv(4096)


def test_lifecycle_thread_port_and_idempotent_stop() -> None:
    proxy = Relay("http://127.0.0.1:9", name="life")
    with pytest.raises(RuntimeError, match="not running"):
        _ = proxy.url
    proxy.stop()  # never started: nothing to do
    with proxy:
        port = proxy.port
        assert proxy.url == f"http://127.0.0.1:{port}"
        assert "wsharness-relay-life" in {t.name for t in threading.enumerate()}
        with pytest.raises(RuntimeError, match="already started"):
            proxy.start()
    assert "wsharness-relay-life" not in {t.name for t in threading.enumerate()}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=IO).close()
    proxy.stop()
    proxy.check()


@pytest.mark.asyncio
async def test_a_stop_leaves_nothing_to_wait_out(
    cms: SimulatedCMS, caplog: pytest.LogCaptureFixture
) -> None:
    # Its lag watch never ends on its own: left to the stop grace, every stop took 2 s.
    with caplog.at_level(logging.WARNING, logger="pytest_wsharness.relay.relay"):
        async with (
            Relay(cms.url, name="quick", time_scale=0.01) as relay,
            connect(relay.url.replace("http", "ws", 1) + cms.routes.endpoint) as ws,
        ):
            await ws.send(HEARTBEAT)
            assert await recv(ws) == HEARTBEAT
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "faults",
    [
        [],
        [("slicer", {"average_size": 900, "size_variation": 300, "stream": "both"})],
        [("bandwidth", {"rate": 3000, "stream": "both"}), ("latency", {"latency": 1000})],
    ],
)
async def test_passthrough_is_byte_exact_and_recorded(
    cms: SimulatedCMS, faults: list[tuple[str, dict[str, Any]]]
) -> None:
    big = {"id": 7, "action": 1, "blob": "x" * 300_000}
    async with relay(cms, *faults) as r, client(r, compression=None) as ws:
        await ws.send(HEARTBEAT)
        assert await recv(ws) == HEARTBEAT
        await cms.publish(Topic.NOTIFICATION, big)
        assert json.loads(await recv(ws)) == {"topic": Topic.NOTIFICATION, "data": big}
    [record] = r.records
    assert (record.status, record.upgraded) == (101, True)
    assert (record.frames_up, record.frames_down) == (2, 3)  # + the Close frames
    assert record.bytes_down > 300_000
    assert record.ended in ("client closed", "server closed")
    assert "HTTP 101 (upgraded)" in record.describe()


FIN = (1006, EOFError, "cut (FIN)")
RST = (1006, ConnectionResetError, "reset (RST)")
GOING_AWAY = (1001, None, "closed with code 1001")
BYE = (4000, None, "closed with code 4000")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fault", "cut", "seen"),
    [
        (("idle_timeout", {"timeout": 10_000}), None, FIN),
        (("accept_then_close", {"after": 10_000, "mode": "fin"}), None, FIN),
        (("accept_then_close", {"after": 10_000, "mode": "rst"}), None, RST),
        (("accept_then_close", {"after": 10_000}), None, GOING_AWAY),
        (("close", {"code": 4000, "reason": "bye", "after": 10_000}), None, BYE),
        (None, "fin", FIN),
        (None, "rst", RST),
        (None, "close", GOING_AWAY),
    ],
)
async def test_endings_look_as_behind_a_real_middlebox(
    cms: SimulatedCMS, fault: Any, cut: str | None, seen: tuple[int, type | None, str]
) -> None:
    code, cause, ended = seen
    async with relay(cms, *[fault] if fault else []) as r:
        started = time.monotonic()  # before the 101: every fault timer starts after it
        async with client(r) as ws:
            if cut:
                await until(lambda: r.connections == 1, "the connection")
                assert r.cut_all(cut) == 1
            error = await closed(ws)
            assert time.monotonic() - started >= (0 if cut else 0.099)
            assert ws.close_code == code
            assert (None if error.__cause__ is None else type(error.__cause__)) is cause
            if code == 1006:  # no Close frame: what a FIN or a RST without one looks like
                assert ws.protocol.close_rcvd is None
                assert isinstance(error, ConnectionClosedError)
            else:  # a clean close, with the code
                assert ws.protocol.close_rcvd is not None
                assert ws.protocol.close_rcvd.code == code
                assert ws.protocol.close_rcvd.reason == ("bye" if code == 4000 else "")
                assert isinstance(error, ConnectionClosedOK) is (code == 1001)
    [record] = r.records
    assert record.ended == ended
    assert ("cut_all" if cut else "") in record.events[-1]  # each fault's words: unit-tested


@pytest.mark.asyncio
async def test_handshake_blackholed_refused_or_reset(cms: SimulatedCMS) -> None:
    async with relay(cms, ("timeout", {"timeout": 0})) as r:
        with pytest.raises(TimeoutError):  # the client's open_timeout: no answer ever came
            async with client(r, open_timeout=QUIET):
                pass
        r.clear_faults()
        for use in ("down", "reset_peer"):
            r.add_fault(use)
            with pytest.raises(ConnectionResetError):
                await asyncio.to_thread(raw_answer, r)
            r.clear_faults()
    blackholed, refused, reset = r.records
    assert (blackholed.status, blackholed.upgraded, blackholed.bytes_down) == (101, False, 0)
    assert (refused.ended, reset.ended, reset.upgraded) == ("refused (down)", "reset (RST)", False)
    assert reset.events[-1].endswith("reset by reset_peer")


@pytest.mark.asyncio
async def test_silent_drop_hangs_until_the_relay_stops(cms: SimulatedCMS) -> None:
    r = relay(cms, ("silent_drop", {"after": 5000}))
    async with r, client(r) as ws:
        await until(lambda: r.records[0].ended is not None, "the drop")
        await ws.send(HEARTBEAT)
        await cms.publish(Topic.NOTIFICATION, {"id": 1, "action": 1})
        await nothing_arrives(ws)
        assert ws.protocol.close_rcvd is None
        assert r.connections == 1
        await asyncio.to_thread(r.stop)
        assert isinstance(await closed(ws), ConnectionClosedError)
    [record] = r.records
    assert (record.ended, record.frames_down) == ("hung (silent drop)", 0)


@pytest.mark.asyncio
async def test_hold_messages_until_enough_bytes(cms: SimulatedCMS) -> None:
    fault = ("hold_messages", {"until_bytes": 200})
    # The open succeeds: the 101 passed.
    async with relay(cms, fault) as r, client(r, compression=None) as ws:
        await ws.send(HEARTBEAT)
        await nothing_arrives(ws)  # the echo is held
        for item in (1, 2):
            await cms.publish(Topic.NOTIFICATION, {"id": item, "action": 1})
        await nothing_arrives(ws)  # 16 + 2 x 74 bytes held
        await cms.publish(Topic.NOTIFICATION, {"id": 3, "action": 1})
        assert await recv(ws) == HEARTBEAT
        assert [json.loads(await recv(ws))["data"]["id"] for _ in range(3)] == [1, 2, 3]
    assert any("released 4 held frames" in e for e in r.records[0].events)


@pytest.mark.asyncio
async def test_drop_by_topic_and_swallowed_heartbeats(cms: SimulatedCMS) -> None:
    drop = ("drop_messages", {"topic": Topic.NOTIFICATION.value})
    # The client offers permessage-deflate: the relay removes the offer, to read messages.
    async with relay(cms, drop, ("swallow", {"what": "heartbeats"})) as r, client(r) as ws:
        await ws.send(HEARTBEAT)
        await cms.publish(Topic.NOTIFICATION, {"id": 1, "action": 1})
        await cms.publish(Topic.PROJECT, {"id": 2, "action": 1})
        assert json.loads(await recv(ws))["topic"] == Topic.PROJECT
        await nothing_arrives(ws)  # no heartbeat echo: the server never got the heartbeat
    first, *events = r.records[0].events
    assert "removed the permessage-deflate offer" in first
    assert sorted(e.split(" ", 1)[1] for e in events) == [
        "dropped text frame to client: /episerver/cms/notification",
        "swallowed heartbeat to server",
    ]


@pytest.mark.asyncio
async def test_latency_delays_and_limit_data_cuts(cms: SimulatedCMS) -> None:
    faults = ("latency", {"latency": 10_000}), ("limit_data", {"bytes": 1000})
    async with relay(cms, *faults) as r, client(r, compression=None) as ws:
        started = time.monotonic()
        await cms.publish(Topic.NOTIFICATION, {"id": 1, "action": 1})
        await recv(ws)
        assert time.monotonic() - started >= 0.1
        for item in range(40):
            await cms.publish(Topic.NOTIFICATION, {"id": item, "action": 1})
        assert (await closed(ws)).rcvd is None
    [record] = r.records
    assert (record.bytes_down, record.ended) == (1000, "cut (FIN)")


async def decisions(cms: SimulatedCMS, seed: int) -> list[str]:
    async with relay(cms, ("latency", {"latency": 1, "toxicity": 0.5}), seed=seed) as r:
        for _ in range(8):
            socket.create_connection(("127.0.0.1", r.port), timeout=IO).close()
        await until(lambda: len(r.records) == 8 and r.connections == 0, "8 connections")
    return [rec.events[0].split()[2] for rec in r.records]


@pytest.mark.asyncio
async def test_toxicity_decisions_repeat_with_the_seed(cms: SimulatedCMS) -> None:
    first = await decisions(cms, 3)
    assert first == await decisions(cms, 3)
    assert set(first) == {"applies", "spares"}


@pytest.mark.asyncio
async def test_faults_added_and_removed_on_a_live_connection(cms: SimulatedCMS) -> None:
    async with relay(cms) as r, client(r, compression=None) as ws:
        dropping = r.add_fault("drop_messages", topic=Topic.NOTIFICATION.value)
        holding = r.add_fault("hold_messages")
        await cms.publish(Topic.NOTIFICATION, {"id": 1, "action": 1})
        await cms.publish(Topic.PROJECT, {"id": 2, "action": 1})
        await nothing_arrives(ws)
        r.remove_fault(holding)  # releases what it held
        assert json.loads(await recv(ws))["topic"] == Topic.PROJECT
        r.remove_fault(dropping)
        await cms.publish(Topic.NOTIFICATION, {"id": 3, "action": 1})
        assert json.loads(await recv(ws))["data"]["id"] == 3
        with pytest.raises(UnknownChoiceError, match="unknown relay fault id 0"):
            r.remove_fault(dropping)


class Boom(Fault):
    use = "boom"

    def on_bytes(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        raise RuntimeError("boom")


@pytest.mark.asyncio
async def test_thread_errors_are_re_raised_and_upstream_failures_recorded(
    cms: SimulatedCMS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(FAULTS, "boom", FaultType(Boom, "raises", {}))
    async with Relay(cms.url, [("boom", {})], name="b") as r, Relay("http://127.0.0.1:9") as r9:
        for each in (r, r9):  # nothing listens on 9, the discard port
            with contextlib.suppress(OSError):  # the relay aborts the connection
                await asyncio.to_thread(raw_answer, each)
    with pytest.raises(ProxyCrashed, match="relay b") as info:
        r.check()
    assert str(info.value.__cause__) == "boom"
    assert r.records[0].ended == "relay error: RuntimeError('boom')"
    assert r9.records[0].ended.startswith("upstream unreachable: ConnectionRefusedError")
    r9.check()


@pytest.mark.asyncio
async def test_an_encrypted_connection_passes_through_a_websocket_only_relay() -> None:
    """A TLS client sends no head the relay could judge: its bytes pass on untouched."""
    import aiohttp

    from pytest_wsharness.runtime.tls import TestCA

    ca = TestCA()
    async with SimulatedCMS(ssl=ca.issue().server_context()) as cms:
        upstream = "http://" + cms.url.removeprefix("https://")
        async with Relay(upstream, websocket_only=True) as relay:
            url = "https://" + relay.url.removeprefix("http://") + cms.routes.settings
            async with (
                aiohttp.ClientSession(trust_env=False) as session,
                session.get(url, ssl=ca.client_context()) as response,
            ):
                assert response.status == 200
                assert (await response.json())["enableWebSockets"] is True
            records = relay.records
    assert records[0].asked_to_upgrade is None
    assert records[0].bytes_up > 0
    assert records[0].encrypted


def test_an_upstream_without_a_port_is_the_schemes_and_port_0_is_refused() -> None:
    # Issue 10: "http://127.0.0.1" as the README's http(s)://host[:port] allows, was refused.
    assert Relay("http://127.0.0.1, https://cms.test/x", [])._targets == [
        ("127.0.0.1", 80),
        ("cms.test", 443),
    ]
    with pytest.raises(
        UsageError, match=r"^upstream must be .*got 'http://127\.0\.0\.1:0'; port 0"
    ):
        Relay("http://127.0.0.1:0", [])


def test_a_connection_whose_request_has_not_come_is_not_called_encrypted() -> None:
    """Issue 10: ``wsharness proxy`` said "relayed an encrypted connection untouched" of a
    plain connection whose request head had not arrived yet."""
    # What the relay records at accept, before the head; then once it saw a TLS ClientHello.
    waiting = ConnectionRecord(0, "127.0.0.1:50000")
    encrypted = ConnectionRecord(1, "127.0.0.1:50001", encrypted=True, bytes_up=517)
    assert relay_summary([waiting]) == ("", False)
    assert relay_summary([encrypted]) == ("relayed an encrypted connection untouched", False)
    out = io.StringIO()
    _Reporter(out).report(SimpleNamespace(records=[], connections=[waiting, encrypted]))
    assert out.getvalue().splitlines() == [
        "connection #0 from 127.0.0.1:50000: no request yet [open]",
        "connection #1 from 127.0.0.1:50001: relayed an encrypted connection untouched [open]",
    ]
