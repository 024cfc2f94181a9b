"""The CMS edit UI's realtime client over real sockets: the I/O layer of :mod:`.machine`.

    async with CmsClient(proxy_url, time_scale=0.01) as client:
        await client.wait_for(lambda: client.view.unread == 1, 2.0, "the badge to show 1")

It loads the page (settings, badge, projects) over REST, then performs what the state machine
commands: connect with ``websockets``, send heartbeats, arm timers, show dialogs, apply updates.

Through an explicit forward proxy (``proxy=``) the two libraries do what browsers do, checked
against aiohttp 3.14 and websockets 17:

* REST over ``http://``: aiohttp sends each GET to the proxy in absolute form
  (``GET http://host:port/path HTTP/1.1``), no CONNECT; a Squid that allows CONNECT only to 443
  lets these through.
* REST over ``https://``: aiohttp opens a ``CONNECT host:port`` tunnel, then TLS inside it.
* The WebSocket, ``ws://`` and ``wss://`` alike: websockets always opens a ``CONNECT host:port``
  tunnel (then TLS inside it for ``wss://``), then the upgrade GET. So ``ws://`` on a port other
  than 443 meets the 443-only rule while the page's REST calls pass. (aiohttp's own
  ``ws_connect`` would instead send a ``ws://`` upgrade as an absolute-form GET.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
)

from ..errors import UsageError
from ..protocol import Routes
from ..runtime import lag
from .events import SocketEvent
from .machine import (
    CancelTimer,
    CloseSocket,
    CmsClientMachine,
    Command,
    Connect,
    Deliver,
    Dialog,
    HideDialog,
    ScheduleTimer,
    SendText,
    ShowDialog,
    State,
    TimelineEntry,
)
from .phrases import describe_error, issuer
from .rest import LOAD_TIMEOUT, RestReads
from .timings import Timings
from .view import UiView
from .waiting import Waiting

OPEN_TIMEOUT = 10.0
TLS_CLOSE_TURNS = 10


class _BrowserConnect(connect):
    """``websockets.connect`` that does not follow redirects, as a browser's WebSocket does not.

    A 3xx answer to the handshake is then a failed handshake with that status.
    """

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


class CmsClient(RestReads, Waiting):
    """One page load of the CMS edit UI, with its realtime client.

    Args:
        base_url: where the UI is served from, usually a proxy's URL.
        routes: the CMS paths. It defaults to the CMS's own.
        time_scale: multiplies every client timing (heartbeat, reconnect). It defaults to 1.
        open_timeout: seconds a handshake may take. ``None`` disables the timeout.
        ssl: the TLS client context for an ``https://`` page and its ``wss://`` endpoint, e.g.
            ``TestCA.client_context()``, used by REST and the WebSocket alike. ``None``, the
            default, verifies against the system's CAs.
        proxy: an explicit forward proxy, ``http://host:port``, for REST and the WebSocket (see
            the module docstring for what goes through it how). ``None``, the default, connects
            directly: proxy variables in the environment are never read.
        headers: request headers for every REST call and the WebSocket handshake, as a
            logged-in browser sends its session cookie (``{"Cookie": ...}``) to a CMS whose
            edit UI needs a login. Their values never reach a record or a message.

    Raises:
        UsageError: ``ssl`` is given for an ``http://`` page, or ``proxy`` is not an
            ``http://`` URL.
    """

    def __init__(
        self,
        base_url: str,
        *,
        routes: Routes | None = None,
        time_scale: float = 1.0,
        open_timeout: float | None = OPEN_TIMEOUT,
        ssl: SSLContext | None = None,
        proxy: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if ssl is not None and not base_url.startswith("https://"):
            raise UsageError(f"ssl applies to an https:// page only, got {base_url!r}")
        # An http:// proxy is what both libraries reach the same way; they differ on https://
        # proxies, and socks:// needs extras in both.
        if proxy is not None and not proxy.startswith("http://"):
            raise UsageError(f"proxy must be an http:// URL, got {proxy!r}")
        self.base_url = base_url.rstrip("/")
        self.ssl = ssl
        self.proxy = proxy
        self.headers = dict(headers or {})
        self.routes = routes or Routes()
        self.time_scale = time_scale
        self.timings = Timings.scaled(time_scale)
        self.open_timeout = open_timeout
        self.machine = CmsClientMachine(self.timings)
        self.view = UiView()
        self.websocket_enabled: bool | None = None
        self.events: list[SocketEvent] = []
        self.fetch_failures: list[str] = []  # REST re-fetches after a push that failed
        self.loads = 0
        self._origin = 0.0
        self._lives: list[tuple[float, CmsClientMachine]] = []  # (load began, its machine)
        self._session: aiohttp.ClientSession | None = None
        self._ws: ClientConnection | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._errors: list[BaseException] = []

    @property
    def ws_url(self) -> str:
        """The endpoint URL: the page URL with ``http`` rewritten to ``ws`` (``https``: ``wss``)."""
        return "ws" + self.base_url.removeprefix("http") + self.routes.endpoint

    @property
    def state(self) -> State:
        """The realtime client's state."""
        return self.machine.state

    @property
    def origin(self) -> float:
        """When the first page load began, ``time.monotonic()``: what ``events`` and
        :attr:`history` count from."""
        return self._origin

    @property
    def history(self) -> list[TimelineEntry]:
        """What the realtime client of every page load did, in seconds since :attr:`origin`;
        each page life opens with a ``load`` entry at the time its page load began."""
        entries: list[TimelineEntry] = []
        for number, (began, machine) in enumerate(self._lives, 1):
            entries.append(TimelineEntry(began, "load", f"page load {number}"))
            shift = machine.origin - self._origin
            entries += [dataclasses.replace(e, t=e.t + shift) for e in machine.timeline]
        return entries

    async def __aenter__(self) -> CmsClient:
        try:
            await self.load()
        except BaseException:
            await self.close()  # no __aexit__ follows a failed __aenter__
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def load(self) -> None:
        """Load the page: read the settings and the stores, then start the realtime client.

        Raises:
            PageLoadError: a REST call failed (certificate, proxy refusal, HTTP error, refused
                connection); the realtime client was not started.
        """
        loop = asyncio.get_running_loop()
        if self._session is None:
            self._origin = loop.time()
            # trust_env=False: a CI proxy variable must not reroute the harness's own traffic;
            # the proxy, if any, is passed per request.
            self._session = aiohttp.ClientSession(
                trust_env=False,
                timeout=aiohttp.ClientTimeout(total=LOAD_TIMEOUT),
                headers=self.headers,
            )
        began = self._now() - self._origin
        # A hop's timeouts are scaled with the client's (a real nginx's proxy_read_timeout at
        # 0.1 is 200 ms): a stalled machine can make it answer 504 to a REST read, and that is
        # told from the hop's own refusal by the lag seen meanwhile.
        watching = lag.start_watch("client", self.time_scale)
        try:
            settings = await self._load_get(self.routes.settings)
            self.websocket_enabled = bool(settings.get("enableWebSockets", True))
            unread = await self._load_get(self.routes.unread_count)
            self.view.load(
                int(unread.get("count", 0)),
                await self._load_get(self.routes.projects),
                await self._load_get(self.routes.project_items),
            )
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
        self.loads += 1
        self._lives.append((began, self.machine))
        self._perform(self.machine.start(self._now(), websocket_enabled=self.websocket_enabled))

    async def refresh(self) -> None:
        """Reload the page, as an editor pressing F5 does: a new realtime client, fresh stores."""
        await self._unload()
        self.machine = CmsClientMachine(self.timings)
        await self.load()

    async def close(self) -> None:
        """Unload the page and release every socket and timer; idempotent."""
        await self._unload()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
            # TLS connections close with an exchange of their own (close_notify) that runs in
            # later turns of the loop; without them a loop that ends now leaves the sockets open.
            for _ in range(TLS_CLOSE_TURNS if self.ssl is not None else 0):
                await asyncio.sleep(0)

    def _attempts(self) -> int:
        return self.machine.attempts

    def _dialogs_shown(self) -> Sequence[Dialog]:
        return self.machine.dialogs_shown

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _perform(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Connect):
                self._spawn(self._connect())
            elif isinstance(command, SendText):
                self._spawn(self._send(command.text))
            elif isinstance(command, CloseSocket):
                self._spawn(self._close_socket(command.code))
            elif isinstance(command, ScheduleTimer):
                self._cancel_timer(command.name)
                self._timers[command.name] = asyncio.get_running_loop().call_later(
                    command.delay, self._fire, command.name
                )
            elif isinstance(command, CancelTimer):
                self._cancel_timer(command.name)
            elif isinstance(command, ShowDialog):
                self.view.dialogs.add(command.dialog)
            elif isinstance(command, HideDialog):
                self.view.dialogs.discard(command.dialog)
            elif isinstance(command, Deliver):
                for key in self.view.apply(command.topic, command.data):
                    self._spawn(self._refetch_project(key))
        self._changed.set()

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self._perform(self.machine.timer_fired(self._now(), name))

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    async def _connect(self) -> None:
        machine = self.machine
        # ssl only for wss://: websockets rejects the argument for ws://.
        tls: dict[str, Any] = {"ssl": self.ssl} if self.ssl is not None else {}
        try:
            # proxy=None when unset: websockets >= 15 would otherwise obey http_proxy and the
            # like from the environment.
            ws = await _BrowserConnect(
                self.ws_url,
                proxy=self.proxy,
                additional_headers=self.headers,
                open_timeout=self.open_timeout,
                ping_interval=None,
                # A browser gives up on a close handshake that gets no answer; without a bound
                # a silently dropped connection would hold the page's unload for 10 s.
                close_timeout=self.timings.heartbeat_interval,
                **tls,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            self._event("handshake-failed", status=status, detail=f"HTTP {status}", code=1006)
            self._perform(machine.handshake_failed(self._now(), f"HTTP {status}"))
            return
        except (InvalidHandshake, OSError, TimeoutError, EOFError) as error:
            detail = describe_error(error, via_proxy=self.proxy is not None)
            self._event("handshake-failed", detail=detail, code=1006)
            self._perform(machine.handshake_failed(self._now(), detail))
            return
        if machine is not self.machine or machine.state is not State.CONNECTING:
            await ws.close()  # the page was unloaded while the handshake ran
            return
        attempt = machine.attempts
        self._ws = ws
        self._event("open", issuer=issuer(ws.transport.get_extra_info("ssl_object")))
        self._perform(machine.opened(self._now()))

        def current() -> bool:
            # A socket the client closed can still be closing when its next attempt starts
            # (a heartbeat kill, a reconnect 50 ms later at time scale 0.01, a busy machine):
            # what it still says belongs to an attempt that is over, as in a browser, where
            # the hub drops the old socket's handlers when it opens the next one.
            return machine is self.machine and machine.attempts == attempt

        try:
            async for message in ws:
                if isinstance(message, str) and current():
                    self._perform(machine.received(self._now(), message))
        except ConnectionClosed:
            pass
        clean = ws.protocol.close_rcvd is not None and ws.protocol.close_sent is not None
        code = ws.close_code if ws.close_code is not None else 1006
        if self._ws is ws:
            self._ws = None
        self._event("close", code=code, clean=clean)
        state: State = machine.state  # changed while the socket was open
        if current() and state is not State.STOPPED:
            self._perform(machine.closed(self._now(), clean=clean, code=code))

    async def _send(self, text: str) -> None:
        # A closed socket's close event reaches the machine through the receive loop.
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(text)

    async def _close_socket(self, code: int) -> None:
        if self._ws is not None:
            await self._ws.close(code)

    async def _unload(self) -> None:
        if self.machine.state not in (State.IDLE, State.STOPPED):
            self._perform(self.machine.stop(self._now()))
        for name in list(self._timers):
            self._cancel_timer(name)
        if self._ws is not None:
            await self._ws.close(1001)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._errors.append(task.exception())  # type: ignore[arg-type]
            self._changed.set()

    def _raise_errors(self) -> None:
        if self._errors:
            raise self._errors[0]

    def _event(self, kind: str, **fields: Any) -> None:
        self.events.append(SocketEvent(self._now() - self._origin, kind, **fields))
