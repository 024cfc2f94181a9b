"""The CMS edit UI in headless Chromium: the simulated CMS's page, driven by Playwright.

:class:`BrowserClient` offers what :class:`~pytest_wsharness.client.driver.CmsClient` offers
(``view``, ``state``, ``machine``, ``events``, ``settle``, ``wait_for``, ``refresh``), read from
the browser rather than modelled:

- the badge, the projects list, the dialogs and the realtime state come from the DOM, read by
  the harness each time the page says it changed (no polling);
- the connect attempts and what each socket saw come from the browser's own network record
  (Playwright's WebSocket events), so a socket the page did not mean to open still counts.

Playwright is imported when a client starts: installing the harness without it costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..client.events import SocketEvent
from ..client.machine import Dialog, State, TimelineEntry
from ..client.rest import LOAD_TIMEOUT
from ..client.view import UiView
from ..client.waiting import Waiting
from ..errors import PageLoadError, UsageError
from ..protocol import Routes
from ..runtime import lag
from .chromium import find_browser, find_playwright
from .page_life import BrowserLife, save_artifacts
from .page_scripts import READ_DOM, READ_TIMER_LAG, WATCH_TIMERS
from .shared import LAUNCH_TIMEOUT, launch_args

if TYPE_CHECKING:
    from ..runtime.tls import TestCA
    from .shared import SharedChromium


class BrowserClient(Waiting):
    """One page load of the CMS edit UI in headless Chromium.

    Usable as an async context manager, which loads the page, or with :meth:`load` and
    :meth:`close`.

    Args:
        base_url: where the page is served from: the server's URL or a reverse proxy's.
        time_scale: multiplies the page's realtime timings (heartbeat 3 s, reconnect 5 s x n^2).
        proxy: an explicit (forward) proxy for the browser, ``http://127.0.0.1:PORT``; loopback
            traffic goes through it too.
        routes: the server's paths.
        artifacts: a folder for :meth:`save_artifacts` (a screenshot and the console log).
        executable: the Chromium to run; found by
            :func:`~pytest_wsharness.browser.chromium.find_chromium` by default.
        trust: test CAs whose certificates the browser accepts, for an ``https`` page (the
            server's, and a TLS-intercepting proxy's): Chromium reads no CA file, so it is told
            the key their certificates carry (:attr:`TestCA.leaf_spki`).
        headers: headers the browser sends with every request, the WebSocket handshake
            included (a session cookie, ``Authorization``); never recorded.
        browser: a :class:`~pytest_wsharness.browser.shared.SharedChromium` to open the page
            in, in a context of its own (the client must run on its event loop); ``None``, the
            default, launches a Chromium of the client's own, closed with it (``executable``
            is not used with a shared one).

    Raises:
        MissingPart: no Chromium or no Playwright (on entry).
        UsageError: an ``https`` page without a CA to trust.
    """

    who = "browser"

    def __init__(
        self,
        base_url: str,
        *,
        time_scale: float = 1.0,
        proxy: str | None = None,
        routes: Routes | None = None,
        artifacts: Path | None = None,
        executable: Path | None = None,
        trust: Sequence[TestCA] = (),
        headers: Mapping[str, str] | None = None,
        browser: SharedChromium | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"the page URL must be http:// or https://, got {base_url!r}")
        if base_url.startswith("https://") and not trust:
            raise UsageError(
                f"an https page needs a test CA to trust (trust=[wsharness_ca]), got {base_url!r}"
            )
        self.trust = tuple(trust)
        self.base_url = base_url.rstrip("/")
        self.time_scale = time_scale
        self.proxy = proxy
        self.headers = dict(headers or {})
        self.routes = routes or Routes()
        self.artifacts = artifacts
        self.executable = executable
        self.websocket_enabled: bool | None = None
        self.view = UiView()
        self.events: list[SocketEvent] = []
        self.console: list[str] = []
        self.loads = 0
        self._life = BrowserLife()
        self._lives: list[BrowserLife] = []
        self._state = State.IDLE
        self._loaded = "false"
        self._document: float | None = None
        self._changed = asyncio.Event()
        self._reading: asyncio.Task[None] | None = None
        self._reread = False
        self._origin = 0.0
        self._shared = browser
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None

    @property
    def state(self) -> State:
        """The realtime client's state, from the page's ``data-state``."""
        return self._state

    @property
    def machine(self) -> BrowserLife:
        """What the current page life did."""
        return self._life

    @property
    def origin(self) -> float:
        """When the client started (its browser, or its context of a shared one),
        ``time.monotonic()``: what ``events`` and :attr:`history` count from."""
        return self._origin

    @property
    def history(self) -> list[TimelineEntry]:
        """What every page life did, in seconds since :attr:`origin`, each opened by a
        ``load`` entry."""
        return [entry for life in self._lives for entry in life.timeline]

    @property
    def page(self) -> Any:
        """Playwright's ``Page``, for what the shared assertions do not cover (clicks...)."""
        if self._page is None:
            raise RuntimeError("the browser client is not loaded")
        return self._page

    @property
    def page_url(self) -> str:
        """The page's URL, with its time scale."""
        return f"{self.base_url}{self.routes.page}?timeScale={self.time_scale!r}"

    async def __aenter__(self) -> BrowserClient:
        try:
            await self.load()
        except BaseException:
            await self.close()
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
        """Start the browser if needed and load the page; returns once its REST reads are done.

        Raises:
            PageLoadError: the page or one of its REST reads failed; the console says which.
        """
        if self._page is None:
            await self._start()
        self._life = BrowserLife()
        self._life.timeline.append(self._entry("load", f"page load {len(self._lives) + 1}"))
        self._lives.append(self._life)
        self.view = UiView()
        self._state, self._loaded, self._document = State.IDLE, "false", None
        try:
            await self._page.goto(
                self.page_url, wait_until="domcontentloaded", timeout=LOAD_TIMEOUT * 1000
            )
            # Which document is this page life's: a read of the previous one may still land.
            snapshot = await self._page.evaluate(READ_DOM)
            self._document = snapshot["document"]
            self._apply(snapshot)
        except Exception as error:  # playwright's Error: the navigation failed
            raise PageLoadError(self.page_url, _first_line(error)) from None
        await self.wait_for(lambda: self._loaded != "false", LOAD_TIMEOUT, "the page to load")
        if self._loaded != "true":
            errors = [line for line in self.console if line.startswith("error")]
            raise PageLoadError(self.page_url, errors[-1] if errors else "the page did not load")
        self.loads += 1

    async def refresh(self) -> None:
        """Reload the page, as an editor pressing F5 does."""
        await self.load()

    async def close(self) -> None:
        """Close the page and its context, and the browser when it is the client's own;
        idempotent."""
        context = self._context
        browser, playwright = self._browser, self._playwright
        self._page = self._context = self._browser = self._playwright = None
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(BaseException):
                await self._reading
        # Closing the context closes its page: one round trip to the browser, not two.
        if context is not None:
            # A shared browser outlives the client: its context (cookies, storage, service
            # workers, sockets) must not reach the next client.
            with contextlib.suppress(Exception):
                if self._shared is not None:
                    await self._shared.release(context)
                else:
                    await context.close()
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.close()
        if playwright is not None:
            await playwright.stop()

    async def page_lag(self, since: float) -> lag.Lag:
        """How late the current page's timers fired at worst since ``since``
        (``time.monotonic()``); no lag when the page cannot say (navigating, crashed)."""
        if self._page is None:
            return lag.Lag()
        try:
            seen = await self._page.evaluate(READ_TIMER_LAG)
        except Exception:  # playwright's Error: a page being replaced has nothing to say
            return lag.Lag()
        # The page stamps in epoch time; the harness counts in monotonic time.
        offset = time.time() - time.monotonic()
        late = [ms / 1000 for at, ms in seen if at / 1000 - offset >= since]
        return lag.Lag(max(late), "page") if late else lag.Lag()

    def _attempts(self) -> int:
        return self._life.attempts

    def _dialogs_shown(self) -> Sequence[Dialog]:
        return self._life.dialogs_shown

    async def save_artifacts(self, name: str) -> list[Path]:
        """Write a screenshot and the console log into the ``artifacts`` folder (see
        :func:`~pytest_wsharness.browser.page_life.save_artifacts`)."""
        return await save_artifacts(self._page, self.artifacts, name, self.console)

    async def _start(self) -> None:
        self._origin = asyncio.get_running_loop().time()
        options: dict[str, Any] = {}
        if self.proxy is not None:
            # "<-loopback>": Chromium sends loopback traffic to the proxy too, as it must here.
            options["proxy"] = {"server": self.proxy, "bypass": "<-loopback>"}
        if self.headers:
            options["extra_http_headers"] = self.headers
        if self._shared is not None:
            context, page = await self._shared.open_page(self.trust, **options)
        else:
            context = await (await self._launch()).new_context(**options)
            page = await context.new_page()
        self._context = context
        # The page is still blank: the script runs in every document it loads from now on.
        interval = lag.probe_interval(self.time_scale) * 1000
        await context.add_init_script(f"({WATCH_TIMERS})({interval!r})")
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"error: {error}"))
        page.on("websocket", self._on_websocket)
        await page.expose_function("wsharnessChanged", self._on_change)
        self._page = page

    async def _launch(self) -> Any:
        """Start Playwright and a Chromium of the client's own."""
        if self.executable is not None:
            find_playwright()
        executable = self.executable or find_browser()
        from playwright.async_api import async_playwright

        self._playwright = await async_playwright().start()
        self._browser = await self._playwright.chromium.launch(
            executable_path=str(executable),
            args=launch_args(self.trust),
            timeout=LAUNCH_TIMEOUT * 1000,
        )
        return self._browser

    def _on_change(self) -> None:
        # Coalesce: one DOM read at a time, and one more if the page changed meanwhile.
        if self._reading is not None and not self._reading.done():
            self._reread = True
            return
        self._reading = asyncio.get_running_loop().create_task(self._read_dom())

    async def _read_dom(self) -> None:
        while True:
            self._reread = False
            page = self._page
            if page is None:
                return
            try:
                snapshot = await page.evaluate(READ_DOM)
            except Exception:  # navigating: the next page says when it changes
                return
            self._apply(snapshot)
            if not self._reread:
                return

    def _apply(self, snapshot: dict[str, Any]) -> None:
        if snapshot["document"] != self._document:
            return  # the page before a reload, or the new one before load() knows it
        life = self._life
        # Once the page has loaded, a higher badge is an update that came live.
        if self._loaded == "true" and int(snapshot["unread"]) > self.view.unread:
            life.timeline.append(
                self._entry("update", f"badge {self.view.unread} -> {snapshot['unread']}")
            )
        self._loaded = str(snapshot["loaded"])
        if snapshot["websocketEnabled"]:
            self.websocket_enabled = snapshot["websocketEnabled"] == "true"
        state = State(snapshot["state"])
        if state is not self._state:
            life.timeline.append(self._entry("state", state.value))
        self._state = state
        self.view.unread = int(snapshot["unread"])
        self.view.projects = {key: {"id": key, "name": name} for key, name in snapshot["projects"]}
        self.view.dialogs = set()
        for element, kind in snapshot["dialogs"]:
            dialog = Dialog(kind)
            self.view.dialogs.add(dialog)
            if element not in life.seen_dialogs:
                life.seen_dialogs.add(element)
                life.dialogs_shown.append(dialog)
                life.timeline.append(self._entry("dialog", kind))
        life.reconnect_delays = [float(d) for d in snapshot["delays"]]
        self._changed.set()

    def _on_websocket(self, ws: Any) -> None:
        if not ws.url.split("?", 1)[0].endswith(self.routes.endpoint):
            return
        life = self._life  # the page life this socket belongs to, even after a reload
        life.attempt_count += 1
        life.timeline.append(self._entry("connect", f"attempt {life.attempt_count}"))
        opened = False

        def frame(_payload: Any) -> None:
            nonlocal opened
            if not opened:
                opened = True
                self._event("open")
            self._changed.set()  # a waiter may be counting traffic

        def error(message: str) -> None:
            if opened:
                self._event("close", detail=str(message), code=1006)
                return
            # Chromium: "Error during WebSocket handshake: Unexpected response code: 200".
            status = re.search(r"response code: (\d{3})", str(message))
            self._event(
                "handshake-failed",
                detail=str(message),
                code=1006,
                status=int(status.group(1)) if status else None,
            )

        ws.on("framesent", frame)
        ws.on("framereceived", frame)
        ws.on("socketerror", error)
        ws.on("close", lambda _ws: self._event("close"))
        self._changed.set()

    def _event(self, kind: str, **fields: Any) -> None:
        now = asyncio.get_running_loop().time()
        self.events.append(SocketEvent(now - self._origin, kind, **fields))
        self._changed.set()

    def _entry(self, kind: str, detail: str) -> TimelineEntry:
        return TimelineEntry(asyncio.get_running_loop().time() - self._origin, kind, detail)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
