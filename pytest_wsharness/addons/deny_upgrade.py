"""DenyUpgrade: a firewall or WAF rule that refuses WebSocket upgrades with its own answer.

The request never reaches the backend. Option ``wsharness_deny_status`` (default 403) sets the
status when run as ``mitmdump -s``.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import exceptions, http

from pytest_wsharness.protocol.handshake import asks_to_upgrade
from pytest_wsharness.proxy.records import ANSWERED_BY_PROXY

BODY = b"Request blocked by firewall policy: WebSocket upgrade not allowed.\n"


class DenyUpgrade:
    """Answer every upgrade request with ``status`` from the proxy itself.

    Args:
        status: the status to answer with, 400-599. It defaults to 403.
    """

    def __init__(self, status: int = 403) -> None:
        self.status = _check_status(status)
        self._options: Any = None

    def load(self, loader: Any) -> None:
        # This master's options, not the global ctx: several masters run in one process.
        self._options = loader.master.options
        loader.add_option("wsharness_deny_status", int, self.status, "Status for denied upgrades.")

    def configure(self, updated: set[str]) -> None:
        if "wsharness_deny_status" in updated and self._options is not None:
            try:
                self.status = _check_status(self._options.wsharness_deny_status)
            except ValueError as error:
                raise exceptions.OptionsError(str(error)) from None

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if asks_to_upgrade(flow.request.headers.get):
            flow.response = http.Response.make(
                self.status, BODY, {"Content-Type": "text/plain", "Connection": "close"}
            )
            flow.metadata[ANSWERED_BY_PROXY] = True


def _check_status(status: int) -> int:
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"deny status must be an HTTP error status 400-599, got {status!r}")
    return status


addons = [DenyUpgrade()]
