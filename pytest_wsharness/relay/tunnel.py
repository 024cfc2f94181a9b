"""One client connection's behaviour, without I/O: bytes in, ordered writes and cuts out.

The I/O layer (:mod:`~pytest_wsharness.relay.link`) feeds a :class:`Tunnel` what it reads from each
end with the time, calls :meth:`Tunnel.tick` at :meth:`Tunnel.deadline`, and carries out the
actions it gets back. Everything that judges bytes is here, testable without sockets.

Each direction is read in one of four modes, from the most to the least work per byte:

* ``head``: an HTTP head is awaited (every connection starts so);
* ``frames``: after the 101, when a fault in that direction needs whole messages;
* ``scan``: after the 101 otherwise: bytes pass as read, only frame boundaries are tracked (to
  count frames and to switch to ``frames`` at a boundary when such a fault is added);
* ``bytes``: after any other response: bytes pass as read.

Faults act in the order given: first every message fault on whole messages, then every TCP fault
on the bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from .actions import Action, End, Finish, Send
from .fault_base import DOWN, TOWARDS, UP, Context, Cut, Direction, Fault, Segment
from .frames import Head, ProtocolViolation, StreamReader, close_frame
from .messages import MessageAssembler
from .records import ConnectionRecord
from .scanner import FrameScanner

DEFLATE = "permessage-deflate"
Mode = Literal["head", "frames", "scan", "bytes"]
CUT_ALL = {
    "fin": Cut("fin", "cut_all: FIN to both ends", flush=False),
    "rst": Cut("rst", "cut_all: reset (RST)", flush=False),
    "close": Cut("close", "cut_all: Close 1001 then FIN", 1001),
}


class _Side:
    """How one direction is being read."""

    def __init__(self) -> None:
        self.mode: Mode = "head"
        self.reader = StreamReader()
        self.scanner = FrameScanner()
        self.assembler = MessageAssembler()
        self.switch = False  # read whole frames from the next frame boundary on

    def enter_frames(self) -> None:
        self.reader = StreamReader(expect_head=False)
        self.assembler = MessageAssembler()
        self.mode, self.switch = "frames", False

    def leave_frames(self, now: float) -> list[Segment]:
        """Go back to scanning; return the bytes held for a frame or message not yet complete."""
        parts = self.assembler.take()
        rest = self.reader.detach()
        self.scanner = FrameScanner()
        self.scanner.scan(rest)
        self.mode = "scan"
        data = b"".join(p.raw for p in parts) + rest
        return [Segment(data, now, len(parts))] if data else []


class Tunnel:
    """What one client connection does to the bytes crossing it.

    Args:
        record: the connection's record; the tunnel fills in status, events and how it ended.
        ctx: the connection's context (start time, random generator, time scale, event log).
        faults: ``(id, fault)`` pairs, fresh instances for this connection, in order.
        now: the connection's start.
    """

    def __init__(
        self,
        record: ConnectionRecord,
        ctx: Context,
        faults: Iterable[tuple[int, Fault]],
        now: float,
    ) -> None:
        self.record = record
        self.ctx = ctx
        self.sides = {UP: _Side(), DOWN: _Side()}
        self.ended = False  # cut: nothing more is forwarded, nothing more can be cut
        self.hung = False  # silently dropped: nothing more is forwarded, but it can be cut
        self._heads_down = 0  # bytes of the response heads
        self._upgrade_end: int | None = None  # where the 101 ends in the stream to the client
        self._down_out = 0  # bytes sent on to the client
        self._faults: dict[int, Fault] = {}
        self._live: list[Fault] = []
        self._active: dict[Direction, list[Fault]] = {UP: [], DOWN: []}
        for fault_id, fault in faults:
            fault.bind(ctx, now)
            self._faults[fault_id] = fault
        self._refresh()

    def opaque(self) -> None:
        """Relay both directions as plain bytes: an encrypted (TLS) connection has no head or
        frames the relay could read. Byte-level faults still act on it."""
        for side in self.sides.values():
            side.mode = "bytes"

    def open(self, now: float) -> list[Action]:
        """The connection was accepted: reset it if a fault refuses new connections."""
        if any(f.refuses for f in self._faults.values()):
            self.ended = True
            self.record.end("refused (down)", now)
            self.ctx.note(now, "refused (down): reset at accept")
            return [End("rst", flush=False)]
        return self._poll(now)

    def receive(self, direction: Direction, data: bytes, now: float) -> list[Action]:
        """Bytes arrived from the end ``direction`` starts at."""
        if self.ended or self.hung:
            return []
        side = self.sides[direction]
        if not self._live and side.mode == "scan" and not side.switch:
            # The fast path (issue 11): no fault acts on this connection, so a chunk costs a
            # frame count and one write, as in a plain splice. What the full path below would
            # do here is only the 101's bookkeeping, kept in _forwarded.
            frames = side.scanner.scan(data)[0]
            if direction == DOWN:
                self._forwarded(len(data))
            return [Send(direction, data, now, frames)]
        for fault in self._live:
            fault.on_activity(now)
        segments = self._through(direction, self._read(direction, data, now), now)
        return self._sends(direction, segments) + self._poll(now)

    def receive_eof(self, direction: Direction, now: float, reset: bool = False) -> list[Action]:
        """The end ``direction`` starts at closed (``reset``: reset) its side."""
        if self.record.ended is None:
            who = "client" if direction == UP else "server"
            self.record.end(f"{who} {'reset' if reset else 'closed'}", now)
        if self.ended or self.hung:
            return []
        delay = max((f.on_eof(direction, now) for f in self._active[direction]), default=0.0)
        return [Finish(direction, now + delay)]

    def deadline(self) -> float | None:
        """When :meth:`tick` should next be called, if a time matters."""
        if self.ended or self.hung or not self._live:
            return None
        times = [t for f in self._live if (t := f.deadline()) is not None]
        return min(times, default=None)

    def tick(self, now: float) -> list[Action]:
        """Time passed: act on what is due."""
        return self._poll(now)

    def cut(self, how: str, now: float) -> list[Action]:
        """Cut the connection now (``fin``, ``rst`` or ``close``), unless already cut."""
        return [] if self.ended else self._cut(CUT_ALL[how], now)

    def add(self, fault_id: int, fault: Fault, now: float) -> list[Action]:
        """Start a fault on this live connection."""
        fault.bind(self.ctx, now)
        self._faults[fault_id] = fault
        self._refresh()
        if self.ended or self.hung or not fault.applies:
            return []
        if self.ctx.upgraded_at is not None:
            fault.on_upgrade(now)
        for direction, side in self.sides.items():
            if side.mode == "scan" and self._wants_frames(direction):
                side.switch = True
                if side.scanner.at_boundary:
                    side.enter_frames()
        return self._poll(now)

    def remove(self, fault_id: int, now: float) -> list[Action]:
        """Stop a fault on this connection, forwarding what it held back."""
        fault = self._faults.pop(fault_id, None)
        if fault is None:
            return []
        self._refresh()
        if self.ended or self.hung or not fault.applies:
            return []
        actions: list[Action] = []
        for direction in (UP, DOWN):
            segments = fault.release(direction, now) if direction in fault.directions else []
            for later in self._active[direction]:
                segments = later.on_bytes(direction, segments, now) if segments else segments
            actions += self._sends(direction, segments)
        return actions + self._poll(now)

    def stop(self, why: str = "relay stopped") -> None:
        """The relay stops relaying this connection (``why``): forward nothing more."""
        self.ended = True
        if self.record.ended is None:
            self.record.end(why)

    def fail(self, now: float, why: str) -> None:
        """The connection could not be relayed (the upstream is unreachable)."""
        self.ended = True
        self.record.end(why, now)
        self.ctx.note(now, why)

    def _sends(self, direction: Direction, segments: list[Segment]) -> list[Action]:
        # Segments due at the same time go out in one write: a read of many small frames must
        # not become a write per frame.
        sends: list[Action] = []
        parts: list[bytes] = []
        at, frames = 0.0, 0
        for segment in segments:
            if parts and segment.at != at:
                sends.append(Send(direction, b"".join(parts), at, frames))
                parts, frames = [], 0
            if segment.data:
                parts.append(segment.data)
                at, frames = segment.at, frames + segment.frames
        if parts:
            sends.append(Send(direction, b"".join(parts), at, frames))
        if direction == DOWN:
            self._forwarded(sum(len(s.data) for s in segments))
        return sends

    def _forwarded(self, size: int) -> None:
        """``size`` more bytes went on to the client."""
        self._down_out += size
        # The 101 passed once every byte up to its end went on to the client: a fault may
        # have dropped or cut it (timeout, reset_peer, limit_data).
        if self._upgrade_end is not None and self._down_out >= self._upgrade_end:
            self.record.upgraded = True

    def _refresh(self) -> None:
        self._live = [f for f in self._faults.values() if f.applies]
        for direction in (UP, DOWN):
            self._active[direction] = [f for f in self._live if direction in f.directions]

    def _wants_frames(self, direction: Direction) -> bool:
        return any(f.needs_frames for f in self._active[direction])

    def _read(self, direction: Direction, data: bytes, now: float) -> list[Segment]:
        side = self.sides[direction]
        if side.mode == "bytes":
            return [Segment(data, now)]
        if side.mode == "scan":
            if not side.switch:
                return [Segment(data, now, side.scanner.scan(data)[0])]
            frames, offset = side.scanner.scan(data, first=True)
            if not side.scanner.at_boundary:
                return [Segment(data, now)]
            side.enter_frames()
            before = [Segment(data[:offset], now, frames)] if offset else []
            return before + self._parse(direction, side, data[offset:], now)
        return self._parse(direction, side, data, now)

    def _parse(self, direction: Direction, side: _Side, data: bytes, now: float) -> list[Segment]:
        try:
            units = side.reader.feed(data)
        except ProtocolViolation as error:
            units = error.units
            self.ctx.note(now, f"not WebSocket {TOWARDS[direction]} ({error}): passing bytes")
            side.mode = "bytes"
        segments: list[Segment] = []
        for unit in units:
            if isinstance(unit, bytes):
                segments.append(Segment(unit, now))
            elif isinstance(unit, Head):
                if direction == UP:
                    unit = self._request(unit, now)
                else:
                    self._heads_down += len(unit.raw)
                    self._response(unit, now)
                segments.append(Segment(unit.raw, now))
            else:
                for message in side.assembler.add(unit):
                    segments.append(Segment(message.raw, now, len(message.frames), message))
        if side.mode == "bytes":
            held = b"".join(p.raw for p in side.assembler.take()) + side.reader.detach()
            segments += [Segment(held, now)] if held else []
        elif side.mode == "frames" and not self._wants_frames(direction):
            segments += side.leave_frames(now)
        return segments

    def _request(self, head: Head, now: float) -> Head:
        if not any(f.reads_text for f in self._live):
            return head
        # Compressed messages cannot be read, nor dropped without breaking the receiver's
        # inflater (context takeover, RFC 7692): remove the offer, as a proxy that does not know
        # the extension does; both ends then speak uncompressed.
        stripped = head.without_extension(DEFLATE)
        if stripped != head:
            self.ctx.note(now, f"removed the {DEFLATE} offer from the request, to read messages")
        return stripped

    def _response(self, head: Head, now: float) -> None:
        status = head.status
        if status is None or (100 <= status < 200 and status != 101):
            return  # not a status line, or an interim response: the real one follows
        self.record.status, self.record.answered_at = status, now
        up, down = self.sides[UP], self.sides[DOWN]
        if status != 101:
            up.mode = down.mode = "bytes"
            return
        self._upgrade_end = self._heads_down
        self.ctx.upgraded_at = now
        # Both directions carry frames now. The client's side leaves frames mode, if no fault
        # needs it, at its first read: it has sent nothing since its request.
        up.reader.start_frames()
        up.mode = down.mode = "frames"
        for fault in self._live:
            fault.on_upgrade(now)

    def _through(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        faults = self._active[direction]
        for fault in faults:
            if not any(s.message is not None for s in segments):
                break
            judged: list[Segment] = []
            for segment in segments:
                if segment.message is None:
                    judged.append(segment)
                else:
                    judged += fault.on_message(direction, segment, now)
            segments = judged
        if direction == DOWN:
            self.ctx.messages_down += sum(
                1 for s in segments if s.message is not None and s.message.is_data
            )
        for fault in faults:
            if not segments:
                break
            segments = fault.on_bytes(direction, segments, now)
        return segments

    def _poll(self, now: float) -> list[Action]:
        if self.ended or self.hung or not self._live:
            return []
        for fault in self._live:
            cut = fault.poll(now)
            if cut is not None:
                return self._cut(cut, now)
        return []

    def _cut(self, cut: Cut, now: float) -> list[Action]:
        self.ctx.note(now, cut.why)
        if cut.how == "hang":
            self.hung = True
            self.record.end("hung (silent drop)", now)
            return [End("hang")]
        self.ended, self.hung = True, False
        if cut.how == "rst":
            self.record.end("reset (RST)", now)
            return [End("rst", flush=False)]
        actions: list[Action] = []
        if cut.how == "close" and self.ctx.upgraded_at is not None:
            actions = self._close_frames(cut, now)
        to_client = any(isinstance(a, Send) and a.direction == DOWN for a in actions)
        self.record.end(f"closed with code {cut.code}" if to_client else "cut (FIN)", now)
        return [*actions, End("fin", cut.flush)]

    def _close_frames(self, cut: Cut, now: float) -> list[Action]:
        actions: list[Action] = []
        for direction in (DOWN, UP):
            side = self.sides[direction]
            if side.mode == "scan" and not side.scanner.at_boundary:
                # Bytes of a frame already went out; a Close frame now would corrupt the stream.
                self.ctx.note(now, f"no Close frame {TOWARDS[direction]}: a frame is half sent")
                continue
            # A client's frames are masked (RFC 6455 section 5.3); the server's are not.
            mask = self.ctx.rng.randbytes(4) if direction == UP else None
            frame = close_frame(cut.code, cut.reason, mask=mask)
            actions.append(Send(direction, frame, now, 1))
        return actions
