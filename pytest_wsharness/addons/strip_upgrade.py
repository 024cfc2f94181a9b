"""StripUpgradeHeaders: a hop that does not know WebSocket (RFC 9110 7.6.1).

It removes ``Connection``, ``Upgrade`` and every header that ``Connection`` names before
forwarding, as an HTTP/1.0-style proxy (or nginx without the upgrade lines) does. The backend then
sees a plain GET, and its own answer goes back to the client.
"""

from __future__ import annotations

from mitmproxy import http

from pytest_wsharness.protocol.handshake import HOP_BY_HOP, connection_tokens
from pytest_wsharness.proxy.records import REMOVED_HEADERS


class StripUpgradeHeaders:
    """Remove the hop-by-hop upgrade headers from every request."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        headers = flow.request.headers
        named = connection_tokens(headers.get("Connection"))
        removed = []
        for name in [*HOP_BY_HOP, *named]:
            if name in headers:
                removed.append(_canonical(name))
                del headers[name]
        if removed:
            flow.metadata[REMOVED_HEADERS] = tuple(dict.fromkeys(removed))


def _canonical(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


addons = [StripUpgradeHeaders()]
