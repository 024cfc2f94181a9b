"""``wsharness matrix --upstream``: the matrix in front of a server the harness does not run.

The "team's server" is a simulated CMS started here on a loop thread of its own; the command is
told only its URL and a trigger, a command or a URL, that makes it push each update through its
HTTP test hook (``POST /wsharness/notifications``), as a team's script would through its API.
:func:`pytest_wsharness.cli.main` is called in-process with its output captured.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import matrix_table
import pytest

from pytest_wsharness.cli import EXIT_OK, EXIT_PROBLEM, main
from pytest_wsharness.runtime.tls import TestCA
from pytest_wsharness.server import SimulatedCMS
from pytest_wsharness.server.cms import NOTIFICATION_HOOK

SCALE = ["--time-scale", "0.01"]
FORM = "an http:// or https:// URL with a host"

# A team's trigger script: POSTs the marker it is given to the URL it is given.
CREATE_NOTIFICATION = """\
import json, os, sys, urllib.request

marker = sys.argv[-1]
assert os.environ["WSHARNESS_MARKER"] == marker, "the marker is in the environment too"
request = urllib.request.Request(
    sys.argv[1], data=json.dumps({"marker": marker}).encode(), method="POST",
    headers={"Content-Type": "application/json"},
)
# No proxy from the environment: the server is on loopback.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(request, timeout=10) as answer:
    print("created", marker, answer.status)
"""
FAILING = """\
import sys

print("> Authorization: Bearer s3cret", flush=True)
print("no such user: editor", file=sys.stderr)
sys.exit(3)
"""
HANGING = """\
import os, sys, threading

with open(sys.argv[1], "w") as pid_file:
    pid_file.write(str(os.getpid()))
threading.Event().wait()  # a trigger that never returns: the harness must kill it
"""


@pytest.fixture
def team(team_server: Callable[..., SimulatedCMS]) -> SimulatedCMS:
    """The team's dev instance: a CMS the command does not run."""
    return team_server()


@pytest.fixture
def team_disabled(team_server: Callable[..., SimulatedCMS]) -> SimulatedCMS:
    """A team server configured with ``WebSocketEnabled = false``."""
    return team_server(websocket_enabled=False)


@pytest.fixture
def team_https(
    team_server: Callable[..., SimulatedCMS], tmp_path: Path
) -> tuple[SimulatedCMS, Path]:
    """A team server over https, its certificate from a CA of its own (which the system does
    not trust), and that CA's PEM file."""
    ca = TestCA()
    return team_server(ssl=ca.issue().server_context()), ca.write(tmp_path)


def _script(tmp_path: Path, source: str, *args: str) -> str:
    path = tmp_path / "trigger.py"
    path.write_text(source, encoding="utf-8")
    return shlex.join([sys.executable, str(path), *args])


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each matrix row on one line, to read its cells back.
    monkeypatch.setenv("COLUMNS", matrix_table.WIDE)


def _rows(out: str, *names: str) -> list[matrix_table.Scenario]:
    return matrix_table.of(out, *names)


def _runs(out: str, scenarios: int) -> int:
    """How many scenarios ran, each calling the trigger once: a scenario in trouble on a busy
    machine runs again at a larger time scale, and the matrix says so in a line of its own."""
    return scenarios + out.count("; ran again")


def test_matrix_in_front_of_a_real_server_with_a_trigger_command(
    team: SimulatedCMS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = _script(tmp_path, CREATE_NOTIFICATION, team.url + NOTIFICATION_HOOK)
    profiles = ["compliant", "header-stripping", "idle-timeout-2s", "server-restart"]
    chosen = [arg for name in profiles for arg in ("--profile", name)]
    argv = ["matrix", "--upstream", team.url, "--trigger", command, *chosen, *SCALE]
    assert main([*argv, "--verbose"]) == EXIT_OK
    out, err = capsys.readouterr()
    # Nothing on standard error but the progress lines (not a terminal: one per scenario).
    assert all(line.startswith("wsharness: [") for line in err.splitlines()), err
    rows = _rows(out, *profiles)
    # Each runnable profile once, with the server's own WebSocketEnabled.
    assert [(row.profile, row.websocket) for row in rows] == [
        ("compliant", "enabled"),
        ("header-stripping", "enabled"),
        ("idle-timeout-2s", "enabled"),
    ]
    assert all("server did: not observed (a real deployment)" in row.details for row in rows)
    assert rows[0].verdict == "delivered"
    assert "live update, shown after refresh" in rows[0].editor
    assert rows[1].verdict == "fell back correctly"
    assert "proxy did:  removed Connection, Upgrade, forwarded the request" in rows[1].details
    assert rows[2].verdict == "reconnected on schedule"
    assert (
        "left out server-restart: it needs the server changed ([server] restart_after = 1000, "
        "down_for = 10000: the harness must restart the server), which the harness cannot do "
        "to a real deployment"
    ) in out
    assert "3 scenarios, 3 as expected, 0 wrong, in " in out
    assert f"(time scale 0.01, against {team.url}); 1 profile(s) left out" in out
    # The server was made to push one update per scenario, by the trigger, over HTTP.
    hooks = [r for r in team.requests if r.path == NOTIFICATION_HOOK]
    assert [r.status for r in hooks] == [201] * _runs(out, 3)
    assert team.content.unread == _runs(out, 3)
    assert all(n["subject"].startswith("wsharness-") for n in team.content.notifications)


def test_matrix_with_a_trigger_url(team: SimulatedCMS, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["matrix", "--upstream", team.url, "--trigger-url", team.url + NOTIFICATION_HOOK]
    assert main([*argv, "--profile", "compliant", "--profile", "firewall", *SCALE, "-v"]) == 0
    out, _ = capsys.readouterr()
    rows = _rows(out, "compliant", "firewall")
    assert [row.verdict for row in rows] == ["delivered", "fell back correctly"]
    assert "proxy did:  answered 403 itself" in rows[1].details
    assert "2 scenarios, 2 as expected, 0 wrong" in out
    assert "left out" not in out
    assert len([r for r in team.requests if r.path == NOTIFICATION_HOOK]) == _runs(out, 2)


def test_matrix_in_front_of_an_https_server_with_its_ca(
    team_https: tuple[SimulatedCMS, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    team, ca_file = team_https
    # The https trigger URL trusts the CA too: it is the same server.
    argv = ["matrix", "--upstream", team.url, "--upstream-ca", str(ca_file)]
    argv += ["--trigger-url", team.url + NOTIFICATION_HOOK]
    assert (
        main([*argv, "--profile", "compliant", "--profile", "header-stripping", *SCALE]) == EXIT_OK
    )
    out, err = capsys.readouterr()
    # Nothing on standard error but the progress lines (not a terminal: one per scenario).
    assert all(line.startswith("wsharness: [") for line in err.splitlines()), err
    rows = _rows(out, "compliant", "header-stripping")
    assert [row.verdict for row in rows] == ["delivered", "fell back correctly"]
    assert "2 scenarios, 2 as expected, 0 wrong, in " in out
    assert [r.status for r in team.requests if r.path == NOTIFICATION_HOOK] == [201] * _runs(out, 2)


def test_the_browser_matrix_in_front_of_an_https_server(
    team_https: tuple[SimulatedCMS, Path], chromium: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    team, ca_file = team_https
    argv = ["matrix", "--browser", "--upstream", team.url, "--upstream-ca", str(ca_file)]
    argv += ["--trigger-url", team.url + NOTIFICATION_HOOK]
    assert main([*argv, "--profile", "compliant", "--profile", "forward-proxy"]) == EXIT_OK
    out = capsys.readouterr().out
    # Chromium trusts the CA the proxy presents; through a tunnel it would meet the team's own.
    assert _rows(out, "compliant")[0].verdict == "delivered"
    assert "left out forward-proxy: it is a forward proxy: Chromium would tunnel" in out
    assert "1 scenarios, 1 as expected, 0 wrong" in out


def test_without_the_ca_the_matrix_says_the_certificate_is_not_trusted(
    team_https: tuple[SimulatedCMS, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    team, _ = team_https
    argv = ["matrix", "--upstream", team.url, "--trigger-url", team.url + NOTIFICATION_HOOK]
    assert main([*argv, "--profile", "compliant", *SCALE]) == EXIT_PROBLEM
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        f"wsharness: error: the certificate of {team.url} is not trusted: the proxy refused it "
        "(unable to get local issuer certificate), so the page could not load (GET https://"
    )
    assert err.rstrip().endswith(
        "); if a CA of your own issued it (self-signed or internal), give its PEM file with "
        "--upstream-ca"
    )
    # Refused at the handshake: not even the trigger ran; only the harness's own look,
    # directly and without verifying, at whether the server is there reached it.
    assert [r.path for r in team.requests] == [team.routes.settings]


def test_a_server_with_websockets_disabled_is_judged_as_such(
    team_disabled: SimulatedCMS, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = team_disabled.url + NOTIFICATION_HOOK
    argv = ["matrix", "--upstream", team_disabled.url, "--trigger-url", hook]
    assert main([*argv, "--profile", "compliant", *SCALE]) == EXIT_OK
    out, _ = capsys.readouterr()
    (row,) = _rows(out, "compliant")
    assert row.websocket == "disabled"
    assert row.editor == "no socket, no dialog, no live update, shown after refresh"
    assert row.verdict == "fell back correctly"
    assert not [r for r in team_disabled.requests if r.path == team_disabled.routes.endpoint]


def test_a_failing_trigger_command_stops_the_run_and_says_why(
    team: SimulatedCMS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["matrix", "--upstream", team.url, "--trigger", _script(tmp_path, FAILING)]
    assert main([*argv, "--profile", "compliant", *SCALE]) == EXIT_PROBLEM
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        f"wsharness: error: update trigger failed: command {sys.executable!r}: exited 3: "
        "> Authorization: <redacted> | no such user: editor"
    )
    assert "s3cret" not in out + err


def test_a_trigger_command_that_hangs_is_killed_at_its_timeout(
    team: SimulatedCMS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid_file = tmp_path / "pid"
    command = _script(tmp_path, HANGING, str(pid_file))
    argv = ["matrix", "--upstream", team.url, "--trigger", command, "--trigger-timeout", "1"]
    assert main([*argv, "--profile", "compliant", *SCALE]) == EXIT_PROBLEM
    err = capsys.readouterr().err
    assert err.strip() == (
        f"wsharness: error: update trigger failed: command {sys.executable!r}: still running "
        "after 1s, killed"
    )
    with pytest.raises(ProcessLookupError):  # killed and reaped: nothing outlives the run
        os.kill(int(pid_file.read_text(encoding="utf-8")), 0)


def test_a_trigger_url_that_refuses_stops_the_run(
    team: SimulatedCMS, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["matrix", "--upstream", team.url, "--trigger-url", team.url + "/nope"]
    assert main([*argv, "--profile", "compliant", *SCALE]) == EXIT_PROBLEM
    err = capsys.readouterr().err
    assert err.startswith(
        f"wsharness: error: update trigger failed: POST {team.url}/nope: answered HTTP 404"
    )


UP = "http://127.0.0.1:9"  # never contacted: every case below is refused before any traffic


def test_help_documents_the_upstream_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["matrix", "--help"])
    assert excinfo.value.code == EXIT_OK
    text = " ".join(capsys.readouterr().out.split())
    for part in (
        "against your own CMS:",
        "--upstream URL your CMS, http(s)://host[:port]",
        "--trigger COMMAND run COMMAND, split as a shell would but run without one, with the "
        "marker as its last argument and in $WSHARNESS_MARKER",
        '--trigger-url URL POST {"marker": "..."} as JSON to URL',
        "--trigger-timeout S",
        "--upstream-ca FILE a PEM file of CAs to trust, besides the system's, for an https "
        "--upstream whose certificate your own CA issued (self-signed or internal)",
        "is left out, with a line saying so",
        "A trigger that fails stops the run (exit 1)",
    ):
        assert part in text, part
