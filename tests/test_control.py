"""Changing a running proxy from a test, and chaining proxies, through the pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_wsharness.client.machine import State
from pytest_wsharness.protocol import Topic
from pytest_wsharness.proxy.base import Proxy
from pytest_wsharness.runtime.sync import SyncClient, SyncCMS

WAIT = 5.0


def _connected(factory: Callable[..., SyncClient], url: str) -> SyncClient:
    client = factory(url)
    assert client.settle() is State.CONNECTED, client.describe()
    return client


def test_cut_all_makes_the_client_reconnect(
    proxy_factory: Callable[..., Proxy], cms_client_factory: Callable[..., SyncClient]
) -> None:
    proxy = proxy_factory("compliant")
    client = _connected(cms_client_factory, proxy.url)
    assert proxy.cut_all("fin") >= 1  # the socket, and the page's idle keep-alive connection
    client.wait_for(lambda: client.machine.attempts >= 2, WAIT, "a reconnect")
    client.wait_for(lambda: client.state is State.CONNECTED, WAIT, "the socket to reopen")
    closes = [e for e in client.events if e.kind == "close"]
    # A cut tunnel, not a clean close.
    assert closes[0].code == 1006
    assert not closes[0].clean
    assert client.machine.reconnect_delays[0] > 0


def test_a_fault_started_and_lifted_during_the_test(
    cms_server: SyncCMS,
    proxy_factory: Callable[..., Proxy],
    cms_client_factory: Callable[..., SyncClient],
) -> None:
    proxy = proxy_factory("compliant")
    client = _connected(cms_client_factory, proxy.url)
    fault = proxy.add_fault("drop_messages", topic=str(Topic.NOTIFICATION))
    cms_server.publish(Topic.NOTIFICATION, {"id": "n1", "action": 1})
    cms_server.publish(Topic.PROJECT, {"id": "p1", "action": 1, "name": "P"})
    client.wait_for(lambda: "p1" in client.view.projects, WAIT, "the project")
    assert client.view.unread == 0  # the notification was dropped on the way
    proxy.remove_fault(fault)
    cms_server.publish(Topic.NOTIFICATION, {"id": "n2", "action": 1})
    client.wait_for(lambda: client.view.unread == 1, WAIT, "the second notification")
    assert any("dropped" in event for c in proxy.connections for event in c.events)


def test_a_bad_fault_names_the_choices(proxy_factory: Callable[..., Proxy]) -> None:
    proxy = proxy_factory("compliant")
    with pytest.raises(ValueError, match=r"valid choices: .*drop_messages"):
        proxy.add_fault("lag")


@pytest.mark.parametrize(
    ("outer", "inner", "status"),
    [("header-stripping", "compliant", 200), ("compliant", "firewall", 403)],
)
def test_chained_proxies_fail_as_the_broken_one_does(
    proxy_factory: Callable[..., Proxy],
    cms_client_factory: Callable[..., SyncClient],
    outer: str,
    inner: str,
    status: int,
) -> None:
    inner_proxy = proxy_factory(inner)
    outer_proxy = proxy_factory(outer, upstream=inner_proxy.url)
    client = cms_client_factory(outer_proxy.url)
    assert client.settle() is State.NO_CONNECTION
    assert client.events[0].status == status
