"""``wsharness serve`` as a user runs it: the simulated CMS in a process of its own, pointed at
by ``wsharness diagnose``, ``wsharness proxy`` and a client."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from pytest_wsharness.cli import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, main
from pytest_wsharness.client.driver import CmsClient
from pytest_wsharness.client.machine import State

# Lines read word by word; their width has tests of its own.
pytestmark = pytest.mark.usefixtures("wide_terminal")

WSHARNESS = str(Path(sys.executable).with_name("wsharness"))
BANNER_LINES = 10
STARTED = 30.0  # seconds for the banner
ENDED = 15.0  # seconds to exit once interrupted
URL = re.compile(r"listening on (https?://\S+)")


@asynccontextmanager
async def serving(*args: str) -> AsyncIterator[tuple[str, list[str], list[str]]]:
    """Run ``wsharness serve ARGS``; yield its URL, its banner and, once it ended, the rest of
    its output (filled in after the block, when it has been interrupted)."""
    process = await asyncio.create_subprocess_exec(
        WSHARNESS, "serve", *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    banner: list[str] = []
    rest: list[str] = []
    try:
        for _ in range(BANNER_LINES):
            line = (await asyncio.wait_for(process.stdout.readline(), STARTED)).decode()
            banner.append(line.rstrip())
            if line.startswith("wsharness: stop: Ctrl-C") or not line:
                break
        found = next((URL.search(line) for line in banner if URL.search(line)), None)
        assert found is not None, banner
        yield found.group(1), banner, rest
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(process.communicate(), ENDED)
        rest += out.decode().splitlines()
    assert process.returncode == 0, (banner, rest)


async def _publish(url: str, marker: str, cafile: str | None = None) -> dict[str, object]:
    ssl = None
    if cafile is not None:
        import ssl as ssl_module

        ssl = ssl_module.create_default_context(cafile=cafile)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/wsharness/notifications", json={"marker": marker}, ssl=ssl) as done,
    ):
        assert done.status == 201
        return dict(await done.json())


@pytest.mark.asyncio
async def test_serve_prints_where_it_is_and_serves_the_edit_ui() -> None:
    async with serving() as (url, banner, rest):
        assert url.startswith("http://127.0.0.1:")
        assert f"wsharness: edit UI: {url}/EPiServer/" in "\n".join(banner)
        endpoint = f"{url.replace('http', 'ws')}/EPiServer/Shell/socket/endpoint"
        assert f"realtime endpoint: {endpoint}" in "\n".join(banner)
        async with CmsClient(url, time_scale=0.1) as client:
            await client.settle(10)
            assert client.state is State.CONNECTED
            # The banner's publish line, as a user would run it with curl.
            sent = await _publish(url, "hello")
            assert sent["sent"] == 1
            await client.wait_for(lambda: client.view.unread > 0, 10, "the update")
        # The diagnosis of the same server, as a user would run it next.
        code = await asyncio.to_thread(main, ["diagnose", url, "--timeout", "10"])
        assert code == EXIT_OK
    assert any(" -> 101" in line and "/socket/endpoint" in line for line in rest), rest


@pytest.mark.asyncio
async def test_the_banner_fits_100_columns_and_its_curl_line_copies_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS")  # a pipe: 100 columns
    async with serving("--tls", "--no-websocket-feature") as (_, banner, _):
        assert max(map(len, banner)) <= 100, banner
        at = banner.index("wsharness: publish an update:")
        assert banner[at + 1].startswith("    curl -X POST ")
        assert banner[at + 1].endswith(" \\")
        assert banner[at + 3].startswith("      --cacert ")


@pytest.mark.asyncio
async def test_websocket_off_and_no_feature() -> None:
    async with serving("--websocket", "off") as (url, banner, _):
        assert "(WebSocketEnabled off)" in banner[0]
        async with CmsClient(url, time_scale=0.1) as client:
            assert client.websocket_enabled is False
            assert client.machine.attempts == 0
    async with serving("--no-websocket-feature") as (url, banner, _):
        assert "no WebSocket feature" in banner[0]
        code = await asyncio.to_thread(main, ["diagnose", url, "--json"])
        assert code == EXIT_PROBLEM


@pytest.mark.asyncio
async def test_tls_names_the_ca_to_trust(capsys: pytest.CaptureFixture[str]) -> None:
    async with serving("--tls") as (url, banner, _):
        assert url.startswith("https://127.0.0.1:")
        trust = next(line for line in banner if line.endswith(": trust it"))
        cafile = trust.split("come from ", 1)[1].removesuffix(": trust it")
        assert (await _publish(url, "x", cafile))["marker"] == "x"
        code = await asyncio.to_thread(main, ["diagnose", url, "--ca", cafile, "--json"])
        assert code == EXIT_OK
        assert json.loads(capsys.readouterr().out)["findings"][-1]["code"] == "works"


@pytest.mark.asyncio
async def test_through_wsharness_proxy_header_stripping_is_diagnosed_stripped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with serving() as (origin, _, _):
        proxy = await asyncio.create_subprocess_exec(
            WSHARNESS, "proxy", "header-stripping", "--upstream", origin,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proxy.stdout is not None
            first = (await asyncio.wait_for(proxy.stdout.readline(), STARTED)).decode()
            site = URL.search(first)
            assert site is not None, first
            code = await asyncio.to_thread(
                main, ["diagnose", site.group(1), "--direct", origin, "--json"]
            )
        finally:
            proxy.send_signal(signal.SIGINT)
            await asyncio.wait_for(proxy.communicate(), ENDED)
    assert code == EXIT_PROBLEM
    assert json.loads(capsys.readouterr().out)["findings"][-1]["code"] == "stripped"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--listen", "0.0.0.0:0"], "the simulated CMS would take connections from the network"),
        (["--listen", "nonsense"], "--listen must be HOST:PORT"),
        (["--websocket", "maybe"], "invalid choice: 'maybe' (choose from 'on', 'off')"),
        (["--duration", "0"], "must be a finite number of seconds > 0"),
    ],
)
def test_bad_input_names_the_option(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["serve", *args])
    except SystemExit as exit_:  # argparse's own errors
        code = int(exit_.code or 0)
    assert code == EXIT_USAGE
    assert said in capsys.readouterr().err
