"""RewriteConnectionClose: a hop that keeps ``Upgrade`` but rewrites ``Connection`` to ``close``.

Some HTTP/1.0-minded load balancers close every upstream connection and say so by overwriting the
request's ``Connection`` header, forwarding ``Upgrade: websocket`` untouched. The backend then
sees ``Upgrade`` without ``Connection: upgrade``, which is not an upgrade request (RFC 6455 4.1,
ASP.NET Core's ``IsWebSocketRequest``): it answers like a plain GET (a page, 200), which the
client gets unchanged and fails the handshake on.
"""

from __future__ import annotations

from mitmproxy import http

from pytest_wsharness.proxy.records import REWRITTEN_HEADERS


class RewriteConnectionClose:
    """Set ``Connection: close`` on every request, leaving every other header as it came."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        headers = flow.request.headers
        if headers.get("Connection", "").strip().lower() != "close":
            headers["Connection"] = "close"
            flow.metadata[REWRITTEN_HEADERS] = ("Connection",)


addons = [RewriteConnectionClose()]
