"""What the relay saw of each client connection, for assertions and failure messages."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field


@dataclass
class ConnectionRecord:
    """One client connection through the relay.

    Attributes:
        index: the connection's number, from 0, in the order the relay accepted them.
        client: the client's address, ``ip:port``.
        asked_to_upgrade: the first request asked for a WebSocket; ``None`` when the relay
            did not look (it applies its faults to every connection), has not yet seen the
            request, or cannot read it (``encrypted``).
        encrypted: the client spoke TLS first and the relay passed it through unread.
        upgraded: a 101 passed on to the client.
        status: the response status the server sent, or ``None`` (no response came).
        bytes_up: bytes written to the server.
        bytes_down: bytes written to the client.
        frames_up: whole frames written to the server.
        frames_down: whole frames written to the client.
        tls: what the relay did about TLS when it opened the client's, worth saying (``opened
            TLS with its own CA``); empty otherwise.
        events: what the faults did, in plain words, each with its time since the connection
            started (``+0.600s idle timeout 600ms: cut without a Close frame``).
        ended: how it ended (``client closed``, ``server closed``, ``client reset``,
            ``server reset``, ``cut (FIN)``, ``reset (RST)``, ``closed with code 1001``,
            ``hung (silent drop)``, ``refused (down)``, ``upstream unreachable: ...``,
            ``relay stopped``), or ``None`` while it is open.
        started: when the relay accepted it, ``time.monotonic()`` (the clock of the relay's
            loop, and of every other record, so that a timeline can order them); the times of
            ``events`` count from it.
        answered_at: when the server's response status passed, on the same clock.
        ended_at: when ``ended`` was last set (see :meth:`end`), on the same clock.
    """

    index: int
    client: str
    asked_to_upgrade: bool | None = None
    encrypted: bool = False
    upgraded: bool = False
    status: int | None = None
    bytes_up: int = 0
    bytes_down: int = 0
    frames_up: int = 0
    frames_down: int = 0
    events: list[str] = field(default_factory=list)
    ended: str | None = None
    tls: str = ""
    # Times are not part of what a record says: two records of the same thing are equal.
    started: float = field(default_factory=time.monotonic, compare=False)
    answered_at: float | None = field(default=None, compare=False)
    ended_at: float | None = field(default=None, compare=False)

    def copy(self) -> ConnectionRecord:
        """A snapshot that later changes do not touch."""
        return dataclasses.replace(self, events=list(self.events))

    def end(self, how: str, now: float | None = None) -> None:
        """Say how the connection ended (see ``ended``), at ``now``; ``None`` reads the clock."""
        self.ended = how
        self.ended_at = time.monotonic() if now is None else now

    def describe(self) -> str:
        """One line for a failure message: status, traffic, how it ended, and the events."""
        status = "no response" if self.status is None else f"HTTP {self.status}"
        if self.upgraded:
            status += " (upgraded)"
        traffic = (
            f"{self.bytes_up} B/{self.frames_up} frames up, "
            f"{self.bytes_down} B/{self.frames_down} frames down"
        )
        text = (
            f"relay connection #{self.index} from {self.client}: {status}, {traffic}, "
            f"{self.ended or 'still open'}"
        )
        return f"{text}; {'; '.join(self.events)}" if self.events else text
