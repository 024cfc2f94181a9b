"""One look at a realtime endpoint over a raw socket, recording what each step saw.

The probe speaks HTTP and WebSocket itself instead of using a client library, because a library
hides exactly what a diagnosis needs: whether the connection ended with a FIN or a reset, every
header of a refused upgrade, a 101 whose accept is wrong, how long an answer took. It judges
nothing: :mod:`.findings` does, from the :class:`Probe` it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import replace

from websockets.utils import accept_key, generate_key

from ..client.phrases import issuer
from ..protocol import HEARTBEAT
from ..protocol.handshake import asks_to_upgrade
from ..relay.frames import Frame, Head, Opcode, StreamReader, close_frame, encode_frame
from ..runtime import lag
from ..runtime.redact import redact_headers
from .records import DEFAULT_LIMITS, Header, Limits, Probe, Target

MAX_HEAD = 64 * 1024


class _Ended(Exception):
    """The peer ended the connection: ``how`` is ``closed``, ``reset`` or ``close NNNN``."""

    def __init__(self, how: str) -> None:
        self.how = how
        super().__init__(how)


async def probe(
    target: Target,
    *,
    proxy: Target | None = None,
    limits: Limits = DEFAULT_LIMITS,
    cafile: str | None = None,
    headers: Sequence[Header] = (),
    trust: ssl.SSLContext | None = None,
) -> Probe:
    """Open ``target``'s realtime endpoint once and watch it as the CMS client would.

    Args:
        target: the endpoint.
        proxy: an explicit forward proxy to tunnel through with ``CONNECT``; ``None`` for none.
        limits: how long each step may take.
        cafile: a PEM file of extra CAs to trust for ``wss://``; the system's are trusted too.
        headers: extra request headers (a session cookie the endpoint needs); their values
            are never recorded when secret.
        trust: the TLS context to verify ``wss://`` with instead of the system's CAs and
            ``cafile`` (the one a test's client uses).

    Returns:
        What was seen; it never raises for what the network did.
    """
    started = time.monotonic()
    seen = Probe(target.url, proxy=proxy.authority if proxy else "")
    trusted = (trust or _tls_context(cafile, verify=True)) if target.tls else None
    try:
        result = await _attempt(target, proxy, limits, trusted, headers, seen, started)
    except ssl.SSLCertVerificationError as error:
        # Look again without verifying: what is behind an untrusted certificate (an
        # intercepting proxy's CA) is the diagnosis.
        seen = replace(seen, tls_untrusted=str(error.verify_message or error.reason))
        unverified = _tls_context(cafile, verify=False)
        result = await _attempt(target, proxy, limits, unverified, headers, seen, started)
    if result.connect_status not in (None, 200) and proxy is not None:
        port_443 = replace(target, port=443)
        allowed = await _attempt(port_443, proxy, limits, None, (), seen, time.monotonic(), 443)
        result = replace(result, connect_443_status=allowed.connect_status)
    return replace(result, lag=lag.METER.worst(started).seconds)


async def _attempt(
    target: Target,
    proxy: Target | None,
    limits: Limits,
    tls: ssl.SSLContext | None,
    headers: Sequence[Header],
    seen: Probe,
    started: float,
    connect_only: int | None = None,
) -> Probe:
    def failed(step: str, error: str) -> Probe:
        return replace(seen, error=error, error_step=step, waited=time.monotonic() - started)

    hop = proxy or target
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(hop.host, hop.port, limit=MAX_HEAD), limits.answer
        )
    except (OSError, TimeoutError) as error:
        return failed("connect", _error(error))
    try:
        if proxy is not None:
            writer.write(
                f"CONNECT {target.authority} HTTP/1.1\r\nHost: {target.authority}\r\n\r\n".encode()
            )
            try:
                head = await _head(reader, limits.answer)
            except (_Ended, OSError, TimeoutError) as error:
                return failed("proxy", _error(error))
            status = Head(head).status
            if status is None:
                return failed("proxy", _not_http(head))
            seen = replace(seen, connect_status=status)
            if status != 200 or connect_only:
                return replace(seen, waited=time.monotonic() - started)
        if tls is not None:
            try:
                await asyncio.wait_for(
                    writer.start_tls(tls, server_hostname=target.host), limits.answer
                )
            except ssl.SSLCertVerificationError:
                raise
            except (OSError, TimeoutError) as error:
                return failed("tls", _error(error))
            seen = replace(seen, tls_issuer=issuer(writer.get_extra_info("ssl_object")))
        return await _upgrade(reader, writer, target, limits, headers, seen, started)
    finally:
        writer.transport.abort()


async def _upgrade(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    target: Target,
    limits: Limits,
    headers: Sequence[Header],
    seen: Probe,
    started: float,
) -> Probe:
    key = generate_key()
    origin = f"{'https' if target.tls else 'http'}://{target.authority}"
    lines = [
        f"GET {target.path} HTTP/1.1",
        f"Host: {target.authority}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: {origin}",
        "User-Agent: wsharness-diagnose",
        *(f"{name}: {value}" for name, value in headers),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    try:
        head = await _head(reader, limits.answer)
    except (_Ended, OSError, TimeoutError) as error:
        return replace(
            seen, error=_error(error), error_step="upgrade", waited=time.monotonic() - started
        )
    answer = Head(head)
    if answer.status is None:
        return replace(
            seen, error=_not_http(head), error_step="upgrade", waited=time.monotonic() - started
        )
    seen = replace(
        seen,
        status=answer.status,
        reason=answer.reason,
        headers=redact_headers(answer.fields),
        waited=time.monotonic() - started,
    )
    if answer.status != 101:
        return seen
    seen = replace(
        seen,
        accept_ok=answer.header("Sec-WebSocket-Accept") == accept_key(key),
        upgrade_ok=asks_to_upgrade(answer.header),
    )
    if not seen.opened:
        return seen
    return await _watch(reader, writer, limits, seen)


async def _watch(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: Limits, seen: Probe
) -> Probe:
    frames = StreamReader(expect_head=False)
    since, in_idle = time.monotonic(), False
    try:
        rtt = await _heartbeat(reader, writer, frames, limits.heartbeat)
        seen = replace(seen, heartbeat_rtt=rtt)
        if rtt is None or limits.idle is None:
            return seen
        since, in_idle = time.monotonic(), True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_until_heartbeat(reader, frames, None), limits.idle)
        # Still open as far as this end can tell; a hop that stopped forwarding silently only
        # shows itself when traffic goes unanswered.
        again = await _heartbeat(reader, writer, frames, limits.heartbeat)
        return replace(seen, idle_silent=again is None)
    except _Ended as ended:
        return replace(seen, ended=ended.how, ended_after=time.monotonic() - since, in_idle=in_idle)
    finally:
        with contextlib.suppress(OSError):
            writer.write(close_frame(1000, mask=os.urandom(4)))


async def _heartbeat(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    frames: StreamReader,
    timeout: float,
) -> float | None:
    """Send the CMS heartbeat; return the seconds until its echo, ``None`` without one."""
    sent = time.monotonic()
    writer.write(encode_frame(Opcode.TEXT, HEARTBEAT.encode(), mask=os.urandom(4)))
    try:
        await asyncio.wait_for(_until_heartbeat(reader, frames, HEARTBEAT), timeout)
    except TimeoutError:
        return None
    return time.monotonic() - sent


async def _until_heartbeat(
    reader: asyncio.StreamReader, frames: StreamReader, text: str | None
) -> None:
    """Read frames until one is the text ``text`` (``None``: until the connection ends).

    Raises:
        _Ended: the connection ended first.
    """
    while True:  # bounded by the caller's timeout
        try:
            data = await reader.read(65536)
        except (ConnectionResetError, ssl.SSLError) as error:
            raise _Ended("reset" if isinstance(error, ConnectionResetError) else "closed") from None
        if not data:
            raise _Ended("closed")
        for unit in frames.feed(data):
            if not isinstance(unit, Frame):
                continue
            if unit.opcode == Opcode.CLOSE:
                raise _Ended(f"close {unit.close_code or 1005}")
            if text is not None and unit.text == text:
                return


async def _head(reader: asyncio.StreamReader, timeout: float) -> bytes:
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except asyncio.IncompleteReadError as error:
        # Bytes that are not HTTP and then a close: a server of another protocol.
        if error.partial and not error.partial.startswith(b"HTTP/"):
            raise _Ended(_not_http(error.partial)) from None
        raise _Ended("closed") from None
    except asyncio.LimitOverrunError:
        raise _Ended(f"an answer head over {MAX_HEAD} bytes") from None
    except ConnectionResetError:
        raise _Ended("reset") from None


def _not_http(head: bytes) -> str:
    first = head.split(b"\n", 1)[0].rstrip(b"\r")[:80].decode("latin-1")
    return f"not HTTP: {first!r}"


# What each errno means here, said the way the findings say it.
_ERRNO_WORDS = {
    errno.ECONNREFUSED: "refused",
    errno.ECONNRESET: "reset",
    errno.ETIMEDOUT: "timeout",
}


def _error(error: BaseException) -> str:
    """The cause of ``error`` in a few words, said once."""
    if isinstance(error, _Ended):
        return error.how
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionResetError):
        return "reset"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, socket.gaierror):
        if error.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return "no such host"
        return f"the name could not be resolved ({error.strerror})"
    if isinstance(error, ssl.SSLError):
        # "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" says it twice.
        return str(error.reason or error.strerror or error).lower().replace("_", " ")
    if isinstance(error, OSError):
        # A name with several addresses fails once per address ("Multiple exceptions: [Errno
        # 111] Connect call failed ('::1', ...), [Errno 111] ..."): one cause, said once.
        numbers = [int(n) for n in re.findall(r"\[Errno (\d+)\]", str(error))]
        if error.errno is not None:
            numbers = [error.errno]
        causes = dict.fromkeys(_ERRNO_WORDS.get(n, os.strerror(n).lower()) for n in numbers)
        if causes:
            return "; ".join(causes)
    return f"{type(error).__name__}: {error}"


def _tls_context(cafile: str | None, *, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if cafile:
        context.load_verify_locations(cafile=cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
