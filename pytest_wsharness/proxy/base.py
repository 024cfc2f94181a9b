"""What every proxy in front of the server under test offers, whatever runs it.

Fixtures, assertions and the matrix use only this interface. The engine behind it is
:class:`~pytest_wsharness.proxy.chain.ProfileProxy`: mitmproxy holds the HTTP edge (the
handshake: header changes, refusals, redirects) and our relay holds the connection path (the
bytes after the 101, and the faults mitmproxy cannot make: cutting, resetting or silencing a live
WebSocket). Profiles name behaviours and faults, never the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..profiles import Profile
from .records import ProxyRecord

if TYPE_CHECKING:
    from ..runtime.tls import TestCA


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
        """What the HTTP edge did so far, one record per request."""
        ...

    @property
    def connections(self) -> list[Any]:
        """What the connection path did so far, one record per client connection."""
        ...

    @property
    def presented_ca(self) -> TestCA | None:
        """The CA whose certificates the proxy presents when it opens TLS, if it does."""
        ...

    @property
    def client_trust(self) -> tuple[str, ...]:
        """CA certificates (PEM) a client must trust besides the server's, e.g. the CA a
        TLS-intercepting proxy presents."""
        ...

    def route(self, server_url: str) -> tuple[str, str | None]:
        """Return ``(page URL, forward proxy URL)`` for a client of ``server_url``."""
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


def start_proxy(
    profile: Profile,
    upstream: str,
    *,
    time_scale: float = 1.0,
    seed: int = 0,
    ca: TestCA | None = None,
    upstream_ca: str | Path | None = None,
) -> Proxy:
    """Start a proxy running ``profile`` in front of ``upstream`` and return it, listening.

    mitmproxy is imported here, on first use, and only for profiles that need it.

    Args:
        profile: what the proxy does.
        upstream: the server, ``http(s)://host[:port]``.
        time_scale: multiplies every duration of the profile. It defaults to 1.
        seed: makes the faults' random draws reproducible. It defaults to 0.
        ca: the test CA an ``https`` upstream's certificate comes from (a simulated CMS):
            the proxy trusts it and signs with it where it opens the clients' TLS.
        upstream_ca: without ``ca``, a PEM file of the CAs to trust for an ``https``
            upstream besides the system's (a real deployment whose certificate its own CA
            issued); the proxy then presents a CA made up for it (``client_trust``).
            ``None``, the default, trusts the system's CAs only.
    """
    from .chain import ProfileProxy

    proxy = ProfileProxy(
        profile, upstream, time_scale=time_scale, seed=seed, ca=ca, upstream_ca=upstream_ca
    )
    proxy.start()
    return proxy
