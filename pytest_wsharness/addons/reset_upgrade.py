"""ResetUpgrade: a firewall that drops WebSocket upgrades by resetting the TCP connection.

The client sees its connection reset (RST) before any answer; the backend sees nothing.
"""

from __future__ import annotations

from mitmproxy import http

from pytest_wsharness.protocol.handshake import asks_to_upgrade
from pytest_wsharness.proxy.mitm import reset_client
from pytest_wsharness.proxy.records import RESET


class ResetUpgrade:
    """Reset the client connection of every upgrade request."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if asks_to_upgrade(flow.request.headers.get):
            flow.metadata[RESET] = True
            reset_client(flow)


addons = [ResetUpgrade()]
