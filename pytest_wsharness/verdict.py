"""Whether the UI did the right thing: pure judgements over what the client observed."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .client.machine import Dialog, State
from .profiles import Expect


class Verdict(enum.StrEnum):
    """The outcome of one scenario."""

    DELIVERED = "delivered"
    FELL_BACK = "fell back correctly"
    WRONG = "WRONG"


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
    """

    websocket_enabled: bool
    attempts: int
    opened: bool
    state: State
    dialogs: tuple[Dialog, ...]
    live: bool
    after_refresh: bool
    socket_events: tuple[str, ...] = ()

    def client_clause(self) -> str:
        """Say what the client's socket saw, for an explanation of the hops."""
        if not self.websocket_enabled:
            return "client opened no socket (WebSocketEnabled=false)"
        return "client " + ("; ".join(self.socket_events) or "saw no socket event")

    def summary(self) -> str:
        """Say in a few words what the editor saw."""
        if not self.websocket_enabled:
            socket = "no socket"
        elif self.opened:
            socket = f"open after {self.attempts} attempt(s)"
        else:
            socket = f"{self.attempts} failed attempt(s)"
        dialogs = "+".join(d.value for d in self.dialogs) or "no dialog"
        update = "live update" if self.live else "no live update"
        refresh = "shown after refresh" if self.after_refresh else "NOT shown after refresh"
        return f"{socket}, {dialogs}, {update}, {refresh}"


def expected_outcome(expect: Expect, websocket_enabled: bool) -> Verdict:
    """Return the verdict a correct UI earns behind a profile."""
    if websocket_enabled and expect is Expect.DELIVERED:
        return Verdict.DELIVERED
    return Verdict.FELL_BACK


def judge(observation: Observation, expect: Expect) -> tuple[Verdict, list[str]]:
    """Judge an observation against what a profile should lead to.

    Returns:
        The verdict, and the broken expectations when it is :attr:`Verdict.WRONG`.
    """
    o = observation
    if not o.websocket_enabled:
        problems = _check(
            (o.attempts == 0, f"opened no socket (made {o.attempts} attempt(s))"),
            (not o.dialogs, f"showed no dialog (showed {_names(o.dialogs)})"),
            (not o.live, "got no live update"),
            (o.after_refresh, "showed the update after a refresh"),
        )
        return (Verdict.WRONG, problems) if problems else (Verdict.FELL_BACK, [])
    if expect is Expect.DELIVERED:
        problems = _check(
            (o.live, f"got the update live (state {o.state}, {o.attempts} attempt(s))"),
        )
        return (Verdict.WRONG, problems) if problems else (Verdict.DELIVERED, [])
    problems = _check(
        (o.state is State.NO_CONNECTION, f"ended in the no-connection state (ended {o.state})"),
        (
            o.dialogs == (Dialog.NO_CONNECTION,),
            f"showed the noconnection modal once (showed {_names(o.dialogs)})",
        ),
        (o.attempts == 1, f"made one attempt, no retry storm (made {o.attempts})"),
        (o.after_refresh, "showed the update after a refresh"),
    )
    return (Verdict.WRONG, problems) if problems else (Verdict.FELL_BACK, [])


def _check(*pairs: tuple[bool, str]) -> list[str]:
    return [f"should have {text}" for ok, text in pairs if not ok]


def _names(dialogs: tuple[Dialog, ...]) -> str:
    return ", ".join(d.value for d in dialogs) or "none"
