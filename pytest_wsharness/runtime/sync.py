"""Blocking handles on the async engine, for sync tests: each call runs on a :class:`LoopThread`.

The handles keep the async object as ``engine`` for anything they do not wrap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..client.base import PageLife, UiClient
from ..client.events import SocketEvent
from ..client.machine import State, TimelineEntry
from ..client.view import UiView
from ..protocol import Routes, Topic
from ..scenario.observe import settle_window
from ..scenario.rig import HarnessServer, SiteTrust
from ..scenario.updates import SimulatedUpdates, UpdateSource, UpdateTrigger, source_for
from ..server.cms import SimulatedCMS
from ..server.content import Content
from ..server.records import RequestRecord
from .loopthread import LoopThread

CALL_TIMEOUT = 30.0


class SyncCMS(HarnessServer):
    """A running :class:`SimulatedCMS`, driven from a sync test.

    Args:
        restart: ``(after, down_for)`` seconds: the restart its scenario calls for, if any.
        others: more backends of the same site (sharing ``engine``'s content), if any.
        find_trigger: called when a scenario first needs an update, for the trigger that makes
            it (the plugin's ``cms_trigger_update`` fixture); ``None``, the default, publishes
            on ``engine``.
        trust: what proxies and clients trust to reach it (the site's
            :class:`~pytest_wsharness.scenario.rig.SiteTrust`); the default, for a plain http
            server, trusts nothing.
    """

    def __init__(
        self,
        loop: LoopThread,
        engine: SimulatedCMS,
        restart: tuple[float, float] | None = None,
        others: Sequence[SimulatedCMS] = (),
        *,
        find_trigger: Callable[[], UpdateTrigger] | None = None,
        trust: SiteTrust | None = None,
    ) -> None:
        self.loop = loop
        self.engine = engine
        self.scenario_restart = restart
        self.backends = [engine, *others] if others else []
        self._find_trigger = find_trigger
        self.trust = trust or SiteTrust()

    def update_source(self) -> UpdateSource:
        """Where a scenario's update comes from: published here (the default), or a trigger
        that overrides ``cms_trigger_update``, which is then called instead."""
        if self._find_trigger is None:
            return SimulatedUpdates(self.engine, self.backends)
        return source_for(self._find_trigger(), server=self.engine)

    @property
    def upstream(self) -> str:
        """What a proxy forwards to: this server, or every backend, comma-separated."""
        return ",".join(b.url for b in self.backends) if self.backends else self.url

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.engine.url

    @property
    def routes(self) -> Routes:
        """The paths the server answers on."""
        return self.engine.routes

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request the server received, oldest first."""
        return list(self.engine.requests)

    @property
    def every_request(self) -> list[RequestRecord]:
        """Every request every backend of the site received (one backend: :attr:`requests`)."""
        return [r for b in self.backends or [self.engine] for r in b.requests]

    @property
    def content(self) -> Content:
        """What a page load or refresh reads."""
        return self.engine.content

    @property
    def connections(self) -> int:
        """How many WebSocket clients are connected now."""
        return self.engine.connections

    @property
    def websocket_enabled(self) -> bool:
        """The ``UIOptions.WebSocketEnabled`` switch; takes effect at the next page load."""
        return self.engine.websocket_enabled

    @websocket_enabled.setter
    def websocket_enabled(self, value: bool) -> None:
        self.engine.websocket_enabled = value

    def publish(self, topic: Topic | str, data: Any) -> int:
        """Store an update and push it to every client; see :meth:`SimulatedCMS.publish`."""
        return self.loop.run(self.engine.publish(topic, data), CALL_TIMEOUT, "publish")

    def close_sockets(self, code: int = 1001) -> None:
        """Close every WebSocket with a Close frame."""
        self.loop.run(self.engine.close_sockets(code), CALL_TIMEOUT, "close_sockets")

    @property
    def listening(self) -> bool:
        """Whether the server accepts connections (false while a restart is down)."""
        return self.engine.listening

    def drop_sockets(self) -> int:
        """Abort every WebSocket without a Close frame (clients see 1006); return how many."""
        return self.loop.run(self.engine.drop_sockets(), CALL_TIMEOUT, "drop_sockets")

    def restart(self, down_for: float, *, how: str = "drop") -> None:
        """Restart the server: sockets cut, refused for ``down_for`` s, back on the same port.

        Blocks until the server listens again; the clients run meanwhile on the loop thread.
        See :meth:`SimulatedCMS.restart`.
        """
        self.loop.run(
            self.engine.restart(down_for, how=how), down_for + CALL_TIMEOUT, "the CMS to restart"
        )


class SyncClient:
    """A loaded edit UI, driven from a sync test: the Python model
    (:class:`~pytest_wsharness.client.driver.CmsClient`) or the page in Chromium
    (:class:`~pytest_wsharness.browser.client.BrowserClient`)."""

    def __init__(self, loop: LoopThread, engine: UiClient) -> None:
        self.loop = loop
        self.engine = engine

    @property
    def view(self) -> UiView:
        """What the edit UI shows."""
        return self.engine.view

    @property
    def state(self) -> State:
        """The realtime client's state."""
        return self.engine.state

    @property
    def machine(self) -> PageLife:
        """The state machine of the current page life."""
        return self.engine.machine

    @property
    def timeline(self) -> list[TimelineEntry]:
        """What the current page life did, in order."""
        return list(self.engine.machine.timeline)

    @property
    def events(self) -> list[SocketEvent]:
        """What the socket saw over every page life."""
        return list(self.engine.events)

    def describe(self) -> str:
        """Say what the client saw."""
        return self.engine.describe()

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate()`` is true, re-checking whenever the UI changes."""
        self.loop.run(self.engine.wait_for(predicate, timeout, what), timeout + CALL_TIMEOUT, what)

    def settle(self, timeout: float | None = None) -> State:
        """Wait until the first connect has an outcome; return the state.

        Args:
            timeout: seconds to wait. It defaults to the client's own bound on a first
                connect at its time scale
                (:func:`~pytest_wsharness.scenario.observe.settle_window`).
        """
        wait = settle_window(self.engine.time_scale) if timeout is None else timeout
        self.loop.run(self.engine.settle(wait), wait + CALL_TIMEOUT, "settle")
        return self.state

    def refresh(self) -> None:
        """Reload the page."""
        self.loop.run(self.engine.refresh(), CALL_TIMEOUT, "refresh")
