"""What every proxy in front of the server under test offers, whatever runs it.

Fixtures, assertions and the matrix use only this interface. Today one engine implements it:
:class:`~pytest_wsharness.proxy.mitm.MitmProxy`, where mitmproxy holds the HTTP edge (the
handshake: header changes, refusals, resets) and also relays the bytes after the 101. That
connection path is the part to replace with a faster relay (and the place for faults mitmproxy
cannot make: cutting, resetting or silencing a live WebSocket) without touching profiles or
fixtures: profiles name behaviours, never the engine.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..profiles import Profile
from .records import ProxyRecord


@runtime_checkable
class Proxy(Protocol):
    """A running proxy: where to connect, and what it did."""

    profile: Profile

    @property
    def url(self) -> str:
        """The proxy's base URL, ``http://127.0.0.1:PORT``."""
        ...

    @property
    def records(self) -> list[ProxyRecord]:
        """What the proxy did so far, one record per request."""
        ...

    def start(self, timeout: float = ...) -> None:
        """Start and wait until it listens."""
        ...

    def stop(self, timeout: float = ...) -> None:
        """Stop listening, close every connection, release every thread; idempotent."""
        ...

    def check(self) -> None:
        """Re-raise in the caller's thread an error the proxy had."""
        ...


def start_proxy(profile: Profile, upstream: str) -> Proxy:
    """Start a proxy running ``profile`` in front of ``upstream`` and return it, listening.

    mitmproxy is imported here, on first use, not when the plugin loads.
    """
    from .mitm import MitmProxy

    proxy = MitmProxy(profile, upstream)
    proxy.start()
    return proxy
