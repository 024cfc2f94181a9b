"""RedirectUpgrade: a proxy that answers WebSocket upgrades with a redirect of its own.

Models an SSO gateway sending unauthenticated requests to a login page (302 to ``/login``) and a
proxy enforcing TLS (307 to the same URL over https). The backend never sees the request.
Browsers do not follow redirects of a WebSocket handshake: the socket fails (1006). The
websockets client does follow them, so a proxy redirecting every upgrade makes it loop until
its redirect limit. Options ``wsharness_redirect_status`` and ``wsharness_redirect_location``
set the parameters when run as ``mitmdump -s``.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import exceptions, http
from mitmproxy.proxy.mode_specs import ReverseMode

from pytest_wsharness.protocol.handshake import asks_to_upgrade
from pytest_wsharness.proxy.records import ANSWERED_BY_PROXY

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
SAME_URL_OVER_HTTPS = "https"


class RedirectUpgrade:
    """Answer every upgrade request with a redirect from the proxy itself.

    Args:
        status: one of 301, 302, 303, 307, 308. It defaults to 302.
        location: a path or an absolute URL for ``Location``; ``"https"`` means the request's
            own URL with the scheme https. It defaults to ``"/login"``.

    Raises:
        ValueError: ``status`` is not a redirect status, or ``location`` is empty or holds
            control characters.
    """

    def __init__(self, status: int = 302, location: str = "/login") -> None:
        self.status = _check_status(status)
        self.location = _check_location(location)
        self._options: Any = None

    def load(self, loader: Any) -> None:
        # This master's options, not the global ctx: several masters run in one process.
        self._options = loader.master.options
        loader.add_option("wsharness_redirect_status", int, self.status, "Redirect status.")
        text = "Redirect target: a path, a URL, or 'https' for the same URL over https."
        loader.add_option("wsharness_redirect_location", str, self.location, text)

    def configure(self, updated: set[str]) -> None:
        if self._options is None:
            return
        try:
            if "wsharness_redirect_status" in updated:
                self.status = _check_status(self._options.wsharness_redirect_status)
            if "wsharness_redirect_location" in updated:
                self.location = _check_location(self._options.wsharness_redirect_location)
        except ValueError as error:
            raise exceptions.OptionsError(str(error)) from None

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not asks_to_upgrade(flow.request.headers.get):
            return
        location = self._https_url(flow) if self.location == SAME_URL_OVER_HTTPS else self.location
        headers = {"Location": location, "Content-Type": "text/plain"}
        flow.response = http.Response.make(self.status, f"Redirecting to {location}\n", headers)
        flow.metadata[ANSWERED_BY_PROXY] = True

    def _https_url(self, flow: http.HTTPFlow) -> str:
        """The request's URL as the client addressed it, with the scheme https."""
        request = flow.request
        authority = request.host_header or f"{request.host}:{request.port}"
        # keep_host_header belongs to the proxyserver addon, which a test master may lack.
        keep_host = getattr(self._options, "keep_host_header", False)
        if isinstance(flow.client_conn.proxy_mode, ReverseMode) and not keep_host:
            # A reverse proxy has put the upstream's Host in place before any hook runs: the
            # client addressed the proxy's own address.
            host, port = flow.client_conn.sockname[:2]
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return f"https://{authority}{request.path}"


def _check_status(status: int) -> int:
    if type(status) is not int or status not in REDIRECT_STATUSES:
        valid = ", ".join(map(str, REDIRECT_STATUSES))
        raise ValueError(f"redirect status must be one of {valid}, got {status!r}")
    return status


def _check_location(location: str) -> str:
    if not isinstance(location, str) or not location.isprintable() or not location.strip():
        raise ValueError(f"redirect location must be a path or a URL, got {location!r}")
    return location


addons = [RedirectUpgrade()]
