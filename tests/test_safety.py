"""The proxies are safe to leave running (issue 10, section 2).

- no open relay: a proxy of ours reaches only its upstream (a reverse one, its backends); any
  other target gets the proxy's own 403 naming the allowed one, and the record says so;
- loopback only: ``wsharness proxy --listen`` refuses an address other machines can reach
  unless ``--listen-beyond-loopback`` is given; a busy or impossible address is a usage error;
- the test CAs' private keys stay 0600 in 0700 folders, are removed at exit, and a run killed
  with SIGKILL has its keys removed by the next one.

Credentials in logs: ``tests/test_log_redaction.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from command import wsharness
from real_software import installed

from pytest_wsharness.cli import EXIT_OK, EXIT_USAGE, main
from pytest_wsharness.errors import MissingPart, UsageError
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.real.configs import RealCatalogue
from pytest_wsharness.real.local import LocalProxy
from pytest_wsharness.real.plugin import REQUIRE_ENV
from pytest_wsharness.runtime.listen import parse_listen
from pytest_wsharness.runtime.require import skip_or_fail
from pytest_wsharness.server.cms import SimulatedCMS

CATALOGUE = Catalogue()
IO_TIMEOUT = 5.0
PROCESS_TIMEOUT = 60.0
PAGE = "/EPiServer/Shell/settings"  # a page the simulated CMS serves
SECRET_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nSECRET"
NOT_LOOPBACK = "is not a loopback address"


# No open relay.


class Bystander:
    """A service on another loopback port that no proxy of ours may reach; counts visitors."""

    def __init__(self) -> None:
        self.visits = 0
        self._server: asyncio.Server | None = None

    @property
    def authority(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Bystander:
        self._server = await asyncio.start_server(self._visit, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _visit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.visits += 1
        writer.write(SECRET_ANSWER)
        writer.close()


@pytest_asyncio.fixture
async def bystander() -> AsyncIterator[Bystander]:
    async with Bystander() as service:
        yield service


@pytest_asyncio.fixture
async def cms() -> AsyncIterator[SimulatedCMS]:
    async with SimulatedCMS() as server:
        yield server


def ask(proxy_url: str, request: str) -> bytes:
    """Send ``request`` to the proxy; after a 200 to a CONNECT, a GET through the tunnel.

    Returns everything that came back until the proxy closed or went quiet.
    """
    parts = urlsplit(proxy_url)
    assert parts.hostname
    assert parts.port
    answer = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(request.encode())
        tunnelled = not request.startswith("CONNECT")
        for _ in range(64):
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
            if not tunnelled and b"\r\n\r\n" in answer and answer.startswith(b"HTTP/1.1 200"):
                tunnelled = True
                sock.sendall(
                    f"GET {PAGE} HTTP/1.1\r\nHost: tunnelled\r\nConnection: close\r\n\r\n".encode()
                )
            elif _complete(answer):
                break  # a whole answer: no need to wait for the proxy to close a kept-alive one
    return answer


def _complete(answer: bytes) -> bool:
    """Whether ``answer`` holds a whole response with a ``Content-Length`` body (not a tunnel)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return False


def requests_for(authority: str) -> dict[str, str]:
    return {
        "connect": f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n",
        "absolute-url": f"GET http://{authority}{PAGE} HTTP/1.1\r\nHost: {authority}\r\n\r\n",
        "host-header": f"GET {PAGE} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n",
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["connect", "absolute-url", "host-header"])
@pytest.mark.parametrize("name", ["forward-proxy", "forward-connect-443"])
async def test_a_forward_proxy_reaches_only_its_upstream(
    name: str, kind: str, cms: SimulatedCMS, bystander: Bystander
) -> None:
    upstream = urlsplit(cms.url).netloc
    async with ProfileProxy(CATALOGUE.get(name), cms.url) as proxy:
        answer = await asyncio.to_thread(ask, proxy.url, requests_for(bystander.authority)[kind])
    assert bystander.visits == 0
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403"), answer
    # The Squid-like profile also reaches 443 on the upstream's host: the port its rule is about.
    reached = [upstream, "127.0.0.1:443"] if name == "forward-connect-443" else [upstream]
    allowed = ", ".join(sorted(reached))
    assert body.decode() == (
        f"This proxy refused to reach {bystander.authority}: it reaches only {allowed}.\n"
    )
    [record] = proxy.records
    assert record.answered_by == "proxy"
    assert record.forwarded is False
    assert record.describe() == (
        f"refused to reach {bystander.authority} (it reaches only {allowed}), answered 403 itself"
    )


@pytest.mark.asyncio
async def test_a_forward_proxy_still_reaches_its_upstream(cms: SimulatedCMS) -> None:
    upstream = urlsplit(cms.url).netloc
    async with ProfileProxy(CATALOGUE.get("forward-proxy"), cms.url) as proxy:
        for kind, request in requests_for(upstream).items():
            answer = await asyncio.to_thread(ask, proxy.url, request)
            assert answer.startswith(b"HTTP/1.1 200"), (kind, answer)
    assert not any("refused" in record.describe() for record in proxy.records)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["compliant", "header-stripping", "two-backends"])
async def test_a_reverse_proxy_reaches_only_its_backends(
    name: str, cms: SimulatedCMS, bystander: Bystander
) -> None:
    # A reverse proxy forwards whatever it gets to its own backends, never where a request
    # points: the bystander sees nobody.
    upstream = f"{cms.url},{cms.url}" if name == "two-backends" else cms.url
    async with ProfileProxy(CATALOGUE.get(name), upstream) as proxy:
        for request in requests_for(bystander.authority).values():
            answer = await asyncio.to_thread(ask, proxy.url, request)
            assert b"SECRET" not in answer
    assert bystander.visits == 0


# The real forward proxies: limited to the upstream where the software can say so.
REAL_FORWARD = {
    # config: the requests for another target it refuses (tinyproxy cannot limit a plain GET)
    "squid-websocket": ("connect", "absolute-url"),
    "squid-connect-443": ("connect", "absolute-url"),
    "tinyproxy-websocket": ("connect",),
    "tinyproxy-connect-443": ("connect",),
}


@pytest.mark.real_proxy  # started inline: conftest.py cannot see it
@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(REAL_FORWARD))
async def test_a_real_forward_proxy_reaches_only_its_upstream(
    name: str, cms: SimulatedCMS, bystander: Bystander
) -> None:
    try:
        proxy = LocalProxy(RealCatalogue().get(name), cms.url)
        await asyncio.to_thread(proxy.start)
    except MissingPart as missing:
        skip_or_fail(missing, REQUIRE_ENV)
    try:
        upstream = urlsplit(cms.url).netloc
        for kind in REAL_FORWARD[name]:
            answer = await asyncio.to_thread(
                ask, proxy.url, requests_for(bystander.authority)[kind]
            )
            assert answer.startswith(b"HTTP/1.1 403"), (kind, answer)
        # The upstream itself stays in reach: the page loads through the proxy.
        answer = await asyncio.to_thread(ask, proxy.url, requests_for(upstream)["absolute-url"])
        assert answer.startswith(b"HTTP/1.1 200"), answer
    finally:
        await asyncio.to_thread(proxy.stop)
    assert bystander.visits == 0


# Loopback only, unless asked twice.


def proxy_argv(*listen: str, upstream: str = "http://127.0.0.1:1") -> list[str]:
    return ["proxy", "compliant", "--upstream", upstream, "--duration", "0.1", *listen]


@pytest.mark.parametrize("address", ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080", "example.com:0"])
def test_listen_refuses_an_address_beyond_loopback(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(proxy_argv("--listen", address)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--listen {address!r} {NOT_LOOPBACK}" in err
    assert "--listen-beyond-loopback" in err


def test_listen_beyond_loopback_needs_the_flag() -> None:
    # Parsed only: the suite binds nothing beyond loopback.
    assert parse_listen("0.0.0.0:8080", beyond_loopback=True) == ("0.0.0.0", 8080)
    with pytest.raises(UsageError, match=NOT_LOOPBACK):
        parse_listen("0.0.0.0:8080")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("127.0.0.2:80", ("127.0.0.2", 80)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:0", ("::1", 0)),
        ("0", ("127.0.0.1", 0)),
        (":8080", ("127.0.0.1", 8080)),
    ],
)
def test_listen_takes_loopback_addresses(address: str, expected: tuple[str, int]) -> None:
    assert parse_listen(address) == expected


@pytest.mark.parametrize("address", ["::1:0", "[::1]", "127.0.0.1:", "127.0.0.1:65536"])
def test_listen_refuses_a_malformed_address(address: str) -> None:
    with pytest.raises(UsageError, match="--listen must be HOST:PORT"):
        parse_listen(address)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        yield int(taken.getsockname()[1])


@pytest.mark.parametrize("real", [False, True])
def test_listen_on_a_busy_port_is_a_usage_error(
    real: bool, busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = proxy_argv("--listen", f"127.0.0.1:{busy_port}")
    if real:
        argv[1:2] = ["nginx-websocket", "--real", "--backend", "local"]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--listen 127.0.0.1:{busy_port}: cannot listen there: the port is already in use" in err
    assert "Traceback" not in err


def test_listen_on_an_address_of_no_interface_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 192.0.2.0/24 is TEST-NET-1: no machine has it, so the bind fails before any listening.
    argv = proxy_argv("--listen", "192.0.2.1:0", "--listen-beyond-loopback")
    assert main(argv) == EXIT_USAGE
    assert (
        "--listen 192.0.2.1:0: cannot listen there: no interface of this machine has that address"
        in capsys.readouterr().err
    )


@pytest.mark.asyncio
async def test_a_real_proxy_serves_ipv6_loopback_through_its_tap(cms: SimulatedCMS) -> None:
    # The software itself listens on 127.0.0.1 only; the relay that prints its connections
    # listens where --listen says, here ::1.
    installed("nginx")
    async with wsharness(
        "proxy", "--real", "nginx-websocket", "--backend", "local",
        "--upstream", cms.url, "--listen", "[::1]:0", "--duration", str(PROCESS_TIMEOUT),
        stderr=asyncio.subprocess.PIPE,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        lines = [
            (await asyncio.wait_for(process.stdout.readline(), PROCESS_TIMEOUT)).decode()
            for _ in range(3)
        ]
        assert lines[1].startswith("wsharness: listening on http://[::1]:"), lines
        assert lines[2].startswith("wsharness: nginx itself listens on http://127.0.0.1:"), lines
        url = lines[1].split(" listening on ")[1].split(" ")[0]
        request = (
            f"GET {PAGE} HTTP/1.1\r\nHost: {urlsplit(cms.url).netloc}\r\nConnection: close\r\n\r\n"
        )
        answer = await asyncio.to_thread(ask, url, request)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), PROCESS_TIMEOUT) == EXIT_OK


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["compliant", "header-stripping", "forward-proxy"])
async def test_wsharness_proxy_listens_on_ipv6_loopback(name: str, cms: SimulatedCMS) -> None:
    async with wsharness(
        "proxy", name, "--upstream", cms.url, "--listen", "[::1]:0",
        "--duration", str(PROCESS_TIMEOUT),
        stderr=asyncio.subprocess.PIPE,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), PROCESS_TIMEOUT)).decode()
        assert f"{name} listening on http://[::1]:" in first, first
        url = first.split(" listening on ")[1].split(" ")[0]
        page = (
            f"GET {cms.url}{PAGE} HTTP/1.1" if name == "forward-proxy" else f"GET {PAGE} HTTP/1.1"
        )
        request = f"{page}\r\nHost: {urlsplit(cms.url).netloc}\r\nConnection: close\r\n\r\n"
        answer = await asyncio.to_thread(ask, url, request)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), PROCESS_TIMEOUT) == EXIT_OK


# Test CA private keys.

HOLD_A_KEY = """
    import sys
    from pytest_wsharness.profiles import Catalogue
    from pytest_wsharness.proxy.mitm import MitmProxy
    from pytest_wsharness.runtime.tls import TestCA

    # A reverse proxy to an https server writes its CA's key for mitmproxy as it starts.
    proxy = MitmProxy(Catalogue().get("header-stripping"), "https://127.0.0.1:9", ca=TestCA())
    proxy.start()
    print("started", flush=True)
    sys.stdin.read()
    # Then leave without stopping the proxy, as a run that an error cut short does.
"""


def private_keys(folder: Path) -> list[Path]:
    """Every file under ``folder`` that holds a private key."""
    return sorted(
        path for path in folder.rglob("*") if path.is_file() and b"PRIVATE KEY" in path.read_bytes()
    )


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    """The temporary folder of the interpreters :func:`holding_a_key` starts."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


def run_python(tmp: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in an interpreter whose temporary folder is ``tmp``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "TMPDIR": str(tmp)},
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )


@contextlib.contextmanager
def holding_a_key(tmp: Path) -> Iterator[subprocess.Popen[str]]:
    """A process whose temporary folder is ``tmp``, holding a proxy's key until its stdin
    closes; killed if still running at the end."""
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLD_A_KEY)],
        env={**os.environ, "TMPDIR": str(tmp)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "started\n"
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(PROCESS_TIMEOUT)


def test_a_proxy_keeps_its_key_private_and_removes_it_at_exit(tmp: Path) -> None:
    with holding_a_key(tmp) as process:
        [key] = private_keys(tmp)
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert key.parent.parent == tmp
        assert process.communicate("", timeout=PROCESS_TIMEOUT)[0] == ""
        assert process.returncode == 0
    assert private_keys(tmp) == []


LEAVE_RUNNING = """
    import atexit
    import threading

    # Registered first, so run last: after the harness's own exit handler.
    def harness_threads():
        print(sorted(t.name for t in threading.enumerate() if t.name.startswith("wsharness")))

    atexit.register(harness_threads)

    from pytest_wsharness.profiles import Catalogue
    from pytest_wsharness.proxy.chain import ProfileProxy
    from pytest_wsharness.runtime.tls import TestCA

    # mitmproxy speaking TLS upstream (so its native threads run too), and a relay.
    ca = TestCA()
    for name in ("header-stripping", "idle-timeout-2s"):
        ProfileProxy(Catalogue().get(name), "https://127.0.0.1:9", ca=ca).start()
"""


def test_a_run_that_leaves_a_proxy_running_stops_it_at_exit(tmp: Path) -> None:
    # Nobody called stop: the harness's exit handler stops what it started, before the
    # interpreter tears down under its threads.
    done = run_python(tmp, LEAVE_RUNNING)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


NATIVE_THREADS = """
    import os
    from pytest_wsharness.profiles import Catalogue
    from pytest_wsharness.proxy.chain import ProfileProxy
    from pytest_wsharness.runtime.tls import TestCA

    with ProfileProxy(Catalogue().get("header-stripping"), "https://127.0.0.1:9", ca=TestCA()):
        tasks = os.listdir("/proc/self/task")
        print(sorted({open(f"/proc/self/task/{task}/comm").read().strip() for task in tasks}))
"""


def test_a_proxy_to_an_https_server_starts_no_native_runtime(tmp: Path) -> None:
    # mitmproxy's HTTP/3 listener starts mitmproxy_rs's tokio runtime, whose threads crashed
    # the interpreter at exit in 3 of 100 runs on busy cores: our proxies listen on TCP only.
    done = run_python(tmp, NATIVE_THREADS)
    assert done.returncode == 0, done.stderr
    assert "tokio" not in done.stdout


def test_the_next_run_removes_the_keys_a_killed_run_left(tmp: Path) -> None:
    with holding_a_key(tmp) as alive:
        with holding_a_key(tmp) as killed:
            killed.send_signal(signal.SIGKILL)
            assert killed.wait(PROCESS_TIMEOUT) == -signal.SIGKILL
        assert len(private_keys(tmp)) == 2
        done = run_python(tmp, "from pytest_wsharness.runtime.tls import TestCA; TestCA()")
        assert done.returncode == 0, done.stderr
        # The live run's key stays: only a run that is gone leaves keys to remove.
        [kept] = private_keys(tmp)
        assert f"-{alive.pid}-" in kept.parent.name
