"""What the simulated CMS answers besides its realtime endpoint: the edit UI's page and script,
the REST reads of a page load (settings, badge, stores, one project), and the simulator's own
test hook that publishes a recognisable update (``POST /wsharness/notifications``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..protocol import Action, Routes, Topic
from .page import page_html, realtime_js

if TYPE_CHECKING:
    from .content import Content

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def marked_update(marker: str) -> list[tuple[Topic, dict[str, Any]]]:
    """The pushes of one recognisable update: an unread notification whose id and subject are
    ``marker``, and a saved project whose id is ``marker``."""
    return [
        (Topic.NOTIFICATION, {"id": marker, "action": int(Action.SAVED), "subject": marker}),
        (Topic.PROJECT, {"id": marker, "action": int(Action.SAVED), "name": f"Project {marker}"}),
    ]


class Reads:
    """The handlers of the page and its reads, for
    :class:`~pytest_wsharness.server.cms.SimulatedCMS`, which has the ``routes``, ``content``
    and ``publish`` they use."""

    routes: Routes
    content: Content
    websocket_enabled: bool

    async def publish(self, topic: Topic | str, data: Any) -> int:
        raise NotImplementedError

    async def _notification_hook(self, request: web.Request) -> web.Response:
        # The test hook (module docstring): what a team's API does when an editor is notified.
        try:
            body = await request.json()
        except ValueError:
            body = None
        marker = body.get("marker") if isinstance(body, dict) else None
        if not isinstance(marker, str) or not marker:
            raise web.HTTPBadRequest(text='the body must be JSON {"marker": "<text>"}\n')
        sent = 0
        for topic, data in marked_update(marker):
            sent = max(sent, await self.publish(topic, data))
        return web.json_response({"marker": marker, "sent": sent}, status=201)

    async def _settings(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"enableWebSockets": self.websocket_enabled, "socketEndpoint": self.routes.endpoint}
        )

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=page_html(self.routes), content_type="text/html")

    async def _script(self, request: web.Request) -> web.Response:
        return web.Response(text=realtime_js(), content_type="text/javascript")

    async def _unread_count(self, request: web.Request) -> web.Response:
        return web.json_response({"count": self.content.unread})

    async def _project(self, request: web.Request) -> web.Response:
        key: Any = request.match_info["id"]
        if key not in self.content.projects and key.isdigit():
            key = int(key)
        if key not in self.content.projects:
            raise web.HTTPNotFound(text=f"no project {request.match_info['id']!r}")
        return web.json_response(self.content.projects[key])

    @staticmethod
    def _json(get: Callable[[], Any]) -> _Handler:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(get())

        return handler
