"""One Chromium for many browser clients: each client gets a fresh context of a shared browser.

Starting Playwright and launching Chromium costs about a second; a new browser context (an
incognito profile: its own cookies, storage, cache, service workers and sockets) costs a
tenth of that. So, as pytest-playwright does, a test session launches Chromium once (per
pytest-xdist worker) and gives every client a context of its own, closed with the client.

:class:`SharedChromium` is an async context manager, usable without pytest::

    async with SharedChromium() as chromium:
        async with BrowserClient(url, browser=chromium) as editor:
            ...

Its Playwright objects belong to the event loop it was entered on: the clients that use it
must run on that loop too.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .chromium import LAUNCH_ARGS, find_browser, find_playwright

if TYPE_CHECKING:
    from ..runtime.tls import TestCA

LAUNCH_TIMEOUT = 30.0
# Browsers kept at once, one per set of trusted test CAs (Chromium takes the keys it trusts at
# launch only): the plain one, the session CA's, and one more; a TLS-intercepting proxy with a
# fresh CA of its own needs a browser of its own, and the least recently used one goes.
KEEP = 3


def launch_args(trust: Sequence[TestCA]) -> list[str]:
    """Chromium's command line for a browser that accepts certificates of ``trust``.

    Chromium reads no CA file: it is told the key the test CAs' certificates carry.
    """
    args = list(LAUNCH_ARGS)
    if trust:
        spki = ",".join(sorted({ca.leaf_spki for ca in trust}))
        args.append(f"--ignore-certificate-errors-spki-list={spki}")
    return args


class SharedChromium:
    """Playwright and the Chromium browsers that many clients share, one context each.

    A browser found crashed or disconnected is launched again when next needed (and
    Playwright started again if its driver is gone); the client whose page was in it fails,
    the next one gets a working browser.

    Args:
        executable: the Chromium to run; found by
            :func:`~pytest_wsharness.browser.chromium.find_chromium` by default.
        spare: when a client releases its context, open the next client's context and page
            at once, in the background (:meth:`open_page` takes it): a page costs a renderer
            process, some 200 ms, which then falls between two tests, not inside one. The
            spare is a context no page has loaded anything in. It defaults to ``False``.

    Raises:
        MissingPart: no Chromium or no Playwright (on entry).
    """

    def __init__(self, executable: Path | None = None, *, spare: bool = False) -> None:
        self.executable = executable
        self.spare = spare
        self.launches = 0
        self.spares_taken = 0
        # Threads asyncio started for Playwright's driver process: on Python 3.11 a child
        # watcher thread per child process, living as long as the driver.
        self.helper_threads: set[threading.Thread] = set()
        self._playwright: Any = None
        self._browsers: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        # Clients that start together (the matrix's rows) wait for one launch, not one each.
        self._launching = asyncio.Lock()
        self._last_trust: Sequence[TestCA] = ()
        # (browser key, context, page) opened ahead for the next client, and its making.
        self._spare: tuple[tuple[str, ...], Any, Any] | None = None
        self._making: asyncio.Task[None] | None = None
        self._pending: Any = None  # the spare's context while its page opens

    async def __aenter__(self) -> SharedChromium:
        if self.executable is not None:
            find_playwright()
        self.executable = self.executable or find_browser()
        await self._start_playwright()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def browsers(self) -> list[Any]:
        """The Playwright ``Browser`` objects running now, least recently used first."""
        return [b for b in self._browsers.values() if b.is_connected()]

    @property
    def spare_context(self) -> Any:
        """The context opened ahead for the next client (no client's yet), if any, ready
        or still opening its page."""
        return self._spare[1] if self._spare is not None else self._pending

    @property
    def open_contexts(self) -> int:
        """Contexts open now in every browser, but the spare: what the clients have not
        closed yet."""
        spare = self.spare_context
        return sum(1 for b in self.browsers for c in b.contexts if c is not spare)

    async def open_page(self, trust: Sequence[TestCA] = (), **options: Any) -> tuple[Any, Any]:
        """A new context of the browser that trusts ``trust``, with one blank page: the spare
        when it fits (same browser, no ``proxy``), else opened now. The caller gives the
        context back with :meth:`release`.

        Args:
            trust: test CAs whose certificates the browser accepts.
            options: Playwright's ``Browser.new_context`` options; ``extra_http_headers`` is
                set on a spare when taken, ``proxy`` makes a new context.

        Raises:
            RuntimeError: the shared browser is closed.
        """
        self._last_trust = tuple(trust)
        if not options.get("proxy"):
            taken = await self._take_spare(tuple(launch_args(trust)))
            if taken is not None:
                context, page = taken
                if options.get("extra_http_headers"):
                    await context.set_extra_http_headers(options["extra_http_headers"])
                return context, page
        context = await self.new_context(trust, **options)
        try:
            return context, await context.new_page()
        except BaseException:
            with contextlib.suppress(Exception):
                await context.close()
            raise

    async def release(self, context: Any) -> None:
        """Close a client's context; with ``spare``, start opening the next client's."""
        try:
            await context.close()
        finally:
            self._make_next()

    def _make_next(self) -> None:
        idle = self._making is None or self._making.done()
        if self.spare and self._playwright is not None and self._spare is None and idle:
            self._making = asyncio.get_running_loop().create_task(
                self._make_spare(self._last_trust), name="wsharness spare page"
            )

    async def new_context(self, trust: Sequence[TestCA] = (), **options: Any) -> Any:
        """A new Playwright ``BrowserContext`` of the browser that trusts ``trust``; the caller
        closes it.

        Args:
            trust: test CAs whose certificates the browser accepts.
            options: Playwright's ``Browser.new_context`` options (``proxy``,
                ``extra_http_headers``...).

        Raises:
            RuntimeError: the shared browser is closed.
        """
        if self._playwright is None:
            raise RuntimeError("the shared Chromium is closed")
        browser = await self._browser(trust)
        try:
            return await browser.new_context(**options)
        except Exception:
            if browser.is_connected():
                raise
            # It died between the check and the call: once more, with a new one.
            return await (await self._browser(trust)).new_context(**options)

    async def close(self) -> None:
        """Close every browser and stop Playwright; idempotent."""
        if self._making is not None:
            self._making.cancel()
            await asyncio.gather(self._making, return_exceptions=True)
            self._making = None
        self._spare = None  # closed with its browser
        browsers, playwright = list(self._browsers.values()), self._playwright
        self._browsers.clear()
        self._playwright = None
        for browser in browsers:
            with contextlib.suppress(Exception):  # a crashed one is closed already
                await browser.close()
        if playwright is not None:
            await playwright.stop()

    async def _browser(self, trust: Sequence[TestCA]) -> Any:
        async with self._launching:
            return await self._browser_unlocked(trust)

    async def _browser_unlocked(self, trust: Sequence[TestCA]) -> Any:
        args = launch_args(trust)
        key = tuple(args)
        browser = self._browsers.get(key)
        if browser is not None and browser.is_connected():
            self._browsers.move_to_end(key)
            return browser
        self._browsers.pop(key, None)
        await self._evict()
        try:
            browser = await self._launch(args)
        except Exception:
            if any(b.is_connected() for b in self._browsers.values()):
                raise  # the driver works: the launch itself failed
            # The driver may be what died (its pipe closed, every browser with it): start
            # Playwright again, once.
            await self._restart_playwright()
            browser = await self._launch(args)
        self._browsers[key] = browser
        return browser

    async def _launch(self, args: list[str]) -> Any:
        browser = await self._playwright.chromium.launch(
            executable_path=str(self.executable), args=args, timeout=LAUNCH_TIMEOUT * 1000
        )
        self.launches += 1
        return browser

    async def _evict(self) -> None:
        # Least recently used first; a browser a client still uses stays.
        for key, browser in list(self._browsers.items()):
            if len(self._browsers) < KEEP:
                return
            if not browser.is_connected() or not browser.contexts:
                del self._browsers[key]
                with contextlib.suppress(Exception):
                    await browser.close()

    async def _make_spare(self, trust: Sequence[TestCA]) -> None:
        context = self._pending = await self.new_context(trust)
        try:
            page = await context.new_page()
        except BaseException:
            with contextlib.suppress(Exception):
                await context.close()
            raise
        finally:
            self._pending = None
        self._spare = (tuple(launch_args(trust)), context, page)

    async def _take_spare(self, key: tuple[str, ...]) -> tuple[Any, Any] | None:
        if self._making is not None:
            # Its failure (a browser that crashed meanwhile) only means no spare.
            await asyncio.gather(self._making, return_exceptions=True)
            self._making = None
        if self._spare is None:
            return None
        made_for, context, page = self._spare
        self._spare = None
        browser = self._browsers.get(key)
        # One for another browser goes: the next release opens one for this client's.
        if made_for != key or browser is None or not browser.is_connected() or page.is_closed():
            with contextlib.suppress(Exception):
                await context.close()
            return None
        self.spares_taken += 1
        return context, page

    async def _start_playwright(self) -> None:
        from playwright.async_api import async_playwright

        before = set(threading.enumerate())
        self._playwright = await async_playwright().start()
        # Only asyncio's child watchers, by their name: never a thread some other part of the
        # process happened to start meanwhile.
        started = set(threading.enumerate()) - before
        self.helper_threads = {t for t in started if t.name.startswith("asyncio-waitpid")}

    async def _restart_playwright(self) -> None:
        old, self._playwright = self._playwright, None
        for browser in self._browsers.values():
            with contextlib.suppress(Exception):
                await browser.close()
        self._browsers.clear()
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        await self._start_playwright()


class ChromiumThread:
    """A :class:`SharedChromium` on an event-loop thread of its own, for sync code: the
    pytest plugin's session browser.

    Its clients run on :attr:`loop` (``loop.run(client.load(), ...)``); a test's simulated
    CMS runs on the test's loop, and the scenarios reach it there
    (:func:`~pytest_wsharness.runtime.loopthread.on_loop`).

    Args:
        executable: the Chromium to run; found by
            :func:`~pytest_wsharness.browser.chromium.find_chromium` by default.
        name: the loop thread's name, shown in leak reports.

    Raises:
        MissingPart: no Chromium or no Playwright.
    """

    def __init__(self, executable: Path | None = None, name: str = "wsharness-browser") -> None:
        from ..runtime.loopthread import LoopThread

        self.loop = LoopThread(name=name)
        try:
            # Tests come one after another: the next one's page opens while this one ends.
            self.chromium = self.loop.enter(SharedChromium(executable, spare=True), LAUNCH_TIMEOUT)
        except BaseException:
            self.loop.close()
            raise
        _RUNNING.add(self)

    @staticmethod
    def running() -> list[ChromiumThread]:
        """The instances not closed yet (the pytest session's, usually one)."""
        return list(_RUNNING)

    def holds(self) -> tuple[set[threading.Thread], set[int]]:
        """The threads and socket file descriptors it holds until :meth:`close`: its loop's
        thread and self-pipe, and the threads asyncio runs for Playwright's driver.

        A leak check that runs around each test leaves these out: they outlive the test
        that first used the browser by design. Chromium itself is the driver's child: its
        processes and sockets are not this process's.
        """
        return {self.loop.thread, *self.chromium.helper_threads}, self.loop.own_sockets()

    def close_contexts(self) -> int:
        """Close every context still open in the shared browsers; return how many there were.

        Each client closes its own: one left open is a leak of whoever opened it.
        """
        return self.loop.run(self._close_contexts(), LAUNCH_TIMEOUT, "browser contexts to close")

    def close(self) -> None:
        """Close the browsers, stop Playwright, end the thread; idempotent."""
        _RUNNING.discard(self)
        self.loop.close()

    async def _close_contexts(self) -> int:
        spare = self.chromium.spare_context
        contexts = [c for b in self.chromium.browsers for c in b.contexts if c is not spare]
        for context in contexts:
            with contextlib.suppress(Exception):  # its browser may have crashed meanwhile
                await context.close()
        return len(contexts)


_RUNNING: weakref.WeakSet[ChromiumThread] = weakref.WeakSet()
