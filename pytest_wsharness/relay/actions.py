"""What a tunnel asks the I/O layer to do (:mod:`~pytest_wsharness.relay.link` carries it out):
write bytes to one end, forward one end's close, or end the whole connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .fault_base import Direction


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` to the end ``direction`` goes to, not before ``at``, after earlier writes."""

    direction: Direction
    data: bytes
    at: float
    frames: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    """Forward the close of ``direction`` (FIN to the end it goes to), after earlier writes."""

    direction: Direction
    at: float


@dataclass(frozen=True, slots=True)
class End:
    """End the whole connection.

    Attributes:
        how: ``fin`` (FIN to both ends, then close once they close), ``rst`` (reset both ends) or
            ``hang`` (discard what is queued, forward and send nothing more).
        flush: write what is already queued first.
    """

    how: Literal["fin", "rst", "hang"]
    flush: bool = True


Action = Send | Finish | End
