"""One spec, two drivers: the Python client model and the page in headless Chromium are held to
the same assertions behind the same proxies, so the two cannot drift apart.

The browser side reads the DOM and the browser's own WebSocket record (Playwright's events).
Without Chromium or Playwright the browser half skips, naming the part; CI installs both and
sets WSHARNESS_REQUIRE_BROWSER=1, so that there it fails instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_wsharness.assertions import assert_expected_outcome
from pytest_wsharness.client.machine import Dialog, State
from pytest_wsharness.errors import Inconclusive, PageLoadError
from pytest_wsharness.protocol import Topic
from pytest_wsharness.proxy.base import Proxy
from pytest_wsharness.runtime import lag
from pytest_wsharness.runtime.sync import SyncClient, SyncCMS
from pytest_wsharness.runtime.tls import TestCA

# A browser's timers slip, and a heartbeat echo through TLS and three hops can take a few
# hundred milliseconds on a loaded 2-core machine; two unanswered heartbeats close the socket.
# At the suite's 0.01 a 3 s heartbeat is 30 ms; these run at 0.1 (300 ms), both drivers alike.
SCALE = 0.1
DRIVERS = {"model": "cms_client", "browser": "cms_browser"}
PROFILES = (
    "compliant",
    "header-stripping",
    "firewall",
    "firewall-reset",
    "buffering",
    "idle-timeout-2s",
    "idle-timeout-60s",
    "accept-then-fin",
    "slow-handshake",
    "forward-connect-443",
    "two-backends",
    "transparent-wss",
    "tls-intercepting",
)


pytestmark = pytest.mark.wsharness_time_scale(SCALE)


@pytest.fixture(params=sorted(DRIVERS))
def ui(request: pytest.FixtureRequest) -> SyncClient:
    """The edit UI behind ``cms_proxy``: the Python model, then the page in Chromium."""
    client: SyncClient = request.getfixturevalue(DRIVERS[request.param])
    return client


@pytest.mark.wsharness_profiles(*PROFILES)
def test_the_ui_does_what_the_profile_calls_for(
    ui: SyncClient, cms_server: SyncCMS, cms_proxy: Proxy
) -> None:
    assert_expected_outcome(ui, cms_server, cms_proxy)


@pytest.mark.parametrize("websocket_enabled", [False])
@pytest.mark.wsharness_profiles("compliant", "header-stripping")
def test_disabled_opens_no_socket_and_shows_updates_after_a_reload(
    ui: SyncClient, cms_server: SyncCMS, cms_proxy: Proxy
) -> None:
    observation = assert_expected_outcome(ui, cms_server, cms_proxy)
    assert observation.attempts == 0
    assert not observation.dialogs
    assert ui.state is State.DISABLED


@pytest.mark.wsharness_profiles("buffering")
def test_buffering_retries_on_the_first_step_of_the_schedule_without_a_dialog(
    ui: SyncClient, cms_server: SyncCMS, cms_proxy: Proxy
) -> None:
    """Each retry opens (the 101 passes), which resets the count: 5 s x 1^2 again and again,
    never the third failure in a row that brings the reconnecting dialog."""
    ui.wait_for(lambda: ui.machine.attempts >= 4, 30, "four attempts")
    assert ui.machine.dialogs_shown == []
    delays = ui.machine.reconnect_delays
    assert delays == pytest.approx([5 * SCALE] * len(delays)), delays


@pytest.mark.wsharness_profiles("compliant")
def test_the_reconnecting_dialog_shows_at_the_third_failure_in_a_row(
    ui: SyncClient, cms_server: SyncCMS, cms_proxy: Proxy
) -> None:
    ui.settle()
    down = cms_proxy.add_fault("down")  # new connections are reset: every retry fails
    cms_proxy.cut_all("rst")
    ui.wait_for(lambda: Dialog.RECONNECTING in ui.view.dialogs, 30, "the reconnecting dialog")
    assert ui.machine.reconnect_delays[:3] == pytest.approx([5 * SCALE * n * n for n in (1, 2, 3)])
    cms_proxy.remove_fault(down)
    ui.wait_for(lambda: ui.state is State.CONNECTED, 30, "the socket to open again")
    assert Dialog.RECONNECTING not in ui.view.dialogs
    assert ui.machine.dialogs_shown == [Dialog.RECONNECTING]


@pytest.mark.wsharness_profiles("idle-timeout-60s")
def test_idle_timeout_is_survived_while_heartbeats_flow(
    ui: SyncClient, cms_server: SyncCMS, cms_proxy: Proxy, wsharness_time_scale: float
) -> None:
    started = time.monotonic()
    ui.settle()
    # A heartbeat every 3 s of CMS time: 25 of them outlast the 60 s idle timeout.
    ui.wait_for(lambda: _heartbeats(cms_proxy) >= 25, 30, "75 s of CMS time of heartbeats")
    cms_server.publish(Topic.NOTIFICATION, {"id": "late", "action": 1})
    ui.wait_for(lambda: ui.view.unread == 1, 5, "the notification")
    if ui.machine.attempts != 1:
        # A heartbeat echo the page's timers saw late makes the client drop a healthy socket:
        # that is the machine's doing, not the proxy's (issue 7); the plugin runs the test
        # again at a larger time scale.
        late, limit = lag.METER.worst(started), lag.limit(wsharness_time_scale)
        if late.seconds > limit:
            raise Inconclusive(
                "one socket for 75 s of heartbeats",
                str(late),
                limit,
                wsharness_time_scale,
                f"{ui.machine.attempts} attempts",
            )
    assert ui.machine.attempts == 1


def _heartbeats(proxy: Proxy) -> int:
    return max((c.frames_up for c in proxy.connections if c.upgraded), default=0)


@pytest.mark.wsharness_profiles("tls-intercepting")
def test_a_browser_that_does_not_trust_the_interceptor_cannot_load_the_page(
    cms_server: SyncCMS,
    cms_proxy: Proxy,
    cms_browser_factory: Callable[..., SyncClient],
    wsharness_ca: TestCA,
) -> None:
    page, _ = cms_proxy.route(cms_server.url)
    with pytest.raises(PageLoadError, match="ERR_CERT"):
        cms_browser_factory(page, trust=[wsharness_ca])
    assert not [r for r in cms_server.requests if r.path.startswith("/EPiServer/Shell/edit")]


@pytest.mark.wsharness_profiles("compliant")
@pytest.mark.parametrize("cms_client_headers", [{"Authorization": "Bearer s3cr3t"}])
def test_both_drivers_send_their_credentials_on_the_handshake(
    cms_client_headers: dict[str, str], ui: SyncClient, cms_server: SyncCMS, cms_proxy: Proxy
) -> None:
    # A CMS behind a login needs them on the page's requests and on the socket alike.
    assert ui.settle() is State.CONNECTED
    endpoint = [r for r in cms_server.requests if r.path.startswith(cms_server.routes.endpoint)]
    assert endpoint
    assert all(dict(r.headers).get("Authorization") == "<redacted>" for r in endpoint)
    settings = [r for r in cms_server.requests if r.path.startswith(cms_server.routes.settings)]
    assert dict(settings[0].headers).get("Authorization") == "<redacted>"


@pytest.mark.asyncio
async def test_a_shared_chromium_outside_pytest_fixtures(chromium: Path) -> None:
    """The engine without the plugin: two clients, one launch, no context left."""
    from pytest_wsharness.browser.client import BrowserClient
    from pytest_wsharness.browser.shared import SharedChromium
    from pytest_wsharness.server.cms import SimulatedCMS

    async with SimulatedCMS() as cms, SharedChromium(chromium) as shared:
        for _ in range(2):
            # Time scale 1: a 3 s heartbeat, which no busy machine makes this test miss.
            async with BrowserClient(cms.url, time_scale=1.0, browser=shared) as page:
                await page.settle(5.0)
                assert page.state is State.CONNECTED
                assert shared.open_contexts == 1
        assert shared.open_contexts == 0
        assert shared.launches == 1
