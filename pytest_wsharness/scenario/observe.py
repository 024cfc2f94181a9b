"""One scenario end to end: trigger an update, watch the UI, reload, judge.

Async and pytest-free; the matrix, the CLI and the pytest assertions all go through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..client.base import UiClient
from ..client.driver import OPEN_TIMEOUT
from ..client.machine import State
from ..client.rest import LOAD_TIMEOUT
from ..client.timings import Timings
from ..errors import HarnessTimeout, Inconclusive, UsageError
from ..profiles import Expect, Profile
from ..runtime import lag
from ..runtime.loopthread import on_loop
from ..server.cms import SimulatedCMS
from ..verdict import HOT_LOOP_ATTEMPTS, Observation
from .updates import SimulatedUpdates, UpdateSource

DELIVERY_TIMEOUT = 5.0
# Room for what the scenario does besides its waits (starting a task, a trigger's round trip).
BUDGET_MARGIN = 30.0
if TYPE_CHECKING:
    from ..runtime.tls import TestCA

_markers = itertools.count(1)
# A real deployment keeps what earlier runs created: a marker must never repeat across runs.
_RUN = secrets.token_hex(3)
_NO_SOCKET = {State.NO_CONNECTION, State.DISABLED, State.GAVE_UP}


def settle_window(time_scale: float) -> float:
    """How long the first connect of a page may take to have an outcome, in seconds.

    The client's own bound on a handshake (``OPEN_TIMEOUT``, the same at every time scale: a
    slow proxy is not faster because the client's timers are), plus two scaled heartbeat
    intervals for a socket that opens and is lost at once to show its close.
    """
    return OPEN_TIMEOUT + 2 * Timings.scaled(time_scale).heartbeat_interval


def quiet_window(time_scale: float) -> float:
    """How long to watch a UI that should stay quiet, in seconds.

    A retry the client should not make comes after its first reconnect delay (5 s x 1^2); a
    retry after losing an opened socket to silence, within one more heartbeat interval. The
    scaled sum (8 s of CMS time); never under 0.2 s so a slow machine still gets a fair look
    (and a lagging one is caught by :mod:`~pytest_wsharness.runtime.lag`).
    """
    timings = Timings.scaled(time_scale)
    return max(0.2, timings.reconnect_delay(1) + timings.heartbeat_interval)


def new_marker() -> str:
    """A marker no other update of this run, or of an earlier run, carries."""
    return f"wsharness-{_RUN}-{next(_markers)}"


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

    A buffering proxy takes three heartbeat checks (9 s) to be noticed and the first retry
    waits 5 s x 1^2; a silent drop 10 s after the upgrade adds those 10 s; a hot loop needs
    three attempts. 60 s of CMS time covers them with room; the wait ends as soon as the retry
    is seen, so the room costs nothing when all is well. Never under 1 s, and a machine too
    slow for even that is caught by :mod:`~pytest_wsharness.runtime.lag`.
    """
    return max(1.0, 60.0 * time_scale)


def budget(time_scale: float, within: float = DELIVERY_TIMEOUT, restart: float = 0.0) -> float:
    """The longest one :func:`observe` can take, in seconds: the bound for whoever awaits it.

    The sum of its own waits (settle, the longest watch, a server restart, the reload) and a
    margin, so that when a wait expires it is the scenario's own, named, not the caller's.
    """
    watch = max(within, reconnect_window(time_scale), 2 * quiet_window(time_scale))
    return settle_window(time_scale) + watch + restart + LOAD_TIMEOUT + BUDGET_MARGIN


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
            (:class:`~pytest_wsharness.scenario.updates.UpdateSource`); a :class:`SimulatedCMS` is
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

    Returns:
        What the UI did, with the worst lag of the harness meanwhile (``lag``): a verdict
        that lag could have changed is no verdict (:func:`~pytest_wsharness.verdict.fair`).

    Raises:
        UsageError: ``restart`` without a simulated CMS to restart.
        TriggerFailed: the team's trigger failed (``CallbackUpdates``).
        HarnessTimeout: a wait of the scenario expired (the first connect's outcome, the
            restart) while the harness kept time; the message names it and what was seen.
        Inconclusive: such a wait expired while the harness itself lagged more than the
            scenario's timings allow.
    """
    source = SimulatedUpdates(updates, backends) if isinstance(updates, SimulatedCMS) else updates
    if restart is not None and source.server is None:
        raise UsageError(
            "a scenario with a server restart needs the simulated CMS: the harness cannot "
            "restart a real deployment"
        )
    began = time.monotonic()
    # The relay and mitmproxy watch their own loops. The client's is the simulated CMS's too,
    # but for a shared browser's client, whose loop is the browser's: then both are watched.
    server_loop = source.server.loop if source.server is not None else None
    watching: list[asyncio.Future[None]] = []
    if server_loop is None or server_loop is asyncio.get_running_loop():
        watching.append(lag.start_watch("client and server", time_scale))
    else:
        watching.append(lag.start_watch("client", time_scale))
        watching.append(lag.start_watch_on(server_loop, "server", time_scale))
    try:
        return await _observe(
            client, source, expect, time_scale, timeout, restart, before_refresh, began
        )
    except HarnessTimeout as error:
        seen = await lag_since(client, began)
        if seen.seconds > lag.limit(time_scale):
            raise Inconclusive(
                f"waiting for {error.waiting_for}",
                str(seen),
                lag.limit(time_scale),
                time_scale,
                str(error),
            ) from error
        raise
    finally:
        for watch in watching:
            watch.cancel()
        await asyncio.gather(*watching, return_exceptions=True)


async def lag_since(client: UiClient, began: float) -> lag.Lag:
    """The worst lag of the harness since ``began`` (``time.monotonic()``): its loops', and
    a browser's timers' (a client with ``page_lag``) in the page it shows now."""
    seen = lag.METER.worst(began)
    page_lag = getattr(client, "page_lag", None)
    return seen.worse(await page_lag(began)) if page_lag is not None else seen


async def _observe(
    client: UiClient,
    source: UpdateSource,
    expect: Expect,
    time_scale: float,
    timeout: float,
    restart: tuple[float, float] | None,
    before_refresh: Callable[[], Awaitable[object]] | None,
    began: float,
) -> Observation:
    restartable = source.server
    enabled = bool(client.websocket_enabled)
    if not (enabled and expect is Expect.HANGS):
        await client.settle(settle_window(time_scale))
    marker = new_marker()
    unread_before = client.view.unread
    restarting = None
    if restart is not None and restartable is not None:
        restarting = asyncio.get_running_loop().create_task(_restart(restartable, *restart))
    try:
        await source.trigger(marker)
        published_at = time.monotonic()
    except BaseException:
        if restarting is not None:
            restarting.cancel()
            await asyncio.gather(restarting, return_exceptions=True)
        raise

    def live() -> bool:
        return source.shows_live(client.view, marker, unread_before)

    machine = client.machine
    watched = time.monotonic()
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
    awake = await _awake(client, watched)
    if restarting is not None:
        # The restart was scheduled to end by now: this bound is only against a hang.
        try:
            await asyncio.wait_for(restarting, settle_window(time_scale))
        except TimeoutError:
            raise HarnessTimeout(
                "the server restart to end", settle_window(time_scale), client.describe()
            ) from None
    # The page's timers are read before the reload replaces the page.
    seen_lag = await lag_since(client, began)
    if before_refresh is not None:
        await before_refresh()
    # The reload only needs the page's REST reads; its realtime client is not waited for.
    await client.refresh()
    refreshed_at = time.monotonic()
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
        lag=seen_lag.worse(lag.METER.worst(began)),
        answered=answered(events, machine.attempts),
        awake=awake,
        published_at=published_at,
        refreshed_at=refreshed_at,
    )


def answered(events: Sequence[Any], attempts: int) -> bool:
    """Whether every connect attempt got its answer from the path, whatever the harness's
    timing: each refused with an HTTP status, or the one attempt opened and was never lost.

    Args:
        events: the client's socket events (:class:`~pytest_wsharness.client.driver.SocketEvent`).
        attempts: the attempts the client made.
    """
    if attempts < 1:
        return False
    kinds = [e.kind for e in events]
    refused = [e for e in events if e.kind == "handshake-failed"]
    if "open" not in kinds:
        # A browser reports the close of a refused socket too: it ends the same attempt.
        return len(refused) == attempts and all(e.status is not None for e in refused)
    return attempts == 1 and kinds == ["open"]


async def _awake(client: UiClient, since: float) -> float:
    """The share of the time since ``since`` in which no loop of the harness, nor the page's
    timers, stalled (:attr:`~pytest_wsharness.verdict.Observation.awake`)."""
    until = time.monotonic()
    window = until - since
    if window <= 0:
        return 1.0
    asleep = lag.METER.stalled(since, until)
    page_lag = getattr(client, "page_lag", None)
    if page_lag is not None:
        asleep += (await page_lag(since)).seconds
    return max(0.0, 1.0 - asleep / window)


async def _restart(server: SimulatedCMS, after: float, down_for: float) -> None:
    # A simulated duration of the scenario, not a wait for readiness.
    await asyncio.sleep(after)
    # On the server's loop: the client's may be another (a shared browser's).
    await on_loop(server.loop, server.restart(down_for))


async def _within(client: UiClient, predicate: Callable[[], bool], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await client.wait_for(predicate, seconds, "the observation window")
