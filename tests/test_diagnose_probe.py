"""The probe against tiny raw servers on loopback: what it records, and what it never does."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from pytest_wsharness.diagnose.findings import classify
from pytest_wsharness.diagnose.probe import Limits, Target, probe


@asynccontextmanager
async def raw_server(answer: bytes | None) -> AsyncIterator[tuple[Target, list[bytes]]]:
    """A server that reads one request head, keeps it, and answers ``answer`` (``None``: RST)."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        if answer is None:
            # Linger 0: the close sends an RST, as a firewall's reset does.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Target("127.0.0.1", port, False, "/EPiServer/Shell/socket/endpoint"), heads
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_secret_answer_headers_are_redacted_and_request_headers_sent() -> None:
    answer = b"HTTP/1.1 403 Forbidden\r\nSet-Cookie: sid=s3cr3t\r\nContent-Length: 0\r\n\r\n"
    async with raw_server(answer) as (target, heads):
        seen = await probe(target, headers=[("Cookie", "session=abc")], limits=Limits(2, 1))
    assert seen.status == 403
    assert seen.header("Set-Cookie") == "<redacted>"
    assert "s3cr3t" not in repr(seen)
    # The endpoint gets what a browser sends, and the cookie it was given.
    assert b"Upgrade: websocket\r\n" in heads[0]
    assert b"Sec-WebSocket-Version: 13\r\n" in heads[0]
    assert b"Cookie: session=abc\r\n" in heads[0]


@pytest.mark.asyncio
async def test_a_reset_before_the_answer_is_recorded_as_such() -> None:
    async with raw_server(None) as (target, _):
        seen = await probe(target, limits=Limits(2, 1))
    assert (seen.error, seen.error_step, seen.status) == ("reset", "upgrade", None)


@pytest.mark.asyncio
async def test_a_101_with_a_made_up_accept_is_not_open() -> None:
    answer = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n"
    )
    async with raw_server(answer) as (target, _):
        seen = await probe(target, limits=Limits(2, 1))
    assert (seen.status, seen.accept_ok, seen.upgrade_ok, seen.opened) == (101, False, True, False)


@pytest.mark.asyncio
async def test_plain_http_where_tls_was_expected_is_a_failed_tls_handshake() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        seen = await probe(Target("127.0.0.1", port, True, "/socket"), limits=Limits(2, 1))
    finally:
        server.close()
        await server.wait_closed()
    assert seen.error_step == "tls"
    (finding,) = classify(seen)
    assert finding.code == "tls-failed"
    assert finding.sentence.startswith(
        f"The TLS handshake with wss://127.0.0.1:{port}/socket failed"
    )
    assert "openssl s_client" in finding.fix[0]
