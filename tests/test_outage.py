"""Server outages: every socket dropped, the port refusing connections, then the server back.

A real :class:`SimulatedCMS` and :class:`CmsClient` on 127.0.0.1 at time scale 0.01, so the CMS
client's reconnect schedule (5 s x n^2) runs as 50 ms, 200 ms, 450 ms... The outage's own
``down_for`` is the simulated duration; every other wait is on an event with a deadline.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import aiohttp
import pytest

from pytest_wsharness.client.driver import CmsClient
from pytest_wsharness.client.machine import Dialog, State
from pytest_wsharness.errors import PageLoadError, UnknownChoiceError, UsageError
from pytest_wsharness.protocol import Topic
from pytest_wsharness.runtime.sync import SyncClient, SyncCMS
from pytest_wsharness.server.cms import SimulatedCMS

SCALE = 0.01
DEADLINE = 5.0  # generous bound on anything that should happen within milliseconds
# Long enough for two refused attempts (at +50 ms and +250 ms) with room for a slow machine;
# the third failure (at +250 ms) shows the "reconnecting" dialog, the attempt at +700 ms opens.
DOWN_FOR = 0.6
NOTE = {"id": "while-down", "action": 1}


def events(client: CmsClient, kind: str) -> list[str]:
    return [e.detail for e in client.events if e.kind == kind]


def scheduled(client: CmsClient) -> list[str]:
    """The reconnect delays the current page life scheduled, as the timeline words them."""
    return [e.detail for e in client.machine.timeline if e.kind == "reconnect-scheduled"]


async def wait(client: CmsClient, predicate: Callable[[], bool], what: str) -> None:
    await client.wait_for(predicate, DEADLINE, what)


def reopened(client: CmsClient) -> Callable[[], bool]:
    """A predicate: the client's second attempt opened."""
    return lambda: client.machine.attempts == 2 and client.state is State.CONNECTED


async def refused(url: str) -> bool:
    """Whether a TCP connection to the server's port is refused."""
    host, _, port = url.split("://")[1].rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), DEADLINE)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("how", "code", "clean"), [("drop", 1006, False), ("going-away", 1001, True)]
)
async def test_restart_cuts_refuses_and_comes_back(how: str, code: int, clean: bool) -> None:
    async with (
        SimulatedCMS() as server,
        CmsClient(server.url, time_scale=SCALE) as client,
    ):
        await client.settle(DEADLINE)
        url = server.url
        restart = asyncio.create_task(server.restart(DOWN_FOR, how=how))
        await wait(client, lambda: bool(events(client, "close")), "the socket to close")
        [close] = [e for e in client.events if e.kind == "close"]
        assert (close.code, close.clean) == (code, clean)
        # The server stopped listening before it cut the sockets: the port refuses already.
        assert not server.listening
        assert server.connections == 0
        assert await refused(url)
        with pytest.raises(PageLoadError, match=r": connection refused$"):
            async with CmsClient(url, time_scale=SCALE):
                pass
        assert await server.publish(Topic.NOTIFICATION, NOTE) == 0  # stored, pushed to no one
        # The client model's own attempts meet the closed port.
        await wait(
            client,
            lambda: "connection refused" in events(client, "handshake-failed"),
            "a refused attempt",
        )
        await asyncio.wait_for(restart, DEADLINE + DOWN_FOR)
        assert server.listening
        assert server.url == url  # the same port
        await wait(client, lambda: client.state is State.CONNECTED, "the client to reconnect")
        kinds = [e.kind for e in client.events]
        assert kinds[:2] == ["open", "close"]
        assert kinds[-1] == "open"
        assert set(kinds[2:-1]) == {"handshake-failed"}
        # After failure n the client waited 5 s x n^2, scaled; a clean close first retries at once.
        expected = [f"in {0.05 * n * n:.3f}s after {n} failures" for n in (1, 2)]
        if clean:
            expected.insert(0, "in 0.000s after 0 failures")
        assert scheduled(client)[: len(expected)] == expected
        # The timers ran their course: the second refused attempt came that long after the first.
        times = client.machine.attempt_times
        assert times[2] - times[1] >= (0.05 if clean else 0.2) - 0.005
        # The "reconnecting" dialog showed at the third failure and went away on open.
        assert Dialog.RECONNECTING in client.machine.dialogs_shown
        assert client.view.dialogs == set()
        # What was published while down never comes live; a page load shows it.
        assert client.view.unread == 0
        await server.publish(Topic.PROJECT, {"id": "after", "action": 1})
        await wait(client, lambda: "after" in client.view.projects, "a push after the restart")
        assert client.view.unread == 0
        await client.refresh()
        assert client.view.unread == 1


@pytest.mark.asyncio
async def test_drop_sockets_without_a_restart() -> None:
    async with (
        SimulatedCMS() as server,
        CmsClient(server.url, time_scale=SCALE) as client,
        CmsClient(server.url, time_scale=SCALE) as other,
    ):
        for each in (client, other):
            await each.settle(DEADLINE)
        assert await server.drop_sockets() == 2
        assert server.connections == 0
        assert server.listening
        for each in (client, other):
            await wait(each, reopened(each), "the client to reconnect")
            [close] = [e for e in each.events if e.kind == "close"]
            assert (close.code, close.clean) == (1006, False)
            assert str(close) == "closed 1006 without a close handshake"
            assert scheduled(each) == ["in 0.050s after 1 failures"]
            assert each.machine.dialogs_shown == []
        assert server.connections == 2
        assert await server.drop_sockets() == 2
        assert await SimulatedCMS().drop_sockets() == 0  # a server with no sockets drops none


@pytest.mark.asyncio
async def test_close_while_down_stays_down() -> None:
    async with SimulatedCMS() as server, CmsClient(server.url, time_scale=SCALE) as client:
        await client.settle(DEADLINE)
        restart = asyncio.create_task(server.restart(60.0))
        await wait(client, lambda: bool(events(client, "close")), "the socket to close")
        await server.close()
        await asyncio.wait_for(restart, DEADLINE)  # returns at once, not after 60 s
        assert not server.listening
        assert await refused(server.url)


@pytest.mark.asyncio
async def test_restart_arguments() -> None:
    server = SimulatedCMS()
    with pytest.raises(RuntimeError, match="not running"):
        await server.restart(0.1)
    async with server:
        with pytest.raises(UnknownChoiceError) as info:
            await server.restart(0.1, how="crash")
        assert str(info.value) == "unknown restart mode 'crash'; valid choices: drop, going-away"
        for down_for in (-1.0, math.nan, math.inf):
            with pytest.raises(UsageError, match=r"^down_for must be a finite number >= 0"):
                await server.restart(down_for)
        first = asyncio.create_task(server.restart(0.2))
        await asyncio.sleep(0)  # one loop turn: the task starts and marks itself restarting
        with pytest.raises(RuntimeError, match="restarting already"):
            await server.restart(0.1)
        await asyncio.wait_for(first, DEADLINE)
        # Back and serving: a zero-length restart works too.
        await server.restart(0)
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.get(server.url + server.routes.settings) as response,
        ):
            assert response.status == 200
    with pytest.raises(RuntimeError, match="not running"):
        await server.restart(0.1)


def test_sync_restart(cms_server: SyncCMS, cms_client_factory: Callable[..., SyncClient]) -> None:
    client = cms_client_factory(cms_server.url)
    assert client.settle(DEADLINE) is State.CONNECTED
    url = cms_server.url
    cms_server.restart(0.2, how="going-away")  # blocks until it listens again
    assert cms_server.listening
    assert cms_server.url == url
    client.wait_for(
        lambda: client.machine.attempts > 1 and client.state is State.CONNECTED,
        DEADLINE,
        "a reconnect",
    )
    assert [e.code for e in client.events if e.kind == "close"] == [1001]
    assert cms_server.drop_sockets() == 1
    client.wait_for(
        lambda: len([e for e in client.events if e.kind == "open"]) == 3, DEADLINE, "a reconnect"
    )
