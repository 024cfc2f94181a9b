"""What a client's socket saw, one event each: the record every client keeps (the Python
driver, the page in Chromium) and the assertions, the timeline and the reports read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SocketEvent:
    """What the client's socket saw, including what a browser would hide from the page.

    Attributes:
        t: seconds since the client was created.
        kind: ``"handshake-failed"``, ``"open"`` or ``"close"``.
        status: the HTTP status of a failed handshake, when there was one.
        detail: the error, for a failed handshake.
        code: the close code the page sees (1006 for a failed handshake or a cut connection).
        clean: whether the close handshake completed (``wasClean``).
        issuer: for a ``wss://`` socket that opened, the common name of its certificate's
            issuer: a browser's padlock shows it, and it gives a TLS-intercepting proxy away.
    """

    t: float
    kind: str
    status: int | None = None
    detail: str = ""
    code: int | None = None
    clean: bool = False
    issuer: str = ""

    def __str__(self) -> str:
        if self.kind == "handshake-failed":
            # Only what was recorded: a missing status or code is not a claim to print.
            got = f"HTTP {self.status}" if self.status is not None else self.detail
            text = f"handshake failed ({got})" if got else "handshake failed"
            return text + (f", closed {self.code}" if self.code is not None else "")
        if self.kind == "close" and self.code is None:
            return "closed" + (f" ({self.detail})" if self.detail else "")
        if self.kind == "close":
            return f"closed {self.code}" + (
                " cleanly" if self.clean else " without a close handshake"
            )
        if self.kind == "open" and self.issuer:
            return f"open (certificate issued by {self.issuer})"
        return self.kind
