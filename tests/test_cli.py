"""Tests of the ``wsharness`` command: :func:`pytest_wsharness.cli.main` called in-process with
its output captured, and the installed console script run once as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import matrix_table
import pytest
from command import WSHARNESS, wsharness

from pytest_wsharness.cli import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, main
from pytest_wsharness.client.driver import CmsClient
from pytest_wsharness.profiles import Catalogue, builtin_dir
from pytest_wsharness.runtime.tls import TestCA
from pytest_wsharness.server import SimulatedCMS

# Lines read word by word; their width has tests of its own.
pytestmark = pytest.mark.usefixtures("wide_terminal")

BUILTIN = Catalogue().names()
VALID_CHOICES = "valid choices: " + ", ".join(BUILTIN)


def _rows(out: str) -> list[str]:
    """A table's rows: the lines after its header that start a row (not a wrapped cell)."""
    return [line for line in out.splitlines()[1:] if not line.startswith(" ")]


def test_profiles_lists_one_row_per_profile_under_a_header(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["profiles"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["profile", "the", "UI", "should", "what", "the",
                                           "proxy", "does"]  # fmt: skip
    rows = _rows(out)
    assert [line.split()[0] for line in rows] == BUILTIN
    catalogue = Catalogue()
    assert [line.split()[1] for line in rows] == [p.expect.value for p in catalogue]
    # Aligned: every expectation starts in the same column, the summaries too.
    assert len({line.index(line.split()[1], len(line.split()[0])) for line in rows}) == 1
    assert "WebSocket-aware reverse proxy" in rows[BUILTIN.index("compliant")]
    assert max(len(line) for line in out.splitlines()) <= 100
    assert err == ""


@pytest.mark.parametrize("columns", ["100", "60", None])
def test_profiles_fit_the_width_through_a_pipe(columns: str | None) -> None:
    # No terminal: COLUMNS when set, else 100.
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    for args in (["profiles"], ["profiles", "--real"]):
        done = subprocess.run(
            [str(WSHARNESS), *args], capture_output=True, text=True, timeout=60, env=env, check=True
        )
        assert max(map(len, done.stdout.splitlines())) <= int(columns or 100), done.stdout


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    done = subprocess.run(
        f"{WSHARNESS} profiles | head -1", shell=True, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.startswith("profile")
    assert "Traceback" not in done.stderr
    assert "BrokenPipeError" not in done.stderr


def test_matrix_runs_the_chosen_profiles(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", matrix_table.WIDE)
    argv = ["matrix", "--profile", "compliant", "--profile", "firewall", "--time-scale", "0.01"]
    assert main([*argv, "--verbose"]) == EXIT_OK
    out, _ = capsys.readouterr()
    rows = matrix_table.scenarios(out)
    # Each profile with WebSockets enabled, then disabled; the verdict first.
    assert [(r.profile, r.websocket) for r in rows] == [
        ("compliant", "enabled"),
        ("compliant", "disabled"),
        ("firewall", "enabled"),
        ("firewall", "disabled"),
    ]
    assert [r.verdict for r in rows] == ["delivered"] + ["fell back correctly"] * 3
    assert {r.mark for r in rows} == {"\u2714"}
    # --verbose: what each hop did, under every row.
    assert "proxy did:  tunnelled the WebSocket" in rows[0].details
    assert "proxy did:  answered 403 itself" in rows[2].details
    assert "WRONG" not in out
    assert "4 scenarios, 4 as expected, 0 wrong, in " in out
    assert "(time scale 0.01)" in out


def test_the_matrix_says_its_progress_on_standard_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["matrix", "--profile", "compliant", "--profile", "firewall", "--time-scale", "0.01"]
    assert main(argv) == EXIT_OK
    out, err = capsys.readouterr()
    # Not a terminal (a CI log): a plain line per finished scenario, the results on stdout.
    lines = err.splitlines()
    assert [line.split("]")[0] for line in lines] == [f"wsharness: [{n}/4" for n in range(1, 5)]
    assert any(line.startswith("wsharness: [") and "compliant (enabled): delivered" in line
               for line in lines)  # fmt: skip
    assert all(line.endswith("s so far") for line in lines)
    assert "wsharness: [" not in out


def test_on_a_terminal_progress_is_one_line_rewritten_and_cleared() -> None:
    import io

    from pytest_wsharness.reports.progress import Progress

    stream = io.StringIO()
    progress = Progress(2, stream, live=True)
    progress.start("compliant (enabled)")
    progress.start("compliant (disabled)")
    progress.done("compliant (enabled)", "delivered")
    text = stream.getvalue()
    assert "\n" not in text  # one line, rewritten with carriage returns
    last = text.rsplit("\r", 1)[1]
    assert last.startswith("[1/2] ")
    assert last.rstrip().endswith("running: compliant (disabled)")
    progress.close()
    assert stream.getvalue().endswith("\r" + " " * len(last.rstrip()) + "\r")


@pytest.mark.parametrize("columns", ["100", "80"])
def test_the_matrix_fits_the_terminal_and_details_only_what_went_wrong(
    columns: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    argv = ["matrix", "--profile", "compliant", "--profile", "header-stripping"]
    assert main([*argv, "--time-scale", "0.01"]) == EXIT_OK
    out, _ = capsys.readouterr()
    assert max(map(len, out.splitlines())) <= int(columns), out
    # All as expected: no detail lines, no colour (not a terminal).
    assert "proxy did:" not in out
    assert "\x1b[" not in out


def _custom_profiles(tmp_path: Path, name: str, expect: str) -> Path:
    """A folder with one profile: the built-in compliant one, expecting ``expect``."""
    source = (builtin_dir() / "compliant.toml").read_text(encoding="utf-8")
    assert 'expect = "delivered"' in source
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / f"{name}.toml").write_text(
        source.replace('expect = "delivered"', f'expect = "{expect}"'), encoding="utf-8"
    )
    return folder


def test_profiles_dir_adds_a_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _custom_profiles(tmp_path, "our-nginx", "fallback")
    assert main(["profiles", "--profiles-dir", str(folder)]) == EXIT_OK
    names = [line.split()[0] for line in _rows(capsys.readouterr().out)]
    assert names == sorted([*BUILTIN, "our-nginx"])


def test_matrix_reports_a_profile_that_expects_the_wrong_outcome(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A compliant proxy declared to break WebSockets: the update arrives live, so the UI did
    # not fall back as the profile claims, and the matrix must say so.
    folder = _custom_profiles(tmp_path, "mislabelled", "fallback")
    monkeypatch.setenv("COLUMNS", matrix_table.WIDE)
    argv = ["matrix", "--profiles-dir", str(folder), "--profile", "mislabelled"]
    assert main([*argv, "--time-scale", "0.01"]) == EXIT_PROBLEM
    out, _ = capsys.readouterr()
    rows = matrix_table.of(out, "mislabelled")
    assert [(r.websocket, r.verdict) for r in rows] == [
        ("enabled", "WRONG"),
        ("disabled", "fell back correctly"),
    ]
    assert rows[0].mark == "\u2716"
    assert "live update" in rows[0].editor
    # Under the wrong row only: what was expected, what each hop did, what should have been.
    assert rows[0].details[0] == "expected:   fell back correctly"
    assert "proxy did:  tunnelled the WebSocket" in rows[0].details
    assert any(
        d.startswith("should have ended in the no-connection state") for d in rows[0].details
    )
    assert rows[1].details == []
    assert "2 scenarios, 1 as expected, 1 wrong" in out


def test_installed_console_script() -> None:
    assert WSHARNESS.is_file(), f"no console script next to {sys.executable}"
    done = subprocess.run(
        [str(WSHARNESS), "profiles"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert [line.split()[0] for line in _rows(done.stdout)] == BUILTIN


@pytest.mark.asyncio
@pytest.mark.parametrize("columns", ["400", None])
async def test_proxy_command_reports_each_connection(
    columns: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS")  # a pipe: 100 columns
    async with (
        SimulatedCMS() as cms,
        wsharness(
            "proxy", "idle-timeout-2s", "--upstream", cms.url,
            "--time-scale", "0.05", "--duration", "3",
        ) as process,
    ):  # fmt: skip
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert "idle-timeout-2s listening on http://127.0.0.1:" in first
        url = first.split(" listening on ")[1].split(" ")[0]
        async with CmsClient(url, time_scale=0.05) as client:
            await client.settle(5)
            await client.wait_for(lambda: client.machine.attempts >= 2, 5, "a reconnect")
        rest = (await asyncio.wait_for(process.stdout.read(), 30)).decode()
        assert await asyncio.wait_for(process.wait(), 30) == 0
    words = " ".join(line.strip() for line in rest.splitlines())
    assert "idle timeout 2000ms x0.05: cut without a Close frame" in words
    assert max(len(line) for line in [first, *rest.splitlines()]) <= int(columns or 100)


@pytest.mark.asyncio
async def test_proxy_command_in_front_of_an_https_server(tmp_path: Path) -> None:
    """A developer's https CMS: the proxy trusts its CA, and names the CA it presents."""
    ca = TestCA()
    server_ca = ca.write(tmp_path)
    async with (
        SimulatedCMS(ssl=ca.issue().server_context()) as cms,
        wsharness(
            "proxy", "compliant", "--upstream", cms.url,
            "--upstream-ca", str(server_ca), "--duration", "3",
        ) as process,
    ):  # fmt: skip
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = first.split(" listening on ")[1].split(" ")[0]
        assert url.startswith("https://127.0.0.1:")
        second = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        proxy_ca = second.split(" come from ")[1].split(":")[0]
        tls = ssl.create_default_context(cafile=proxy_ca)
        async with CmsClient(url, time_scale=0.05, ssl=tls) as client:
            await client.settle(5)
            await cms.publish("/episerver/cms/notification", {"id": 1, "action": 1})
            await client.wait_for(lambda: client.view.unread == 1, 5, "the notification")
        assert "pytest-wsharness proxy CA" in str(client.events[0])
        await asyncio.wait_for(process.stdout.read(), 30)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    assert not await asyncio.to_thread(Path(proxy_ca).exists)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream-ca", "/nonexistent/ca.pem"], "--upstream-ca needs an https:// --upstream"),
        (["--listen", "127.0.0.1:http"], "--listen must be HOST:PORT"),
        (["--listen", "127.0.0.1:70000"], "--listen must be HOST:PORT"),
        (["--upstream", "ftp://127.0.0.1:1"], "--upstream must be an http:// or https:// URL"),
    ],
)
def test_proxy_command_rejects_bad_input(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["proxy", "compliant", "--upstream", "http://127.0.0.1:1", "--duration", "1", *args]
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_matrix_writes_html_and_json_reports_with_timelines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html, data = tmp_path / "matrix.html", tmp_path / "matrix.json"
    argv = ["matrix", "--profile", "header-stripping", "--report-html", str(html)]
    assert main([*argv, "--report-json", str(data)]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"HTML report: {html}" in out
    assert f"JSON report: {data}" in out
    rows = {row["test"]: row for row in json.loads(data.read_text())}
    assert set(rows) == {"matrix[header-stripping-enabled]", "matrix[header-stripping-disabled]"}
    enabled = rows["matrix[header-stripping-enabled]"]
    assert (enabled["outcome"], enabled["verdict"]) == ("passed", "fell back correctly")
    lanes = {(event["hop"], event["text"]) for event in enabled["timeline"]}
    assert ("proxy", "removed Connection, Upgrade from the request") in lanes
    assert ("client", "WebSocket handshake failed (HTTP 200), closed 1006") in lanes
    # When the update was published, and whether the reload showed it, in order.
    texts = [event["text"] for event in enabled["timeline"]]
    assert texts.index("update published") < texts.index("update shown after reload")
    assert ("server", "update published") in lanes
    assert ("client", "update shown after reload") in lanes
    page = html.read_text()
    assert "matrix[header-stripping-enabled]" in page
    assert "removed Connection, Upgrade from the request" in page
