"""What the relay does with a connection before its tunnel: open the client's TLS where it
terminates TLS, read the first request head (to tell the socket from the page), and find the
upstream's address."""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass

from ..runtime.urls import parse_url
from .records import ConnectionRecord

# How long a client has to send its request head before the relay judges it as it stands.
HEAD_TIMEOUT = 10.0


@dataclass(frozen=True)
class TlsTermination:
    """The relay opens the clients' TLS, as a load balancer holding a certificate does.

    The relay then sees the handshake and the frames, so faults scoped to the WebSocket work
    on ``wss://`` as on ``ws://``.

    Attributes:
        server: presents the certificate to clients.
        upstream: speaks TLS again to the upstream; ``None`` speaks plain HTTP to it (the
            next hop, mitmproxy, then speaks TLS to the server).
        note: what a failure message says the relay did, e.g. ``opened TLS with its own CA``;
            empty when that is unremarkable (the site's own CA).
    """

    server: ssl.SSLContext
    upstream: ssl.SSLContext | None = None
    note: str = ""


TLS_HANDSHAKE = 0x16  # the first byte of a TLS record carrying a ClientHello


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """Read a request head; on a timeout, an early close or an oversize head, what came.

    A TLS client sends no head the relay could read: its first byte is returned alone. Bytes
    not returned stay in ``reader`` for the relay to pass on.
    """
    try:
        first = await asyncio.wait_for(reader.readexactly(1), HEAD_TIMEOUT)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return b""
    if first[0] == TLS_HANDSHAKE:
        # Pass the ClientHello on in one piece, as it came: a lone first byte makes the next
        # hop (mitmproxy) judge the connection on a fragment.
        try:
            return first + await asyncio.wait_for(reader.read(65536), HEAD_TIMEOUT)
        except (TimeoutError, ConnectionError):
            return first
    try:
        return first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
    except asyncio.IncompleteReadError as error:
        return first + error.partial
    except asyncio.LimitOverrunError as error:
        return first + await reader.read(error.consumed)
    except (TimeoutError, ConnectionError):
        return first


def note(record: ConnectionRecord, start: float, now: float, text: str) -> None:
    record.events.append(f"+{now - start:.3f}s {text}")


SCHEMES = ("http", "https", "ws", "wss")
UPSTREAM_FORM = "http://HOST[:PORT] or https://HOST[:PORT]"
TLS_HANDSHAKE_TIMEOUT = 10.0


async def accept_tls(
    conn: socket.socket, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over an accepted socket, after the server side of a TLS handshake."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_accepted_socket(
        lambda: protocol, conn, ssl=context, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT
    )
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


def peer_of(conn: socket.socket) -> str:
    try:
        host, port = conn.getpeername()[:2]
    except OSError:
        return "?:0"  # the client left already
    return f"{host}:{port}"


def tls_reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error)
    return type(error).__name__


def address(upstream: str) -> tuple[str, int]:
    """``(host, port)`` of an ``http(s)://`` or ``ws(s)://`` URL, the port the scheme's when it
    names none.

    The scheme does not decide TLS: the relay passes it through whole unless its ``tls``
    setting has it open the clients' TLS.
    """
    url = parse_url(upstream, "upstream", schemes=SCHEMES, form=UPSTREAM_FORM, path=True)
    return url.host, url.port
