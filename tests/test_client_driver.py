"""Tests of :class:`CmsClient`, the realtime client over real sockets, against a real
:class:`SimulatedCMS` on 127.0.0.1 with no proxy in between.

Every test is a pytest-asyncio coroutine that owns its server and client through ``async with``;
waits are on the client's own change events, each with a deadline, never on sleeps.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from pytest_wsharness.client.driver import CmsClient
from pytest_wsharness.client.machine import Dialog, State
from pytest_wsharness.errors import HarnessTimeout
from pytest_wsharness.protocol import Action, Topic
from pytest_wsharness.scenario.observe import quiet_window
from pytest_wsharness.server.cms import SimulatedCMS

pytestmark = pytest.mark.asyncio

SCALE = 0.01
DEADLINE = 5.0  # generous bound on anything that should happen within milliseconds
QUIET = quiet_window(SCALE)  # how long to watch for something that must not happen


@asynccontextmanager
async def running(
    *, websocket_enabled: bool = True
) -> AsyncIterator[tuple[SimulatedCMS, CmsClient]]:
    """A simulated CMS and a client loaded from it, both closed on exit."""
    async with (
        SimulatedCMS(websocket_enabled=websocket_enabled) as server,
        CmsClient(server.url, time_scale=SCALE) as client,
    ):
        yield server, client


def count(client: CmsClient, kind: str) -> int:
    """How many timeline entries of ``kind`` the current page life has."""
    return sum(1 for entry in client.machine.timeline if entry.kind == kind)


async def stays_false(client: CmsClient, predicate: Callable[[], bool], what: str) -> None:
    """Watch for the quiet window and fail if ``predicate()`` became true."""
    try:
        await client.wait_for(predicate, QUIET, what)
    except HarnessTimeout:
        return
    pytest.fail(f"{what} happened: {client.describe()}")


async def test_load_reads_badge_and_projects_over_rest() -> None:
    async with SimulatedCMS() as server:
        # Published before any client connected: only a page load can show these.
        await server.publish(Topic.NOTIFICATION, [{"id": 1, "action": 1}, {"id": 2, "action": 1}])
        await server.publish(Topic.PROJECT, {"id": "p1", "action": 1, "name": "Spring sale"})
        await server.publish(Topic.PROJECT_ITEM, {"id": "i1", "action": 1, "project": "p1"})
        async with CmsClient(server.url, time_scale=SCALE) as client:
            assert client.loads == 1
            assert client.websocket_enabled is True
            assert client.view.unread == 2
            assert client.view.projects == {"p1": {"id": "p1", "action": 1, "name": "Spring sale"}}
            assert set(client.view.project_items) == {"i1"}
            paths = [r.path for r in server.requests]
            assert server.routes.settings in paths
            assert server.routes.unread_count in paths


async def test_connects_and_heartbeats_across_several_intervals() -> None:
    async with running() as (server, client):
        await client.settle(DEADLINE)
        assert client.state is State.CONNECTED
        # Each echoed heartbeat comes back from the server: the round trip works repeatedly.
        await client.wait_for(
            lambda: count(client, "heartbeat-received") >= 4, DEADLINE, "4 heartbeat echoes"
        )
        assert count(client, "heartbeat-sent") >= 4
        assert count(client, "heartbeat-timeout") == 0
        assert client.state is State.CONNECTED
        assert client.machine.attempts == 1
        assert [e.kind for e in client.events] == ["open"]
        assert server.connections == 1
        assert client.view.dialogs == set()


async def test_publish_updates_badge_and_refetches_project() -> None:
    async with running() as (server, client):
        await client.settle(DEADLINE)
        await server.publish(Topic.NOTIFICATION, {"id": 7, "action": int(Action.SAVED)})
        await server.publish(Topic.PROJECT, {"id": "p9", "action": 1, "name": "Autumn"})
        await client.wait_for(
            lambda: client.view.unread == 1 and "p9" in client.view.projects,
            DEADLINE,
            "the badge and the project to update",
        )
        # The push names the project; the UI re-fetched it over REST.
        assert client.view.projects["p9"]["name"] == "Autumn"
        assert f"{server.routes.projects}/p9" in [r.path for r in server.requests]
        await server.publish(Topic.PROJECT, {"id": "p9", "action": int(Action.DELETED)})
        await client.wait_for(
            lambda: "p9" not in client.view.projects, DEADLINE, "the project to be evicted"
        )
        assert client.view.unread == 1
        assert client.loads == 1


async def test_clean_server_close_makes_the_client_reconnect() -> None:
    async with running() as (server, client):
        await client.settle(DEADLINE)
        await server.close_sockets(1001)
        await client.wait_for(
            lambda: client.machine.attempts >= 2 and client.state is State.CONNECTED,
            DEADLINE,
            "a reconnect",
        )
        closes = [e for e in client.events if e.kind == "close"]
        assert len(closes) == 1
        assert closes[0].code == 1001
        assert closes[0].clean
        assert [e.kind for e in client.events] == ["open", "close", "open"]
        # A clean close is not a failure: no dialog.
        assert client.machine.dialogs_shown == []
        # The new socket works: a push still arrives.
        await server.publish(Topic.NOTIFICATION, {"id": 1, "action": 1})
        await client.wait_for(lambda: client.view.unread == 1, DEADLINE, "the badge to show 1")


async def test_disabled_opens_no_socket_and_refresh_shows_published_items() -> None:
    async with running(websocket_enabled=False) as (server, client):
        assert client.websocket_enabled is False
        assert client.state is State.DISABLED
        await server.publish(Topic.PROJECT, {"id": "p2", "action": 1, "name": "Winter"})
        await server.publish(Topic.NOTIFICATION, {"id": 3, "action": 1})
        await stays_false(client, lambda: "p2" in client.view.projects, "a live update")
        assert client.machine.attempts == 0
        assert client.events == []
        assert client.view.dialogs == set()
        assert server.routes.endpoint not in [r.path for r in server.requests]
        await client.refresh()
        assert client.view.projects["p2"]["name"] == "Winter"
        assert client.view.unread == 1
        assert client.state is State.DISABLED


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class _RefusedClient(CmsClient):
    """Loads the page from the server, but its endpoint is on a port nobody listens on."""

    def __init__(self, base_url: str, port: int) -> None:
        super().__init__(base_url, time_scale=SCALE)
        self.refused_port = port

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.refused_port}{self.routes.endpoint}"


@pytest.mark.parametrize(
    ("case", "detail"),
    [("no-websocket-feature", "HTTP 200"), ("refused", "connection refused")],
)
async def test_failed_first_connect_shows_no_connection_and_never_retries(
    case: str, detail: str
) -> None:
    async with SimulatedCMS(websocket_feature=case != "no-websocket-feature") as server:
        client = (
            _RefusedClient(server.url, _closed_port())
            if case == "refused"
            else CmsClient(server.url, time_scale=SCALE)
        )
        async with client:
            await client.settle(DEADLINE)
            assert client.state is State.NO_CONNECTION
            assert client.view.dialogs == {Dialog.NO_CONNECTION}
            assert client.machine.dialogs_shown == [Dialog.NO_CONNECTION]
            [event] = client.events
            assert event.kind == "handshake-failed"
            assert event.code == 1006
            assert detail in str(event)
            # The hub treats a failed first connect as its last attempt: nothing more, ever.
            await stays_false(client, lambda: client.machine.attempts > 1, "a retry")
            assert client.machine.attempts == 1
            assert len(client.events) == 1


async def test_refresh_starts_a_fresh_page_life() -> None:
    async with running() as (server, client):
        await client.settle(DEADLINE)
        first = client.machine
        await server.publish(Topic.NOTIFICATION, {"id": 1, "action": 1})
        await client.wait_for(lambda: client.view.unread == 1, DEADLINE, "the badge to show 1")
        await client.refresh()
        assert client.machine is not first
        assert first.state is State.STOPPED
        assert client.loads == 2
        # The badge now comes from the server's count, the live list starts empty.
        assert client.view.unread == 1
        assert client.view.live_updates == []
        await client.wait_for(
            lambda: count(client, "heartbeat-received") >= 1, DEADLINE, "a heartbeat echo"
        )
        assert client.machine.attempts == 1
        assert client.state is State.CONNECTED
        # The first page's socket is gone; only the new one is connected.
        assert server.connections == 1


async def test_close_is_idempotent_and_leaves_no_socket() -> None:
    async with SimulatedCMS() as server:
        client = CmsClient(server.url, time_scale=SCALE)
        try:
            await client.load()
            await client.settle(DEADLINE)
            assert server.connections == 1
            await client.close()
            await client.close()
            assert client.state is State.STOPPED
            assert server.connections == 0
            assert await server.publish(Topic.NOTIFICATION, {"id": 1, "action": 1}) == 0
        finally:
            await client.close()  # a third time, and the cleanup if an assertion failed
        # The autouse leak guard (tests/conftest.py) checks that no socket fd is left open.
