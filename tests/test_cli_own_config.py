"""``wsharness proxy --real --config FILE``: a team's own config run in front of a server, with
what was rewritten and each connection's fate printed, in lines that fit the terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from own_config import write
from real_software import installed

from pytest_wsharness.cli import EXIT_USAGE, main
from pytest_wsharness.diagnose.probe import Limits
from pytest_wsharness.diagnose.report import diagnose
from pytest_wsharness.server import SimulatedCMS

PROCESS_TIMEOUT = 60.0
STRIPPING = """\
server {
    listen 443 ssl;
    server_name cms.example.com;
    ssl_certificate /etc/ssl/certs/cms.pem;
    location / {
        proxy_pass http://cms-backend.internal:8080;
    }
}
"""


async def _lines_until(stream: asyncio.StreamReader, needle: str) -> list[str]:
    lines: list[str] = []
    for _ in range(50):  # bounded: the first lines are a handful
        line = (await asyncio.wait_for(stream.readline(), PROCESS_TIMEOUT)).decode()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines
    raise AssertionError(f"no line with {needle!r} in {lines}")


@pytest.mark.asyncio
async def test_wsharness_proxy_runs_a_customer_config_and_prints_each_connection(
    tmp_path: Path,
) -> None:
    installed("nginx")
    path = write(tmp_path, "customer-nginx.conf", STRIPPING)
    script = Path(sys.executable).with_name("wsharness")
    async with SimulatedCMS() as cms:
        process = await asyncio.create_subprocess_exec(
            str(script), "proxy", "--config", str(path), "--models", "header-stripping",
            "--backend", "local", "--upstream", cms.url, "--duration", str(PROCESS_TIMEOUT),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "COLUMNS": "100"},
        )  # fmt: skip
        try:
            assert process.stdout is not None
            head = await _lines_until(process.stdout, "what the harness rewrote")
            assert head[0] == (
                "wsharness: customer-nginx.conf (nginx as a local process, modelled by "
                "header-stripping)"
            )
            url = head[1].split(" listening on ")[1].split(" ")[0]
            port = head[2].split("itself listens on http://127.0.0.1:")[1].split(";")[0]
            changes = await _lines_until(process.stdout, "added an http block")
            assert any(
                line.startswith(f"  line 2: listen 443 ssl; -> listen 127.0.0.1:{port}; (on the")
                for line in changes
            ), changes
            assert any(
                line.startswith("  line 6: proxy_pass http://cms-backend.internal:8080; -> ")
                for line in changes
            ), changes
            found = await diagnose(url, direct=cms.url, limits=Limits(answer=2.0, heartbeat=2.0))
            assert found.findings[-1].code == "stripped", found.to_text()
            seen = await _lines_until(process.stdout, "WebSocket upgrade asked")
            assert "the proxy answered HTTP 200 after " in " ".join(seen[-2:])
            assert all(len(line) <= 100 for line in head + changes + seen), head + changes + seen
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), PROCESS_TIMEOUT)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nginx-websocket", "--config", "x.conf"], "either CONFIG (a config of proxies/real/"),
        (["--real"], "either CONFIG (a config of proxies/real/"),
        (["nginx-websocket", "--real", "--models", "compliant"], "go with --config FILE"),
        (["--config", "x.conf", "--models", "nginx"], "unknown proxy profile 'nginx'"),
        ([], "wsharness proxy needs a PROFILE"),
    ],
)
def test_wsharness_proxy_real_says_what_goes_with_what(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["proxy", *argv, "--upstream", "http://127.0.0.1:1", "--duration", "0.1"])
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_a_config_the_harness_cannot_run_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "nginx.conf", "http {\n    include conf.d/*.conf;\n}\n")
    argv = ["proxy", "--config", str(path), "--upstream", "http://127.0.0.1:1"]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{path}, line 2: 'include conf.d/*.conf' cannot be run by the harness" in err
    assert "Traceback" not in err
