"""One scenario end to end: trigger an update, watch the UI, reload, judge.

Async and pytest-free; the matrix, the CLI and the pytest assertions all go through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .client.base import UiClient
from .client.machine import State
from .errors import UsageError
from .profiles import Expect, Profile
from .server.cms import SimulatedCMS
from .updates import SimulatedUpdates, UpdateSource
from .updates import shows as _view_shows
from .updates import update_for as update_for  # re-exported: it was defined here
from .verdict import HOT_LOOP_ATTEMPTS, Observation

SETTLE_TIMEOUT = 15.0
DELIVERY_TIMEOUT = 5.0
if TYPE_CHECKING:
    from .tls import TestCA

_markers = itertools.count(1)
# A real deployment keeps what earlier runs created: a marker must never repeat across runs.
_RUN = secrets.token_hex(3)
_NO_SOCKET = {State.NO_CONNECTION, State.DISABLED, State.GAVE_UP}


def quiet_window(time_scale: float) -> float:
    """How long to watch a UI that should stay quiet, in seconds.

    Long enough for a heartbeat kill (2 missed checks, 6 s) and the first reconnect (5 s) to show
    at the CMS's own timings, scaled; never under 0.2 s so a slow machine still gets a fair look.
    """
    return max(0.2, 7.0 * time_scale)


def new_marker() -> str:
    """A marker no other update of this run, or of an earlier run, carries."""
    return f"wsharness-{_RUN}-{next(_markers)}"


def shows(client: UiClient, marker: str, unread_before: int) -> bool:
    """Whether the client's UI shows the update ``marker`` of the simulated CMS: the project
    and a higher badge."""
    return _view_shows(client.view, marker, unread_before)


@dataclass(frozen=True)
class ServerSetup:
    """How a profile's ``[server]`` table sets up the simulated server of a scenario.

    Attributes:
        backends: 2 runs a second server sharing the first one's content (one site, two
            backends, no shared socket hub); updates are published on the first.
        restart: ``(after, down_for)`` in scaled seconds: restart the server that long after the
            socket opens, down for that long; ``None`` for no restart.
    """

    websocket_feature: bool = True
    plain_get_status: int = 200
    tls: bool = False
    restart: tuple[float, float] | None = None
    backends: int = 1

    @classmethod
    def of(cls, profile: Profile | None, time_scale: float) -> ServerSetup:
        """Read a profile's settings; ``None`` (no proxy) gives the defaults."""
        if profile is None:
            return cls()
        server = profile.server
        after, down = (server[k] / 1000 * time_scale for k in ("restart_after", "down_for"))
        return cls(
            websocket_feature=server["websocket_feature"],
            plain_get_status=server["plain_get_status"],
            tls=server["tls"],
            restart=(after, down) if after or down else None,
            backends=server["backends"],
        )

    def server_kwargs(self, ca: TestCA | None) -> dict[str, Any]:
        """Keyword arguments for :class:`SimulatedCMS` (TLS needs the run's test CA)."""
        kwargs: dict[str, Any] = {
            "websocket_feature": self.websocket_feature,
            "plain_get_status": self.plain_get_status,
        }
        if self.tls:
            if ca is None:
                raise UsageError("a profile with [server] tls = true needs a test CA")
            kwargs["ssl"] = ca.issue().server_context()
        return kwargs


def reconnect_window(time_scale: float) -> float:
    """How long to wait for a client to lose its socket and retry, in seconds.

    A buffering proxy takes two heartbeat checks (6 s) to be noticed and the first retry waits
    5 s; a silent drop 10 s after the upgrade adds those 10 s; a hot loop needs three attempts.
    60 s of CMS time covers them with room for a loaded machine; the wait ends as soon as the
    retry is seen, so the room costs nothing when all is well.
    """
    return max(1.0, 60.0 * time_scale)


async def observe(
    client: UiClient,
    updates: UpdateSource | SimulatedCMS,
    *,
    expect: Expect,
    time_scale: float,
    timeout: float = DELIVERY_TIMEOUT,
    restart: tuple[float, float] | None = None,
    backends: Sequence[SimulatedCMS] = (),
    before_refresh: Callable[[], Awaitable[object]] | None = None,
) -> Observation:
    """Trigger an update, watch the client as long as ``expect`` needs, then reload the page.

    Args:
        client: a loaded client.
        updates: where the update comes from and how the UI shows it
            (:class:`~pytest_wsharness.updates.UpdateSource`); a :class:`SimulatedCMS` is
            published on, as ``SimulatedUpdates(server, backends)``.
        expect: what the UI should do; it decides what to wait for. A UI that should get the
            update live is given up to ``timeout``; one that should retry, up to
            :func:`reconnect_window`; one that should stay quiet is watched for
            :func:`quiet_window`.
        time_scale: the client's time scale.
        timeout: the bound on a live update, in seconds.
        restart: ``(after, down_for)`` seconds: restart the server that long after the client
            settled (a server-side event of the scenario; the simulated CMS only).
        backends: with a :class:`SimulatedCMS`, every backend of the site when there are
            several: the update is saved on one that does not hold the client's socket.
        before_refresh: awaited once the watch is over, before the reload (a screenshot).

    Raises:
        UsageError: ``restart`` without a simulated CMS to restart.
        TriggerFailed: the team's trigger failed (``CallbackUpdates``).
    """
    source = SimulatedUpdates(updates, backends) if isinstance(updates, SimulatedCMS) else updates
    restartable = source.server
    if restart is not None and restartable is None:
        raise UsageError(
            "a scenario with a server restart needs the simulated CMS: the harness cannot "
            "restart a real deployment"
        )
    enabled = bool(client.websocket_enabled)
    if not (enabled and expect is Expect.HANGS):
        await client.settle(SETTLE_TIMEOUT)
    marker = new_marker()
    unread_before = client.view.unread
    restarting = None
    if restart is not None and restartable is not None:
        restarting = asyncio.get_running_loop().create_task(_restart(restartable, *restart))
    try:
        await source.trigger(marker)
    except BaseException:
        if restarting is not None:
            restarting.cancel()
            await asyncio.gather(restarting, return_exceptions=True)
        raise

    def live() -> bool:
        return source.shows_live(client.view, marker, unread_before)

    machine = client.machine
    if enabled and expect is Expect.DELIVERED:
        # No need to sit out the timeout once the client can no longer receive anything.
        await _within(client, lambda: live() or client.state in _NO_SOCKET, timeout)
    elif enabled and expect in (Expect.RECONNECTS, Expect.HOT_LOOP):
        wanted = 2 if expect is Expect.RECONNECTS else HOT_LOOP_ATTEMPTS
        await _within(client, lambda: machine.attempts >= wanted, reconnect_window(time_scale))
    else:
        await _within(client, live, quiet_window(time_scale))
        if live():
            # Give a retry storm, if there is one, the same window to show itself.
            await _within(client, lambda: False, quiet_window(time_scale))
    observed_live, events, state = live(), list(client.events), client.state
    if restarting is not None:
        await asyncio.wait_for(restarting, SETTLE_TIMEOUT)
    if before_refresh is not None:
        await before_refresh()
    # The reload only needs the page's REST reads; its realtime client is not waited for.
    await client.refresh()
    return Observation(
        websocket_enabled=enabled,
        attempts=machine.attempts,
        opened=any(e.kind == "open" for e in events),
        state=state,
        dialogs=tuple(machine.dialogs_shown),
        live=observed_live,
        after_refresh=source.shows_after_refresh(client.view, marker, unread_before),
        socket_events=tuple(str(e) for e in events),
        reconnect_delays=tuple(machine.reconnect_delays),
        tls_issuer=next((e.issuer for e in events if e.kind == "open" and e.issuer), ""),
    )


async def _restart(server: SimulatedCMS, after: float, down_for: float) -> None:
    # A simulated duration of the scenario, not a wait for readiness.
    await asyncio.sleep(after)
    await server.restart(down_for)


async def _within(client: UiClient, predicate: Callable[[], bool], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await client.wait_for(predicate, seconds, "the observation window")
