"""The Python client's REST reads: the page load's (a failure the harness's own lag explains
is inconclusive, not the proxy's) and the project re-fetch a push asks for (a failure leaves the
list as it was, as a failed XHR does)."""

from __future__ import annotations

import asyncio
import time
from ssl import SSLContext
from typing import Any

import aiohttp

from ..errors import Inconclusive, PageLoadError
from ..protocol import Routes
from ..runtime import lag
from .phrases import describe_load_error
from .view import UiView

# A REST call of the page load that takes longer is a page that did not load.
LOAD_TIMEOUT = 30.0
# Statuses a hop answers when an answer came later than its timeout (504 from a reverse proxy,
# 408 when the request itself came late): on a stalled machine they may be the machine's doing.
LATE_STATUSES = frozenset({408, 504})
# Loop turns given to the lag watch to note a stall that has just ended.
LAG_NOTE_TURNS = 2


class RestReads:
    """The reads, for :class:`~pytest_wsharness.client.driver.CmsClient`, which has the
    session, the page's URL, routes, proxy and TLS, and the view they fill."""

    base_url: str
    routes: Routes
    proxy: str | None
    ssl: SSLContext | None
    time_scale: float
    view: UiView
    fetch_failures: list[str]
    _session: aiohttp.ClientSession | None
    _changed: asyncio.Event

    async def _refetch_project(self, key: Any) -> None:
        try:
            self.view.projects[key] = await self._get(f"{self.routes.projects}/{key}")
        except aiohttp.ClientResponseError as error:
            if error.status != 404:
                self._failed_fetch(key, f"HTTP {error.status}")
            else:
                self.view.projects.pop(key, None)
        except (aiohttp.ClientError, TimeoutError) as error:
            # A failed XHR leaves the list as it was; the page goes on (a server restart).
            reason = "no answer" if isinstance(error, TimeoutError) else describe_load_error(error)
            self._failed_fetch(key, reason)
        self._changed.set()

    def _failed_fetch(self, key: Any, reason: str) -> None:
        self.fetch_failures.append(f"project {key}: {reason}")

    async def _get(self, path: str) -> Any:
        assert self._session is not None
        async with self._session.get(
            self.base_url + path,
            raise_for_status=True,
            proxy=self.proxy,
            ssl=self.ssl if self.ssl is not None else True,
        ) as response:
            return await response.json()

    async def _load_get(self, path: str) -> Any:
        started = time.monotonic()
        try:
            return await self._get(path)
        except aiohttp.ClientError as error:
            reason = describe_load_error(error)
            if isinstance(error, aiohttp.ClientResponseError) and error.status in LATE_STATUSES:
                await self._unless_late(path, reason, started)
            raise PageLoadError(self.base_url + path, reason) from error
        except TimeoutError as error:
            reason = f"no answer within {LOAD_TIMEOUT:g}s"
            await self._unless_late(path, reason, started)
            raise PageLoadError(self.base_url + path, reason) from error

    async def _unless_late(self, path: str, reason: str, started: float) -> None:
        """Raise :class:`Inconclusive` when the harness lagged enough since ``started`` to
        explain a failed read whose cause is time (a hop's timeout, the load's own)."""
        # A stall that has just ended is noted by the lag watch when it next runs, in the same
        # turn of the loop as this answer or the next: let those turns run first.
        for _ in range(LAG_NOTE_TURNS):
            await asyncio.sleep(0)
        seen = lag.METER.worst(started)
        allowed = lag.limit(self.time_scale)
        if seen.seconds > allowed:
            raise Inconclusive(
                "the edit UI to load",
                str(seen),
                allowed,
                self.time_scale,
                f"GET {self.base_url + path}: {reason}",
            )
