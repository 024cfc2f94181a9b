"""The simulated CMS realtime server: an aiohttp app, usable without pytest.

async with SimulatedCMS() as cms:
    ...  # point a proxy or a client at cms.url
    await cms.publish(Topic.NOTIFICATION, {"id": 1, "action": 1})
    await cms.restart(down_for=2.0)  # every socket dropped, refused for 2 s, same port after

A test hook stands in for a real CMS's own API, for code that can only reach a server over HTTP
(a ``cms_trigger_update`` of a team, ``wsharness matrix --trigger-url``)::

    POST /wsharness/notifications  {"marker": "<text>"}  ->  201 {"marker": ..., "sent": N}

stores and pushes the update of that marker
(:func:`~pytest_wsharness.server.reads.marked_update`). It is the simulator's, not
the CMS's: a real CMS has no such path.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
import weakref
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

from ..errors import UnknownChoiceError, UsageError
from ..protocol import HEARTBEAT, Routes, Topic, encode_message
from ..protocol.handshake import asks_to_upgrade
from .content import Content
from .reads import Reads
from .records import RequestRecord, client_gone, request_record

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PLAIN_PAGE = "<!doctype html><title>CMS</title><p>This is the realtime endpoint.</p>\n"
RESTART_MODES = ("drop", "going-away")
NOTIFICATION_HOOK = "/wsharness/notifications"
# Seconds a stopping server lets a request still in its handler finish before it cancels it
# (aiohttp's own default).
SHUTDOWN_GRACE = 60.0


class SimulatedCMS(Reads):
    """A realtime server that behaves as the CMS does on the wire.

    Args:
        websocket_enabled: the ``UIOptions.WebSocketEnabled`` switch, reported to the UI by the
            settings endpoint. It defaults to ``True``.
        websocket_feature: ``False`` models IIS without the WebSocket Protocol feature (or App
            Service with "Web sockets" off): the upgrade GET is answered like a plain page.
        plain_get_status: the status for a GET of the endpoint that does not ask to upgrade, which
            is what a header-stripping proxy turns the handshake into. It defaults to 200.
        http10_status: the status for any request of the endpoint made over HTTP/1.0, which
            cannot carry an upgrade: a strict WebSocket server answers 505 to a hop that
            downgraded (nginx without ``proxy_http_version 1.1``). ``None``, the default,
            answers it as it would over HTTP/1.1.
        routes: the paths the server answers on.
        host: the address to bind; loopback only (``wsharness serve --listen`` checks it).
        port: the port to bind; 0, the default, lets the kernel pick a free one.
        ssl: serve HTTPS and WSS with this server context (e.g.
            ``TestCA().issue().server_context()``); ``url`` is then ``https://``. ``None``, the
            default, serves plain HTTP and WS.
        content: the store to read and publish into; several servers given one are the
            backends of one site (one database). A new store by default.
    """

    def __init__(
        self,
        *,
        websocket_enabled: bool = True,
        websocket_feature: bool = True,
        plain_get_status: int = 200,
        http10_status: int | None = None,
        routes: Routes | None = None,
        host: str = "127.0.0.1",
        ssl: SSLContext | None = None,
        content: Content | None = None,
        port: int = 0,
    ) -> None:
        for name, status in (
            ("plain_get_status", plain_get_status),
            ("http10_status", http10_status),
        ):
            if status is not None and not 200 <= status <= 599:
                raise ValueError(f"{name} must be an HTTP status 200-599, got {status!r}")
        self.websocket_enabled = websocket_enabled
        self.websocket_feature = websocket_feature
        self.plain_get_status = plain_get_status
        self.http10_status = http10_status
        self.routes = routes or Routes()
        self.host = host
        self.port = port
        self.ssl = ssl
        # Backends of one site share their database: pass one Content to several servers.
        self.content = content if content is not None else Content()
        self.requests: list[RequestRecord] = []
        # Each open socket with its TCP (or TLS) transport, which drop_sockets() aborts.
        self._sockets: weakref.WeakKeyDictionary[web.WebSocketResponse, asyncio.Transport] = (
            weakref.WeakKeyDictionary()
        )
        # id() of the requests in flight whose upgrade the endpoint has recorded already.
        self._upgraded: set[int] = set()
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._restarting = False
        # Set by close(): a restart that is down stays down and returns.
        self._closed = asyncio.Event()
        # The loop it serves on: a client on another loop (a shared browser's) asks it
        # there for a publish or a restart.
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:PORT`` (``https://`` with ``ssl``).

        It stays the same across :meth:`restart`.
        """
        if self._port is None:
            raise RuntimeError(
                "the simulated CMS is not running; use it as an async context manager"
            )
        scheme = "https" if self.ssl is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._port}"

    @property
    def listening(self) -> bool:
        """Whether the server accepts connections: false before start, after close and while a
        :meth:`restart` is down."""
        return self._site is not None

    @property
    def connections(self) -> int:
        """How many WebSocket clients are connected now."""
        return sum(1 for ws in self._sockets if not ws.closed)

    async def __aenter__(self) -> SimulatedCMS:
        self.loop = asyncio.get_running_loop()
        self._closed.clear()
        await self._listen(self.port)
        return self

    async def _listen(self, port: int) -> None:
        """Serve the app on ``port`` (0: any free port) and remember the port."""
        app = web.Application(middlewares=[self._record])
        r = self.routes
        app.add_routes(
            [
                web.get(r.endpoint, self._endpoint),
                web.get(r.settings, self._settings),
                web.get(r.unread_count, self._unread_count),
                web.get(r.notifications, self._json(lambda: self.content.notifications)),
                web.get(r.projects, self._json(lambda: list(self.content.projects.values()))),
                web.get(r.projects + "/{id}", self._project),
                web.get(
                    r.project_items, self._json(lambda: list(self.content.project_items.values()))
                ),
                web.get(r.activities, self._json(lambda: self.content.activities)),
                web.get(r.page, self._page),
                web.get(r.script, self._script),
                web.post(NOTIFICATION_HOOK, self._notification_hook),
            ]
        )
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_GRACE
        )
        await runner.setup()
        # Bind first so the kernel's port is known without reaching into aiohttp's internals.
        # SO_REUSEADDR lets a restart bind its port again while the connections it cut are in
        # TIME_WAIT.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, port))
            site = web.SockSite(runner, sock, ssl_context=self.ssl)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = sock.getsockname()[1]
        self._site = site
        self._listener = sock

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every socket and stop listening; idempotent. A restart that is down stays down."""
        self._closed.set()
        for ws in list(self._sockets):
            await ws.close()
        await self._stop()

    async def _stop_accepting(self) -> None:
        """Stop taking connections, and let those already accepted reach their server.

        asyncio accepts a connection in one turn of the loop and attaches it to its server in a
        later one; a server closed in between drops that connection unclosed (CPython
        gh-109564), and its socket warns when collected, in whichever test runs then.
        """
        listener, self._listener = self._listener, None
        if listener is not None and listener.fileno() != -1:
            asyncio.get_running_loop().remove_reader(listener.fileno())
            for _ in range(2):
                await asyncio.sleep(0)

    async def _stop(self) -> None:
        await self._stop_accepting()
        self._site = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            # Connections closed by the cleanup release their sockets in callbacks of later
            # turns of the loop; a loop closed right after would leave them open.
            for _ in range(3):
                await asyncio.sleep(0)

    async def restart(self, down_for: float, *, how: str = "drop") -> None:
        """Model a server restart: cut every socket, refuse connections, come back on the port.

        In order: stop listening (from here a connection is refused), close every WebSocket,
        close the idle HTTP connections, stay down for ``down_for`` seconds, then listen again
        on the same port. Updates published meanwhile are stored and reach no one live, as in
        the CMS: a client sees them after a page load. Returns once the server listens again.

        Args:
            down_for: seconds without a listener.
            how: ``"drop"`` aborts the connections without a Close frame, as a crashed or
                killed process does (the kernel sends FIN): clients see 1006. ``"going-away"``
                sends Close 1001 first, as a server stopping gracefully does.

        Raises:
            UnknownChoiceError: ``how`` is not one of ``RESTART_MODES``.
            UsageError: ``down_for`` is not a finite number >= 0.
            RuntimeError: the server is not running or is restarting already.
            OSError: the port could not be bound again (another process took it meanwhile).
        """
        if how not in RESTART_MODES:
            raise UnknownChoiceError("restart mode", how, RESTART_MODES)
        if not (math.isfinite(down_for) and down_for >= 0):
            raise UsageError(f"down_for must be a finite number >= 0, got {down_for!r}")
        if self._restarting:
            raise RuntimeError("the simulated CMS is restarting already")
        if self._site is None or self._port is None or self._closed.is_set():
            raise RuntimeError("the simulated CMS is not running; it cannot restart")
        self._restarting = True
        try:
            # Stop listening first: a client that reconnects the moment its socket closes
            # (a clean close reconnects after 0 s) must find the port closed, as after a real stop.
            await self._stop_accepting()
            await self._site.stop()
            self._site = None
            if how == "drop":
                await self.drop_sockets()
            else:
                await self.close_sockets(1001)
            await self._stop()
            try:
                await asyncio.wait_for(self._closed.wait(), down_for)
                return  # closed while down: stay down
            except TimeoutError:
                pass
            await self._listen(self._port)
        finally:
            self._restarting = False

    async def drop_sockets(self) -> int:
        """Abort every WebSocket's connection without a Close frame; the server keeps listening.

        The client sees 1006, as after a proxy restart or a crashed worker. Returns how many
        sockets were dropped.
        """
        dropped = list(self._sockets.items())
        for ws, transport in dropped:
            # Forget it now: ``connections`` must not count it while its handler winds down.
            self._sockets.pop(ws, None)
            transport.abort()
        return len(dropped)

    async def publish(self, topic: Topic | str, data: Any) -> int:
        """Store an update and push it to every connected client.

        Args:
            topic: one of the CMS topics (:class:`Topic`).
            data: an item or a list of items, each with ``id`` and ``action``.

        Returns:
            How many clients it was sent to.

        Raises:
            UnknownChoiceError: ``topic`` is not a CMS topic.
        """
        text = encode_message(topic, data)
        self.content.apply(Topic.parse(str(topic)), data)
        sent = 0
        for ws in list(self._sockets):
            if not ws.closed:
                try:
                    await ws.send_str(text)
                    sent += 1
                except ConnectionError:
                    pass  # the client went away between the check and the send
        return sent

    async def close_sockets(self, code: int = 1001) -> None:
        """Close every WebSocket with a Close frame, as a server shutting down does."""
        for ws in list(self._sockets):
            await ws.close(code=code)

    @property
    def _stopping(self) -> bool:
        return self._closed.is_set() or self._restarting or self._site is None

    @web.middleware
    async def _record(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        # Issue 10: only an answer the server sent is a status; a handler that ended without
        # one says why, rather than read as a 500 nobody received.
        status: int | None = None
        no_answer = ""
        arrived = time.monotonic()
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        except asyncio.CancelledError:
            # aiohttp cancels a handler when the server stops (and, with handler_cancellation,
            # when its client disconnects).
            if self._stopping:
                no_answer = "cancelled: server stopping"
            else:
                no_answer = "cancelled: client gone" if client_gone(request) else "cancelled"
            raise
        except Exception as error:
            # aiohttp answers a failed handler with a 500, which a client gone never gets: a
            # write to it failed, or its connection is closing.
            if isinstance(error, ConnectionResetError) or client_gone(request):
                no_answer = "client gone"
            else:
                status = 500
            raise
        finally:
            if id(request) in self._upgraded:
                self._upgraded.discard(id(request))
            else:
                self.requests.append(request_record(request, status, arrived, no_answer))

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        # Both headers, as ASP.NET Core's IsWebSocketRequest: a hop that rewrote Connection
        # leaves a plain GET, answered by the app rather than by aiohttp's handshake check.
        arrived = time.monotonic()
        upgrade = asks_to_upgrade(request.headers.get)
        if self.http10_status is not None and request.version < (1, 1):
            return web.Response(
                status=self.http10_status, text=PLAIN_PAGE, content_type="text/html"
            )
        if not (self.websocket_feature and upgrade):
            # What a lenient app does with a GET that lost its upgrade headers: a page.
            return web.Response(
                status=self.plain_get_status, text=PLAIN_PAGE, content_type="text/html"
            )
        # No permessage-deflate: ASP.NET Core's WebSocket middleware does not compress by
        # default, and frames a middlebox can read are what the fault layer acts on.
        ws = web.WebSocketResponse(autoping=True, compress=False)
        await ws.prepare(request)
        # Record the 101 now: the handler returns only when the socket closes, and a failure
        # message written while it is open must still see the upgrade.
        self.requests.append(request_record(request, 101, arrived))
        self._upgraded.add(id(request))
        assert request.transport is not None  # prepare() has just written the 101 on it
        self._sockets[ws] = request.transport
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and msg.data == HEARTBEAT:
                    await ws.send_str(HEARTBEAT)
        finally:
            self._sockets.pop(ws, None)
        return ws
