"""Unit tests of the relay's sans-I/O reading (``relay/frames.py``, ``messages.py``,
``scanner.py``): heads, frames, messages, frame boundaries, the encoders the relay uses to
inject Close frames, and the tunnel's fast path counting as its full path does."""

from __future__ import annotations

import random

import pytest

from pytest_wsharness.relay.actions import Send
from pytest_wsharness.relay.fault_base import DOWN, UP, Context, Fault
from pytest_wsharness.relay.frames import (
    Frame,
    Head,
    Opcode,
    ProtocolViolation,
    StreamReader,
    close_frame,
    encode_frame,
)
from pytest_wsharness.relay.messages import MessageAssembler
from pytest_wsharness.relay.records import ConnectionRecord
from pytest_wsharness.relay.scanner import FrameScanner
from pytest_wsharness.relay.tunnel import Tunnel

MASK = b"\x37\xfa\x21\x3d"
REQUEST = (
    b"GET /EPiServer/Shell/socket/endpoint HTTP/1.1\r\nHost: cms\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Extensions: permessage-deflate; "
    b"client_max_window_bits, x-other\r\n\r\n"
)
RESPONSE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
NOTIFICATION = b'{"topic": "/episerver/cms/notification", "data": {"id": 1, "action": 1}}'


def feed_bytewise(reader: StreamReader, data: bytes) -> list[Head | Frame | bytes]:
    units: list[Head | Frame | bytes] = []
    for i in range(len(data)):
        units += reader.feed(data[i : i + 1])
    return units


def only_frames(units: list[Head | Frame | bytes]) -> list[Frame]:
    frames = [u for u in units if isinstance(u, Frame)]
    assert len(frames) == len(units)
    return frames


@pytest.mark.parametrize("bytewise", [False, True])
def test_response_head_then_frames_byte_exact(bytewise: bool) -> None:
    frames = [
        encode_frame(Opcode.TEXT, NOTIFICATION),
        encode_frame(Opcode.PING, b"p"),
        close_frame(1000, "bye"),
    ]
    data = RESPONSE + b"".join(frames)
    reader = StreamReader()
    units = feed_bytewise(reader, data) if bytewise else reader.feed(data)
    head, *rest = units
    assert isinstance(head, Head)
    assert (head.raw, head.status, head.first_line) == (
        RESPONSE,
        101,
        "HTTP/1.1 101 Switching Protocols",
    )
    text, ping, close = only_frames(rest)
    assert [text.raw, ping.raw, close.raw] == frames
    assert (text.text, text.topic) == (NOTIFICATION.decode(), "/episerver/cms/notification")
    assert (ping.opcode, ping.payload, ping.text, ping.topic) == (Opcode.PING, b"p", None, None)
    assert (close.close_code, close.payload[2:]) == (1000, b"bye")
    assert reader.buffered == 0


def test_request_head_then_body_bytes_until_told_frames() -> None:
    reader = StreamReader()
    [head] = reader.feed(REQUEST)
    assert isinstance(head, Head)
    assert head.status is None
    frame = encode_frame(Opcode.TEXT, b"/epi/heartbeat", mask=MASK)
    reader.start_frames()
    units = feed_bytewise(reader, frame)
    assert [(u.text, u.raw) for u in units if isinstance(u, Frame)] == [("/epi/heartbeat", frame)]


@pytest.mark.parametrize("size", [0, 125, 126, 200, 65535, 65536, 70000])
@pytest.mark.parametrize("mask", [None, MASK])
def test_lengths_7_16_and_64_bit_masked_or_not(size: int, mask: bytes | None) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    raw = encode_frame(Opcode.BINARY, payload, mask=mask)
    header = 2 + (2 if 126 <= size < 65536 else 8 if size >= 65536 else 0) + (4 if mask else 0)
    assert len(raw) == header + size
    reader = StreamReader(expect_head=False)
    assert reader.feed(raw[:-1]) == []
    [frame] = reader.feed(raw[-1:])
    assert isinstance(frame, Frame)
    assert (frame.payload, frame.raw, frame.fin) == (payload, raw, True)


def test_non_101_response_passes_the_body_as_bytes() -> None:
    reader = StreamReader()
    units = reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")
    assert [type(u) for u in units] == [Head, bytes]
    assert units[1] == b"body"
    assert reader.feed(b"\x81\x01x") == [b"\x81\x01x"]  # never read as frames


def test_interim_100_then_101() -> None:
    units = StreamReader().feed(b"HTTP/1.1 100 Continue\r\n\r\n" + RESPONSE + b"\x89\x00")
    assert [type(u) for u in units] == [Head, Head, Frame]


def test_violations_keep_the_units_before_them() -> None:
    good = encode_frame(Opcode.TEXT, b"ok")
    with pytest.raises(ProtocolViolation, match="reserved opcode 0x3") as info:
        StreamReader(expect_head=False).feed(good + b"\x83\x00")
    assert [u.raw for u in info.value.units if isinstance(u, Frame)] == [good]
    with pytest.raises(ProtocolViolation, match="longer than 64 KiB"):
        StreamReader().feed(b"x" * (64 * 1024 + 1))


def test_compressed_frames_have_no_text() -> None:
    raw = bytes([0xC1, 3]) + b"abc"  # FIN + RSV1 + text
    [frame] = StreamReader(expect_head=False).feed(raw)
    assert isinstance(frame, Frame)
    assert (frame.compressed, frame.text, frame.topic) == (True, None, None)
    [message] = MessageAssembler().add(frame)
    assert (message.compressed, message.text, message.kind) == (True, None, "compressed text")


def test_fragmented_message_is_one_unit_and_control_frames_pass_first() -> None:
    parts = [
        encode_frame(Opcode.TEXT, NOTIFICATION[:10], fin=False, mask=MASK),
        encode_frame(Opcode.PING, b"", mask=MASK),
        encode_frame(Opcode.CONTINUATION, NOTIFICATION[10:30], fin=False, mask=MASK),
        encode_frame(Opcode.CONTINUATION, NOTIFICATION[30:], mask=MASK),
    ]
    assembler = MessageAssembler()
    messages = [
        m
        for u in StreamReader(expect_head=False).feed(b"".join(parts))
        if isinstance(u, Frame)
        for m in assembler.add(u)
    ]
    ping, whole = messages
    assert (ping.opcode, ping.frames, ping.is_data) == (Opcode.PING, (parts[1],), False)
    assert (whole.opcode, whole.text, whole.topic) == (
        Opcode.TEXT,
        NOTIFICATION.decode(),
        "/episerver/cms/notification",
    )
    assert whole.raw == parts[0] + parts[2] + parts[3]
    assert whole.kind == "text"


def test_assembler_passes_an_interrupted_message_on_and_take_returns_fragments() -> None:
    reader, assembler = StreamReader(expect_head=False), MessageAssembler()
    first = encode_frame(Opcode.TEXT, b"a", fin=False)
    [frame] = reader.feed(first)
    assert isinstance(frame, Frame)
    assert assembler.add(frame) == []
    assert [f.raw for f in assembler.take()] == [first]
    assembler.add(frame)
    [new] = reader.feed(encode_frame(Opcode.BINARY, b"b"))
    assert isinstance(new, Frame)
    orphan, binary = assembler.add(new)  # the sender broke the rules: both pass as they are
    assert (orphan.raw, binary.payload) == (first, b"b")


def scan_all(data: bytes, step: int) -> tuple[int, bool]:
    scanner, frames = FrameScanner(), 0
    for i in range(0, len(data), step):
        frames += scanner.scan(data[i : i + step])[0]
    return frames, scanner.at_boundary


@pytest.mark.parametrize("step", [1, 3, 7, 100_000])
def test_scanner_counts_frames_of_any_size_in_any_chunking(step: int) -> None:
    frames = [
        encode_frame(Opcode.TEXT, b"x" * n, mask=MASK if n % 2 else None)
        for n in (0, 1, 125, 126, 300, 70000)
    ]
    data = b"".join(frames)
    assert scan_all(data, step) == (6, True)
    assert scan_all(data[:-1], step) == (5, False)


def test_scanner_offsets_and_first_boundary() -> None:
    one, two = encode_frame(Opcode.TEXT, b"one"), encode_frame(Opcode.TEXT, b"two")
    scanner = FrameScanner()
    assert scanner.scan(one + two[:2]) == (1, len(one))
    assert not scanner.at_boundary
    assert scanner.scan(two[2:] + one, first=True) == (1, len(two) - 2)
    fresh = FrameScanner()
    assert fresh.scan(one, first=True) == (0, 0)  # already at a boundary: switch right there


def test_without_extension_removes_only_that_offer() -> None:
    head = Head(REQUEST)
    stripped = head.without_extension("permessage-deflate")
    assert b"Sec-WebSocket-Extensions: x-other\r\n" in stripped.raw
    assert b"deflate" not in stripped.raw
    assert stripped.raw.endswith(b"\r\n\r\n")
    alone = Head(b"GET / HTTP/1.1\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    assert alone.without_extension("permessage-deflate").raw == b"GET / HTTP/1.1\r\n\r\n"
    assert Head(RESPONSE).without_extension("permessage-deflate") == Head(RESPONSE)


def test_close_frame_masked_for_the_server() -> None:
    raw = close_frame(4000, "going", mask=MASK)
    assert raw[1] & 0x80
    [frame] = StreamReader(expect_head=False).feed(raw)
    assert isinstance(frame, Frame)
    assert (frame.close_code, frame.payload[2:]) == (4000, b"going")
    assert Frame(Opcode.CLOSE, True, b"", b"\x88\x00").close_code is None


def test_a_head_reads_its_status_reason_and_fields() -> None:
    head = Head(
        b"HTTP/1.1 403 Forbidden\r\nServer: nginx\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
    )
    assert (head.status, head.reason) == (403, "Forbidden")
    assert head.fields == [("Server", "nginx"), ("set-cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert head.header("SET-COOKIE") == "a=1"  # the first, any case
    assert head.header("Upgrade") is None
    request = Head(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
    assert (request.status, request.reason, request.header("upgrade")) == (None, "", "websocket")


class Watching(Fault):
    """A live fault that changes nothing: it keeps the tunnel off its fast path."""


def relay_through(
    faults: list[tuple[int, Fault]], step: int
) -> tuple[list[Send], ConnectionRecord]:
    record = ConnectionRecord(0, "127.0.0.1:1")
    ctx = Context(0.0, random.Random(0), 1.0, lambda at, text: None)
    tunnel = Tunnel(record, ctx, faults, 0.0)
    masked = encode_frame(Opcode.TEXT, NOTIFICATION, mask=MASK)
    big = encode_frame(Opcode.BINARY, b"b" * 70_000)
    down = RESPONSE + (encode_frame(Opcode.TEXT, NOTIFICATION) + big) * 3
    sends: list[Send] = []
    for direction, data in ((UP, REQUEST), (DOWN, down), (UP, masked * 5)):
        for i in range(0, len(data), step):
            actions = tunnel.receive(direction, data[i : i + step], 1.0)
            sends += [a for a in actions if isinstance(a, Send)]
    return sends, record


@pytest.mark.parametrize("step", [1, 7, 100, 1 << 20])
def test_fast_path_forwards_and_counts_as_the_full_path(step: int) -> None:
    # Issue 11: with no live fault a chunk skips the fault machinery; what goes out and what
    # the record counts must not change.
    fast, fast_record = relay_through([], step)
    full, full_record = relay_through([(0, Watching())], step)
    for direction in (UP, DOWN):
        assert b"".join(s.data for s in fast if s.direction == direction) == b"".join(
            s.data for s in full if s.direction == direction
        )
        assert sum(s.frames for s in fast if s.direction == direction) == sum(
            s.frames for s in full if s.direction == direction
        )
    assert (fast_record.upgraded, full_record.upgraded) == (True, True)
    assert sum(s.frames for s in fast if s.direction == DOWN) == 6
    assert sum(s.frames for s in fast if s.direction == UP) == 5
