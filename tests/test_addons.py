"""Tests for the behaviour addons: unit tests with mitmproxy's own helpers, no network.

Each addon runs inside ``mitmproxy.test.taddons.context`` on flows made by ``tflow``; then every
addon file is loaded as a ``mitmdump -s`` script, and one test runs the real ``mitmdump`` binary
with ``strip_upgrade.py`` in front of the simulated CMS. ResetUpgrade's reset path needs a live
connection: it is covered end to end in ``test_mitm.py``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import sys
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pytest_wsharness.protocol import Routes
from pytest_wsharness.proxy.records import ANSWERED_BY_PROXY, REMOVED_HEADERS, RESET
from pytest_wsharness.server.cms import SimulatedCMS

# mitmproxy's dependencies (ldap3 via pyasn1) warn on import; filterwarnings=error must not fail
# collection for a warning that is not ours (the engine does the same in proxy/mitm.py).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from mitmproxy import eventsequence, exceptions, hooks, http
    from mitmproxy.addons import script
    from mitmproxy.test import taddons, tflow

    from pytest_wsharness.addons.deny_upgrade import BODY, DenyUpgrade
    from pytest_wsharness.addons.recorder import Recorder
    from pytest_wsharness.addons.reset_upgrade import ResetUpgrade
    from pytest_wsharness.addons.strip_upgrade import StripUpgradeHeaders

ADDONS_DIR = Path(__file__).resolve().parent.parent / "pytest_wsharness" / "addons"
ENDPOINT = Routes().endpoint
STARTUP_DEADLINE = 20.0  # mitmdump imports mitmproxy and writes its CA before it listens
PROBE_INTERVAL = 0.05
STOP_DEADLINE = 10.0


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
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
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
    assert flow.request.headers["Sec-WebSocket-Key"] == "dGhlIHNhbXBsZSBub25jZQ=="
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


@pytest.mark.parametrize("path", sorted(p for p in ADDONS_DIR.glob("*.py") if p.stem != "__init__"))
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


@pytest.mark.asyncio
async def test_mitmdump_runs_strip_upgrade_script(tmp_path: Path) -> None:
    mitmdump = shutil.which("mitmdump", path=str(Path(sys.executable).parent))
    assert mitmdump, f"mitmdump not found next to {sys.executable}"
    port = free_port()
    async with SimulatedCMS() as cms:
        process = await asyncio.create_subprocess_exec(
            mitmdump,
            *("-s", str(ADDONS_DIR / "strip_upgrade.py")),
            *("--mode", f"reverse:{cms.url}"),
            *("--listen-host", "127.0.0.1", "--listen-port", str(port)),
            *("--set", f"confdir={tmp_path}"),  # its CA goes to tmp_path, not ~/.mitmproxy
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await wait_listening(process, port, STARTUP_DEADLINE)
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}{ENDPOINT}", proxy=None, open_timeout=5):
                    pass
        finally:
            if process.returncode is None:
                process.terminate()
            try:
                _, stderr = await asyncio.wait_for(process.communicate(), STOP_DEADLINE)
            except TimeoutError:
                process.kill()
                _, stderr = await asyncio.wait_for(process.communicate(), STOP_DEADLINE)
    assert info.value.response.status_code == 200, stderr.decode(errors="replace")
    [seen] = [r for r in cms.requests if r.path == ENDPOINT]
    assert seen.header("Upgrade") is None
    assert not seen.asked_to_upgrade
    assert seen.status == 200
