"""The team's promises, checked in front of its own server (see ``conftest.py`` here).

The tests are the ones written for the simulated CMS; only the conftest differs. Run them
against a real dev instance with ``pytest examples/real_deployment --wsharness-upstream URL``
after replacing ``team_cms`` and the trigger with your server's URL and API.
"""

from __future__ import annotations

import pytest

from pytest_wsharness.assertions import (
    assert_expected_outcome,
    assert_fell_back,
    assert_updates_delivered,
)
from pytest_wsharness.client.machine import Dialog, State
from pytest_wsharness.errors import OutcomeError


@pytest.mark.wsharness_profiles("compliant", "idle-timeout-60s")
def test_notifications_arrive_live_through_a_websocket_aware_proxy(
    cms_client, cms_server, cms_proxy
):
    # Nothing of this server is the harness's: it publishes nothing, it sees no request.
    assert cms_server.requests is None
    assert cms_client.settle() is State.CONNECTED
    observation = assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
    assert observation.live
    assert observation.after_refresh


@pytest.mark.wsharness_profiles("header-stripping", "firewall")
def test_a_broken_middlebox_shows_the_modal_once(cms_client, cms_server, cms_proxy):
    observation = assert_fell_back(cms_client, cms_server, proxy=cms_proxy)
    assert observation.dialogs == (Dialog.NO_CONNECTION,)
    assert observation.attempts == 1


# Profiles that change the server (server-restart, no-websocket-feature, two-backends, TLS ones)
# would be skipped here, saying why: the harness cannot restart or reconfigure a team's server.
@pytest.mark.wsharness_profiles("compliant", "firewall-reset", "idle-timeout-2s")
def test_every_proxy_we_meet(cms_client, cms_server, cms_proxy):
    assert_expected_outcome(cms_client, cms_server, cms_proxy)


@pytest.mark.wsharness_profiles("header-stripping")
def test_a_failure_explains_the_proxy_and_the_client(cms_client, cms_server, cms_proxy):
    with pytest.raises(OutcomeError) as failure:
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
    # What the proxy and the client saw; the server's side is not ours to see.
    assert "header-stripping removed Connection, Upgrade" in str(failure.value)
    assert "not observed (a real deployment)" in str(failure.value)
