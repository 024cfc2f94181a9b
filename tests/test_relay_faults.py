"""Unit tests of the relay's faults and of the tunnel deciding for one connection, without
sockets: bytes and times in, writes and cuts out. Times are in seconds from the start."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pytest_wsharness.errors import UnknownChoiceError
from pytest_wsharness.profiles.params import REQUIRED
from pytest_wsharness.relay import FaultError, Relay
from pytest_wsharness.relay.actions import Action, End, Finish, Send
from pytest_wsharness.relay.fault_base import DOWN, UP, Context, Direction
from pytest_wsharness.relay.faults import FAULTS, FaultSpec, check_fault
from pytest_wsharness.relay.frames import Frame, Opcode, StreamReader, close_frame, encode_frame
from pytest_wsharness.relay.records import ConnectionRecord
from pytest_wsharness.relay.tunnel import Tunnel

MASK = b"\x01\x02\x03\x04"
REQUEST = (
    b"GET /EPiServer/Shell/socket/endpoint HTTP/1.1\r\nHost: cms\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)
RESPONSE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
HEARTBEAT_UP = encode_frame(Opcode.TEXT, b"/epi/heartbeat", mask=MASK)
HEARTBEAT_DOWN = encode_frame(Opcode.TEXT, b"/epi/heartbeat")


def push(topic: str, item: int = 1) -> bytes:
    return encode_frame(Opcode.TEXT, f'{{"topic": "{topic}", "data": {{"id": {item}}}}}'.encode())


NOTE, PROJECT = push("/episerver/cms/notification"), push("/episerver/cms/project")


def make(*faults: tuple[str, dict[str, Any]], scale: float = 1.0) -> Tunnel:
    record = ConnectionRecord(0, "127.0.0.1:1")
    log = record.events.append
    ctx = Context(0.0, random.Random("0:0"), scale, lambda at, text: log(f"+{at:.3f}s {text}"))
    built = [
        (i, FaultSpec(i, use, check_fault(use, params, where="test", key=use)).build())
        for i, (use, params) in enumerate(faults)
    ]
    return Tunnel(record, ctx, built, 0.0)


def upgraded(*faults: tuple[str, dict[str, Any]], scale: float = 1.0) -> Tunnel:
    tunnel = make(*faults, scale=scale)
    tunnel.receive(UP, REQUEST, 0.0)
    tunnel.receive(DOWN, RESPONSE, 0.0)
    return tunnel


def sent(actions: list[Action], direction: Direction = DOWN) -> bytes:
    """Every byte written in ``direction`` (writes due together are joined in one)."""
    return b"".join(a.data for a in actions if isinstance(a, Send) and a.direction == direction)


def ends(actions: list[Action]) -> list[End]:
    return [a for a in actions if isinstance(a, End)]


def test_without_faults_everything_passes_byte_exact_and_frames_are_counted() -> None:
    tunnel = make()
    assert sent(tunnel.receive(UP, REQUEST, 0.0), UP) == REQUEST
    assert sent(tunnel.receive(DOWN, RESPONSE + NOTE[:5], 0.0)) == RESPONSE + NOTE[:5]
    assert (tunnel.record.status, tunnel.record.upgraded) == (101, True)
    modes = {d: side.mode for d, side in tunnel.sides.items()}
    assert modes == {UP: "frames", DOWN: "scan"}  # the client's side leaves at its first read
    [send] = tunnel.receive(DOWN, NOTE[5:] + PROJECT, 1.0)
    assert send == Send(DOWN, NOTE[5:] + PROJECT, 1.0, 2)
    assert tunnel.receive(UP, HEARTBEAT_UP, 1.0) == [Send(UP, HEARTBEAT_UP, 1.0, 1)]
    assert {side.mode for side in tunnel.sides.values()} == {"scan"}
    assert tunnel.receive_eof(DOWN, 2.0) == [Finish(DOWN, 2.0)]
    assert tunnel.record.ended == "server closed"
    assert tunnel.deadline() is None


def test_non_101_answer_is_passed_as_bytes_and_frame_faults_stay_out() -> None:
    tunnel = make(("drop_messages", {}))
    tunnel.receive(UP, REQUEST, 0.0)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" + NOTE[:9]
    assert sent(tunnel.receive(DOWN, answer, 0.0)) == answer
    assert (tunnel.record.status, tunnel.record.upgraded) == (200, False)
    assert tunnel.sides[DOWN].mode == "bytes"


@pytest.mark.parametrize(("fault", "stripped"), [("drop_messages", True), ("swallow", False)])
def test_compression_offer_removed_only_for_faults_reading_text(fault: str, stripped: bool) -> None:
    params = {"what": "pings"} if fault == "swallow" else {}  # pings are never compressed
    request = sent(make((fault, params)).receive(UP, REQUEST, 0.0), UP)
    assert (b"permessage-deflate" not in request) is stripped


def test_latency_and_jitter_delay_every_chunk_scaled() -> None:
    tunnel = make(("latency", {"latency": 100, "jitter": 50, "stream": "both"}), scale=0.1)
    times = [a.at for a in tunnel.receive(UP, REQUEST, 1.0) if isinstance(a, Send)]
    assert 1.005 <= times[0] <= 1.015
    assert "latency 100ms x0.1 +/- 50ms x0.1: delaying data to server" in tunnel.record.events[0]


def test_bandwidth_spaces_100ms_pieces() -> None:
    tunnel = make(("bandwidth", {"rate": 10}))  # 10 KB/s: 1000 bytes per 100 ms
    tunnel.receive(UP, REQUEST, 0.0)
    head = b"HTTP/1.1 200 OK\r\n\r\n"
    actions = tunnel.receive(DOWN, head + b"x" * (2500 - len(head)), 0.0)
    pieces = [a for a in actions if isinstance(a, Send)]
    assert [len(p.data) for p in pieces] == [len(head), 1000, 1000, 500 - len(head)]
    assert pieces[-1].at == pytest.approx(0.25)  # 2500 bytes at 10000 bytes/s


def test_slicer_splits_into_spaced_pieces_that_join_up() -> None:
    tunnel = make(("slicer", {"average_size": 10, "size_variation": 3, "delay": 1000}))
    tunnel.receive(UP, REQUEST, 0.0)
    pieces = [a for a in tunnel.receive(DOWN, RESPONSE, 0.0) if isinstance(a, Send)]
    assert b"".join(p.data for p in pieces) == RESPONSE
    assert all(len(p.data) <= 20 for p in pieces)
    assert len(pieces) >= len(RESPONSE) // 20
    assert [round(p.at, 3) for p in pieces[:3]] == [0.0, 0.001, 0.002]


def test_limit_data_passes_exactly_n_bytes_then_cuts() -> None:
    tunnel = make(("limit_data", {"bytes": len(RESPONSE) + 4}))
    tunnel.receive(UP, REQUEST, 0.0)
    actions = tunnel.receive(DOWN, RESPONSE + NOTE, 0.0)
    assert sent(actions) == RESPONSE + NOTE[:4]
    assert ends(actions) == [End("fin", True)]
    assert tunnel.record.ended == "cut (FIN)"
    assert tunnel.receive(DOWN, PROJECT, 0.1) == []


def test_slow_close_delays_the_forwarded_fin() -> None:
    tunnel = upgraded(("slow_close", {"delay": 300}), scale=0.5)
    assert tunnel.receive_eof(DOWN, 1.0) == [Finish(DOWN, 1.15)]
    assert tunnel.receive_eof(UP, 1.0) == [Finish(UP, 1.0)]  # upstream: not its stream


def test_timeout_drops_everything_and_closes_after_timeout() -> None:
    tunnel = make(("timeout", {"timeout": 500}))
    assert sent(tunnel.receive(UP, REQUEST, 0.1), UP) == REQUEST  # downstream only
    assert tunnel.receive(DOWN, RESPONSE, 0.2) == []
    assert tunnel.deadline() == 0.5
    assert tunnel.tick(0.49) == []
    assert tunnel.tick(0.5) == [End("fin", False)]
    assert make(("timeout", {"timeout": 0})).deadline() is None  # a blackhole


def test_reset_peer_resets_timeout_after_the_first_data() -> None:
    tunnel = make(("reset_peer", {"timeout": 200}))
    tunnel.receive(UP, REQUEST, 0.0)
    assert tunnel.deadline() is None
    assert tunnel.receive(DOWN, RESPONSE, 1.0) == []
    assert tunnel.tick(1.2) == [End("rst", False)]
    assert tunnel.record.ended == "reset (RST)"
    assert tunnel.record.events[-1] == "+1.200s reset by reset_peer"


def test_down_refuses_at_accept() -> None:
    tunnel = make(("down", {}))
    assert tunnel.open(0.0) == [End("rst", False)]
    assert tunnel.record.ended == "refused (down)"


def test_drop_messages_by_topic_pattern_and_percent() -> None:
    tunnel = upgraded(("drop_messages", {"topic": "/episerver/cms/notification"}))
    assert sent(tunnel.receive(DOWN, NOTE + PROJECT + NOTE, 1.0)) == PROJECT
    assert (
        tunnel.record.events[-1]
        == "+1.000s dropped text frame to client: /episerver/cms/notification"
    )
    by_pattern = upgraded(("drop_messages", {"pattern": r'"id": 2', "stream": "both"}))
    assert sent(by_pattern.receive(DOWN, push("/x", 1) + push("/x", 2), 1.0)) == push("/x", 1)
    never = upgraded(("drop_messages", {"percent": 0}))
    assert sent(never.receive(DOWN, NOTE, 1.0)) == NOTE


def test_delay_messages_holds_later_frames_behind() -> None:
    tunnel = upgraded(("delay_messages", {"delay": 200, "topic": "/episerver/cms/notification"}))
    actions = tunnel.receive(DOWN, PROJECT + NOTE + PROJECT, 1.0)
    assert [(a.data, a.at) for a in actions if isinstance(a, Send)] == [
        (PROJECT, 1.0),
        (NOTE, 1.2),
        (PROJECT, 1.0),  # written in order: after the delayed one
    ]


def test_hold_messages_releases_once_enough_is_held_and_nothing_at_close() -> None:
    tunnel = upgraded(("hold_messages", {"until_bytes": 2 * len(NOTE)}))
    assert tunnel.receive(DOWN, HEARTBEAT_DOWN, 1.0) == []
    assert sent(tunnel.receive(UP, HEARTBEAT_UP, 1.0), UP) == HEARTBEAT_UP
    released = tunnel.receive(DOWN, NOTE + NOTE, 2.0)
    assert sent(released) == HEARTBEAT_DOWN + NOTE + NOTE
    assert {a.at for a in released if isinstance(a, Send)} == {2.0}
    assert tunnel.receive(DOWN, PROJECT, 3.0) == []  # holding again
    assert tunnel.receive_eof(DOWN, 4.0) == [Finish(DOWN, 4.0)]
    assert "dropped 1 held frames" in tunnel.record.events[-1]
    forever = upgraded(("hold_messages", {"both": True}))
    assert forever.receive(UP, HEARTBEAT_UP, 1.0) == []


def test_swallow_pings_and_heartbeats_both_ways() -> None:
    ping, pong = encode_frame(Opcode.PING, b"1", mask=MASK), encode_frame(Opcode.PONG, b"1")
    pings = upgraded(("swallow", {"what": "pings"}))
    assert pings.receive(UP, ping, 1.0) == []
    assert sent(pings.receive(DOWN, pong + HEARTBEAT_DOWN, 1.0)) == pong + HEARTBEAT_DOWN
    heartbeats = upgraded(("swallow", {"what": "heartbeats"}))
    assert heartbeats.receive(UP, HEARTBEAT_UP, 1.0) == []
    assert sent(heartbeats.receive(DOWN, HEARTBEAT_DOWN + NOTE, 1.0)) == NOTE
    assert heartbeats.record.events[1] == "+1.000s swallowed heartbeat to server"


def close_code(raw: bytes) -> int | None:
    [frame] = StreamReader(expect_head=False).feed(raw)
    assert isinstance(frame, Frame)
    return frame.close_code


def test_close_after_messages_sends_close_frames_both_ways_then_fin() -> None:
    tunnel = upgraded(("close", {"code": 4000, "reason": "bye", "after_messages": 2}))
    assert sent(tunnel.receive(DOWN, NOTE, 1.0)) == NOTE
    actions = tunnel.receive(DOWN, PROJECT, 2.0)
    assert sent(actions) == PROJECT + close_frame(4000, "bye")
    assert sent(actions, UP)[1] & 0x80  # masked, as a client's frames must be
    assert close_code(sent(actions, UP)) == 4000
    assert ends(actions) == [End("fin", True)]
    assert tunnel.record.ended == "closed with code 4000"


def test_idle_timeout_restarts_on_traffic_and_cuts_without_close_frame() -> None:
    tunnel = upgraded(("idle_timeout", {"timeout": 60_000}), scale=0.01)
    assert tunnel.deadline() == pytest.approx(0.6)
    tunnel.receive(UP, HEARTBEAT_UP, 0.5)
    assert tunnel.tick(0.6) == []
    assert tunnel.deadline() == pytest.approx(1.1)
    assert tunnel.tick(1.1) == [End("fin", False)]
    assert (
        tunnel.record.events[-1] == "+1.100s idle timeout 60000ms x0.01: cut without a Close frame"
    )


def test_silent_drop_hangs_then_can_still_be_cut() -> None:
    tunnel = upgraded(("silent_drop", {"after": 100}))
    assert sent(tunnel.receive(DOWN, NOTE, 0.05)) == NOTE
    assert tunnel.tick(0.1) == [End("hang", True)]
    assert tunnel.receive(DOWN, NOTE, 0.2) == tunnel.receive_eof(UP, 0.3) == []
    assert tunnel.record.ended == "hung (silent drop)"
    assert ends(tunnel.cut("fin", 1.0)) == [End("fin", False)]
    assert tunnel.cut("rst", 1.0) == []  # already cut


@pytest.mark.parametrize(
    ("mode", "end", "frames"), [("clean", "fin", 2), ("fin", "fin", 0), ("rst", "rst", 0)]
)
def test_accept_then_close_modes(mode: str, end: str, frames: int) -> None:
    tunnel = upgraded(("accept_then_close", {"after": 100, "mode": mode}))
    actions = tunnel.tick(0.1)
    assert [e.how for e in ends(actions)] == [end]
    assert sum(a.frames for a in actions if isinstance(a, Send)) == frames


def test_added_frame_fault_switches_at_the_next_frame_boundary_and_removal_releases() -> None:
    tunnel = upgraded()
    tunnel.receive(DOWN, NOTE, 0.0)
    assert tunnel.receive(DOWN, NOTE[:4], 0.1) == [Send(DOWN, NOTE[:4], 0.1, 0)]
    tunnel.add(9, FaultSpec(9, "hold_messages").build(), 0.2)
    assert tunnel.sides[DOWN].switch
    assert sent(tunnel.receive(DOWN, NOTE[4:] + PROJECT, 0.3)) == NOTE[4:]  # PROJECT held
    assert sent(tunnel.remove(9, 0.4)) == PROJECT
    assert sent(tunnel.receive(DOWN, NOTE, 0.5)) == NOTE


def test_registry_builds_every_fault_with_its_defaults() -> None:
    for use, kind in FAULTS.items():
        assert kind.cls.use == use
        assert "\n" not in kind.summary
        given = {name: 1 for name, param in kind.params.items() if param.default is REQUIRED}
        assert isinstance(
            FaultSpec(0, use, check_fault(use, given, where="t", key=use)).build(), kind.cls
        )


@pytest.mark.parametrize(
    ("use", "params", "text"),
    [
        ("lag", {}, "unknown relay fault 'lag'; valid choices: accept_then_close, bandwidth"),
        ("latency", {}, "relay 'e': bad fault latency.latency: is required by fault 'latency'"),
        ("latency", {"lag": 2}, "latency.lag: unknown parameter of fault 'latency'; valid: "),
        ("swallow", {"what": "all"}, "swallow.what: 'all'; valid values: pings, heartbeats, both"),
        ("latency", {"latency": 1, "stream": "up"}, "valid values: upstream, downstream, both"),
        ("drop_messages", {"pattern": "("}, "drop_messages.pattern: not a regular expression"),
        ("close", {"reason": "x" * 124}, "close.reason: longer than 123 bytes in UTF-8"),
        ("latency", {"latency": -1}, "latency.latency: must be >= 0, got -1"),
    ],
)
def test_bad_faults_name_the_valid_choices(use: str, params: dict[str, Any], text: str) -> None:
    error = UnknownChoiceError if use == "lag" else FaultError
    with pytest.raises(error) as info:
        Relay("http://127.0.0.1:9", name="e").add_fault(use, **params)
    assert text in str(info.value)
    with pytest.raises(error, match=r"faults\[0\]" if use != "lag" else "lag"):
        Relay("http://127.0.0.1:9", [(use, params)])
    with pytest.raises(UnknownChoiceError, match="valid choices: close, fin, rst"):
        Relay("http://127.0.0.1:9").cut_all("kill")
