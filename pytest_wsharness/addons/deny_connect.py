"""RestrictConnect: an explicit forward proxy that tunnels CONNECT only to some ports.

Models Squid's default ``http_access deny CONNECT !SSL_ports`` (``SSL_ports`` is 443): a browser
tunnels ``ws://`` and ``wss://`` through the proxy with ``CONNECT host:port``, so ``wss://`` on
443 works and anything else gets the proxy's own 403 ``ERR_ACCESS_DENIED`` page; the backend
sees nothing. websockets raises ``InvalidProxyStatus``. Plain proxied requests (``GET
http://...``) are left alone. Needs mitmproxy's regular (forward proxy) mode. Option
``wsharness_connect_ports`` sets the allowed ports when run as ``mitmdump -s``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mitmproxy import exceptions, http

from pytest_wsharness.proxy.records import ANSWERED_BY_PROXY

SSL_PORTS = (443,)
BODY = (
    "<!DOCTYPE html><title>ERROR: The requested URL could not be retrieved</title>\n"
    "<h2>The requested URL could not be retrieved</h2>\n"
    "<p>Access control configuration prevents your request from being allowed at this time.</p>\n"
    "<!-- ERR_ACCESS_DENIED -->\n"
)
HEADERS = {
    "Server": "squid",
    "Mime-Version": "1.0",
    "Content-Type": "text/html;charset=utf-8",
    "X-Squid-Error": "ERR_ACCESS_DENIED 0",
}


class RestrictConnect:
    """Refuse with 403 every CONNECT to a port not in ``allowed_ports``.

    Args:
        allowed_ports: the ports CONNECT may reach. It defaults to ``[443]``.

    Raises:
        ValueError: a port is not an integer 1-65535.
    """

    def __init__(self, allowed_ports: Iterable[int] = SSL_PORTS) -> None:
        self.allowed_ports = _check_ports(allowed_ports)
        self._options: Any = None

    def load(self, loader: Any) -> None:
        # This master's options, not the global ctx: several masters run in one process.
        self._options = loader.master.options
        loader.add_option(
            "wsharness_connect_ports",
            Sequence[str],
            [str(port) for port in self.allowed_ports],
            "Ports CONNECT may reach; repeat the option for several.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wsharness_connect_ports" in updated and self._options is not None:
            ports = self._options.wsharness_connect_ports
            try:
                self.allowed_ports = _check_ports(int(p) if p.isdigit() else p for p in ports)
            except ValueError as error:
                raise exceptions.OptionsError(str(error)) from None

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if flow.request.port not in self.allowed_ports:
            flow.response = http.Response.make(403, BODY, HEADERS)
            flow.metadata[ANSWERED_BY_PROXY] = True


def _check_ports(ports: Iterable[Any]) -> tuple[int, ...]:
    if isinstance(ports, str | bytes):
        raise ValueError(f"allowed ports must be a list of port numbers, got {ports!r}")
    checked = tuple(ports)
    for port in checked:
        if type(port) is not int or not 1 <= port <= 65535:
            raise ValueError(f"allowed ports must be integers 1-65535, got {port!r}")
    return checked


addons = [RestrictConnect()]
