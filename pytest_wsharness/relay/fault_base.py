"""What every relay fault is made of: directions, segments, cuts, the per-connection context.

A fault is one small class whose instance acts on one connection (each connection builds its own
instances, so state such as a byte count never leaks between connections). It overrides only the
hooks it needs; :class:`~pytest_wsharness.relay.tunnel.Tunnel` calls them, in the order the faults
were given, and turns what they return into writes. Nothing here does I/O or reads a clock: every
hook is given ``now`` (seconds on the relay loop's monotonic clock).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from ..profiles.params import Param
from .messages import Message

Direction = Literal["up", "down"]
UP: Direction = "up"  # client -> server
DOWN: Direction = "down"  # server -> client
BOTH: frozenset[Direction] = frozenset({UP, DOWN})
NONE: frozenset[Direction] = frozenset()

# Toxiproxy's stream names; "both" is ours.
STREAMS: dict[str, frozenset[Direction]] = {
    "upstream": frozenset({UP}),
    "downstream": frozenset({DOWN}),
    "both": BOTH,
}
TOWARDS = {UP: "to server", DOWN: "to client"}

STREAM = Param(
    str,
    "downstream",
    choices=tuple(STREAMS),
    help="upstream (client to server), downstream (server to client) or both",
)
TOXICITY = Param(
    float, 1.0, low=0, high=1, help="probability that the fault applies to a connection"
)


@dataclass(slots=True)
class Segment:
    """Bytes to forward in one direction, not before ``at``.

    Attributes:
        data: the bytes.
        at: the earliest time to write them; writes keep their order, so a late segment also
            holds back every segment after it, as one TCP stream does.
        frames: how many whole WebSocket frames end in these bytes (for the record).
        message: the message these bytes are, when the direction is read as whole frames.
    """

    data: bytes
    at: float
    frames: int = 0
    message: Message | None = None


CutHow = Literal["fin", "rst", "close", "hang"]


@dataclass(frozen=True)
class Cut:
    """A fault's request to end the connection.

    Attributes:
        how: ``fin`` (FIN to both ends, no Close frame), ``rst`` (reset both ends), ``close``
            (a Close frame to each end, then FIN) or ``hang`` (forward nothing more, send
            nothing: no FIN, no RST).
        why: the event to record, in plain words.
        code: the Close frame's code, for ``close``.
        reason: the Close frame's reason, for ``close``.
        flush: deliver what is already on its way first (``False`` discards it).
    """

    how: CutHow
    why: str
    code: int = 1001
    reason: str = ""
    flush: bool = True


class Context:
    """What a fault knows of its connection.

    Args:
        start: when the connection was accepted.
        rng: the connection's random generator (``Random(f"{seed}:{index}")``), for every draw.
        time_scale: multiplies every duration of every fault.
        log: records an event at a time.
    """

    def __init__(
        self,
        start: float,
        rng: random.Random,
        time_scale: float,
        log: Callable[[float, str], None],
    ) -> None:
        self.start = start
        self.rng = rng
        self.time_scale = time_scale
        self._log = log
        self.upgraded_at: float | None = None
        self.messages_down = 0  # data messages forwarded to the client

    def seconds(self, ms: float) -> float:
        """A fault's duration in milliseconds as scaled seconds."""
        return ms / 1000 * self.time_scale

    def ms(self, ms: float) -> str:
        """A duration for an event text: ``600ms``, or ``60000ms x0.01`` when scaled."""
        text = f"{ms:g}ms"
        return text if self.time_scale == 1 else f"{text} x{self.time_scale:g}"

    def note(self, now: float, text: str) -> None:
        """Record an event ``text`` at ``now``."""
        self._log(now, text)


class Fault:
    """One fault acting on one connection; subclasses override the hooks they need.

    Attributes:
        directions: the directions it acts on (empty when toxicity left this connection alone).
        needs_frames: it must see whole messages in its directions (the relay then parses frames
            there; otherwise it only counts them).
        reads_text: it judges or drops data messages, which it cannot do to compressed ones: the
            relay removes the permessage-deflate offer from requests while it is active.
        refuses: new connections are reset at accept, never connected upstream.
    """

    use: ClassVar[str] = ""
    refuses: ClassVar[bool] = False  # resets new connections at accept
    directions: frozenset[Direction] = BOTH
    needs_frames = False
    reads_text = False
    ctx: Context
    since: float

    def bind(self, ctx: Context, now: float) -> None:
        """Attach to a connection at ``now`` (its start, or when the fault was added)."""
        self.ctx = ctx
        self.since = now

    @property
    def applies(self) -> bool:
        """Whether the fault acts on this connection at all."""
        return bool(self.directions)

    def on_upgrade(self, now: float) -> None:
        """The 101 passed (or had passed when the fault was added)."""

    def on_activity(self, now: float) -> None:
        """Bytes arrived from either end."""

    def on_message(self, direction: Direction, segment: Segment, now: float) -> list[Segment]:
        """Judge one whole message going in ``direction``; return what to forward instead."""
        return [segment]

    def on_bytes(self, direction: Direction, segments: list[Segment], now: float) -> list[Segment]:
        """Shape the bytes going in ``direction``; return what to forward instead."""
        return segments

    def on_eof(self, direction: Direction, now: float) -> float:
        """The source of ``direction`` closed; return how long to delay forwarding its FIN."""
        return 0.0

    def release(self, direction: Direction, now: float) -> list[Segment]:
        """The fault is being removed: return what it holds back in ``direction``."""
        return []

    def deadline(self) -> float | None:
        """When :meth:`poll` may next have something to do, if a time matters."""
        return None

    def poll(self, now: float) -> Cut | None:
        """Return a cut when the fault ends the connection now."""
        return None


class Toxic(Fault):
    """A TCP fault with Toxiproxy's ``stream`` and ``toxicity``.

    Args:
        stream: ``upstream``, ``downstream`` or ``both``.
        toxicity: the probability that the fault applies to a given connection, drawn once per
            connection from its seeded generator.
    """

    def __init__(self, stream: str = "downstream", toxicity: float = 1.0) -> None:
        self.stream = stream
        self.toxicity = toxicity
        self.directions = STREAMS[stream]

    def bind(self, ctx: Context, now: float) -> None:
        """Attach, and draw whether the fault applies to this connection."""
        super().bind(ctx, now)
        # Always draw, so that later draws do not depend on the toxicity values.
        applies = ctx.rng.random() < self.toxicity
        if self.toxicity < 1:
            verdict = "applies to" if applies else "spares"
            ctx.note(now, f"{self.use} {verdict} this connection (toxicity {self.toxicity:g})")
        if not applies:
            self.directions = NONE

    def towards(self) -> str:
        """Which way the fault acts, for event texts."""
        return " and ".join(TOWARDS[d] for d in (UP, DOWN) if d in self.directions)
