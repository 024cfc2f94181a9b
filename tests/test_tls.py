"""TLS with a per-session test CA, and the client through an explicit forward proxy.

Everything runs on 127.0.0.1: a :class:`SimulatedCMS` serving HTTPS/WSS with a leaf from a
:class:`TestCA`, a :class:`CmsClient` trusting it (or not), and :class:`ForwardProxy`, a small
CONNECT proxy written here that behaves as a Squid-like corporate proxy does.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidProxyStatus

from pytest_wsharness.client.driver import CmsClient
from pytest_wsharness.client.machine import State
from pytest_wsharness.errors import PageLoadError, UsageError
from pytest_wsharness.protocol import Topic
from pytest_wsharness.runtime.loopthread import LoopThread
from pytest_wsharness.runtime.sync import SyncClient, SyncCMS
from pytest_wsharness.runtime.tls import TestCA
from pytest_wsharness.server.cms import SimulatedCMS

SCALE = 0.01
DEADLINE = 5.0  # generous bound on anything that should happen within milliseconds
LOOPBACK = "127.0.0.1"
MAX_REQUESTS = 100  # per proxied connection; a page load makes a handful
FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class ForwardProxy:
    """An explicit forward proxy: CONNECT tunnels and absolute-form GETs, targets on loopback.

    Args:
        allowed_ports: answer a CONNECT to any other port 403, as Squid's ``SSL_ports`` rule
            does for all but 443; plain GETs always pass. ``None`` allows every port.

    Attributes:
        connects: ``(host:port, status)`` of every CONNECT.
        gets: the absolute-form target of every forwarded request.
    """

    def __init__(self, allowed_ports: Collection[int] | None = None) -> None:
        self.allowed_ports = allowed_ports
        self.connects: list[tuple[str, int]] = []
        self.gets: list[str] = []
        self.url = ""
        self._streams: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        self.url = f"http://{LOOPBACK}:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for stream in self._streams:
            stream.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=DEADLINE)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._streams.add(writer)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
            method, target, _ = head.split(b"\r\n", 1)[0].decode("ascii").split(" ")
            tunnel = method == "CONNECT"
            port = int(target.rpartition(":")[2]) if tunnel else urlsplit(target).port
            if tunnel:
                allowed = self.allowed_ports is None or port in self.allowed_ports
                self.connects.append((target, 200 if allowed else 403))
                if not allowed:
                    writer.write(FORBIDDEN)
                    return
            from_upstream, upstream = await asyncio.open_connection(LOOPBACK, port)
            self._streams.add(upstream)
            if tunnel:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                onward = _pipe(reader, upstream)
            else:
                onward = self._forward_gets(head, reader, upstream)
            await asyncio.gather(onward, _pipe(from_upstream, writer))
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass  # the client went away
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _forward_gets(
        self, head: bytes, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter
    ) -> None:
        # Bodiless requests only (the page load's GETs): rewrite each to origin form and count it.
        try:
            for _ in range(MAX_REQUESTS):
                line, rest = head.split(b"\r\n", 1)
                method, target, version = line.decode("ascii").split(" ")
                self.gets.append(target)
                parts = urlsplit(target)
                origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                upstream.write(f"{method} {origin} {version}\r\n".encode() + rest)
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            upstream.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()


class _OtherEndpoint(CmsClient):
    """Loads the page from its server, but its socket goes to ``ws_url`` given here."""

    def __init__(self, base_url: str, ws_url: str, context: ssl.SSLContext) -> None:
        super().__init__(base_url, time_scale=SCALE, ssl=context)
        self.other_ws_url = ws_url

    @property
    def ws_url(self) -> str:
        return self.other_ws_url


async def _sees_publish(server: SimulatedCMS, client: CmsClient) -> None:
    await server.publish(Topic.NOTIFICATION, {"id": "n1", "action": 1})
    await client.wait_for(lambda: client.view.unread == 1, DEADLINE, "the badge to show 1")


@pytest.mark.asyncio
async def test_wss_end_to_end(wsharness_ca: TestCA) -> None:
    async with (
        SimulatedCMS(ssl=wsharness_ca.issue().server_context()) as server,
        CmsClient(server.url, time_scale=SCALE, ssl=wsharness_ca.client_context()) as client,
    ):
        assert server.url.startswith("https://127.0.0.1:")
        assert client.ws_url == "wss" + server.url.removeprefix("https") + server.routes.endpoint
        await client.settle(DEADLINE)
        assert client.state is State.CONNECTED
        await _sees_publish(server, client)
        assert [r.status for r in server.requests if r.path == server.routes.endpoint] == [101]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("another CA", "unable to get local issuer certificate"),
        ("another host", "IP address mismatch"),
    ],
)
async def test_socket_certificate_failure_fails_the_handshake(
    wsharness_ca: TestCA, case: str, reason: str
) -> None:
    cert = TestCA().issue() if case == "another CA" else wsharness_ca.issue(["localhost"])
    async with (
        SimulatedCMS(ssl=wsharness_ca.issue().server_context()) as page,
        SimulatedCMS(ssl=cert.server_context()) as socket_server,
    ):
        url = "wss" + socket_server.url.removeprefix("https") + socket_server.routes.endpoint
        async with _OtherEndpoint(page.url, url, wsharness_ca.client_context()) as client:
            await client.settle(DEADLINE)
            assert client.state is State.NO_CONNECTION
            [event] = client.events
            assert (event.kind, event.code) == ("handshake-failed", 1006)
            assert event.detail.startswith("TLS certificate verify failed: ")
            assert reason in event.detail
            assert reason in str(event)
        assert socket_server.requests == []  # the TLS handshake failed before any HTTP


@pytest.mark.asyncio
async def test_page_load_fails_clearly_without_trust(wsharness_ca: TestCA) -> None:
    async with SimulatedCMS(ssl=wsharness_ca.issue().server_context()) as server:
        with pytest.raises(PageLoadError) as info:
            async with CmsClient(server.url, time_scale=SCALE):  # trusts the system CAs only
                pass
        url = server.url + server.routes.settings
        assert str(info.value) == (
            f"the page could not load: GET {url}: "
            "TLS certificate verify failed: unable to get local issuer certificate"
        )
        assert isinstance(info.value, ConnectionError)
        assert server.requests == []


@pytest.mark.asyncio
async def test_issued_certificate_has_the_sans(wsharness_ca: TestCA) -> None:
    hosts = ["127.0.0.1", "cms.test", "::1", "localhost"]
    issued = wsharness_ca.issue(hosts)
    cert = x509.load_pem_x509_certificate(issued.cert_pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert sans.get_values_for_type(x509.DNSName) == ["cms.test", "localhost"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.issuer == wsharness_ca.certificate.subject
    [cn] = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert str(cn.value).startswith("pytest-wsharness test CA ")
    now = datetime.datetime.now(datetime.UTC)
    assert cert.not_valid_before_utc < now < cert.not_valid_after_utc
    # A real handshake checks a DNS name against the CA (the other tests check the address).
    async with SimulatedCMS(ssl=issued.server_context()) as server:
        port, tls = int(server.url.rpartition(":")[2]), wsharness_ca.client_context()
        opening = asyncio.open_connection(LOOPBACK, port, ssl=tls, server_hostname="cms.test")
        _, writer = await asyncio.wait_for(opening, DEADLINE)
        peer = writer.get_extra_info("peercert")
        writer.close()
        await writer.wait_closed()
        assert ("IP Address", "127.0.0.1") in peer["subjectAltName"]


@pytest.mark.asyncio
async def test_written_ca_loads_with_the_default_context(
    wsharness_ca: TestCA, tmp_path: Path
) -> None:
    other = TestCA()
    path = other.write(tmp_path / "cas")
    assert path.read_text() == other.pem
    by_file = ssl.create_default_context(cafile=path)
    [loaded] = by_file.get_ca_certs()
    assert ("commonName", other.name) in [pair for rdn in loaded["subject"] for pair in rdn]
    # A client that trusts the session CA plus a file (an intercepting proxy's CA) trusts both.
    both = wsharness_ca.client_context(extra_cas=[path])
    async with SimulatedCMS(ssl=other.issue().server_context()) as server:
        for context in (by_file, both):
            async with CmsClient(server.url, time_scale=SCALE, ssl=context) as client:
                await client.settle(DEADLINE)
                assert client.state is State.CONNECTED


def test_usage_errors(wsharness_ca: TestCA) -> None:
    for hosts in ("localhost", (), ("",)):
        with pytest.raises(UsageError, match=r"^hosts must be a non-empty list"):
            wsharness_ca.issue(hosts)
    with pytest.raises(UsageError, match=r"^ssl applies to an https:// page only"):
        CmsClient("http://127.0.0.1:1", ssl=wsharness_ca.client_context())
    with pytest.raises(UsageError, match=r"^proxy must be an http:// URL"):
        CmsClient("http://127.0.0.1:1", proxy="socks5://127.0.0.1:1")


def test_session_ca_in_a_sync_test(wsharness_ca: TestCA, wsharness_loop: LoopThread) -> None:
    server = SimulatedCMS(ssl=wsharness_ca.issue().server_context())
    cms = SyncCMS(wsharness_loop, wsharness_loop.enter(server, DEADLINE))
    engine = CmsClient(cms.url, time_scale=SCALE, ssl=wsharness_ca.client_context())
    client = SyncClient(wsharness_loop, wsharness_loop.enter(engine, DEADLINE))
    assert client.settle(DEADLINE) is State.CONNECTED
    cms.publish(Topic.NOTIFICATION, {"id": "n1", "action": 1})
    client.wait_for(lambda: client.view.unread == 1, DEADLINE, "the badge to show 1")


@pytest.mark.asyncio
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_rest_and_socket_go_through_the_proxy(wsharness_ca: TestCA, secure: bool) -> None:
    server_tls = wsharness_ca.issue().server_context() if secure else None
    client_tls = wsharness_ca.client_context() if secure else None
    async with (
        SimulatedCMS(ssl=server_tls) as server,
        ForwardProxy() as proxy,
        CmsClient(server.url, time_scale=SCALE, ssl=client_tls, proxy=proxy.url) as client,
    ):
        await client.settle(DEADLINE)
        assert client.state is State.CONNECTED
        await _sees_publish(server, client)
        authority = server.url.split("://")[1]
        if secure:
            # One tunnel per aiohttp connection plus the socket's; nothing readable to the proxy.
            assert proxy.gets == []
            assert len(proxy.connects) >= 2
            assert set(proxy.connects) == {(authority, 200)}
        else:
            # Plain REST goes as absolute-form GETs, the WebSocket alone through CONNECT.
            rest = [r.path for r in server.requests if r.path != server.routes.endpoint]
            assert proxy.gets == [server.url + path for path in rest]
            assert proxy.connects == [(authority, 200)]


@pytest.mark.asyncio
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_proxy_allowing_connect_only_to_443(wsharness_ca: TestCA, secure: bool) -> None:
    tls = wsharness_ca.issue().server_context() if secure else None
    async with SimulatedCMS(ssl=tls) as server, ForwardProxy(allowed_ports={443}) as proxy:
        client_tls = wsharness_ca.client_context() if secure else None
        client = CmsClient(server.url, time_scale=SCALE, ssl=client_tls, proxy=proxy.url)
        if secure:  # HTTPS needs a tunnel for the page itself
            with pytest.raises(PageLoadError, match=r": proxy refused CONNECT: HTTP 403$"):
                await client.__aenter__()
            assert server.requests == []
            return
        async with client:  # plain GETs pass: the page loads, the socket's CONNECT does not
            await client.settle(DEADLINE)
            assert client.state is State.NO_CONNECTION
            [event] = client.events
            assert event.detail == "proxy refused CONNECT: HTTP 403"
            assert str(event) == "handshake failed (proxy refused CONNECT: HTTP 403), closed 1006"
            assert len(proxy.gets) == 4
            assert server.routes.endpoint not in [r.path for r in server.requests]


@pytest.mark.asyncio
async def test_without_proxy_the_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    async with SimulatedCMS() as server, ForwardProxy(allowed_ports=()) as proxy:
        for name in ("http_proxy", "https_proxy", "ws_proxy", "wss_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
            monkeypatch.delenv(name.upper(), raising=False)
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        async with CmsClient(server.url, time_scale=SCALE) as client:
            await client.settle(DEADLINE)
            assert client.state is State.CONNECTED
            await _sees_publish(server, client)
        assert (proxy.gets, proxy.connects) == ([], [])
        # The variables are live: both libraries follow them when not told otherwise.
        ws_url = "ws" + server.url.removeprefix("http") + server.routes.endpoint
        with pytest.raises(InvalidProxyStatus):
            async with connect(ws_url, open_timeout=DEADLINE):
                pass
        async with (
            aiohttp.ClientSession(trust_env=True) as session,
            session.get(server.url + server.routes.settings) as response,
        ):
            assert response.status == 200
        assert len(proxy.connects) == 1
        assert len(proxy.gets) == 1
