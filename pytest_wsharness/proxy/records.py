"""What a proxy did to each request and connection, in terms a failure message can quote.

Behaviour addons write their decisions into the flow's metadata under the keys below; the
recorder turns a finished flow into one :class:`ProxyRecord`. Nothing here imports mitmproxy.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

# Keys of ``flow.metadata`` shared by the behaviour addons and the recorder.
REMOVED_HEADERS = "wsharness.removed_headers"
ANSWERED_BY_PROXY = "wsharness.answered_by_proxy"
RESET = "wsharness.reset"
# Request header names whose value the proxy replaced before forwarding, e.g. ("Connection",).
REWRITTEN_HEADERS = "wsharness.rewritten_headers"
# Response header names the proxy replaced, or removed, before passing the answer on.
RESPONSE_REWRITTEN_HEADERS = "wsharness.response_rewritten_headers"
RESPONSE_REMOVED_HEADERS = "wsharness.response_removed_headers"
# Seconds (a float) the proxy held the request before forwarding it.
DELAYED = "wsharness.delayed"
# The ``host:port`` a client asked the proxy to reach, refused: only ALLOWED_TARGETS (a tuple
# of ``host:port``) may be reached, so that a proxy left running is no open relay.
REFUSED_TARGET = "wsharness.refused_target"
ALLOWED_TARGETS = "wsharness.allowed_targets"
# True: the proxy opened the client's TLS with a certificate of its own CA.
TLS_INTERCEPTED = "wsharness.tls_intercepted"


@dataclass
class ProxyRecord:
    """One request through the proxy and, when it upgraded, the WebSocket that followed.

    Attributes:
        profile: the profile the proxy ran.
        request: the request line as the client sent it.
        asked_to_upgrade: the client asked for a WebSocket.
        headers_removed: header names the proxy removed before forwarding.
        forwarded: the request reached the upstream server.
        status: the status the client got, ``None`` when it got no answer.
        answered_by: ``"upstream"`` or ``"proxy"`` (the proxy made the answer itself).
        reset: the proxy reset the client's TCP connection.
        upgraded: a WebSocket was established through the proxy.
        close_code: the WebSocket close code, once it closed.
        closed_by: ``"client"`` or ``"server"``, once it closed.
        error: the error mitmproxy reported for the flow, if any.
        changes: other changes the proxy made, in words (e.g. ``rewrote Connection``).
        seen_at: when the proxy saw the request, ``time.monotonic()`` (the process-wide clock
            the client, relay and server records use too, so that a timeline can order them).
        answered_at: when the answer, the error or the reset came, on the same clock.
        closed_at: when the WebSocket closed, on the same clock.
    """

    profile: str
    request: str
    asked_to_upgrade: bool
    headers_removed: tuple[str, ...] = ()
    forwarded: bool = False
    status: int | None = None
    answered_by: str | None = None
    reset: bool = False
    upgraded: bool = False
    close_code: int | None = None
    closed_by: str | None = None
    error: str | None = None
    changes: tuple[str, ...] = ()
    # Times are not part of what a record says: two records of the same thing are equal.
    seen_at: float = field(default_factory=time.monotonic, compare=False)
    answered_at: float | None = field(default=None, compare=False)
    closed_at: float | None = field(default=None, compare=False)

    @property
    def finished(self) -> bool:
        """Whether the request has had its answer, its error or its reset."""
        return self.status is not None or self.error is not None or self.reset

    def describe(self) -> str:
        """Say in one clause what the proxy did, e.g. ``removed Upgrade, Connection``."""
        parts = []
        if self.headers_removed:
            parts.append(f"removed {', '.join(self.headers_removed)}")
        parts.extend(self.changes)
        if self.reset:
            parts.append("reset the connection")
        elif self.answered_by == "proxy":
            parts.append(f"answered {self.status} itself")
        elif self.upgraded and not self.changes:
            parts.append("tunnelled the WebSocket")
        elif self.forwarded:
            parts.append("forwarded the request")
        if self.close_code is not None:
            parts.append(f"saw close {self.close_code} from the {self.closed_by}")
        if self.error and not self.reset:
            parts.append(f"error: {self.error}")
        return ", ".join(parts) or "did nothing visible"


@dataclass
class RecordSink:
    """A thread-safe list of records: the proxy thread appends, the test thread reads."""

    _records: list[ProxyRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: ProxyRecord) -> None:
        """Append a finished record."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[ProxyRecord]:
        """Return a copy of the records so far, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
