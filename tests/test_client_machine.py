"""Tests for the sans-I/O CMS client model: no sockets, the test plays the I/O layer."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import cast

import pytest

from pytest_wsharness.client.machine import (
    HEARTBEAT_TIMER,
    RECONNECT_TIMER,
    CancelTimer,
    CloseSocket,
    CmsClientMachine,
    Command,
    Connect,
    Deliver,
    Dialog,
    HideDialog,
    ScheduleTimer,
    SendText,
    ShowDialog,
    State,
    TimelineEntry,
)
from pytest_wsharness.client.timings import Timings
from pytest_wsharness.protocol import HEARTBEAT as HEARTBEAT_TEXT
from pytest_wsharness.protocol import NO_CONNECTION_TEXT

SCALE = 0.01


def approx(seconds: float) -> float:
    """``pytest.approx`` typed as the float it compares equal to, for use inside commands."""
    return cast(float, pytest.approx(seconds))


class Loop:
    """A fake I/O layer: keeps the timers the machine arms and fires them in time order."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.machine = CmsClientMachine(Timings.scaled(time_scale))
        self.now = 0.0
        self.timers: dict[str, float] = {}
        self.commands: list[Command] = []

    def run(self, commands: list[Command]) -> list[Command]:
        for command in commands:
            if isinstance(command, ScheduleTimer):
                self.timers[command.name] = self.now + command.delay
            elif isinstance(command, CancelTimer):
                self.timers.pop(command.name, None)
        self.commands += commands
        return commands

    def fire_next(self) -> tuple[str, list[Command]]:
        name = min(self.timers, key=self.timers.__getitem__)
        self.now = self.timers.pop(name)
        return name, self.run(self.machine.timer_fired(self.now, name))

    def connected(self) -> Loop:
        self.run(self.machine.start(self.now, websocket_enabled=True))
        self.run(self.machine.opened(self.now))
        return self


def test_disabled_never_connects() -> None:
    machine = CmsClientMachine()
    assert machine.start(0.0, websocket_enabled=False) == []
    assert machine.state is State.DISABLED
    assert machine.dialogs_shown == []
    assert machine.attempts == 0
    with pytest.raises(RuntimeError, match=r"timer_fired\(reconnect\)\(\) .* state disabled"):
        machine.timer_fired(1.0, RECONNECT_TIMER)


@pytest.mark.parametrize(
    "fail",
    [
        lambda m, now: m.handshake_failed(now, "HTTP 200"),
        lambda m, now: m.handshake_failed(now, "connection refused"),
        lambda m, now: m.handshake_failed(now, "connection reset"),
        lambda m, now: m.closed(now, clean=False, code=1006),
    ],
    ids=["non-101", "refused", "reset", "close-1006"],
)
def test_first_connect_failure_shows_noconnection_and_never_retries(
    fail: Callable[[CmsClientMachine, float], list[Command]],
) -> None:
    loop = Loop()
    assert loop.run(loop.machine.start(0.0, websocket_enabled=True)) == [Connect()]
    assert loop.run(fail(loop.machine, 0.1)) == [ShowDialog(Dialog.NO_CONNECTION)]
    assert loop.machine.state is State.NO_CONNECTION
    assert loop.timers == {}
    assert loop.machine.dialogs_shown == [Dialog.NO_CONNECTION]
    with pytest.raises(RuntimeError, match="state no-connection"):
        loop.machine.timer_fired(400.0, RECONNECT_TIMER)
    assert loop.commands.count(Connect()) == 1


def test_noconnection_text_is_the_cms_text() -> None:
    assert NO_CONNECTION_TEXT == (
        "A real-time connection could not be established with the server. This may be caused "
        "by incorrect configuration. Please see the User interface section in the user guide "
        "for further information."
    )


def test_open_sends_heartbeat_and_arms_check() -> None:
    machine = CmsClientMachine(Timings.scaled(SCALE))
    machine.start(0.0, websocket_enabled=True)
    assert machine.opened(0.2) == [
        SendText(HEARTBEAT_TEXT),
        ScheduleTimer(HEARTBEAT_TIMER, approx(3.0 * SCALE)),
    ]
    assert machine.state is State.CONNECTED
    assert [e.kind for e in machine.timeline[-3:]] == ["open", "state", "heartbeat-sent"]


def test_heartbeat_echo_keeps_connection_open() -> None:
    loop = Loop().connected()
    sent = True  # the heartbeat sent on open
    for _ in range(100):
        if sent:  # the server echoes it
            loop.run(loop.machine.received(loop.now + 0.05, HEARTBEAT_TEXT))
        _, commands = loop.fire_next()
        sent = SendText(HEARTBEAT_TEXT) in commands
    assert loop.machine.state is State.CONNECTED
    assert not any(isinstance(c, CloseSocket) for c in loop.commands)
    # Answered heartbeats only go out every other check: 1 on open + 50 of 100 checks.
    assert loop.commands.count(SendText(HEARTBEAT_TEXT)) == 51
    assert loop.machine.attempts == 1


@pytest.mark.parametrize("time_scale", [1.0, SCALE])
def test_silence_closes_after_second_unanswered_check(time_scale: float) -> None:
    loop = Loop(time_scale).connected()
    _, first = loop.fire_next()
    assert first == [
        SendText(HEARTBEAT_TEXT),
        ScheduleTimer(HEARTBEAT_TIMER, approx(3.0 * time_scale)),
    ]
    _, second = loop.fire_next()
    assert loop.now == pytest.approx(6.0 * time_scale)
    assert second == [
        CloseSocket("heartbeat timeout"),
        ScheduleTimer(RECONNECT_TIMER, approx(5.0 * time_scale)),
    ]
    assert (loop.machine.state, loop.machine.failures) == (State.WAITING, 1)
    # The close we asked for is absorbed, clean or not: it must not count a second time.
    assert loop.machine.received(loop.now, '{"topic": "/late"}') == []
    assert loop.machine.closed(loop.now + 0.01, clean=True, code=1000) == []
    assert (loop.machine.state, loop.machine.failures) == (State.WAITING, 1)


@pytest.mark.parametrize("text", [HEARTBEAT_TEXT, '{"topic": "/t", "data": 1}', "garbage"])
def test_any_inbound_message_counts_as_traffic(text: str) -> None:
    loop = Loop().connected()
    loop.machine.received(1.0, text)
    _, commands = loop.fire_next()
    assert commands == [ScheduleTimer(HEARTBEAT_TIMER, 3.0)]


def _fail_reconnects(loop: Loop, failures: int, how: str) -> list[list[Command]]:
    """Fail ``failures`` reconnect attempts after an unclean close; return each reaction."""
    reactions = [loop.run(loop.machine.closed(loop.now, clean=False, code=1006))]
    for _ in range(failures - 1):
        name, commands = loop.fire_next()
        assert (name, commands) == (RECONNECT_TIMER, [Connect()])
        if how == "handshake":
            reactions.append(loop.run(loop.machine.handshake_failed(loop.now, "HTTP 502")))
        else:
            reactions.append(loop.run(loop.machine.closed(loop.now, clean=False, code=1006)))
    return reactions


@pytest.mark.parametrize("how", ["handshake", "close"])
def test_reconnect_schedule_dialogs_and_giving_up(how: str) -> None:
    loop = Loop(SCALE).connected()
    reactions = _fail_reconnects(loop, 9, how)
    delays = [c.delay for r in reactions for c in r if isinstance(c, ScheduleTimer)]
    assert delays == pytest.approx([5 * SCALE * n * n for n in range(1, 9)])
    shows = [i + 1 for i, r in enumerate(reactions) if ShowDialog(Dialog.RECONNECTING) in r]
    assert shows == [3]
    assert reactions[-1] == [HideDialog(Dialog.RECONNECTING), ShowDialog(Dialog.RECONNECT_FAILED)]
    assert loop.machine.state is State.GAVE_UP
    assert loop.machine.dialogs_shown == [Dialog.RECONNECTING, Dialog.RECONNECT_FAILED]
    assert loop.timers == {}
    assert loop.machine.attempts == 9
    with pytest.raises(RuntimeError, match="state gave-up"):
        loop.machine.timer_fired(loop.now + 1000, RECONNECT_TIMER)


def test_open_resets_failures_and_dismisses_dialog() -> None:
    loop = Loop(SCALE).connected()
    _fail_reconnects(loop, 3, "handshake")
    loop.fire_next()
    assert loop.machine.opened(loop.now)[0] == HideDialog(Dialog.RECONNECTING)
    assert loop.machine.failures == 0
    after = loop.machine.closed(loop.now + 1, clean=False, code=1006)
    assert after[-1] == ScheduleTimer(RECONNECT_TIMER, approx(5 * SCALE))


def test_clean_close_reconnects_at_once_and_storm_is_countable() -> None:
    loop = Loop().connected()
    assert loop.machine.closed(0.0, clean=True, code=1000) == [
        CancelTimer(HEARTBEAT_TIMER),
        ScheduleTimer(RECONNECT_TIMER, 0.0),
    ]
    for _ in range(49):
        assert loop.machine.timer_fired(0.5, RECONNECT_TIMER) == [Connect()]
        loop.machine.opened(0.5)
        loop.machine.closed(0.5, clean=True, code=1000)
    assert loop.machine.attempts == 50
    assert loop.machine.attempts_within(0.5, window=0.1) == 49
    assert loop.machine.failures == 0


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        (
            '{"topic": "/episerver/cms/notification", "data": {"id": 7}}',
            [Deliver("/episerver/cms/notification", {"id": 7})],
            "update",
        ),
        (
            '{"topic": "/episerver/cms/project"}',
            [Deliver("/episerver/cms/project", None)],
            "update",
        ),
        (HEARTBEAT_TEXT, [], "heartbeat-received"),
        ("not json", [], "ignored"),
        ("", [], "ignored"),
        ('{"data": 1}', [], "ignored"),
        ('{"topic": 5}', [], "ignored"),
        ("[1, 2]", [], "ignored"),
        ("[" * 100_000, [], "ignored"),
    ],
    ids=[
        "update",
        "no-data",
        "heartbeat",
        "garbage",
        "empty",
        "no-topic",
        "bad-topic",
        "list",
        "deep",
    ],
)
def test_received_messages(text: str, expected: list[Command], kind: str) -> None:
    machine = Loop().connected().machine
    assert machine.received(1.0, text) == expected
    assert machine.timeline[-1].kind == kind
    assert machine.state is State.CONNECTED


@pytest.mark.parametrize("time_scale", [0, -1, math.nan, math.inf, -math.inf, 1e308])
def test_invalid_time_scale_is_rejected(time_scale: float) -> None:
    with pytest.raises(ValueError, match=rf"time_scale .*{re.escape(repr(time_scale))}"):
        Timings.scaled(time_scale)


def test_time_scale_multiplies_every_timing() -> None:
    timings = Timings.scaled(0.5)
    assert (timings.heartbeat_interval, timings.reconnect_base) == (1.5, 2.5)
    assert [timings.reconnect_delay(n) for n in (0, 1, 8)] == [0.0, 2.5, 160.0]


def _started(m: CmsClientMachine) -> None:
    m.start(0.0, websocket_enabled=True)


def _open(m: CmsClientMachine) -> None:
    _started(m)
    m.opened(0.0)


def _waiting(m: CmsClientMachine) -> None:
    _open(m)
    m.closed(0.0, clean=True, code=1000)


@pytest.mark.parametrize(
    ("setup", "event", "message"),
    [
        (lambda m: None, lambda m: m.opened(1.0), r"opened\(\) is not valid in state idle"),
        (lambda m: None, lambda m: m.received(1.0, "x"), r"received\(\) .* state idle"),
        (lambda m: None, lambda m: m.stop(1.0), r"stop\(\) .* state idle"),
        (
            _started,
            lambda m: m.start(1.0, websocket_enabled=True),
            r"start\(\) .* state connecting",
        ),
        (_started, lambda m: m.timer_fired(1.0, HEARTBEAT_TIMER), r"heartbeat\)\(\) .* connecting"),
        (_open, lambda m: m.opened(1.0), r"opened\(\) .* state connected"),
        (_open, lambda m: m.handshake_failed(1.0, "x"), r"handshake_failed\(\) .* connected"),
        (_open, lambda m: m.timer_fired(1.0, RECONNECT_TIMER), r"reconnect\)\(\) .* connected"),
        (_open, lambda m: m.timer_fired(1.0, "ping"), r"unknown timer 'ping'"),
        (_open, lambda m: m.received(-1.0, "x"), r"now went backwards"),
        (_waiting, lambda m: m.closed(1.0, clean=False, code=1006), r"closed\(\) .* waiting"),
        (_waiting, lambda m: m.received(1.0, "x"), r"received\(\) .* waiting-to-reconnect"),
    ],
)
def test_wrong_state_events_raise(
    setup: Callable[[CmsClientMachine], None],
    event: Callable[[CmsClientMachine], object],
    message: str,
) -> None:
    machine = CmsClientMachine()
    setup(machine)
    with pytest.raises(RuntimeError, match=message):
        event(machine)


def test_stop_closes_cleanly_and_never_reconnects() -> None:
    loop = Loop().connected()
    assert loop.machine.stop(1.0) == [
        CancelTimer(HEARTBEAT_TIMER),
        CloseSocket("page unload", 1001),
    ]
    assert loop.machine.state is State.STOPPED
    assert loop.machine.closed(1.1, clean=False, code=1006) == []
    assert loop.machine.stop(1.2) == []
    with pytest.raises(RuntimeError, match="state stopped"):
        loop.machine.timer_fired(10.0, RECONNECT_TIMER)


def test_stop_while_waiting_cancels_reconnect() -> None:
    machine = CmsClientMachine()
    _waiting(machine)
    assert machine.stop(1.0) == [CancelTimer(RECONNECT_TIMER)]


def test_timeline_is_relative_to_start_and_readable() -> None:
    machine = CmsClientMachine()
    machine.start(100.0, websocket_enabled=True)
    machine.opened(101.234)
    assert [str(e) for e in machine.timeline] == [
        "+0.000s connect attempt 1",
        "+0.000s state connecting",
        "+1.234s open",
        "+1.234s state connected",
        "+1.234s heartbeat-sent 1 unanswered",
    ]
    assert str(TimelineEntry(0.5, "open")) == "+0.500s open"
