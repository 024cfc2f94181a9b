"""Every profile of the catalogue through the real path: relay, mitmproxy, simulated CMS, client.

Each row asserts the verdict (what the CMS UI should do behind that middlebox) and one fact of
what the client or the proxy observed, as a real middlebox would show it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools

import pytest

from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.runtime.tls import TestCA
from pytest_wsharness.scenario.matrix import Row, run_row
from pytest_wsharness.verdict import Verdict

SCALE = 0.02
CATALOGUE = Catalogue()

# profile -> (verdict with WebSockets enabled, a fragment of what the proxy did,
#             a fragment of what the client saw)
EXPECTED: dict[str, tuple[Verdict, str, str]] = {
    "compliant": (Verdict.DELIVERED, "tunnelled the WebSocket", "live update"),
    "header-stripping": (Verdict.FELL_BACK, "removed Connection, Upgrade", "noconnection"),
    "connection-close": (Verdict.FELL_BACK, "rewrote Connection", "noconnection"),
    "firewall": (Verdict.FELL_BACK, "answered 403 itself", "1 failed attempt(s)"),
    "firewall-reset": (Verdict.FELL_BACK, "reset the connection", "noconnection"),
    "blackhole": (Verdict.HUNG, "timeout", "still connecting"),
    "accept-then-close": (Verdict.HOT_LOOP, "closed with code 1001", "retries after 0s"),
    "accept-then-fin": (Verdict.RECONNECTED, "FIN without a Close frame", "retries after 0.1s"),
    "accept-then-reset": (Verdict.RECONNECTED, "reset (RST)", "retries after 0.1s"),
    "buffering": (Verdict.RECONNECTED, "holding frames to client", "no live update"),
    "idle-timeout-60s": (Verdict.DELIVERED, "tunnelled the WebSocket", "live update"),
    "idle-timeout-100s": (Verdict.DELIVERED, "tunnelled the WebSocket", "live update"),
    "idle-timeout-2s": (Verdict.RECONNECTED, "cut without a Close frame", "retries after 0.1s"),
    "silent-drop": (Verdict.RECONNECTED, "silent drop", "retries after 0.1s"),
    "server-restart": (Verdict.RECONNECTED, "tunnelled the WebSocket", "retries after 0.1s"),
    "no-websocket-feature": (Verdict.FELL_BACK, "HTTP 200 came back", "noconnection"),
    "bad-accept": (Verdict.FELL_BACK, "spoiled Sec-WebSocket-Accept", "noconnection"),
    "missing-upgrade-headers": (
        Verdict.FELL_BACK,
        "removed Upgrade, Connection from the answer",
        "noconnection",
    ),
    "redirect-login": (Verdict.FELL_BACK, "answered 302 itself", "noconnection"),
    "redirect-https": (Verdict.FELL_BACK, "answered 307 itself", "noconnection"),
    "slow-handshake": (Verdict.DELIVERED, "held the request", "live update"),
    "forward-connect-443": (Verdict.FELL_BACK, "refused CONNECT 127.0.0.1:", "noconnection"),
    "forward-proxy": (Verdict.DELIVERED, "tunnelled the WebSocket", "live update"),
    "transparent-ws": (Verdict.FELL_BACK, "removed Connection, Upgrade", "noconnection"),
    "transparent-wss": (
        Verdict.DELIVERED,
        "relayed an encrypted connection untouched",
        "certificate by pytest-wsharness test CA",
    ),
    "tls-intercepting": (
        Verdict.DELIVERED,
        "opened TLS with its own CA",
        "certificate by pytest-wsharness intercepting proxy CA",
    ),
    "two-backends": (Verdict.MISSED, "tunnelled the WebSocket", "no live update"),
}


def test_every_builtin_profile_has_an_expectation_here() -> None:
    assert set(EXPECTED) == set(CATALOGUE.names())


@functools.cache
def _ca() -> TestCA:
    return TestCA()


def _run(name: str, enabled: bool) -> Row:
    return asyncio.run(run_row(CATALOGUE.get(name), enabled, SCALE, _ca()))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_with_websockets_enabled(name: str) -> None:
    verdict, proxy_did, client_saw = EXPECTED[name]
    row = _run(name, True)
    assert row.verdict is verdict, row.problems
    assert row.ok
    assert proxy_did in row.proxy_did
    assert client_saw in row.client_saw


@pytest.mark.parametrize("name", ["compliant", "buffering", "blackhole", "firewall"])
def test_profile_with_websockets_disabled_opens_no_socket(name: str) -> None:
    row = _run(name, False)
    assert row.verdict is Verdict.FELL_BACK, row.problems
    assert row.client_saw.startswith("no socket, no dialog, no live update, shown after refresh")


@pytest.mark.asyncio
async def test_forward_proxy_lets_wss_through_on_an_allowed_port() -> None:
    """The other half of Squid's SSL_ports: wss:// on an allowed port works through CONNECT."""
    from pytest_wsharness.client.driver import CmsClient
    from pytest_wsharness.proxy.chain import ProfileProxy
    from pytest_wsharness.server import SimulatedCMS

    ca = _ca()
    restricted = CATALOGUE.get("forward-connect-443")
    async with SimulatedCMS(ssl=ca.issue().server_context()) as cms:
        port = int(cms.url.rsplit(":", 1)[1])
        behaviour = dataclasses.replace(restricted.behaviours[0], params={"allowed_ports": [port]})
        profile = dataclasses.replace(restricted, behaviours=(behaviour,))
        async with (
            ProfileProxy(profile, cms.url, time_scale=SCALE) as proxy,
            CmsClient(
                cms.url, time_scale=SCALE, proxy=proxy.url, ssl=ca.client_context()
            ) as client,
        ):
            await client.settle(5)
            await cms.publish("/episerver/cms/notification", {"id": 1, "action": 1})
            await client.wait_for(lambda: client.view.unread == 1, 5, "the notification")
        assert any(r.request.startswith(f"CONNECT 127.0.0.1:{port}") for r in proxy.records)


def test_two_backends_names_every_backend() -> None:
    # Issue 10: the server column spoke of the first backend only, while the socket went to
    # the other ("never saw the endpoint request").
    row = _run("two-backends", True)
    first, second = row.server_did.split("; ")
    assert first.startswith("backend 1 ")
    assert second.startswith("backend 2 ")
    assert "upgraded (101)" in row.server_did
