"""Why a handshake or a page load failed, in a phrase: the client's words for what its
libraries raised (websockets, aiohttp, ssl), as a failure message or a timeline shows them."""

from __future__ import annotations

import ssl as ssl_module

import aiohttp
from websockets.exceptions import InvalidProxyMessage, InvalidProxyStatus


def issuer(tls: ssl_module.SSLObject | None) -> str:
    """The common name (else the whole name) of the issuer of the peer's certificate; empty
    without TLS. Read from the certificate itself: the client verified it, but the diagnosis
    may not have (``getpeercert()`` is empty then)."""
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    if not der:
        return ""
    from cryptography import x509  # mitmproxy's dependency; only needed for wss://

    name = x509.load_der_x509_certificate(der).issuer
    common = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(common[0].value) if common else name.rfc4514_string()


def describe_error(error: BaseException, *, via_proxy: bool = False) -> str:
    """Say in a phrase why a WebSocket handshake failed; the page itself only sees 1006."""
    cause = error.__cause__ or error.__context__
    if isinstance(error, ssl_module.SSLError):
        return describe_tls_error(error)
    if isinstance(error, InvalidProxyStatus):
        return f"proxy refused CONNECT: HTTP {error.response.status_code}"
    if isinstance(error, InvalidProxyMessage):
        return "proxy sent no valid HTTP answer to CONNECT"
    if isinstance(error, ConnectionRefusedError):
        # Through a proxy, the refusal is the proxy's: its refusal to reach the server is a 50x.
        return "proxy connection refused" if via_proxy else "connection refused"
    if isinstance(error, ConnectionResetError) or isinstance(cause, ConnectionResetError):
        return "connection reset"
    if isinstance(error, TimeoutError):
        return "no answer before the open timeout"
    if isinstance(cause, EOFError) or isinstance(error, EOFError):
        return "connection closed before an HTTP answer"
    return f"{type(error).__name__}: {error}"


def describe_tls_error(error: ssl_module.SSLError) -> str:
    if isinstance(error, ssl_module.SSLCertVerificationError):
        return f"TLS certificate verify failed: {error.verify_message}"
    return f"TLS handshake failed: {error.reason or error}"


def describe_load_error(error: aiohttp.ClientError) -> str:
    """Say in a phrase why a REST call of the page load failed."""
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        cause = error.certificate_error
        if isinstance(cause, ssl_module.SSLError):
            return describe_tls_error(cause)
        return f"TLS certificate verify failed: {cause}"
    if isinstance(error, aiohttp.ClientConnectorSSLError):
        return f"TLS handshake failed: {error.os_error}"
    if isinstance(error, aiohttp.ClientHttpProxyError):
        return f"proxy refused CONNECT: HTTP {error.status}"
    if isinstance(error, aiohttp.ClientProxyConnectionError):
        return f"proxy connection failed: {error.os_error}"
    if isinstance(error, aiohttp.ContentTypeError):
        return f"the answer is not JSON: {error.message}"
    if isinstance(error, aiohttp.ClientResponseError):
        # Through a proxy, a plain http:// GET's status may be the proxy's or the server's.
        return f"HTTP {error.status}"
    if isinstance(error, aiohttp.ClientConnectorError):
        if isinstance(error.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"connection failed: {error.os_error}"
    return f"{type(error).__name__}: {error}"
