"""Whole messages out of frames: a control frame alone, a fragmented data message as one unit.

Faults that judge a message by its CMS topic or text act on these (RFC 6455 section 5.4).
"""

from __future__ import annotations

from dataclasses import dataclass

from .frames import Frame, Opcode, parse_topic

DATA_OPCODES = frozenset({Opcode.TEXT, Opcode.BINARY})


@dataclass(frozen=True)
class Message:
    """A whole message: one control frame, or every frame of a (possibly fragmented) data message.

    Attributes:
        opcode: the first frame's opcode (``CONTINUATION`` only when the sender broke the rules).
        payload: the unmasked payloads of all frames, joined.
        frames: the raw bytes of each frame, in wire order.
    """

    opcode: int
    payload: bytes
    frames: tuple[bytes, ...]

    @property
    def raw(self) -> bytes:
        """Every frame's bytes, joined: what to forward for the message to pass unchanged."""
        return b"".join(self.frames)

    @property
    def is_data(self) -> bool:
        """Whether this is a text or binary message (not a control frame)."""
        return self.opcode in DATA_OPCODES

    @property
    def compressed(self) -> bool:
        """The first frame's RSV1 bit: the payload is compressed (permessage-deflate)."""
        return bool(self.frames[0][0] & 0x40)

    @property
    def text(self) -> str | None:
        """The text of an uncompressed text message, else ``None``."""
        if self.opcode == Opcode.TEXT and not self.compressed:
            return self.payload.decode("utf-8", errors="replace")
        return None

    @property
    def topic(self) -> str | None:
        """The CMS topic of a text message ``{"topic": ...}``, else ``None``."""
        return parse_topic(self.text)

    @property
    def kind(self) -> str:
        """The opcode's name in lower case, for event texts: ``text``, ``ping``..."""
        try:
            name = Opcode(self.opcode).name.lower()
        except ValueError:
            name = f"opcode {self.opcode:#x}"
        return f"compressed {name}" if self.compressed else name


class MessageAssembler:
    """Groups frames into messages: control frames alone, a fragmented message whole.

    Control frames may come between the fragments of a message (RFC 6455 section 5.4); they are
    returned at once, so they reach the peer before the message they interrupted, which the RFC
    allows.
    """

    def __init__(self) -> None:
        self._parts: list[Frame] = []

    def take(self) -> list[Frame]:
        """Return and forget the fragments of the unfinished message (to forward as they are)."""
        parts, self._parts = self._parts, []
        return parts

    def add(self, frame: Frame) -> list[Message]:
        """Add a frame; return the messages it completes (none, one, or two on a sender's error)."""
        if frame.opcode >= Opcode.CLOSE:
            return [Message(frame.opcode, frame.payload, (frame.raw,))]
        done: list[Message] = []
        if frame.opcode != Opcode.CONTINUATION and self._parts:
            # A new message before the last one finished is the sender's protocol error: pass the
            # unfinished fragments on as they are and let the receiving end fail the connection.
            done.append(_joined(self._parts))
            self._parts = []
        self._parts.append(frame)
        if frame.fin:
            done.append(_joined(self._parts))
            self._parts = []
        return done


def _joined(parts: list[Frame]) -> Message:
    return Message(parts[0].opcode, b"".join(f.payload for f in parts), tuple(f.raw for f in parts))
