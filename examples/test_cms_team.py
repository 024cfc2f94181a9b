"""What a CMS team checks about the edit UI's realtime updates, behind the proxies it meets.

Editors rely on the notification badge and the projects list updating live. That works only
when every hop between the browser and the CMS passes the WebSocket upgrade. This module
records what the team promises its editors:

* through our own (WebSocket-aware) reverse proxy, notifications arrive live;
* behind a proxy that strips the upgrade headers, or a firewall that refuses upgrades, the UI
  says so once with the no-connection modal and does not hammer the server with retries;
* with ``WebSocketEnabled = false`` the UI opens no socket and a refresh shows every change.

Install ``pytest-wsharness`` and the plugin's fixtures are there; run with ``pytest examples``.
The plugin runs the CMS's 3 s heartbeat and 5 s reconnect ten times faster by default
(``wsharness_time_scale`` 0.1); this repository's ``pyproject.toml`` sets 0.01 to keep its own
suite fast. A run the harness is too busy to judge at that speed is re-run at 4 and 16 times
the scale, never reported as the proxy's fault.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_wsharness.assertions import (
    assert_expected_outcome,
    assert_fell_back,
    assert_updates_delivered,
)
from pytest_wsharness.client.machine import Dialog, State
from pytest_wsharness.errors import HarnessTimeout
from pytest_wsharness.protocol import NO_CONNECTION_TEXT, Action, Topic
from pytest_wsharness.runtime.sync import SyncClient
from pytest_wsharness.scenario.observe import quiet_window

# The words the edit UI shows for the dialogs our editors may see. Support quotes this text
# when an editor reports "the yellow box"; keep it in step with the CMS version we run.
DIALOG_TEXT = {Dialog.NO_CONNECTION: NO_CONNECTION_TEXT}

# A notification as the CMS pushes it when a colleague asks for a review.
REVIEW_REQUEST = {"id": "n-42", "action": int(Action.SAVED), "subject": "Review: spring campaign"}


def texts_on_screen(client: SyncClient) -> list[str]:
    """The dialog texts an editor is reading now."""
    return sorted(DIALOG_TEXT[dialog] for dialog in client.view.dialogs)


def nothing_happens(
    client: SyncClient, predicate: Callable[[], bool], seconds: float, what: str
) -> bool:
    """Watch ``client`` for ``seconds``; return ``True`` if ``predicate()`` stayed false."""
    try:
        client.wait_for(predicate, seconds, what)
    except HarnessTimeout:
        return True
    return False


@pytest.mark.wsharness_profiles("compliant")
def test_editors_see_notifications_through_our_proxy(cms_client, cms_server, cms_proxy):
    # Our nginx has `proxy_http_version 1.1` and the Upgrade/Connection lines: the socket opens.
    assert cms_client.settle() is State.CONNECTED
    badge = cms_client.view.unread

    # A colleague asks for a review; the badge goes up without the editor reloading.
    cms_server.publish(Topic.NOTIFICATION, REVIEW_REQUEST)
    cms_client.wait_for(lambda: cms_client.view.unread == badge + 1, 5.0, "the badge to go up")
    assert cms_client.view.dialogs == set()

    # The library's own check does the same end to end (publish, watch, reload) and, when it
    # fails, says what the proxy, the server and the client each saw.
    assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)


@pytest.mark.wsharness_profiles("header-stripping", "firewall")
def test_broken_middlebox_shows_the_no_connection_modal_once(
    cms_client, cms_server, cms_proxy, wsharness_time_scale
):
    # Publishes an update, checks the modal, the single attempt and that a reload shows it.
    observation = assert_fell_back(cms_client, cms_server, proxy=cms_proxy)
    assert observation.dialogs == (Dialog.NO_CONNECTION,)
    assert observation.attempts == 1
    assert observation.after_refresh

    # After the reload the editor is looking at the same modal, with exactly this text.
    assert cms_client.settle() is State.NO_CONNECTION
    assert texts_on_screen(cms_client) == [NO_CONNECTION_TEXT]
    assert "real-time connection could not be established" in NO_CONNECTION_TEXT

    # And the UI leaves the server alone: no second attempt, however long we watch.
    assert nothing_happens(
        cms_client,
        lambda: cms_client.machine.attempts > 1,
        quiet_window(wsharness_time_scale),
        "a retry",
    ), cms_client.describe()


@pytest.mark.parametrize("websocket_enabled", [False])
@pytest.mark.wsharness_profiles("compliant")
def test_websocket_disabled_opens_no_socket_and_refresh_shows_the_change(
    cms_client, cms_server, cms_proxy, wsharness_time_scale
):
    # services.Configure<UIOptions>(o => o.WebSocketEnabled = false): the hub never starts.
    assert cms_client.state is State.DISABLED

    cms_server.publish(Topic.PROJECT, {"id": "spring", "action": 1, "name": "Spring campaign"})
    assert nothing_happens(
        cms_client,
        lambda: "spring" in cms_client.view.projects,
        quiet_window(wsharness_time_scale),
        "a live update",
    ), "a live update arrived although WebSockets are disabled"

    # F5: the page load reads the stores again and the new project is there.
    cms_client.refresh()
    assert cms_client.view.projects["spring"]["name"] == "Spring campaign"

    # No socket, no dialog, and the endpoint was never even requested.
    assert cms_client.events == []
    assert cms_client.view.dialogs == set()
    assert cms_server.routes.endpoint not in [r.path for r in cms_server.requests]


@pytest.mark.wsharness_profiles("compliant", "header-stripping", "firewall", "firewall-reset")
def test_every_proxy_we_meet_in_the_field(cms_client, cms_server, cms_proxy, wsharness_profile):
    # Each profile says what the UI should do behind it: deliver live, or fall back correctly.
    observation = assert_expected_outcome(cms_client, cms_server, cms_proxy)
    assert observation.live == (wsharness_profile == "compliant")
