"""The simulated CMS over real sockets on 127.0.0.1: the realtime endpoint (upgrade, heartbeat
echo, pushes, closes), the REST routes that show what was published, and the request records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from pytest_wsharness.errors import UnknownChoiceError
from pytest_wsharness.protocol import HEARTBEAT, Routes, Topic
from pytest_wsharness.runtime.redact import REDACTED
from pytest_wsharness.server import SimulatedCMS
from pytest_wsharness.server import cms as cms_module
from pytest_wsharness.server.cms import NOTIFICATION_HOOK, PLAIN_PAGE

pytestmark = pytest.mark.asyncio

DEADLINE = 5.0
UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
SECRETS = {"Authorization": "Bearer s3cr3t", "Cookie": "EPi=c00k1e", "Proxy-Authorization": "pr0xy"}


def ws_url(cms: SimulatedCMS) -> str:
    return "ws" + cms.url.removeprefix("http") + cms.routes.endpoint


@asynccontextmanager
async def client(cms: SimulatedCMS, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """A direct WebSocket client whose server side is known to be in its read loop."""
    async with connect(
        ws_url(cms), proxy=None, open_timeout=DEADLINE, close_timeout=DEADLINE, **kwargs
    ) as ws:
        # The echo proves the server registered the socket: a push will reach it.
        await ws.send(HEARTBEAT)
        assert await recv(ws) == HEARTBEAT
        yield ws


async def recv(ws: ClientConnection) -> Any:
    return await asyncio.wait_for(ws.recv(), DEADLINE)


async def get(cms: SimulatedCMS, path: str, **headers: str) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=DEADLINE)
    async with (
        aiohttp.ClientSession(trust_env=False, timeout=timeout) as session,
        session.get(cms.url + path, headers=headers) as response,
    ):
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def test_upgrade_echoes_only_the_heartbeat() -> None:
    async with SimulatedCMS() as cms, client(cms) as ws:
        assert cms.connections == 1
        await ws.send("hello")  # not a heartbeat: swallowed, not echoed
        await ws.send(HEARTBEAT)
        assert await recv(ws) == HEARTBEAT
        # The upgrade is on record while the socket is still open.
        [record] = cms.requests
        assert (record.method, record.path, record.status) == ("GET", cms.routes.endpoint, 101)
        assert record.asked_to_upgrade
    assert len(cms.requests) == 1


async def test_publish_reaches_every_client() -> None:
    async with SimulatedCMS() as cms, client(cms) as first, client(cms) as second:
        assert cms.connections == 2
        item = {"id": 7, "action": 1, "subject": "hi"}
        assert await cms.publish(Topic.NOTIFICATION, item) == 2
        expected = {"topic": "/episerver/cms/notification", "data": item}
        assert json.loads(await recv(first)) == expected
        assert json.loads(await recv(second)) == expected
        assert await cms.publish("/episerver/cms/project", [{"id": 1, "action": 1}]) == 2
        assert json.loads(await recv(first))["topic"] == "/episerver/cms/project"


async def test_publish_without_clients_counts_zero() -> None:
    async with SimulatedCMS() as cms:
        assert await cms.publish(Topic.ACTIVITY, {"id": 1, "action": 1}) == 0
        assert cms.content.activities == [{"id": 1, "action": 1}]


async def test_publish_unknown_topic_lists_the_topics() -> None:
    async with SimulatedCMS() as cms:
        with pytest.raises(UnknownChoiceError) as info:
            await cms.publish("/episerver/cms/page", {"id": 1, "action": 1})
        message = str(info.value)
        assert message.startswith("unknown topic '/episerver/cms/page'; valid choices: ")
        assert all(topic.value in message for topic in Topic)
        assert cms.content.activities == []


async def test_rest_routes_reflect_what_was_published() -> None:
    note = {"id": "n1", "action": 1, "subject": "review"}
    async with SimulatedCMS() as cms:
        routes = cms.routes
        assert await get(cms, routes.unread_count) == (200, {"count": 0})
        await cms.publish(Topic.NOTIFICATION, [note, {"id": "n2", "action": 1}])
        await cms.publish(Topic.NOTIFICATION, {"id": "n1", "action": 2})  # not a new one
        await cms.publish(Topic.PROJECT, [{"id": 7, "action": 1}, {"id": "p-a", "action": 1}])
        await cms.publish(Topic.PROJECT, {"id": 7, "action": 1, "name": "renamed"})
        await cms.publish(Topic.PROJECT, {"id": "p-a", "action": 2})
        await cms.publish(Topic.PROJECT_ITEM, {"id": 3, "action": 1})
        await cms.publish(Topic.PROJECT_ITEM, {"id": 4, "action": 1})
        await cms.publish(Topic.PROJECT_ITEM, {"id": 3, "action": 2})
        await cms.publish(Topic.ACTIVITY, {"id": 5, "action": 1})
        await cms.publish(Topic.ACTIVITY_COMMENT, {"id": 6, "action": 1})

        renamed = {"id": 7, "action": 1, "name": "renamed"}
        assert await get(cms, routes.unread_count) == (200, {"count": 2})
        assert await get(cms, routes.notifications) == (200, [note, {"id": "n2", "action": 1}])
        assert await get(cms, routes.projects) == (200, [renamed])
        assert await get(cms, routes.projects + "/7") == (200, renamed)
        assert await get(cms, routes.project_items) == (200, [{"id": 4, "action": 1}])
        activities = [{"id": 5, "action": 1}, {"id": 6, "action": 1}]
        assert await get(cms, routes.activities) == (200, activities)
        for missing in ("p-a", "8"):
            status, body = await get(cms, f"{routes.projects}/{missing}")
            assert (status, body) == (404, f"no project {missing!r}")
        await cms.publish(Topic.PROJECT, {"id": "p-b", "action": 1})
        assert await get(cms, routes.projects + "/p-b") == (200, {"id": "p-b", "action": 1})
    statuses = [r.status for r in cms.requests if r.path.startswith(routes.projects + "/")]
    assert statuses == [200, 404, 404, 200]


@pytest.mark.parametrize(
    ("enabled", "routes"), [(True, Routes()), (False, Routes(endpoint="/custom/socket"))]
)
async def test_settings_report_the_switch_and_endpoint(enabled: bool, routes: Routes) -> None:
    async with SimulatedCMS(websocket_enabled=enabled, routes=routes) as cms:
        settings = {"enableWebSockets": enabled, "socketEndpoint": routes.endpoint}
        assert await get(cms, routes.settings) == (200, settings)
        # The switch is what the UI is told; the server still upgrades on its endpoint.
        async with client(cms):
            assert cms.connections == 1


async def test_no_websocket_feature_answers_the_upgrade_with_a_page() -> None:
    async with SimulatedCMS(websocket_feature=False) as cms:
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(cms), proxy=None, open_timeout=DEADLINE):
                pass
        assert info.value.response.status_code == 200
        assert info.value.response.body == PLAIN_PAGE.encode()
        assert cms.connections == 0
    [record] = cms.requests
    assert (record.status, record.asked_to_upgrade) == (200, True)


@pytest.mark.parametrize("status", [200, 400, 426, 505])
async def test_plain_get_of_the_endpoint(status: int) -> None:
    async with SimulatedCMS(plain_get_status=status) as cms:
        assert await get(cms, cms.routes.endpoint) == (status, PLAIN_PAGE)
        # Upgrade without Connection is not a handshake either.
        assert await get(cms, cms.routes.endpoint, Upgrade="websocket") == (status, PLAIN_PAGE)
    assert [(r.status, r.asked_to_upgrade) for r in cms.requests] == [(status, False)] * 2


@pytest.mark.parametrize("status", [101, 199, 600, -1])
async def test_bad_plain_get_status(status: int) -> None:
    with pytest.raises(ValueError, match=rf"^plain_get_status must be .* got {status}$"):
        SimulatedCMS(plain_get_status=status)


async def test_records_keep_status_and_headers_with_secrets_redacted() -> None:
    async with SimulatedCMS() as cms:
        path = cms.routes.settings + "?probe=1"
        assert (await get(cms, path, **SECRETS, **{"X-Trace": "t-1"}))[0] == 200
        assert (await get(cms, "/nowhere", Cookie="x=1"))[0] == 404
        async with client(cms, additional_headers=SECRETS):
            pass
    settings, nowhere, upgrade = cms.requests
    assert (settings.method, settings.path, settings.version) == ("GET", path, "1.1")
    assert settings.status == 200
    assert settings.header("x-trace") == "t-1"
    assert (nowhere.path, nowhere.status, nowhere.header("Cookie")) == ("/nowhere", 404, REDACTED)
    assert upgrade.status == 101
    assert upgrade.header("Sec-WebSocket-Version") == "13"
    for record in (settings, upgrade):
        assert [record.header(name) for name in SECRETS] == [REDACTED] * len(SECRETS)
        assert not any(secret in repr(record) for secret in SECRETS.values())


async def test_url_before_start_raises() -> None:
    cms = SimulatedCMS()
    with pytest.raises(RuntimeError, match="not running"):
        _ = cms.url
    await cms.close()  # closing a server that never started is harmless


async def test_close_is_idempotent_and_closes_clients() -> None:
    async with AsyncExitStack() as stack:
        cms = await stack.enter_async_context(SimulatedCMS())
        ws = await stack.enter_async_context(client(cms))
        url = cms.url
        await cms.close()
        await asyncio.wait_for(ws.wait_closed(), DEADLINE)
        assert ws.close_code == 1000
        await cms.close()
    await cms.close()
    assert cms.url == url
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(cms, cms.routes.settings)


@pytest.mark.parametrize("code", [1001, 1012, 4000])
async def test_close_sockets_gives_clients_the_code(code: int) -> None:
    async with SimulatedCMS() as cms, client(cms) as first, client(cms) as second:
        await cms.close_sockets(code)
        for ws in (first, second):
            await asyncio.wait_for(ws.wait_closed(), DEADLINE)
            assert ws.close_code == code
        assert cms.connections == 0
        # The server keeps serving: a new client connects after the close.
        async with client(cms):
            assert cms.connections == 1


class Watched(SimulatedCMS):
    """A CMS that tells when its test hook has a request, and when the hook is done with it
    (the record is written in the same turn of the loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = asyncio.Event()
        self.done = asyncio.Event()

    async def _notification_hook(self, request: web.Request) -> web.Response:
        self.reached.set()
        try:
            return await super()._notification_hook(request)
        finally:
            self.done.set()


@asynccontextmanager
async def half_sent_hook(
    cms: SimulatedCMS,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A POST to the test hook whose body never arrives whole, once the hook reads it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(cms.url.rsplit(":", 1)[1]))
    try:
        writer.write(
            f"POST {NOTIFICATION_HOOK} HTTP/1.1\r\nHost: cms\r\nContent-Type: application/json"
            '\r\nContent-Length: 100\r\n\r\n{"marker": '.encode()
        )
        await writer.drain()
        yield reader, writer
    finally:
        writer.close()


async def test_a_client_gone_before_the_answer_is_no_500() -> None:
    # Issue 10: a request whose client went away read as "answered 500 Internal Server Error".
    async with Watched() as cms, half_sent_hook(cms) as (reader, writer):
        await asyncio.wait_for(cms.reached.wait(), DEADLINE)
        writer.write_eof()
        await asyncio.wait_for(cms.done.wait(), DEADLINE)
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""  # no 500 either
    [record] = cms.requests
    assert (record.path, record.status, record.no_answer) == (
        NOTIFICATION_HOOK,
        None,
        "client gone",
    )
    assert str(record) == f"POST {NOTIFICATION_HOOK} HTTP/1.1 -> no answer (client gone)"


async def test_a_request_cancelled_by_a_stopping_server_is_no_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # How long a stopping server lets a request still being handled finish before it cancels it.
    monkeypatch.setattr(cms_module, "SHUTDOWN_GRACE", 0.05)
    async with Watched() as cms, half_sent_hook(cms):
        await asyncio.wait_for(cms.reached.wait(), DEADLINE)
        await asyncio.wait_for(cms.close(), DEADLINE)
    [record] = cms.requests
    assert (record.status, record.no_answer) == (None, "cancelled: server stopping")


class GoneMidUpgrade(SimulatedCMS):
    """A CMS whose client is gone by the time the endpoint writes its 101."""

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return await super()._endpoint(request)


async def test_an_upgrade_whose_client_went_away_records_no_answer() -> None:
    async with GoneMidUpgrade() as cms:
        with pytest.raises((ConnectionError, InvalidMessage)):
            async with connect(ws_url(cms), proxy=None, open_timeout=DEADLINE):
                pass
    [record] = cms.requests
    assert (record.status, record.no_answer, record.asked_to_upgrade) == (None, "client gone", True)


class Failing(SimulatedCMS):
    async def _settings(self, request: web.Request) -> web.Response:
        raise RuntimeError("a bug in the handler")


async def test_a_handler_that_fails_while_its_client_waits_answers_500() -> None:
    async with Failing() as cms:
        assert (await get(cms, cms.routes.settings))[0] == 500
    [record] = cms.requests
    assert (record.status, record.no_answer) == (500, "")
