"""Every profile of the catalogue through the real path: relay, mitmproxy, simulated CMS, client.

Each row asserts the verdict (what the CMS UI should do behind that middlebox) and one fact of
what the client or the proxy observed, as a real middlebox would show it.
"""

from __future__ import annotations

import asyncio

import pytest

from pytest_wsharness.matrix import Row, run_row
from pytest_wsharness.profiles import Catalogue
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
}


def test_every_builtin_profile_has_an_expectation_here() -> None:
    assert set(EXPECTED) == set(CATALOGUE.names())


def _run(name: str, enabled: bool) -> Row:
    return asyncio.run(run_row(CATALOGUE.get(name), enabled, SCALE))


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
