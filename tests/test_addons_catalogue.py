"""Tests for the HTTP-edge addons: unit tests with ``taddons``/``tflow``, then end to end.

End to end, a real :class:`MitmProxy` with one behaviour sits between a websockets client and the
simulated CMS; records are read after it stopped. ``RestrictConnect`` and ``PassTlsThrough`` need
a forward-proxy mode and TLS that the embedding does not run yet: unit tests only.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from websockets import exceptions as ws_errors
from websockets.asyncio import client as ws_client
from websockets.asyncio.client import connect

from pytest_wsharness.profiles import Behaviour, Expect, Profile
from pytest_wsharness.profiles.behaviours import BEHAVIOURS, BehaviourType
from pytest_wsharness.protocol import Routes
from pytest_wsharness.proxy import records
from pytest_wsharness.proxy.mitm import MitmProxy
from pytest_wsharness.server.cms import SimulatedCMS

with warnings.catch_warnings():  # mitmproxy's dependencies warn on import (see test_addons.py)
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy import exceptions, hooks, http
    from mitmproxy.proxy.context import Context
    from mitmproxy.proxy.layers import http as layers
    from mitmproxy.proxy.layers.tls import TlsClienthelloHook, parse_client_hello
    from mitmproxy.proxy.mode_specs import ProxyMode
    from mitmproxy.test import taddons, tflow
    from mitmproxy.tls import ClientHelloData

    from pytest_wsharness.addons.break_accept import WRONG_ACCEPT, BreakUpgradeResponse
    from pytest_wsharness.addons.connection_close import RewriteConnectionClose
    from pytest_wsharness.addons.deny_connect import RestrictConnect
    from pytest_wsharness.addons.deny_upgrade import DenyUpgrade
    from pytest_wsharness.addons.redirect_upgrade import RedirectUpgrade
    from pytest_wsharness.addons.slow_handshake import SlowHandshake
    from pytest_wsharness.addons.tls_passthrough import PassTlsThrough

ENDPOINT = Routes().endpoint
IO_TIMEOUT = 5.0
POLL = 0.01
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3's accept for KEY


@pytest_asyncio.fixture
async def tctx() -> AsyncIterator[taddons.context]:
    with taddons.context() as context:
        yield context
    context.master._legacy_log_events.uninstall()  # the master's root log handler


def request(upgrade: bool = True, **extra: str) -> http.HTTPFlow:
    headers = {"Host": "cms.example", **extra}
    if upgrade:
        headers |= {"Connection": "Upgrade", "Upgrade": "websocket"}
        headers |= {"Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13"}
    return tflow.tflow(req=http.Request.make("GET", f"http://cms.example{ENDPOINT}", b"", headers))


async def hook(tctx: taddons.context, addon: object, event: hooks.Hook) -> None:
    await tctx.master.addons.invoke_addon(addon, event)


# -- unit tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "params", "message"),
    [
        (RedirectUpgrade, {"status": 200}, "must be one of 301, 302, 303, 307, 308, got 200"),
        (RedirectUpgrade, {"status": "302"}, "got '302'"),
        (RedirectUpgrade, {"location": ""}, "got ''"),
        (RedirectUpgrade, {"location": "/a\r\nSet-Cookie: x=1"}, "must be a path or a URL"),
        (SlowHandshake, {"delay": -1}, "must be >= 0 seconds, got -1"),
        (SlowHandshake, {"delay": float("nan")}, "got nan"),
        (SlowHandshake, {"delay": "1"}, "got '1'"),
        (SlowHandshake, {"delay": True}, "got True"),
        (BreakUpgradeResponse, {"mode": "drop"}, "'drop' is not valid; valid modes: bad-accept, "),
        (RestrictConnect, {"allowed_ports": [0]}, "integers 1-65535, got 0"),
        (RestrictConnect, {"allowed_ports": ["443"]}, "got '443'"),
        (RestrictConnect, {"allowed_ports": "443"}, "must be a list of port numbers, got '443'"),
    ],
)
def test_bad_parameters_raise_value_error(
    make: Callable[..., object], params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make(**params)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("make", "option", "good", "attribute", "value", "bad"),
    [
        (DenyUpgrade, "wsharness_deny_status", 451, "status", 451, 200),
        (RedirectUpgrade, "wsharness_redirect_status", 308, "status", 308, 404),
        (RedirectUpgrade, "wsharness_redirect_location", "/sso", "location", "/sso", ""),
        (lambda: SlowHandshake(0), "wsharness_handshake_delay", "0.5", "delay", 0.5, "-1"),
        (lambda: SlowHandshake(0), "wsharness_handshake_delay", "0.5", "delay", 0.5, "soon"),
        (BreakUpgradeResponse, "wsharness_break_mode", "no-upgrade-headers", "mode", None, "x"),
        (RestrictConnect, "wsharness_connect_ports", ["80"], "allowed_ports", (80,), ["x"]),
    ],
)
async def test_options_are_read_from_the_addons_own_master(
    make: Callable[[], object], option: str, good: Any, attribute: str, value: Any, bad: Any
) -> None:
    addon = make()
    with taddons.context(addon) as mine, taddons.context() as other:
        # ``other`` is the newest master, so mitmproxy's global ctx now holds its options.
        mine.configure(addon, **{option: good})
        assert getattr(addon, attribute) == (good if value is None else value)
        with pytest.raises(exceptions.OptionsError):
            mine.configure(addon, **{option: bad})
        assert getattr(addon, attribute) == (good if value is None else value)  # did not stick
        assert option not in other.options
    for context in (mine, other):
        context.master._legacy_log_events.uninstall()


@pytest.mark.asyncio
async def test_connection_close_keeps_upgrade(tctx: taddons.context) -> None:
    flow, plain, closed = request(), request(upgrade=False), request(False, Connection="Close")
    for f in (flow, plain, closed):  # an HTTP/1.0-minded hop closes every request
        await hook(tctx, RewriteConnectionClose(), layers.HttpRequestHeadersHook(f))
        assert f.request.headers["Connection"].lower() == "close"
    assert flow.request.headers["Upgrade"] == "websocket"
    for f in (flow, plain):
        assert f.metadata[records.REWRITTEN_HEADERS] == ("Connection",)
    assert closed.metadata == {}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("params", "reverse", "status", "location"),
    [
        ({}, False, 302, "/login"),
        ({"status": 301, "location": "https://sso.example/a"}, False, 301, "https://sso.example/a"),
        ({"status": 307, "location": "https"}, False, 307, f"https://cms.example{ENDPOINT}"),
        # In reverse mode mitmproxy has put the upstream's Host in place: name the proxy.
        ({"status": 307, "location": "https"}, True, 307, f"https://127.0.0.1:8080{ENDPOINT}"),
    ],
)
async def test_redirect_answers_upgrade_itself(
    tctx: taddons.context, params: dict[str, Any], reverse: bool, status: int, location: str
) -> None:
    addon = RedirectUpgrade(**params)
    tctx.master.addons.add(addon)
    flow, plain = request(), request(upgrade=False)
    if reverse:
        flow.client_conn.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:9")
        flow.client_conn.sockname = ("127.0.0.1", 8080)
    for f in (flow, plain):
        await hook(tctx, addon, layers.HttpRequestHeadersHook(f))
    assert flow.response is not None
    assert (flow.response.status_code, flow.response.headers["Location"]) == (status, location)
    assert flow.metadata[records.ANSWERED_BY_PROXY] is True
    assert plain.response is None


@pytest.mark.asyncio
async def test_slow_handshake_holds_only_upgrades_without_blocking(tctx: taddons.context) -> None:
    addon = SlowHandshake(0.2)
    upgrade, plain = request(), request(upgrade=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    held = asyncio.create_task(hook(tctx, addon, layers.HttpRequestHeadersHook(upgrade)))
    await hook(tctx, addon, layers.HttpRequestHeadersHook(plain))
    assert not held.done()  # the plain request went by while the upgrade waits
    await asyncio.wait_for(held, IO_TIMEOUT)
    assert loop.time() - started >= 0.2 * 0.9  # the loop's clock has coarse granularity
    assert (upgrade.metadata[records.DELAYED], plain.metadata) == (0.2, {})


@pytest.mark.asyncio
async def test_break_spoils_only_the_101(tctx: taddons.context) -> None:
    bad, none = BreakUpgradeResponse(), BreakUpgradeResponse("no-upgrade-headers")
    bad_flow, none_flow, ok_flow = request(), request(), request()
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": ACCEPT}
    for f, status in ((bad_flow, 101), (none_flow, 101), (ok_flow, 200)):
        f.response = http.Response.make(status, b"", upgrade if status == 101 else {})
    for addon, flow in ((bad, bad_flow), (none, none_flow), (bad, ok_flow), (none, ok_flow)):
        await hook(tctx, addon, layers.HttpResponseHeadersHook(flow))
    assert bad_flow.response is not None
    accept = bad_flow.response.headers["Sec-WebSocket-Accept"]
    assert accept == WRONG_ACCEPT != ACCEPT
    assert len(base64.b64decode(accept, validate=True)) == 20  # well-formed: a SHA-1 digest
    assert bad_flow.metadata[records.RESPONSE_REWRITTEN_HEADERS] == ("Sec-WebSocket-Accept",)
    assert none_flow.response is not None
    assert not {"Upgrade", "Connection"} & set(none_flow.response.headers)
    assert none_flow.response.headers["Sec-WebSocket-Accept"] == ACCEPT
    assert none_flow.metadata[records.RESPONSE_REMOVED_HEADERS] == ("Upgrade", "Connection")
    assert ok_flow.metadata == {}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("allowed", "port", "denied"),
    [((), 443, False), ((), 80, True), ((), 8080, True), ((443, 8443), 8443, False)],
)
async def test_restrict_connect_denies_other_ports(
    tctx: taddons.context, allowed: tuple[int, ...], port: int, denied: bool
) -> None:
    addon = RestrictConnect(allowed) if allowed else RestrictConnect()
    flow = tflow.tflow(req=http.Request.make("CONNECT", f"http://cms.example:{port}/"))
    flow.request.authority, flow.request.path = f"cms.example:{port}", ""
    await hook(tctx, addon, layers.HttpConnectHook(flow))
    assert (flow.response is not None) == denied
    assert flow.metadata.get(records.ANSWERED_BY_PROXY, False) == denied
    if flow.response is not None:
        assert flow.response.status_code == 403
        assert b"ERR_ACCESS_DENIED" in (flow.response.content or b"")
        assert flow.response.headers["X-Squid-Error"] == "ERR_ACCESS_DENIED 0"
    plain = tflow.tflow(req=http.Request.make("GET", f"http://cms.example:{port}/"), resp=True)
    await tctx.cycle(addon, plain)  # a plain proxied request: every hook, no change
    assert plain.response is not None
    assert (plain.response.status_code, plain.metadata) == (200, {})


@pytest.mark.asyncio
async def test_tls_passthrough_ignores_every_tls_connection(tctx: taddons.context) -> None:
    assert hooks.all_hooks["tls_clienthello"] is TlsClienthelloHook  # mitmproxy 11's name
    outgoing = ssl.MemoryBIO()  # a real ClientHello from Python's TLS stack, no network
    tls = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), outgoing, False, "cms.example")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = parse_client_hello(outgoing.read())
    assert hello is not None
    data = ClientHelloData(Context(tflow.tclient_conn(), tctx.options), hello)
    await hook(tctx, PassTlsThrough(), TlsClienthelloHook(data))
    assert data.ignore_connection is True
    assert data.client_hello.sni == "cms.example"


# -- end to end through the embedded proxy -----------------------------------------------------

ADDONS = "pytest_wsharness.addons"
TARGETS = {
    "connection-close": "connection_close:RewriteConnectionClose",
    "redirect": "redirect_upgrade:RedirectUpgrade",
    "slow": "slow_handshake:SlowHandshake",
    "break": "break_accept:BreakUpgradeResponse",
}


@pytest_asyncio.fixture
async def cms(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimulatedCMS]:
    for use, target in TARGETS.items():  # parameters pass as given: no ms, no loader checks
        monkeypatch.setitem(BEHAVIOURS, use, BehaviourType(f"{ADDONS}.{target}", use))
    async with SimulatedCMS() as server:
        yield server


def proxy_for(cms: SimulatedCMS, use: str, **params: object) -> MitmProxy:
    return MitmProxy(Profile(use, use, Expect.FALLBACK, (Behaviour(use, params),)), cms.url)


def ws_url(proxy: MitmProxy, path: str = ENDPOINT) -> str:
    return proxy.url.replace("http://", "ws://", 1) + path


async def head(url: str, path: str, upgrade: bool = True) -> tuple[int, dict[str, str]]:
    """Send one GET (a handshake unless ``upgrade`` is false) as a browser would; no redirects."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        if upgrade:
            lines[2:] = ["Connection: Upgrade", "Upgrade: websocket", f"Sec-WebSocket-Key: {KEY}"]
            lines.append("Sec-WebSocket-Version: 13")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
    finally:
        writer.close()
        await writer.wait_closed()
    status, *fields = raw.decode().split("\r\n")[:-2]
    return int(status.split()[1]), dict(f.split(": ", 1) for f in fields)


async def eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(int(IO_TIMEOUT / POLL)):  # bounded: IO_TIMEOUT at most
        if check():
            return
        await asyncio.sleep(POLL)
    raise AssertionError(f"{what} within {IO_TIMEOUT}s")


@pytest.mark.asyncio
async def test_connection_close_turns_the_handshake_into_a_page(cms: SimulatedCMS) -> None:
    async with proxy_for(cms, "connection-close") as proxy:
        with pytest.raises(ws_errors.InvalidStatus) as info:
            await connect(ws_url(proxy), proxy=None, open_timeout=IO_TIMEOUT)
    assert info.value.response.status_code == 200
    [seen] = cms.requests
    assert (seen.header("Upgrade"), seen.header("Connection")) == ("websocket", "close")
    assert not seen.asked_to_upgrade
    [record] = proxy.records
    assert (record.asked_to_upgrade, record.status, record.answered_by) == (True, 200, "upstream")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("params", "status", "error", "attempts"),
    [
        # websockets follows the relative Location to /login, redirected again, and again.
        ({}, 302, ws_errors.SecurityError, ws_client.MAX_REDIRECTS),
        # An https URL is no ws/wss URI: websockets refuses it (InvalidURI names it).
        ({"status": 307, "location": "https"}, 307, ws_errors.InvalidURI, 1),
    ],
    ids=["login", "https"],
)
async def test_redirect_fails_the_client_and_never_reaches_the_server(
    cms: SimulatedCMS, params: dict[str, Any], status: int, error: type[Exception], attempts: int
) -> None:
    async with proxy_for(cms, "redirect", **params) as proxy:
        seen = await head(proxy.url, ENDPOINT)  # a browser stops here, with 1006
        with pytest.raises(error) as info:
            await connect(ws_url(proxy), proxy=None, open_timeout=IO_TIMEOUT)
    https = proxy.url.replace("http://", "https://", 1) + ENDPOINT
    location = https if params else "/login"
    assert (seen[0], seen[1]["Location"]) == (status, location)
    assert getattr(info.value, "uri", https) == https
    assert cms.requests == []
    done = proxy.records
    assert [(r.status, r.answered_by) for r in done] == [(status, "proxy")] * (1 + attempts)
    assert {r.request.split()[1] for r in done} == {ENDPOINT, urlsplit(location).path}


@pytest.mark.asyncio
async def test_slow_handshake_opens_late_while_other_requests_pass(cms: SimulatedCMS) -> None:
    delay = 1.0  # wide enough that one plain request through the proxy fits in it
    async with proxy_for(cms, "slow", delay=delay) as proxy:
        loop = asyncio.get_running_loop()
        started = loop.time()
        opening = asyncio.ensure_future(connect(ws_url(proxy), proxy=None, open_timeout=IO_TIMEOUT))
        await eventually(lambda: bool(proxy.records), "the proxy to receive the handshake")
        assert (await head(proxy.url, cms.routes.settings, upgrade=False))[0] == 200
        assert not opening.done()
        ws = await opening
        assert loop.time() - started >= delay
        await ws.close()
    assert [r.status for r in cms.requests] == [200, 101]  # the plain GET arrived first
    assert [r.upgraded for r in proxy.records] == [True, False]


@pytest.mark.asyncio
async def test_slow_handshake_outlasts_a_short_open_timeout(cms: SimulatedCMS) -> None:
    async with proxy_for(cms, "slow", delay=IO_TIMEOUT * 2) as proxy:
        with pytest.raises(TimeoutError, match="opening handshake"):
            await connect(ws_url(proxy), proxy=None, open_timeout=0.2)
    proxy.check()  # stopping the proxy mid-delay is clean
    assert cms.requests == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mode", "error", "upgraded"),
    [
        ("bad-accept", ws_errors.InvalidHeaderValue, True),
        ("no-upgrade-headers", ws_errors.InvalidUpgrade, False),
    ],
)
async def test_broken_101_fails_the_client_and_closes_both_sides(
    cms: SimulatedCMS, mode: str, error: type[Exception], upgraded: bool
) -> None:
    async with proxy_for(cms, "break", mode=mode) as proxy:
        with pytest.raises(error):
            await connect(ws_url(proxy), proxy=None, open_timeout=IO_TIMEOUT)

        # The backend upgraded, then the proxy closed its side of the socket.
        def closed() -> bool:
            return len(cms.requests) == 1 and cms.connections == 0

        await eventually(closed, "the proxy to close the upstream socket")
    assert cms.requests[0].status == 101
    proxy.check()
    [record] = proxy.records
    assert (record.status, record.answered_by, record.error) == (101, "upstream", None)
    # bad-accept: mitmproxy ran its WebSocket layer, which saw the client go (1006).
    # no-upgrade-headers: no Upgrade in the 101, so mitmproxy relayed raw TCP instead.
    assert record.upgraded is upgraded
    assert (record.close_code, record.closed_by) == ((1006, "client") if upgraded else (None, None))
