"""``wsharness diagnose`` as a user runs it: exit codes, text, JSON and bad usage."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_wsharness.cli import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, main
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.runtime.loopthread import LoopThread
from pytest_wsharness.server import SimulatedCMS

# Lines read word by word; their width has tests of its own.
pytestmark = pytest.mark.usefixtures("wide_terminal")


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.close()


def _site(loop: LoopThread, profile: str) -> tuple[str, str]:
    """Start a server behind ``profile``: return (the site through the proxy, the server)."""
    cms = loop.enter(SimulatedCMS(), 10)
    proxy = loop.enter(ProfileProxy(Catalogue().get(profile), cms.url, time_scale=0.05), 10)
    return proxy.url, cms.url


def test_a_working_site_exits_0(loop: LoopThread, capsys: pytest.CaptureFixture[str]) -> None:
    site, origin = _site(loop, "compliant")
    assert main(["diagnose", site, "--direct", origin, "--idle", "0.2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "works (works): The WebSocket opened in" in out
    assert "it stayed open through 0.2s of silence" in out


def test_a_stripping_proxy_exits_1_with_the_fix(
    loop: LoopThread, capsys: pytest.CaptureFixture[str]
) -> None:
    site, origin = _site(loop, "header-stripping")
    assert main(["diagnose", site, "--direct", origin]) == EXIT_PROBLEM
    out = capsys.readouterr().out
    assert "problem (stripped): The upgrade headers were stripped on the way" in out
    assert "likely fix, nginx: in the location that proxies the CMS: proxy_http_version 1.1;" in out


@pytest.mark.parametrize("columns", [None, "100", "80"])
def test_the_diagnosis_fits_the_terminal(
    columns: str | None,
    loop: LoopThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Through a pipe (no COLUMNS): 100 columns.
    if columns is None:
        monkeypatch.delenv("COLUMNS")
    else:
        monkeypatch.setenv("COLUMNS", columns)
    site, origin = _site(loop, "header-stripping")
    assert main(["diagnose", site, "--direct", origin]) == EXIT_PROBLEM
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= int(columns or 100), lines
    assert any(line.startswith("      ") for line in lines)  # a fix continued, indented
    words = " ".join(line.strip() for line in lines)
    assert "likely fix, nginx: in the location that proxies the CMS: proxy_http_version" in words


def test_json_never_shows_a_secret_header(
    loop: LoopThread, capsys: pytest.CaptureFixture[str]
) -> None:
    site, origin = _site(loop, "firewall")
    code = main(
        ["diagnose", site, "--direct", origin, "--json", "--header", "Cookie: session=s3cr3t"]
    )
    out = capsys.readouterr().out
    assert code == EXIT_PROBLEM
    data = json.loads(out)
    assert data["findings"][-1]["code"] == "denied"
    assert data["through"]["status"] == 403
    assert "s3cr3t" not in out


def test_nothing_listening_is_a_problem(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 1 on loopback: nothing listens there, the kernel refuses at once.
    assert main(["diagnose", "http://127.0.0.1:1", "--timeout", "2"]) == EXIT_PROBLEM
    assert "problem (unreachable): Could not connect to" in capsys.readouterr().out


def test_a_ca_file_that_is_not_pem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    assert main(["diagnose", "https://127.0.0.1:1", "--ca", str(bad)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--ca must be a PEM file of CA certificates, got {str(bad)!r}: it holds no PEM" in err


def test_a_name_whose_every_address_refuses_says_so_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10: asyncio fails once per address ("Multiple exceptions: [Errno 111] Connect
    call failed ('::1', 1, 0, 0), [Errno 111] ..."): the line said one cause three times."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "cms.test":  # made up here, and loopback only, as every target of a test
            return real(host, port, *args, **kwargs)
        stream = (socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
        return [
            (socket.AF_INET6, *stream, ("::1", 1, 0, 0)),
            (socket.AF_INET, *stream, ("127.0.0.1", 1)),
            (socket.AF_INET, *stream, ("127.0.0.1", 2)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert main(["diagnose", "http://cms.test:1", "--timeout", "2"]) == EXIT_PROBLEM
    out = capsys.readouterr().out
    assert "-> refused at connect after" in out
    assert (
        "problem (unreachable): Could not connect to ws://cms.test:1/EPiServer/Shell/socket/"
        "endpoint: connection refused.\n"
    ) in out
    assert "Errno" not in out


def _stalled_probe(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Stall the diagnosis's loop ``seconds`` once the first probe has started, as a machine
    busy with other work stalls it."""
    from pytest_wsharness.diagnose import report

    real = report.probe
    stalls = [seconds]

    async def stalled(*args: Any, **kwargs: Any) -> Any:
        looking = asyncio.get_running_loop().create_task(real(*args, **kwargs))
        await asyncio.sleep(0)  # the probe starts: its connection is on its way
        if stalls:
            time.sleep(stalls.pop())  # noqa: ASYNC251 - the stall under test blocks the loop
        return await looking

    monkeypatch.setattr(report, "probe", stalled)


@pytest.mark.parametrize(
    ("stall", "code", "label"),
    [(0.0, 1, "problem (blackhole)"), (1.0, 3, "inconclusive (inconclusive)")],
)
def test_a_wait_that_ran_out_while_this_machine_stalled_exits_3(
    loop: LoopThread,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stall: float,
    code: int,
    label: str,
) -> None:
    """A py313 CI run diagnosed a working proxy as unreachable: its 3 s wait ran out while
    the machine ran the probe 1 s late. A finding resting on an expired wait then says so."""
    site, origin = _site(loop, "blackhole")
    if stall:
        _stalled_probe(monkeypatch, stall)
    assert main(["diagnose", site, "--direct", origin, "--timeout", "2"]) == code
    out = capsys.readouterr().out
    assert f"{label}: " in out
    assert "No answer to the upgrade request after " in out
    if stall:
        assert "ms late while it waited up to 2s for the answer to the upgrade request" in out
