"""PassTlsThrough: a transparent proxy that inspects plain HTTP but never touches TLS.

Models the ISP or corporate transparent proxy on port 80 that rewrites HTTP and lets port 443
through: every TLS connection is relayed byte for byte (no interception, the backend's own
certificate reaches the client), so ``wss://`` works, while plain requests still go through the
HTTP layer and the other behaviours of the profile. Combined with ``StripUpgradeHeaders``,
``ws://`` breaks and ``wss://`` passes.
"""

from __future__ import annotations

from mitmproxy import tls


class PassTlsThrough:
    """Relay every TLS connection unmodified instead of intercepting it."""

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        # mitmproxy 11: ignore_connection swaps the TLS layers for a raw TCP relay to the server.
        data.ignore_connection = True


addons = [PassTlsThrough()]
