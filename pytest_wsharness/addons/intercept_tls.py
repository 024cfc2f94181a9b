"""InterceptTls: a TLS-inspecting middlebox that opens every TLS connection with its own CA.

Models the corporate TLS-inspection proxies (Zscaler, Blue Coat, Palo Alto decryption,
Fortinet deep inspection): each TLS connection is terminated at the box, which presents a
certificate for the site signed by the company's CA, and speaks TLS again to the server. Browsers
on the company's managed machines trust that CA, so pages load and, with a box that knows
WebSocket, ``wss://`` works; the certificate's issuer is the tell-tale. Under the harness the
proxy makes that CA up per run, the relay in front of mitmproxy opens TLS with it, and the
clients it should be trusted by get it (``Proxy.client_trust``).

Under ``mitmdump -s`` this addon only marks the flows: mitmproxy intercepts TLS with its own CA
already, which is this behaviour.
"""

from __future__ import annotations

from mitmproxy import http

from pytest_wsharness.proxy.records import TLS_INTERCEPTED


class InterceptTls:
    """Mark the flows whose client TLS mitmproxy opened with its own CA."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.client_conn.tls_established:
            flow.metadata[TLS_INTERCEPTED] = True


addons = [InterceptTls()]
