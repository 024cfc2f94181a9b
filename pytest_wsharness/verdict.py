"""Whether the UI did the right thing: pure judgements over what the client observed."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .client.machine import Dialog, State
from .profiles import Expect
from .runtime import lag

# A hot loop shows itself as this many attempts inside one observation window.
HOT_LOOP_ATTEMPTS = 3
# An update that did not arrive while the harness was awake this share of the watch had its
# chance: the harness's lag does not explain it (lag_explains).
AWAKE_ENOUGH = 0.5


class Verdict(enum.StrEnum):
    """The outcome of one scenario."""

    DELIVERED = "delivered"
    FELL_BACK = "fell back correctly"
    RECONNECTED = "reconnected on schedule"
    HOT_LOOP = "reconnects in a hot loop"
    HUNG = "stuck connecting"
    MISSED = "missed updates"
    WRONG = "WRONG"
    # The harness lagged more than the scenario's timings allow: no verdict about the proxy.
    INCONCLUSIVE = "inconclusive"


_VERDICTS = {
    Expect.DELIVERED: Verdict.DELIVERED,
    Expect.FALLBACK: Verdict.FELL_BACK,
    Expect.RECONNECTS: Verdict.RECONNECTED,
    Expect.HOT_LOOP: Verdict.HOT_LOOP,
    Expect.HANGS: Verdict.HUNG,
    Expect.MISSES_UPDATES: Verdict.MISSED,
}


@dataclass(frozen=True)
class Observation:
    """What one page life of the client did while an update was published, then a refresh.

    Attributes:
        websocket_enabled: what the settings said.
        attempts: connect attempts during the page life, the observation window included.
        opened: a socket opened at least once.
        state: the client's state at the end of the window.
        dialogs: every dialog shown, in order.
        live: the published update reached the UI without a reload.
        after_refresh: the published update showed after a reload.
        socket_events: what the socket saw, e.g. ``handshake failed (HTTP 200), closed 1006``.
        reconnect_delays: the delay of every reconnect the client scheduled, in seconds.
        tls_issuer: who issued the certificate of the first ``wss://`` socket that opened.
        lag: the worst lag of the harness while it watched (its event loops, a browser's
            timers).
        answered: every connect attempt got its answer from the path, whatever the harness's
            timing: refused with an HTTP status, or opened and never lost.
        awake: the share of the watch after the update was published in which no loop of the
            harness (nor the page's timers) was stalled; 1.0 when nothing stalled.
        published_at: when the update was published (its trigger returned), and
        refreshed_at: when the reload's page had loaded, both ``time.monotonic()``; ``None``
            when not reached. The report's timeline shows both.
    """

    websocket_enabled: bool
    attempts: int
    opened: bool
    state: State
    dialogs: tuple[Dialog, ...]
    live: bool
    after_refresh: bool
    socket_events: tuple[str, ...] = ()
    reconnect_delays: tuple[float, ...] = ()
    tls_issuer: str = ""
    lag: lag.Lag = field(default_factory=lag.Lag)
    answered: bool = False
    awake: float = 1.0
    published_at: float | None = None
    refreshed_at: float | None = None

    def client_clause(self) -> str:
        """Say what the client's socket saw, for an explanation of the hops."""
        if not self.websocket_enabled:
            return "client opened no socket (WebSocketEnabled=false)"
        events = self.socket_events
        if len(events) > 4:
            events = (*events[:2], f"... {len(events) - 3} more ...", events[-1])
        return "client " + ("; ".join(events) or "saw no socket event")

    def summary(self) -> str:
        """Say in a few words what the editor saw."""
        if not self.websocket_enabled:
            socket = "no socket"
        elif self.opened:
            socket = f"open after {self.attempts} attempt(s)"
            if self.reconnect_delays:
                delays = ", ".join(f"{d:.3g}s" for d in self.reconnect_delays[:3])
                socket += f", retries after {delays}"
            if self.tls_issuer:
                socket += f", certificate by {self.tls_issuer}"
        elif self.state is State.CONNECTING:
            socket = "still connecting"
        else:
            socket = f"{self.attempts} failed attempt(s)"
        dialogs = "+".join(d.value for d in self.dialogs) or "no dialog"
        update = "live update" if self.live else "no live update"
        refresh = "shown after refresh" if self.after_refresh else "NOT shown after refresh"
        return f"{socket}, {dialogs}, {update}, {refresh}"


def expected_outcome(expect: Expect, websocket_enabled: bool) -> Verdict:
    """Return the verdict a correct UI earns behind a profile."""
    return _VERDICTS[expect] if websocket_enabled else Verdict.FELL_BACK


def judge(observation: Observation, expect: Expect) -> tuple[Verdict, list[str]]:
    """Judge an observation against what a profile should lead to.

    Returns:
        The verdict, and the broken expectations when it is :attr:`Verdict.WRONG`.
    """
    o = observation
    modal = Dialog.NO_CONNECTION in o.dialogs
    refreshed = (o.after_refresh, "shown the update after a refresh")
    if not o.websocket_enabled:
        checks = [
            (o.attempts == 0, f"opened no socket (made {o.attempts} attempt(s))"),
            (not o.dialogs, f"shown no dialog (showed {_names(o.dialogs)})"),
            (not o.live, "got no live update"),
            refreshed,
        ]
        return _verdict(Verdict.FELL_BACK, checks)
    if expect is Expect.DELIVERED:
        live = (o.live, f"got the update live (state {o.state}, {o.attempts} attempt(s))")
        return _verdict(Verdict.DELIVERED, [live])
    if expect is Expect.FALLBACK:
        checks = [
            (o.state is State.NO_CONNECTION, f"ended in the no-connection state (ended {o.state})"),
            (
                o.dialogs == (Dialog.NO_CONNECTION,),
                f"shown the noconnection modal once (showed {_names(o.dialogs)})",
            ),
            (o.attempts == 1, f"made one attempt, no retry storm (made {o.attempts})"),
            refreshed,
        ]
        return _verdict(Verdict.FELL_BACK, checks)
    if expect is Expect.RECONNECTS:
        first = o.reconnect_delays[0] if o.reconnect_delays else None
        checks = [
            (o.opened, "opened the socket first"),
            (not modal, "shown no noconnection modal (it did)"),
            (
                o.attempts >= 2,
                f"tried again after losing the socket (made {o.attempts} attempt(s))",
            ),
            (first is not None and first > 0, f"waited before retrying (first delay {first})"),
            refreshed,
        ]
        return _verdict(Verdict.RECONNECTED, checks)
    if expect is Expect.HOT_LOOP:
        checks = [
            (o.opened, "opened the socket first"),
            (
                o.attempts >= HOT_LOOP_ATTEMPTS and 0 in o.reconnect_delays,
                f"retried at once, again and again (made {o.attempts} attempt(s), delays "
                f"{_delays(o.reconnect_delays)})",
            ),
            refreshed,
        ]
        return _verdict(Verdict.HOT_LOOP, checks)
    if expect is Expect.HANGS:
        checks = [
            (o.state is State.CONNECTING, f"still been connecting (state {o.state})"),
            (o.attempts == 1, f"made one attempt (made {o.attempts})"),
            (not o.dialogs, f"shown no dialog (showed {_names(o.dialogs)})"),
            refreshed,
        ]
        return _verdict(Verdict.HUNG, checks)
    checks = [
        (o.opened, "opened the socket"),
        (not o.live, "missed the update (it arrived)"),
        (not o.dialogs, f"shown no dialog (showed {_names(o.dialogs)})"),
        refreshed,
    ]
    return _verdict(Verdict.MISSED, checks)


# What the UI does behind these profiles brings no update live: one that arrived live says the
# proxy passed the socket, whatever the timing.
NO_LIVE_UPDATE = frozenset({Expect.FALLBACK, Expect.HOT_LOOP, Expect.HANGS, Expect.MISSES_UPDATES})


def lag_explains(observation: Observation, expect: Expect) -> bool:
    """Whether the harness's own lag could have made ``observation`` wrong.

    Lag delays what the client sees; it never changes what a hop answered, nor the settings.
    A UI with WebSocketEnabled=false is judged on what it did without a socket (attempts,
    dialogs, what a reload shows), which no timing decides. A UI that should have got the
    update live and did not stays wrong when every attempt was answered (refused with an HTTP
    status, or opened and never lost) and, with a socket open, the harness was awake for at
    least :data:`AWAKE_ENOUGH` of the watch: the update had its chance. A UI that got the
    update live behind a profile that lets none through (:data:`NO_LIVE_UPDATE`) stays wrong:
    the proxy passed the socket. Anything else (a socket lost, a wait that ran out, a schedule
    of reconnects) lag can explain.
    """
    o = observation
    if not o.websocket_enabled:
        return False
    if o.live and expect in NO_LIVE_UPDATE:
        # The update came live through a path that should carry none: no lateness of the
        # harness makes a blocked socket work.
        return False
    if expect is not Expect.DELIVERED or o.live or not o.answered:
        return True
    return o.opened and o.awake < AWAKE_ENOUGH


def fair(
    verdict: Verdict,
    problems: list[str],
    observation: Observation,
    time_scale: float,
    expect: Expect | None = None,
) -> tuple[Verdict, list[str]]:
    """Hold a ``WRONG`` verdict back when the harness was too slow to judge.

    A right verdict stands: a lagging harness sees less, not more, and what it saw was right.
    A wrong one that the harness's own lag could explain (a heartbeat echo judged late, a
    window that closed before the event) becomes :attr:`Verdict.INCONCLUSIVE`, its problems
    prefixed with the lag, so that no failure blames the proxy for the machine's slowness.
    Given what the UI should have done (``expect``), a wrong that no lag explains
    (:func:`lag_explains`) stands however late the harness ran: on a machine that stalls
    often, a proxy that answers 200 to every upgrade must still fail the test.
    """
    allowed = lag.limit(time_scale)
    if verdict is not Verdict.WRONG or observation.lag.seconds <= allowed:
        return verdict, problems
    if expect is not None and not lag_explains(observation, expect):
        return verdict, problems
    why = (
        f"the harness itself ran {observation.lag} late, where {allowed * 1000:.0f} ms could "
        f"change the outcome at time scale {time_scale:g}"
    )
    return Verdict.INCONCLUSIVE, [why, *(f"(seen meanwhile) {p}" for p in problems)]


def _verdict(success: Verdict, checks: list[tuple[bool, str]]) -> tuple[Verdict, list[str]]:
    problems = [f"should have {text}" for ok, text in checks if not ok]
    return (Verdict.WRONG, problems) if problems else (success, [])


def _names(dialogs: tuple[Dialog, ...]) -> str:
    return ", ".join(d.value for d in dialogs) or "none"


def _delays(delays: tuple[float, ...]) -> str:
    return ", ".join(f"{d:.3g}s" for d in delays[:5]) or "none"
