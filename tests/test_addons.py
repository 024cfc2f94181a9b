"""Tests for the behaviour addons: unit tests with mitmproxy's own helpers, no network.

Each addon runs inside ``mitmproxy.test.taddons.context`` on flows made by ``tflow``; then every
addon file is loaded as a ``mitmdump -s`` script, and runs in the real ``mitmdump`` binary in front
of the simulated CMS, where a request shows its effect (issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from pytest_wsharness.protocol import Routes
from pytest_wsharness.proxy.records import ANSWERED_BY_PROXY, REMOVED_HEADERS, RESET
from pytest_wsharness.runtime.tls import TestCA
from pytest_wsharness.server.cms import SimulatedCMS
from pytest_wsharness.server.records import RequestRecord

# mitmproxy's dependencies (ldap3 via pyasn1) warn on import; filterwarnings=error must not fail
# collection for a warning that is not ours (the engine does the same in proxy/mitm.py).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy import eventsequence, exceptions, hooks, http
    from mitmproxy.addons import script
    from mitmproxy.test import taddons, tflow

    from pytest_wsharness.addons.break_accept import WRONG_ACCEPT
    from pytest_wsharness.addons.deny_upgrade import BODY, DenyUpgrade
    from pytest_wsharness.addons.recorder import Recorder
    from pytest_wsharness.addons.reset_upgrade import ResetUpgrade
    from pytest_wsharness.addons.strip_upgrade import StripUpgradeHeaders

ADDONS_DIR = Path(__file__).resolve().parent.parent / "pytest_wsharness" / "addons"
ADDON_FILES = sorted(p for p in ADDONS_DIR.glob("*.py") if p.stem != "__init__")
MITMDUMP = Path(sys.executable).parent / "mitmdump"  # the venv's, the mitmproxy we test with
ENDPOINT = Routes().endpoint
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3's accept for KEY
STARTUP_DEADLINE = 20.0  # mitmdump imports mitmproxy and writes its CA before it listens
PROBE_INTERVAL = 0.05
STOP_DEADLINE = 10.0
IO_TIMEOUT = 5.0
MITMDUMP_LOG = "mitmdump.log"  # in the test's tmp_path


@pytest_asyncio.fixture
async def tctx() -> AsyncIterator[taddons.context]:
    """A mitmproxy test context on the test's running loop (so it opens no loop of its own)."""
    with taddons.context() as context:
        yield context
    # The master puts a log handler on the root logger; do not leave it to later tests.
    context.master._legacy_log_events.uninstall()


def upgrade_request(**extra: str) -> http.Request:
    headers = {
        "Host": "cms.example",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13",
        **extra,
    }
    return http.Request.make("GET", f"http://cms.example{ENDPOINT}", headers=headers)


def plain_request() -> http.Request:
    headers = {"Host": "cms.example"}
    return http.Request.make("GET", f"http://cms.example{ENDPOINT}", headers=headers)


def requestheaders(flow: http.HTTPFlow) -> hooks.Hook:
    """The first event of ``flow``: the hook every behaviour addon acts on."""
    return next(eventsequence.iterate(flow))


async def run(tctx: taddons.context, flow: http.HTTPFlow, *addons: object) -> None:
    """Play ``flow``'s events through ``addons`` in order, as the master does, errors raised."""
    for event in eventsequence.iterate(flow):
        for addon in addons:
            await tctx.master.addons.invoke_addon(addon, event)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("extra", "removed"),
    [
        ({}, ("Connection", "Upgrade")),
        (
            {"Connection": "Upgrade, Keep-Alive", "Keep-Alive": "timeout=5"},
            ("Connection", "Upgrade", "Keep-Alive"),
        ),
    ],
)
async def test_strip_removes_hop_by_hop_and_named_headers(
    tctx: taddons.context, extra: dict[str, str], removed: tuple[str, ...]
) -> None:
    flow = tflow.tflow(req=upgrade_request(**extra))
    await tctx.master.addons.invoke_addon(StripUpgradeHeaders(), requestheaders(flow))
    for name in ("Connection", "Upgrade", "Keep-Alive"):
        assert name not in flow.request.headers
    assert flow.request.headers["Sec-WebSocket-Key"] == KEY
    assert flow.request.headers["Host"] == "cms.example"
    assert flow.metadata[REMOVED_HEADERS] == removed


@pytest.mark.asyncio
async def test_strip_leaves_plain_request_alone(tctx: taddons.context) -> None:
    flow = tflow.tflow(req=plain_request())
    before = list(flow.request.headers.fields)
    await tctx.master.addons.invoke_addon(StripUpgradeHeaders(), requestheaders(flow))
    assert list(flow.request.headers.fields) == before
    assert REMOVED_HEADERS not in flow.metadata


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [None, 451])
async def test_deny_answers_upgrade_itself(tctx: taddons.context, status: int | None) -> None:
    deny = DenyUpgrade()
    tctx.master.addons.add(deny)
    if status is not None:
        tctx.configure(deny, wsharness_deny_status=status)
    flow = tflow.tflow(req=upgrade_request())
    await tctx.master.addons.invoke_addon(deny, requestheaders(flow))
    assert flow.response is not None
    assert flow.response.status_code == (status or 403)
    assert flow.response.content == BODY
    assert flow.metadata[ANSWERED_BY_PROXY] is True


@pytest.mark.asyncio
async def test_deny_leaves_plain_request_alone(tctx: taddons.context) -> None:
    deny = DenyUpgrade()
    tctx.master.addons.add(deny)
    flow = tflow.tflow(req=plain_request())
    await tctx.master.addons.invoke_addon(deny, requestheaders(flow))
    assert flow.response is None
    assert ANSWERED_BY_PROXY not in flow.metadata


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", [200, 399, 600])
async def test_deny_rejects_bad_status(tctx: taddons.context, bad: int) -> None:
    deny = DenyUpgrade()
    tctx.master.addons.add(deny)
    with pytest.raises(exceptions.OptionsError, match=f"got {bad}"):
        tctx.configure(deny, wsharness_deny_status=bad)
    assert deny.status == 403  # the bad value did not stick
    with pytest.raises(ValueError, match=f"got {bad}"):
        DenyUpgrade(status=bad)


def test_deny_rejects_non_int_status() -> None:
    with pytest.raises(ValueError, match="got '403'"):
        DenyUpgrade(status="403")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_reset_leaves_plain_request_alone(tctx: taddons.context) -> None:
    flow = tflow.tflow(req=plain_request())
    await tctx.master.addons.invoke_addon(ResetUpgrade(), requestheaders(flow))
    assert RESET not in flow.metadata
    assert flow.killable  # not killed
    assert flow.error is None


def ws_flow(messages: int = 3) -> http.HTTPFlow:
    flow = tflow.twebsocketflow(close_code=1001)
    flow.websocket.closed_by_client = True
    template = flow.websocket.messages[0]
    flow.websocket.messages = [template] * messages
    return flow


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("make", "behaviour", "expected"),
    [
        (
            lambda: tflow.tflow(req=plain_request(), resp=True),
            None,
            {
                "request": f"GET {ENDPOINT} HTTP/1.1",
                "asked_to_upgrade": False,
                "status": 200,
                "answered_by": "upstream",
                "upgraded": False,
            },
        ),
        (
            lambda: tflow.tflow(req=upgrade_request(), resp=True),
            StripUpgradeHeaders,
            {
                "asked_to_upgrade": True,  # judged before the stripping
                "headers_removed": ("Connection", "Upgrade"),
                "status": 200,
                "answered_by": "upstream",
                "forwarded": True,
            },
        ),
        (
            lambda: tflow.tflow(req=upgrade_request()),
            DenyUpgrade,
            {"asked_to_upgrade": True, "status": 403, "answered_by": "proxy", "forwarded": False},
        ),
        (
            ws_flow,
            None,
            {"upgraded": True, "status": 101, "close_code": 1001, "closed_by": "client"},
        ),
        (
            lambda: tflow.tflow(req=upgrade_request(), err=True),
            None,
            {"asked_to_upgrade": True, "status": None, "error": "error", "answered_by": None},
        ),
    ],
    ids=["plain", "stripped", "denied", "websocket", "error"],
)
async def test_recorder_builds_one_record_per_flow(
    tctx: taddons.context,
    make: Callable[[], http.HTTPFlow],
    behaviour: type | None,
    expected: dict[str, object],
) -> None:
    recorder = Recorder("unit")
    addons: list[object] = [recorder]
    if behaviour is not None:
        addons.append(behaviour())
        tctx.master.addons.add(addons[-1])
    await run(tctx, make(), *addons)
    [record] = recorder.sink.snapshot()
    assert record.profile == "unit"
    actual = {key: getattr(record, key) for key in expected}
    assert actual == expected


@pytest.mark.asyncio
async def test_recorder_clears_websocket_messages(tctx: taddons.context) -> None:
    flow = ws_flow(messages=200)
    seen: list[int] = []

    class Spy:
        def websocket_message(self, flow: http.HTTPFlow) -> None:
            seen.append(len(flow.websocket.messages))  # after the recorder, as in the proxy

    await run(tctx, flow, Recorder("unit"), Spy())
    assert len(seen) == 200
    assert set(seen) == {0}
    assert flow.websocket.messages == []


@pytest.mark.parametrize("path", ADDON_FILES, ids=lambda path: path.name)
def test_addon_file_loads_as_mitmdump_script(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        module = script.load_script(str(path))
    assert module is not None
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    addons = getattr(module, "addons", None)
    assert isinstance(addons, list)
    assert addons
    for addon in addons:
        assert type(addon).__module__ == module.__name__  # defined in the file itself
        assert any(callable(getattr(addon, hook, None)) for hook in hooks.all_hooks)


# A fresh interpreter: the swap is process-wide, and this one's may be swapped already.
CTX_AS_MITMDUMP_SETS_IT = textwrap.dedent(
    """
    import threading
    import mitmproxy.ctx as ctx

    ctx.master = "mitmdump's"  # as mitmdump's Master does, before it loads the scripts
    from pytest_wsharness.proxy import mitm  # as reset_upgrade.py does

    assert ctx.master == "mitmdump's", "swapped at import"
    mitm._per_thread_context()  # as the first embedded proxy does
    assert ctx.master == "mitmdump's", "hidden by the swap"

    seen = []

    def proxy_thread():
        ctx.master = "the proxy's"  # as a proxy's Master does on its own thread
        seen.append(ctx.master)

    thread = threading.Thread(target=proxy_thread)
    thread.start()
    thread.join()
    assert seen == ["the proxy's"], seen
    assert ctx.master == "mitmdump's", "not per thread"
    """
)


def test_engine_leaves_mitmproxy_ctx_set_before_it_readable() -> None:
    # Issue 13's root cause: importing proxy.mitm swapped the class of mitmproxy.ctx at once,
    # and the swapped class read only per-thread values, so mitmdump lost its master.
    done = subprocess.run(
        [sys.executable, "-c", CTX_AS_MITMDUMP_SETS_IT],
        capture_output=True,
        text=True,
        timeout=STARTUP_DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(process: asyncio.subprocess.Process, port: int, deadline: float) -> None:
    """Probe ``port`` until it accepts, the process dies, or the deadline passes (bounded)."""
    for _ in range(int(deadline / PROBE_INTERVAL) + 1):
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), PROBE_INTERVAL
            )
        except (OSError, TimeoutError):
            pass
        else:
            writer.close()
            await writer.wait_closed()
            return
        try:
            # Waits on the process's exit, not a fixed time: an early death ends the wait.
            code = await asyncio.wait_for(process.wait(), PROBE_INTERVAL)
        except TimeoutError:
            continue
        raise AssertionError(f"mitmdump exited with {code} before listening on {port}")
    raise AssertionError(f"mitmdump did not listen on {port} within {deadline}s")


# -- every addon file under the real mitmdump ---------------------------------------------------
#
# Issue 13: reset_upgrade.py exited 1 under mitmdump (importing proxy.mitm swapped the class of
# mitmproxy.ctx at import, hiding the master mitmdump had set) while only strip_upgrade.py was
# run that way. Each file now runs in the venv's mitmdump, in front of the simulated CMS on
# 127.0.0.1, and a request shows its effect; mitmdump must then stop on SIGTERM with status 0
# and have logged no error.


@dataclass
class Mitmdump:
    """A ``mitmdump`` process listening on 127.0.0.1, and what it printed once stopped."""

    port: int
    confdir: Path
    log: Path
    returncode: int | None = None

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def mitmdump(
    tmp_path: Path, scripts: Sequence[str], mode: str, *options: str, config: str = ""
) -> AsyncIterator[Mitmdump]:
    """Run the venv's ``mitmdump`` with ``scripts`` (addon file names) until the block ends.

    ``options`` go to ``--set``, ``config`` to its ``config.yaml``. It is always stopped,
    SIGTERM then SIGKILL, each wait bounded; its ``returncode`` is set.
    """
    dump = Mitmdump(free_port(), tmp_path / "confdir", tmp_path / MITMDUMP_LOG)
    dump.confdir.mkdir()
    (dump.confdir / "config.yaml").write_text(config)
    with dump.log.open("wb") as log:  # a file, not a pipe: nothing to drain meanwhile
        process = await asyncio.create_subprocess_exec(
            MITMDUMP,
            *(arg for name in scripts for arg in ("-s", str(ADDONS_DIR / name))),
            *("--mode", mode, "--listen-host", "127.0.0.1", "--listen-port", str(dump.port)),
            # Its CA goes to tmp_path, not ~/.mitmproxy.
            *("--set", f"confdir={dump.confdir}"),
            *(arg for option in options for arg in ("--set", option)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await wait_listening(process, dump.port, STARTUP_DEADLINE)
        yield dump
    finally:
        if process.returncode is None:
            # Every client gone first: a connection still being handled when SIGTERM lands is
            # cancelled, and asyncio prints that as a traceback (py3.12), which is no addon's.
            await connections_closed(process, dump, STOP_DEADLINE)
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_DEADLINE)
        except TimeoutError:
            process.kill()
            await asyncio.wait_for(process.wait(), STOP_DEADLINE)
        dump.returncode = process.returncode


async def connections_closed(
    process: asyncio.subprocess.Process, dump: Mitmdump, deadline: float
) -> None:
    """Wait until mitmdump has logged as many client disconnects as connects, up to
    ``deadline`` seconds (then stop it anyway: the output will show why)."""
    for _ in range(int(deadline / PROBE_INTERVAL) + 1):  # bounded by the deadline
        output = dump.output
        if output.count("client disconnect") >= output.count("client connect"):
            return
        # Waits on the process's exit, as wait_listening does: an early death ends the wait.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), PROBE_INTERVAL)
            return


@dataclass
class Answer:
    """The head of an HTTP answer."""

    status: int
    headers: dict[str, str]  # lower-case names


async def exchange(
    port: int, head: str, *, tls: ssl.SSLContext | None = None, connect_to: str | None = None
) -> Answer:
    """Send ``head`` to 127.0.0.1:``port`` and return the head of the answer.

    Args:
        tls: speak TLS (after the tunnel, with ``connect_to``) and verify with this context.
        connect_to: first open a ``CONNECT`` tunnel to this ``host:port`` through the proxy.

    Raises:
        ConnectionResetError: the proxy reset the connection.
    """
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), IO_TIMEOUT)
    try:
        if connect_to is not None:
            writer.write(f"CONNECT {connect_to} HTTP/1.1\r\nHost: {connect_to}\r\n\r\n".encode())
            tunnel = parse_head(await read_head(reader))
            assert tunnel.status == 200, tunnel
        if tls is not None:
            await asyncio.wait_for(writer.start_tls(tls, server_hostname="127.0.0.1"), IO_TIMEOUT)
        writer.write(head.encode())
        return parse_head(await read_head(reader))
    finally:
        writer.close()
        # OSError: a reset connection fails its close too; it is closed all the same.
        with contextlib.suppress(OSError):
            await asyncio.wait_for(writer.wait_closed(), IO_TIMEOUT)


async def read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
    except asyncio.IncompleteReadError as eof:
        raise AssertionError(f"the connection ended before an answer: {eof.partial!r}") from None


def parse_head(head: bytes) -> Answer:
    status_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Answer(int(status_line.split(" ", 2)[1]), headers)


def upgrade(host: str, path: str = ENDPOINT) -> str:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


def plain(host: str, target: str = ENDPOINT) -> str:
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n"


def seen_by(cms: SimulatedCMS, path: str = ENDPOINT) -> list[RequestRecord]:
    return [r for r in cms.requests if r.path == path]


def authority(url: str) -> str:
    return url.split("://", 1)[1]


def reverse(cms: SimulatedCMS) -> str:
    return f"reverse:{cms.url}"


async def strip_upgrade(tmp_path: Path) -> Mitmdump:
    async with SimulatedCMS() as cms, mitmdump(tmp_path, ["strip_upgrade.py"], reverse(cms)) as d:
        answer = await exchange(d.port, upgrade(authority(cms.url)))
    assert answer.status == 200  # the CMS's page for a plain GET
    [seen] = seen_by(cms)
    assert seen.header("Upgrade") is None
    assert seen.header("Connection") is None
    assert seen.status == 200
    return d


async def connection_close(tmp_path: Path) -> Mitmdump:
    async with (
        SimulatedCMS() as cms,
        mitmdump(tmp_path, ["connection_close.py"], reverse(cms)) as d,
    ):
        answer = await exchange(d.port, upgrade(authority(cms.url)))
    assert answer.status == 200
    [seen] = seen_by(cms)
    assert seen.header("Upgrade") == "websocket"  # kept
    assert seen.header("Connection") == "close"
    assert not seen.asked_to_upgrade
    return d


async def deny_upgrade(tmp_path: Path) -> Mitmdump:
    async with (
        SimulatedCMS() as cms,
        mitmdump(tmp_path, ["deny_upgrade.py"], reverse(cms), "wsharness_deny_status=451") as d,
    ):
        denied = await exchange(d.port, upgrade(authority(cms.url)))
        passed = await exchange(d.port, plain(authority(cms.url)))
    assert denied.status == 451
    assert passed.status == 200
    assert [r.asked_to_upgrade for r in seen_by(cms)] == [False]  # only the plain GET came
    return d


async def reset_upgrade(tmp_path: Path) -> Mitmdump:
    async with SimulatedCMS() as cms, mitmdump(tmp_path, ["reset_upgrade.py"], reverse(cms)) as d:
        with pytest.raises(ConnectionResetError):
            await exchange(d.port, upgrade(authority(cms.url)))
        passed = await exchange(d.port, plain(authority(cms.url)))
    assert passed.status == 200
    assert [r.asked_to_upgrade for r in seen_by(cms)] == [False]
    return d


async def redirect_upgrade(tmp_path: Path) -> Mitmdump:
    options = ("wsharness_redirect_status=307", "wsharness_redirect_location=/sso")
    async with (
        SimulatedCMS() as cms,
        mitmdump(tmp_path, ["redirect_upgrade.py"], reverse(cms), *options) as d,
    ):
        answer = await exchange(d.port, upgrade(authority(cms.url)))
    assert (answer.status, answer.headers.get("location")) == (307, "/sso")
    assert not seen_by(cms)
    return d


async def slow_handshake(tmp_path: Path) -> Mitmdump:
    delay = 0.3
    option = f"wsharness_handshake_delay={delay}"  # declared as text: --set parses no float
    async with (
        SimulatedCMS() as cms,
        mitmdump(tmp_path, ["slow_handshake.py"], reverse(cms), option) as d,
    ):
        sent = time.monotonic()
        answer = await exchange(d.port, upgrade(authority(cms.url)))
    assert answer.status == 101
    [seen] = seen_by(cms)
    assert seen.at - sent >= delay  # the CMS's clock is ours: it runs in this process
    return d


async def break_accept(tmp_path: Path) -> Mitmdump:
    async with SimulatedCMS() as cms, mitmdump(tmp_path, ["break_accept.py"], reverse(cms)) as d:
        answer = await exchange(d.port, upgrade(authority(cms.url)))
    assert answer.status == 101
    assert answer.headers["sec-websocket-accept"] == WRONG_ACCEPT != ACCEPT
    assert [r.status for r in seen_by(cms)] == [101]  # the backend did upgrade
    return d


async def deny_connect(tmp_path: Path) -> Mitmdump:
    async with SimulatedCMS() as cms, mitmdump(tmp_path, ["deny_connect.py"], "regular") as d:
        target = authority(cms.url)  # not 443, the only port allowed by default
        answer = await exchange(d.port, f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")
    assert answer.status == 403
    assert answer.headers["x-squid-error"] == "ERR_ACCESS_DENIED 0"
    assert not cms.requests
    return d


async def refuse_targets(tmp_path: Path) -> Mitmdump:
    async with SimulatedCMS() as cms:
        allowed = authority(cms.url)
        option = f"wsharness_allowed_targets={allowed}"
        async with mitmdump(tmp_path, ["refuse_targets.py"], "regular", option) as d:
            passed = await exchange(d.port, plain(allowed, f"{cms.url}{ENDPOINT}"))
            # Refused before any connection: port 1 is never reached.
            refused = await exchange(d.port, plain("127.0.0.1:1", f"http://127.0.0.1:1{ENDPOINT}"))
    assert passed.status == 200
    assert refused.status == 403
    assert len(seen_by(cms)) == 1
    return d


async def tls_passthrough(tmp_path: Path) -> Mitmdump:
    ca = TestCA()
    async with (
        SimulatedCMS(ssl=ca.issue().server_context()) as cms,
        mitmdump(tmp_path, ["tls_passthrough.py"], "regular") as d,
    ):
        # Verified against the CMS's own CA only: a certificate of mitmproxy's would fail.
        answer = await exchange(
            d.port,
            plain(authority(cms.url)),
            tls=ca.client_context(),
            connect_to=authority(cms.url),
        )
    assert answer.status == 200
    assert len(seen_by(cms)) == 1
    return d


async def intercept_tls(tmp_path: Path) -> Mitmdump:
    # The addon only marks the flow; the recorder, first as in the harness, says so in the log.
    scripts = ["recorder.py", "intercept_tls.py"]
    async with SimulatedCMS() as cms, mitmdump(tmp_path, scripts, reverse(cms)) as d:
        # Verified against mitmdump's own CA only: it opened the client's TLS.
        trust = ssl.create_default_context(cafile=d.confdir / "mitmproxy-ca-cert.pem")
        answer = await exchange(d.port, plain(authority(cms.url)), tls=trust)
    assert answer.status == 200
    assert f"GET {ENDPOINT} HTTP/1.1: opened TLS with its own CA, forwarded" in d.output
    return d


async def recorder(tmp_path: Path) -> Mitmdump:
    async with SimulatedCMS() as cms, mitmdump(tmp_path, ["recorder.py"], reverse(cms)) as d:
        answer = await exchange(d.port, plain(authority(cms.url)))
    assert answer.status == 200
    assert f"GET {ENDPOINT} HTTP/1.1: forwarded the request -> 200" in d.output
    return d


# What each addon file does under mitmdump, checked from outside: one entry per file.
UNDER_MITMDUMP: dict[str, Callable[[Path], Awaitable[Mitmdump]]] = {
    f"{check.__name__}.py": check
    for check in (
        strip_upgrade,
        connection_close,
        deny_upgrade,
        reset_upgrade,
        redirect_upgrade,
        slow_handshake,
        break_accept,
        deny_connect,
        refuse_targets,
        tls_passthrough,
        intercept_tls,
        recorder,
    )
}


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ADDON_FILES, ids=lambda path: path.name)
async def test_addon_file_runs_in_the_real_mitmdump(path: Path, tmp_path: Path) -> None:
    check = UNDER_MITMDUMP.get(path.name)
    assert check is not None, f"{path.name} has no check under mitmdump: add one to UNDER_MITMDUMP"
    try:
        dump = await check(tmp_path)
    except Exception as error:
        log = tmp_path / MITMDUMP_LOG
        if log.exists():
            error.add_note(f"mitmdump printed:\n{log.read_text(errors='replace')}")
        raise
    output = dump.output
    assert f"Loading script {ADDONS_DIR / path.name}" in output  # it ran in mitmdump
    for sign in ("Traceback", "Addon error", "logged during startup"):
        assert sign not in output, output
    assert dump.returncode == 0, output  # stopped by SIGTERM, not killed, no error exit
