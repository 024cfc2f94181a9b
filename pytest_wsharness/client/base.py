"""What the scenario, the assertions and the sync wrappers need from a client of the edit UI.

Two drivers meet it: :class:`~pytest_wsharness.client.driver.CmsClient` (the Python model) and
:class:`~pytest_wsharness.browser.client.BrowserClient` (the page in Chromium), so that one set
of assertions holds both to the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .events import SocketEvent
from .machine import Dialog, State, TimelineEntry
from .view import UiView


class PageLife(Protocol):
    """What the realtime client of one page load did."""

    dialogs_shown: list[Dialog]
    reconnect_delays: list[float]
    timeline: list[TimelineEntry]

    @property
    def attempts(self) -> int:
        """How many WebSockets the page opened or tried to."""
        ...


class UiClient(Protocol):
    """A loaded edit UI with its realtime client."""

    websocket_enabled: bool | None
    time_scale: float
    view: UiView
    events: list[SocketEvent]

    @property
    def state(self) -> State:
        """The realtime client's state."""
        ...

    @property
    def machine(self) -> PageLife:
        """What the current page life did."""
        ...

    @property
    def origin(self) -> float:
        """When the client began, ``time.monotonic()``: what ``events`` and ``history`` count
        from."""
        ...

    @property
    def history(self) -> list[TimelineEntry]:
        """What every page life did, in seconds since ``origin``, each opened by a ``load``
        entry."""
        ...

    async def settle(self, timeout: float) -> None:
        """Wait until the first connect has an outcome."""
        ...

    async def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate()`` is true, re-checking whenever the UI changes."""
        ...

    async def refresh(self) -> None:
        """Reload the page."""
        ...

    async def close(self) -> None:
        """Unload the page; idempotent."""
        ...

    def describe(self) -> str:
        """Say what the client saw, for failure messages."""
        ...
