"""wss:// through reverse profiles: each hop that opens TLS presents a certificate from the right
CA, what the proxy does to the handshake stays the same, and what cannot work says so."""

from __future__ import annotations

import asyncio
import dataclasses
import functools

import pytest

from pytest_wsharness.client.driver import CmsClient
from pytest_wsharness.errors import PageLoadError, UsageError
from pytest_wsharness.profiles import Catalogue, Profile
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.runtime.tls import TestCA
from pytest_wsharness.scenario.matrix import Row, run_row
from pytest_wsharness.server import SimulatedCMS
from pytest_wsharness.verdict import Verdict

SCALE = 0.02
CATALOGUE = Catalogue()


@functools.cache
def _ca() -> TestCA:
    return TestCA()


def _over_tls(name: str) -> Profile:
    profile = CATALOGUE.get(name)
    return dataclasses.replace(profile, server={**profile.server, "tls": True})


def _run(profile: Profile) -> Row:
    return asyncio.run(run_row(profile, True, SCALE, _ca()))


# profile -> (verdict, a fragment of what the proxy did, a fragment of what the client saw)
# The relay opens TLS with a certificate of the site's CA, as a load balancer holding the site's
# key does, so the handshake behaviours and the WebSocket-scoped faults act as on ws://.
OVER_TLS = {
    "compliant": (Verdict.DELIVERED, "tunnelled the WebSocket", f"certificate by {_ca().name}"),
    "header-stripping": (Verdict.FELL_BACK, "removed Connection, Upgrade", "noconnection"),
    "firewall": (Verdict.FELL_BACK, "answered 403 itself", "1 failed attempt(s)"),
    "redirect-login": (Verdict.FELL_BACK, "answered 302 itself", "noconnection"),
    "slow-handshake": (Verdict.DELIVERED, "held the request", f"certificate by {_ca().name}"),
    "idle-timeout-2s": (Verdict.RECONNECTED, "cut without a Close frame", "retries after 0.1s"),
    "buffering": (Verdict.RECONNECTED, "holding frames to client", "no live update"),
    "accept-then-fin": (Verdict.RECONNECTED, "FIN without a Close frame", "retries after 0.1s"),
}


@pytest.mark.parametrize("name", sorted(OVER_TLS))
def test_reverse_profile_over_wss(name: str) -> None:
    verdict, proxy_did, client_saw = OVER_TLS[name]
    row = _run(_over_tls(name))
    assert row.verdict is verdict, row.problems
    assert proxy_did in row.proxy_did
    assert client_saw in row.client_saw


@pytest.mark.asyncio
async def test_intercepting_proxy_is_refused_by_a_machine_that_does_not_trust_its_ca() -> None:
    """An unmanaged machine behind TLS inspection: the page does not load, and says why."""
    ca = _ca()
    async with (
        SimulatedCMS(ssl=ca.issue().server_context()) as cms,
        ProfileProxy(CATALOGUE.get("tls-intercepting"), cms.url, time_scale=SCALE, ca=ca) as proxy,
    ):
        assert len(proxy.client_trust) == 1
        assert proxy.client_trust[0] != ca.pem
        with pytest.raises(PageLoadError, match="TLS certificate verify failed"):
            async with CmsClient(proxy.url, time_scale=SCALE, ssl=ca.client_context()):
                pass
        assert cms.requests == []


@pytest.mark.asyncio
async def test_proxies_that_do_not_intercept_ask_no_extra_trust() -> None:
    ca = _ca()
    async with SimulatedCMS(ssl=ca.issue().server_context()) as cms:
        for name in ("compliant", "header-stripping", "transparent-wss"):
            async with ProfileProxy(CATALOGUE.get(name), cms.url, time_scale=SCALE, ca=ca) as p:
                assert p.client_trust == (), name


def test_websocket_scoped_faults_cannot_reach_inside_tls_passed_through() -> None:
    transparent = CATALOGUE.get("transparent-wss")
    profile = dataclasses.replace(
        transparent, faults=CATALOGUE.get("idle-timeout-2s").faults, name="transparent-idle"
    )
    with pytest.raises(UsageError, match=r'transparent-idle.*fault_scope = "all"'):
        ProfileProxy(profile, "https://127.0.0.1:1", time_scale=SCALE)


def test_a_tls_terminating_proxy_tells_a_client_that_does_not_trust_it() -> None:
    """The relay records the failed TLS handshake, and the page says what failed."""
    ca, stranger = _ca(), TestCA()

    async def scenario() -> ProfileProxy:
        async with (
            SimulatedCMS(ssl=ca.issue().server_context()) as cms,
            ProfileProxy(CATALOGUE.get("compliant"), cms.url, time_scale=SCALE, ca=ca) as proxy,
        ):
            with pytest.raises(PageLoadError, match="certificate verify failed"):
                async with CmsClient(proxy.url, time_scale=SCALE, ssl=stranger.client_context()):
                    pass
        return proxy

    proxy = asyncio.run(scenario())
    assert proxy.connections
    assert all(c.ended and "TLS handshake failed" in c.ended for c in proxy.connections)
