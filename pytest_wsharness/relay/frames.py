"""Sans-I/O reading of one direction of an upgraded connection: the HTTP head, then frames.

The relay judges bytes here and only pumps them elsewhere, as the ``websockets`` protocol core
does. A :class:`StreamReader` is fed the bytes of one direction as they arrive and returns the
units the relay may act on whole: the HTTP head (request or response) and then each WebSocket
frame (RFC 6455 section 5.2), with its raw bytes so a unit forwarded unchanged is byte-exact.
:mod:`.messages` groups frames into messages; :mod:`.scanner` finds frame boundaries cheaply.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass

MAX_HEAD = 64 * 1024


class Opcode(enum.IntEnum):
    """WebSocket frame opcodes."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


@dataclass(frozen=True)
class Head:
    """An HTTP request or response head, up to and including the blank line."""

    raw: bytes

    @property
    def first_line(self) -> str:
        """The request line or the status line."""
        return self.raw.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def status(self) -> int | None:
        """The status code of a response head, else ``None``."""
        parts = self.first_line.split(" ", 2)
        if parts[0].startswith("HTTP/") and len(parts) > 1 and parts[1].isdigit():
            return int(parts[1])
        return None

    @property
    def reason(self) -> str:
        """The reason phrase of a response head (``""`` if none)."""
        parts = self.first_line.split(" ", 2)
        return parts[2] if self.status is not None and len(parts) > 2 else ""

    @property
    def fields(self) -> list[tuple[str, str]]:
        """The header fields, ``(name, value)`` in order, repeated names kept."""
        pairs = []
        for line in self.raw.decode("latin-1").split("\r\n")[1:]:
            name, colon, value = line.partition(":")
            if colon:
                pairs.append((name.strip(), value.strip()))
        return pairs

    def header(self, name: str) -> str | None:
        """The first value of the header ``name`` (any case), else ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.fields if k.lower() == wanted), None)

    def without_extension(self, name: str) -> Head:
        """This head with every offer of the WebSocket extension ``name`` removed.

        A ``Sec-WebSocket-Extensions`` header left empty is removed; other lines are kept byte
        for byte.
        """
        lines = self.raw[:-4].split(b"\r\n")
        kept = [lines[0]]
        for line in lines[1:]:
            field, colon, value = line.partition(b":")
            if colon and field.strip().lower() == b"sec-websocket-extensions":
                offers = [o.strip() for o in value.split(b",")]
                offers = [o for o in offers if o.split(b";")[0].strip().lower() != name.encode()]
                if not offers:
                    continue
                line = field + b": " + b", ".join(offers)
            kept.append(line)
        return Head(b"\r\n".join(kept) + b"\r\n\r\n")


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame.

    Attributes:
        opcode: the frame's opcode.
        fin: the final-fragment bit.
        payload: the unmasked payload.
        raw: the frame's bytes exactly as they crossed the wire.
    """

    opcode: int
    fin: bool
    payload: bytes
    raw: bytes

    @property
    def compressed(self) -> bool:
        """The RSV1 bit: the message is compressed (permessage-deflate, RFC 7692)."""
        return bool(self.raw[0] & 0x40)

    @property
    def text(self) -> str | None:
        """The payload of a complete, uncompressed text frame, else ``None``."""
        if self.opcode == Opcode.TEXT and self.fin and not self.compressed:
            return self.payload.decode("utf-8", errors="replace")
        return None

    @property
    def topic(self) -> str | None:
        """The CMS topic of a complete text frame ``{"topic": ...}``, else ``None``."""
        return parse_topic(self.text)

    @property
    def close_code(self) -> int | None:
        """The code of a Close frame, else ``None``."""
        if self.opcode == Opcode.CLOSE and len(self.payload) >= 2:
            code: int = struct.unpack("!H", self.payload[:2])[0]
            return code
        return None


def parse_topic(text: str | None) -> str | None:
    """The CMS topic of a ``{"topic": ...}`` text, else ``None``."""
    if text is None or not text.startswith("{"):
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    topic = message.get("topic") if isinstance(message, dict) else None
    return topic if isinstance(topic, str) else None


_OPCODES = frozenset(int(op) for op in Opcode)


class ProtocolViolation(Exception):
    """The bytes are not what an HTTP head or a WebSocket frame may be.

    Attributes:
        units: the units completed before the violation, in the same :meth:`StreamReader.feed`.
    """

    def __init__(self, problem: str, units: list[Head | Frame | bytes] | None = None) -> None:
        super().__init__(problem)
        self.units = units or []


class StreamReader:
    """Splits one direction of a connection into its HTTP head and then its frames.

    A response head with status 101 switches this reader to frames at once (the frames may follow
    in the same read); the other direction is switched with :meth:`start_frames`. Other ``1xx``
    heads are interim: another head follows.

    Args:
        expect_head: ``False`` to read frames from the first byte.
    """

    def __init__(self, expect_head: bool = True) -> None:
        self._buffer = bytearray()
        self._pos = 0  # where the next unit starts: the buffer is compacted once per feed
        self._in_head = expect_head
        self.framing = not expect_head

    @property
    def buffered(self) -> int:
        """How many bytes wait for the rest of their unit."""
        return len(self._buffer) - self._pos

    def start_frames(self) -> None:
        """Read frames from now on (the other direction saw the 101)."""
        self._in_head = False
        self.framing = True

    def detach(self) -> bytes:
        """Return and forget the bytes not yet returned as a unit (to read them another way)."""
        rest = bytes(self._buffer[self._pos :])
        self._buffer.clear()
        self._pos = 0
        return rest

    def feed(self, data: bytes) -> list[Head | Frame | bytes]:
        """Add bytes; return every whole unit they complete.

        Before the head ends, and after a head that did not switch protocols, bytes that are
        neither a head nor frames come back as plain ``bytes`` (a body) to be forwarded as they are.

        Raises:
            ProtocolViolation: a head over 64 KiB, or a frame with a reserved opcode; the units
                completed before it are in its ``units``.
        """
        self._buffer += data
        units: list[Head | Frame | bytes] = []
        try:
            self._units(units)
        except ProtocolViolation as error:
            error.units = units
            raise
        finally:
            del self._buffer[: self._pos]
            self._pos = 0
        return units

    def _units(self, units: list[Head | Frame | bytes]) -> None:
        buf = self._buffer
        while self._pos < len(buf):
            if self._in_head:
                end = buf.find(b"\r\n\r\n", self._pos)
                if end < 0:
                    if len(buf) - self._pos > MAX_HEAD:
                        raise ProtocolViolation("HTTP head longer than 64 KiB")
                    break
                head = Head(bytes(buf[self._pos : end + 4]))
                units.append(head)
                self._pos = end + 4
                status = head.status
                if status == 101:
                    self.start_frames()
                elif status is None or not 100 <= status < 200:
                    self._in_head = False
            elif not self.framing:
                units.append(bytes(buf[self._pos :]))
                self._pos = len(buf)
            else:
                frame = self._frame()
                if frame is None:
                    break
                units.append(frame)

    def _frame(self) -> Frame | None:
        buf, start = self._buffer, self._pos
        available = len(buf) - start
        if available < 2:
            return None
        fin, opcode = bool(buf[start] & 0x80), buf[start] & 0x0F
        if opcode not in _OPCODES:
            raise ProtocolViolation(f"reserved opcode {opcode:#x}")
        masked, length = bool(buf[start + 1] & 0x80), buf[start + 1] & 0x7F
        offset = 2
        if length == 126:
            if available < 4:
                return None
            length, offset = int.from_bytes(buf[start + 2 : start + 4], "big"), 4
        elif length == 127:
            if available < 10:
                return None
            length, offset = int.from_bytes(buf[start + 2 : start + 10], "big"), 10
        mask = b""
        if masked:
            if available < offset + 4:
                return None
            mask, offset = bytes(buf[start + offset : start + offset + 4]), offset + 4
        if available < offset + length:
            return None
        payload = bytes(buf[start + offset : start + offset + length])
        if masked:
            payload = _unmask(payload, mask)
        raw = bytes(buf[start : start + offset + length])
        self._pos = start + offset + length
        return Frame(opcode, fin, payload, raw)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


def encode_frame(
    opcode: int, payload: bytes, *, mask: bytes | None = None, fin: bool = True
) -> bytes:
    """Encode one frame; a client's frames must be masked (pass a 4-byte ``mask``)."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask:
        return head + mask + _unmask(payload, mask)
    return head + payload


def close_frame(code: int, reason: str = "", *, mask: bytes | None = None) -> bytes:
    """Encode a Close frame with ``code`` and ``reason``."""
    return encode_frame(Opcode.CLOSE, struct.pack("!H", code) + reason.encode(), mask=mask)
