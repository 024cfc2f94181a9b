"""Sans-I/O model of the CMS edit UI realtime client, epi/shell/socket/hub (CMS UI 10.0.2).

No sockets, timers or clock reads: the I/O layer passes ``now`` (monotonic seconds) into every
event and performs the returned commands, like the protocol core of ``websockets``. Algorithm:

* ``enableWebSockets`` false: never connect (state "disabled").
* Open: failures reset to 0, "reconnecting" dismissed, ``/epi/heartbeat`` sent (1 unanswered),
  then a check every 3 s: if anything arrived since the last check, unanswered = 0; else with
  2 or more unanswered the client closes the socket (an unclean failure, ~6 s of silence); else it
  sends a heartbeat (unanswered + 1).
* Only unclean closes fail. After failure n (1..8) the next attempt waits 5 s x n^2; "reconnecting"
  shows at failure 3; failure 9 shows "reconnect-failed" and gives up. A clean close (count 0)
  reconnects after 5 s x 0^2 = 0 s, a possible hot loop (see ``attempts_within``).
* A failure before any open jumps to the last attempt: "noconnection" modal, no retry.
* ``{"topic": t, "data": d}`` yields ``Deliver(t, d)``; a heartbeat is swallowed; anything else is
  recorded as ignored. One ``time_scale`` multiplies every timing (``Timings.scaled``).

An event the current state cannot receive raises ``RuntimeError``: the I/O layer is at fault.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import TypeAlias

from ..protocol import HEARTBEAT as HEARTBEAT_TEXT
from .timings import Timings

HEARTBEAT_TIMER = "heartbeat"
RECONNECT_TIMER = "reconnect"


class State(enum.StrEnum):
    """Where the client is in its life."""

    IDLE = "idle"
    DISABLED = "disabled"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WAITING = "waiting-to-reconnect"
    NO_CONNECTION = "no-connection"
    GAVE_UP = "gave-up"
    STOPPED = "stopped"


class Dialog(enum.StrEnum):
    """The dialogs the edit UI shows about the realtime connection."""

    RECONNECTING = "reconnecting"
    RECONNECT_FAILED = "reconnect-failed"
    NO_CONNECTION = "noconnection"


@dataclass(frozen=True)
class Connect:
    """Open a new WebSocket to the endpoint."""


@dataclass(frozen=True)
class SendText:
    """Send a text frame on the open socket."""

    text: str


@dataclass(frozen=True)
class CloseSocket:
    """Close the socket; the I/O layer may report its ``closed`` event once, which is absorbed."""

    reason: str
    code: int = 1000


@dataclass(frozen=True)
class ScheduleTimer:
    """Arm the one-shot timer ``name`` to fire after ``delay`` seconds, replacing a pending one."""

    name: str
    delay: float


@dataclass(frozen=True)
class CancelTimer:
    """Cancel the timer ``name`` if it is pending."""

    name: str


@dataclass(frozen=True)
class ShowDialog:
    """Show a dialog; for ``Dialog.NO_CONNECTION`` its text is ``NO_CONNECTION_TEXT``."""

    dialog: Dialog


@dataclass(frozen=True)
class HideDialog:
    """Dismiss a dialog."""

    dialog: Dialog


@dataclass(frozen=True)
class Deliver:
    """Hand an update to the UI stores."""

    topic: str
    data: object


_SocketCommand: TypeAlias = Connect | SendText | CloseSocket
_UiCommand: TypeAlias = ShowDialog | HideDialog | Deliver
Command: TypeAlias = _SocketCommand | ScheduleTimer | CancelTimer | _UiCommand


@dataclass(frozen=True)
class TimelineEntry:
    """One thing the client did or saw, ``t`` seconds after ``start``."""

    t: float
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"+{self.t:.3f}s {self.kind} {self.detail}".rstrip()


class CmsClientMachine:
    """The hub's connection logic as a pure state machine; see the module docstring.

    Every event method takes ``now`` (monotonic seconds, never decreasing) and returns the
    commands to perform, in order.

    Args:
        timings: the timings to follow. It defaults to ``Timings()``, the CMS's own.

    Attributes:
        state: the current ``State``.
        failures: consecutive failures since the last open.
        dialogs_shown: every dialog shown, in order.
        timeline: every ``TimelineEntry``, in order.
        attempt_times: the ``now`` of every ``Connect`` issued.
        reconnect_delays: the delay of every reconnect scheduled, in order.

    Raises:
        RuntimeError: from any event the current state cannot receive, from a ``now`` earlier than
            the previous one, or from an unknown timer name: the I/O layer is at fault.
    """

    def __init__(self, timings: Timings | None = None) -> None:
        self.timings = timings if timings is not None else Timings()
        self.state = State.IDLE
        self.failures = 0
        self.dialogs_shown: list[Dialog] = []
        self.timeline: list[TimelineEntry] = []
        self.attempt_times: list[float] = []
        self.reconnect_delays: list[float] = []
        self._visible: set[Dialog] = set()
        self._origin = 0.0
        self._last_now: float | None = None
        self._ever_opened = False
        self._unanswered = 0
        self._received_since_check = False
        # True between a CloseSocket we issued and its close event, which must not count again.
        self._closing = False

    @property
    def attempts(self) -> int:
        """How many ``Connect`` commands the machine has issued."""
        return len(self.attempt_times)

    @property
    def origin(self) -> float:
        """The ``now`` :meth:`start` got: what the times of ``timeline`` count from."""
        return self._origin

    def attempts_within(self, now: float, window: float) -> int:
        """Count connect attempts in the last ``window`` seconds: a storm detector."""
        return sum(1 for t in self.attempt_times if now - window <= t <= now)

    def start(self, now: float, *, websocket_enabled: bool) -> list[Command]:
        """Page load: connect unless the server's settings disable WebSockets."""
        self._enter("start", now, State.IDLE)
        self._origin = now
        if not websocket_enabled:
            self._set_state(now, State.DISABLED)
            return []
        return self._connect(now)

    def opened(self, now: float) -> list[Command]:
        """The socket's ``open`` event."""
        self._enter("opened", now, State.CONNECTING)
        self._ever_opened = True
        self.failures = 0
        self._unanswered = 0
        self._received_since_check = False
        self._record(now, "open")
        self._set_state(now, State.CONNECTED)
        return [
            *self._hide(now, Dialog.RECONNECTING),
            self._send_heartbeat(now),
            ScheduleTimer(HEARTBEAT_TIMER, self.timings.heartbeat_interval),
        ]

    def handshake_failed(self, now: float, reason: str) -> list[Command]:
        """The connect attempt failed before ``open``: a non-101 answer, a refusal or a reset."""
        if self._absorb_close(now, f"handshake failed: {reason}"):
            return []
        self._enter("handshake_failed", now, State.CONNECTING)
        self._record(now, "handshake-failed", reason)
        return self._connect_failed(now)

    def closed(
        self, now: float, *, clean: bool, code: int | None, reason: str = ""
    ) -> list[Command]:
        """The socket's ``close`` event; during ``CONNECTING`` it means the handshake failed."""
        detail = f"code={code} clean={clean}" + (f" reason={reason!r}" if reason else "")
        if self._absorb_close(now, detail):
            return []
        self._enter("closed", now, State.CONNECTING, State.CONNECTED)
        self._record(now, "close", detail)
        if self.state is State.CONNECTING:
            return self._connect_failed(now)
        stop_heartbeat = CancelTimer(HEARTBEAT_TIMER)
        if clean:
            # The count is 0 while connected, so this is 5 s x 0^2: an immediate reconnect.
            return [stop_heartbeat, *self._schedule_reconnect(now)]
        return [stop_heartbeat, *self._fail(now)]

    def received(self, now: float, text: str) -> list[Command]:
        """A text message arrived; never raises for bad content."""
        if self._closing:
            # A browser drops messages once close() was called (readyState CLOSING).
            self._tick(now)
            self._record(now, "ignored", "socket closing")
            return []
        self._enter("received", now, State.CONNECTED)
        self._received_since_check = True
        if text == HEARTBEAT_TEXT:
            self._record(now, "heartbeat-received")
            return []
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            self._record(now, "ignored", f"malformed JSON: {text[:80]!r}")
            return []
        if not isinstance(message, dict) or not isinstance(message.get("topic"), str):
            self._record(now, "ignored", f"no topic: {text[:80]!r}")
            return []
        self._record(now, "update", message["topic"])
        return [Deliver(message["topic"], message.get("data"))]

    def timer_fired(self, now: float, name: str) -> list[Command]:
        """The timer ``name`` (``"heartbeat"`` or ``"reconnect"``) fired."""
        if name == HEARTBEAT_TIMER:
            self._enter("timer_fired(heartbeat)", now, State.CONNECTED)
            return self._heartbeat_check(now)
        if name == RECONNECT_TIMER:
            self._enter("timer_fired(reconnect)", now, State.WAITING)
            return self._connect(now)
        raise RuntimeError(f"timer_fired() got unknown timer {name!r} in state {self.state}")

    def stop(self, now: float) -> list[Command]:
        """Page unload: cancel timers and close the socket, never reconnect. Idempotent."""
        if self.state is State.STOPPED:
            return []
        self._enter("stop", now, *(s for s in State if s not in (State.IDLE, State.STOPPED)))
        commands: list[Command] = []
        if self.state is State.CONNECTED:
            commands.append(CancelTimer(HEARTBEAT_TIMER))
        elif self.state is State.WAITING:
            commands.append(CancelTimer(RECONNECT_TIMER))
        if self.state in (State.CONNECTING, State.CONNECTED):
            commands.append(CloseSocket("page unload", code=1001))
            self._closing = True
        self._set_state(now, State.STOPPED)
        return commands

    def _heartbeat_check(self, now: float) -> list[Command]:
        again = ScheduleTimer(HEARTBEAT_TIMER, self.timings.heartbeat_interval)
        if self._received_since_check:
            self._received_since_check = False
            self._unanswered = 0
            return [again]
        if self._unanswered >= 2:
            self._record(now, "heartbeat-timeout", f"{self._unanswered} unanswered")
            self._closing = True
            # The hub closes the socket itself; it counts as unclean whatever the close frame says.
            return [CloseSocket("heartbeat timeout"), *self._fail(now)]
        return [self._send_heartbeat(now), again]

    def _send_heartbeat(self, now: float) -> SendText:
        self._unanswered += 1
        self._record(now, "heartbeat-sent", f"{self._unanswered} unanswered")
        return SendText(HEARTBEAT_TEXT)

    def _connect(self, now: float) -> list[Command]:
        self.attempt_times.append(now)
        self._closing = False
        self._record(now, "connect", f"attempt {self.attempts}")
        self._set_state(now, State.CONNECTING)
        return [Connect()]

    def _connect_failed(self, now: float) -> list[Command]:
        if self._ever_opened:
            return self._fail(now)
        # The hub treats a first connect that never opened as its last attempt.
        self.failures = 1
        commands = self._show(now, Dialog.NO_CONNECTION)
        self._set_state(now, State.NO_CONNECTION)
        return commands

    def _fail(self, now: float) -> list[Command]:
        self.failures += 1
        if self.failures > self.timings.max_reconnects:
            hide = self._hide(now, Dialog.RECONNECTING)
            commands = hide + self._show(now, Dialog.RECONNECT_FAILED)
            self._set_state(now, State.GAVE_UP)
            return commands
        commands = self._show(now, Dialog.RECONNECTING) if self.failures == 3 else []
        return commands + self._schedule_reconnect(now)

    def _schedule_reconnect(self, now: float) -> list[Command]:
        delay = self.timings.reconnect_delay(self.failures)
        self.reconnect_delays.append(delay)
        self._record(now, "reconnect-scheduled", f"in {delay:.3f}s after {self.failures} failures")
        self._set_state(now, State.WAITING)
        return [ScheduleTimer(RECONNECT_TIMER, delay)]

    def _absorb_close(self, now: float, detail: str) -> bool:
        if not self._closing:
            return False
        self._tick(now)
        self._closing = False
        self._record(now, "close", f"{detail} (requested)")
        return True

    def _show(self, now: float, dialog: Dialog) -> list[Command]:
        if dialog in self._visible:
            return []
        self._visible.add(dialog)
        self.dialogs_shown.append(dialog)
        self._record(now, "dialog", dialog.value)
        return [ShowDialog(dialog)]

    def _hide(self, now: float, dialog: Dialog) -> list[Command]:
        if dialog not in self._visible:
            return []
        self._visible.remove(dialog)
        self._record(now, "dialog-hidden", dialog.value)
        return [HideDialog(dialog)]

    def _enter(self, event: str, now: float, *allowed: State) -> None:
        if self.state not in allowed:
            raise RuntimeError(f"{event}() is not valid in state {self.state}")
        self._tick(now)

    def _tick(self, now: float) -> None:
        if not math.isfinite(now):
            raise RuntimeError(f"now must be finite, got {now!r}")
        if self._last_now is not None and now < self._last_now:
            raise RuntimeError(f"now went backwards: {now!r} < {self._last_now!r}")
        self._last_now = now

    def _set_state(self, now: float, state: State) -> None:
        self.state = state
        self._record(now, "state", state.value)

    def _record(self, now: float, kind: str, detail: str = "") -> None:
        self.timeline.append(TimelineEntry(now - self._origin, kind, detail))
