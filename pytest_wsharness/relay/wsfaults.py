"""WebSocket-aware faults: ours, since Toxiproxy has none (its issue #50, open since 2015).

They act after the 101 has passed. Message faults judge whole messages (a fragmented message is
one unit, a control frame stands alone) and forward what they leave alone byte-exact; the others
end the connection the ways real middleboxes do. Durations are in milliseconds, multiplied by the
relay's ``time_scale``.
"""

from __future__ import annotations

import re

from ..protocol import HEARTBEAT
from .fault_base import BOTH, DOWN, STREAMS, TOWARDS, Cut, Direction, Fault, Segment
from .frames import Opcode
from .messages import Message

LABEL_LENGTH = 60


def label(message: Message, direction: Direction) -> str:
    """What a message is, for event texts: its kind, where it goes, its topic or text."""
    frames = len(message.frames)
    what = f"{message.kind} frame" if frames == 1 else f"{message.kind} message ({frames} frames)"
    what = f"{what} {TOWARDS[direction]}"
    text = message.text
    if message.topic is not None:
        return f"{what}: {message.topic}"
    if text is not None:
        return f"{what}: {text[:LABEL_LENGTH]}"
    return f"{what} ({len(message.payload)} bytes)"


class MessageFault(Fault):
    """A fault that picks data messages by CMS topic and by a regular expression on the text.

    A compressed message (permessage-deflate) cannot be read: a fault that reads text passes
    it, and records that once. The relay removes the compression offer from requests while such a
    fault is active, so this happens only to connections upgraded before the fault was added.

    Args:
        topic: the topic of a ``{"topic": ...}`` text message; ``""`` matches any.
        pattern: searched in the text; ``""`` matches any message, binary ones included.
        stream: ``upstream``, ``downstream`` or ``both``.
    """

    needs_frames = True

    def __init__(self, topic: str, pattern: str, stream: str) -> None:
        self.topic = topic
        self.regex = re.compile(pattern) if pattern else None
        self.directions = STREAMS[stream]
        self.reads_text = bool(topic or pattern)
        self._blind: set[Direction] = set()

    def picks(self, direction: Direction, message: Message | None, now: float) -> bool:
        """Whether ``message`` is a data message this fault acts on."""
        if message is None or not message.is_data:
            return False
        if message.compressed and self.reads_text:
            if direction not in self._blind:
                self._blind.add(direction)
                self.ctx.note(
                    now,
                    f"{self.use}: compressed messages {TOWARDS[direction]} cannot be read "
                    "(permessage-deflate was agreed before the fault applied); passing them",
                )
            return False
        if self.topic and message.topic != self.topic:
            return False
        if self.regex is None:
            return True
        text = message.text
        return text is not None and self.regex.search(text) is not None


class DropMessages(MessageFault):
    """Drop matching data messages, each with probability ``percent`` / 100."""

    use = "drop_messages"

    def __init__(
        self, topic: str = "", pattern: str = "", percent: float = 100.0, stream: str = "downstream"
    ) -> None:
        super().__init__(topic, pattern, stream)
        self.percent = percent
        # Dropping a message compressed with context takeover would break the receiver's
        # inflater, whatever the match.
        self.reads_text = True

    def on_message(self, direction: Direction, segment: Segment, now: float) -> list[Segment]:
        """Drop the message when it matches and the draw says so."""
        message = segment.message
        # Draw for every match, so that the draws do not depend on the percentage.
        if self.picks(direction, message, now) and self.ctx.rng.random() * 100 < self.percent:
            assert message is not None
            self.ctx.note(now, f"dropped {label(message, direction)}")
            return []
        return [segment]


class DelayMessages(MessageFault):
    """Deliver matching data messages ``delay`` late.

    Frames after a delayed message wait behind it, as on one TCP stream: order is kept, and a
    delayed message holds back the whole direction.
    """

    use = "delay_messages"

    def __init__(
        self, delay: float, topic: str = "", pattern: str = "", stream: str = "downstream"
    ) -> None:
        super().__init__(topic, pattern, stream)
        self.delay = delay

    def on_message(self, direction: Direction, segment: Segment, now: float) -> list[Segment]:
        """Delay the message when it matches."""
        if self.picks(direction, segment.message, now):
            assert segment.message is not None
            self.ctx.note(
                now,
                f"delayed by {self.ctx.ms(self.delay)}: {label(segment.message, direction)}",
            )
            segment.at += self.ctx.seconds(self.delay)
        return [segment]


class HoldMessages(Fault):
    """Hold frames, as a buffering proxy or an antivirus scanner does after passing the 101.

    Frames to the client (and, with ``both``, to the server) are held until ``until_bytes`` bytes
    are held, then all released together; holding then starts again, as a proxy flushing a full
    buffer. ``until_bytes = 0`` holds until the connection closes. At close nothing held is
    released.
    """

    use = "hold_messages"
    needs_frames = True

    def __init__(self, until_bytes: int = 0, both: bool = False) -> None:
        self.until_bytes = until_bytes
        self.directions = BOTH if both else frozenset({DOWN})
        self._held: dict[Direction, list[Segment]] = {}
        self._size: dict[Direction, int] = {}

    def on_message(self, direction: Direction, segment: Segment, now: float) -> list[Segment]:
        """Hold the message; release everything once enough is held."""
        held = self._held.setdefault(direction, [])
        if not held and direction not in self._size:
            self.ctx.note(now, f"holding frames {TOWARDS[direction]}")
        held.append(segment)
        size = self._size[direction] = self._size.get(direction, 0) + len(segment.data)
        if not self.until_bytes or size < self.until_bytes:
            return []
        self._held[direction], self._size[direction] = [], 0
        self.ctx.note(now, f"released {_count(held)} {TOWARDS[direction]}")
        for released in held:
            released.at = max(released.at, now)
        return held

    def on_eof(self, direction: Direction, now: float) -> float:
        """Drop what is held: a buffering proxy releases nothing at close."""
        held = self._held.pop(direction, [])
        if held:
            self.ctx.note(now, f"dropped {_count(held)} {TOWARDS[direction]} at close")
        return 0.0

    def release(self, direction: Direction, now: float) -> list[Segment]:
        """Release what is held (the fault is being removed)."""
        held = self._held.pop(direction, [])
        if held:
            self.ctx.note(now, f"released {_count(held)} {TOWARDS[direction]} (fault removed)")
        return held


def _count(held: list[Segment]) -> str:
    return f"{sum(s.frames for s in held)} held frames ({sum(len(s.data) for s in held)} bytes)"


class Swallow(Fault):
    """Drop ping frames and/or the CMS heartbeat text frame, both directions.

    Args:
        what: ``pings``, ``heartbeats`` (the text ``/epi/heartbeat``) or ``both``.
    """

    use = "swallow"
    needs_frames = True

    def __init__(self, what: str) -> None:
        self.pings = what in ("pings", "both")
        self.heartbeats = what in ("heartbeats", "both")
        self.reads_text = self.heartbeats
        self._blind = False

    def on_message(self, direction: Direction, segment: Segment, now: float) -> list[Segment]:
        """Drop pings and heartbeats as asked."""
        message = segment.message
        if message is None:
            return [segment]
        if self.pings and message.opcode == Opcode.PING:
            self.ctx.note(now, f"swallowed ping {TOWARDS[direction]}")
            return []
        if self.heartbeats and message.opcode == Opcode.TEXT and message.compressed:
            if not self._blind:
                self._blind = True
                self.ctx.note(now, "swallow: compressed text frames cannot be read; passing them")
        elif self.heartbeats and message.text == HEARTBEAT:
            self.ctx.note(now, f"swallowed heartbeat {TOWARDS[direction]}")
            return []
        return [segment]


class _AfterUpgrade(Fault):
    """A fault that acts once, ``after`` milliseconds past the 101 (or past being added)."""

    def __init__(self, after: float) -> None:
        self.after = after
        self._at: float | None = None

    def on_upgrade(self, now: float) -> None:
        """Start the timer."""
        self._at = now + self.ctx.seconds(self.after)

    def deadline(self) -> float | None:
        """When the timer runs out."""
        return self._at

    def due(self, now: float) -> bool:
        """Whether the timer ran out."""
        return self._at is not None and now >= self._at


class Close(_AfterUpgrade):
    """Close mid-stream: a Close frame to each end (unmasked to the client, masked to the server),
    then FIN to both once the frames are written. The client sees a clean close with ``code``.

    It acts ``after`` past the 101 once ``after_messages`` data messages reached the client.
    """

    use = "close"
    needs_frames = True  # the Close frames must go between frames

    def __init__(
        self, code: int = 1001, reason: str = "", after_messages: int = 0, after: float = 0.0
    ) -> None:
        super().__init__(after)
        self.code = code
        self.reason = reason
        self.after_messages = after_messages
        self._base = 0
        self._time_up = False

    def on_upgrade(self, now: float) -> None:
        """Start the timer and the message count."""
        super().on_upgrade(now)
        self._base = self.ctx.messages_down

    def deadline(self) -> float | None:
        """The timer, until it ran out (then each forwarded message is a reason to poll)."""
        return None if self._time_up else self._at

    def poll(self, now: float) -> Cut | None:
        """Close once the time is up and enough messages passed."""
        if not self.due(now):
            return None
        self._time_up = True
        if self.ctx.messages_down - self._base < self.after_messages:
            return None
        return Cut("close", f"close: sent Close {self.code} to both ends", self.code, self.reason)


class IdleTimeout(Fault):
    """Cut the tunnel (FIN to both ends, no Close frame) after ``timeout`` without any bytes.

    The timer runs on the tunnel, from the 101 on: the handshake itself is not timed (at scaled
    timings a loaded machine could otherwise miss the upgrade). Bytes from either end restart
    it. The client sees 1006, as behind nginx (``proxy_read_timeout``), an AWS ALB or HAProxy
    (``timeout tunnel``).
    """

    use = "idle_timeout"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._last: float | None = None

    def on_upgrade(self, now: float) -> None:
        """Start the timer."""
        self._last = now

    def on_activity(self, now: float) -> None:
        """Restart the timer."""
        if self._last is not None:
            self._last = now

    def deadline(self) -> float | None:
        """When the tunnel has been idle too long."""
        if self._last is None:
            return None
        return self._last + self.ctx.seconds(self.timeout)

    def poll(self, now: float) -> Cut | None:
        """Cut when idle too long."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        why = f"idle timeout {self.ctx.ms(self.timeout)}: cut without a Close frame"
        return Cut("fin", why, flush=False)


class SilentDrop(_AfterUpgrade):
    """Stop forwarding both ways ``after`` past the 101 and send nothing: no FIN, no RST.

    Models the Azure Load Balancer forgetting an idle flow: the connection hangs until an end
    gives up (or the relay stops).
    """

    use = "silent_drop"

    def __init__(self, after: float = 0.0) -> None:
        super().__init__(after)

    def poll(self, now: float) -> Cut | None:
        """Hang when the time is up."""
        if not self.due(now):
            return None
        return Cut("hang", "silent drop: forwarding stopped, nothing sent")


class AcceptThenClose(_AfterUpgrade):
    """End the connection ``after`` past the 101.

    Args:
        mode: ``clean`` (Close 1001 to both ends, then FIN), ``fin`` (FIN without a Close
            frame: the client sees 1006) or ``rst`` (reset both ends).
    """

    use = "accept_then_close"

    def __init__(self, after: float = 0.0, mode: str = "clean") -> None:
        super().__init__(after)
        self.mode = mode
        # A Close frame must go between frames.
        self.needs_frames = mode == "clean"

    def poll(self, now: float) -> Cut | None:
        """End the connection when the time is up."""
        if not self.due(now):
            return None
        if self.mode == "clean":
            return Cut("close", "accept_then_close: Close 1001 then FIN", 1001)
        if self.mode == "fin":
            return Cut("fin", "accept_then_close: FIN without a Close frame")
        return Cut("rst", "accept_then_close: reset (RST)", flush=False)
