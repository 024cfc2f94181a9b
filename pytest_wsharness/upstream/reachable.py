"""Is a real deployment there? One request straight at it, before any proxy goes in front.

Through a proxy, a server that refuses, does not resolve, answers something that is not HTTP
or never answers shows up as the page failing to load from the proxy's own port
(``GET http://127.0.0.1:35845/...: ServerDisconnectedError``), which blames the wrong hop.
Asked directly, it says what happened there (:class:`~pytest_wsharness.errors.UpstreamUnreachable`).

Blocking sockets: it runs once, before a run (``wsharness matrix --upstream``) or a test's
first use of the server (``--wsharness-upstream``), on no event loop.
"""

from __future__ import annotations

import errno
import socket
import ssl

from ..errors import UpstreamUnreachable
from ..runtime.urls import DEFAULT_PORTS, Url

ANSWER_TIMEOUT = 10.0
# Enough of an answer to see its status line start.
_PEEK = 64
# getaddrinfo's answers that mean the name does not exist, rather than a resolver failing.
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def check_reachable(
    url: Url, option: str, *, path: str = "/", timeout: float | None = None
) -> None:
    """Send ``GET path`` to ``url`` directly and read the start of the answer.

    Any HTTP status will do (a login page's 302 or 401 too): only a server that does not
    answer HTTP at all is refused. An ``https`` server's certificate is not verified here; the
    proxies and the client verify it and say so when they refuse it.

    Args:
        url: the server.
        option: how the user gave it, for the message, e.g. ``"--upstream"``.
        path: what to ask for (the first thing the edit UI reads).
        timeout: seconds each step (connect, TLS handshake, answer) may take. It defaults to
            :data:`ANSWER_TIMEOUT`.

    Raises:
        UpstreamUnreachable: no such host, refused, a failed TLS handshake, a closed or reset
            connection, an answer that is not HTTP, or none within ``timeout``.
    """
    what = _ask(url, path, ANSWER_TIMEOUT if timeout is None else timeout)
    if what is not None:
        raise UpstreamUnreachable(option, url.text, what)


def _ask(url: Url, path: str, timeout: float) -> str | None:
    """What went wrong asking ``url`` for ``path``; ``None`` when an HTTP answer began."""
    asked = f"GET {path}"
    try:
        socket.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        if error.errno in _NO_SUCH_NAME:
            return f"no such host {url.host!r} (the name does not resolve)"
        return f"the name {url.host!r} could not be resolved: {error.strerror}"
    try:
        sock = socket.create_connection((url.host, url.port), timeout=timeout)
    except ConnectionRefusedError:
        return f"connection refused: nothing listens on {url.host} port {url.port}"
    except TimeoutError:
        return f"no answer within {timeout:g}s to the TCP connect"
    except OSError as error:
        return f"could not connect: {_os_error(error)}"
    try:
        if url.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            try:
                sock = context.wrap_socket(sock, server_hostname=url.host)
            except TimeoutError:
                return f"no answer within {timeout:g}s to the TLS handshake"
            except ssl.SSLError as error:
                why = str(error.reason or error).lower().replace("_", " ")
                return f"the TLS handshake failed ({why}): does it speak https on port {url.port}?"
            except OSError as error:
                return f"the TLS handshake failed: {_os_error(error)}"
        # The Host header a browser sends: the port only when it is not the scheme's.
        host = url.authority.removesuffix(f":{DEFAULT_PORTS[url.scheme]}")
        request = (
            f"{asked} HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: wsharness\r\nConnection: close\r\n\r\n"
        )
        try:
            sock.sendall(request.encode("ascii"))
            start = _read_start(sock)
        except TimeoutError:
            return f"no answer within {timeout:g}s to {asked}"
        except ConnectionResetError:
            return f"the connection was reset (RST) in answer to {asked}"
        except OSError as error:
            return f"the connection failed in answer to {asked}: {_os_error(error)}"
    finally:
        sock.close()  # the TLS one, once wrapped: it closes the socket under it
    if not start:
        return f"the connection was closed without an answer to {asked}"
    if not start.startswith(b"HTTP/"):
        first = start.split(b"\n", 1)[0].decode("latin-1").rstrip("\r")
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in first)
        return f"not HTTP: it answered {shown!r} to {asked}"
    return None


def _read_start(sock: socket.socket) -> bytes:
    """Up to :data:`_PEEK` bytes, or fewer if the server closes; ``b""`` if it sent none."""
    data = b""
    while len(data) < _PEEK:  # bounded: every read adds a byte or ends the loop
        chunk = sock.recv(_PEEK - len(data))
        if not chunk:
            break
        data += chunk
        if b"\n" in data:
            break
    return data


def _os_error(error: OSError) -> str:
    if error.errno is not None:
        return (error.strerror or errno.errorcode.get(error.errno, str(error))).lower()
    return str(error)
