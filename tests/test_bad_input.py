"""Bad input, one table: what a new user can get wrong in every command and option, with the
exit code and the message each must give, and never a traceback (issue 10, section 3).

The ``wsharness`` command is called in-process (:func:`pytest_wsharness.cli.main`), the plugin's
options through ``pytester``. Servers that refuse, answer garbage or never answer are made here
on 127.0.0.1; a host that does not resolve is under ``.invalid`` (RFC 6761), which resolves
nowhere, so no test sends traffic off loopback.
"""

from __future__ import annotations

import asyncio
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_wsharness.cli import EXIT_PROBLEM, EXIT_USAGE, main
from pytest_wsharness.profiles import Catalogue, builtin_dir
from pytest_wsharness.real.configs import RealCatalogue
from pytest_wsharness.runtime.loopthread import LoopThread
from pytest_wsharness.upstream import reachable

# Messages read word by word; the commands' width has tests of its own.
pytestmark = pytest.mark.usefixtures("wide_terminal")

BUILTIN = Catalogue().names()
VALID_CHOICES = "valid choices: " + ", ".join(BUILTIN)
SERVER = "an http:// or https:// URL with a host, e.g. http://localhost:5000"
WEB = "an http:// or https:// URL with a host"
TARGET = "ws://host[:port]/path, wss://..., or a site as http://host[:port] or https://..."
PORT_ZERO = "port 0 is not a port a server listens on: give the server's port (1-65535)"
BAD_PORT = "the port must be a number from 1 to 65535 (none: 80 for http, 443 for https)"
CREDENTIALS = "leave credentials out of it (they would show in every message)"
NO_PATH = "no path: the proxies forward the CMS's own paths (/EPiServer/...)"
SETTINGS = "GET /EPiServer/Shell/settings"
DIRECTLY = "(asked directly, before any proxy)"
# Waited for an answer that never comes: short, the server here is silent on purpose.
SILENT_WAIT = 0.3

UP = "http://127.0.0.1:9"  # never contacted: every case naming it is refused before any traffic
TRIGGER = ["--trigger-url", UP + "/x"]
NO_TRIGGER = (
    "--upstream needs a trigger, to make your CMS push each scenario's update: --trigger "
    "COMMAND (run with the marker as its last argument and in WSHARNESS_MARKER) or "
    '--trigger-url URL (POSTed {"marker": "..."} as JSON)'
)
PROXY = ["proxy", "compliant", "--duration", "1"]
DIAGNOSE = ["diagnose", "http://127.0.0.1:1"]

# argv (``{refused}``, ``{garbage}``, ``{silent}``: loopback servers that refuse, answer
# garbage, never answer; ``{tmp}``: the test's folder), exit code, what stderr (stdout for
# exit 1) says.
CLI_CASES = [
    # The command itself.
    pytest.param([], EXIT_USAGE, "the following arguments are required: COMMAND", id="none"),
    pytest.param(["frobnicate"], EXIT_USAGE, "invalid choice: 'frobnicate'", id="unknown"),
    # matrix: profiles, time scale, reports, screenshots.
    pytest.param(
        ["matrix", "--profile", "nope"],
        EXIT_USAGE,
        f"wsharness: error: unknown proxy profile 'nope'; {VALID_CHOICES}\n",
        id="matrix-unknown-profile",
    ),
    *[
        pytest.param(
            ["matrix", f"--time-scale={value}"],
            EXIT_USAGE,
            f"argument --time-scale: must be a {finite}number > 0, got {value!r}",
            id=f"matrix-time-scale-{value}",
        )
        for value, finite in [
            ("0", "finite "),
            ("-1", "finite "),
            ("nan", "finite "),
            ("inf", "finite "),
            ("abc", ""),
        ]
    ],
    pytest.param(
        ["matrix", "--profiles-dir", "{tmp}/missing"],
        EXIT_USAGE,
        "bad proxy profile {tmp}/missing: (folder): is not a folder of profile files",
        id="matrix-profiles-dir-missing",
    ),
    pytest.param(
        ["profiles", "--profiles-dir", "{tmp}/missing"],
        EXIT_USAGE,
        "bad proxy profile {tmp}/missing",
        id="profiles-dir-missing",
    ),
    pytest.param(
        ["profiles", "--profiles-dir", "{tmp}/taken"],
        EXIT_USAGE,
        "'compliant' is taken by",
        id="profiles-dir-builtin-name",
    ),
    pytest.param(
        ["profiles", "--profiles-dir", "{tmp}/broken"],
        EXIT_USAGE,
        "bad proxy profile {tmp}/broken/broken.toml",
        id="profiles-dir-not-toml",
    ),
    pytest.param(
        ["matrix", "--profiles-dir", "{tmp}/maybe", "--profile", "maybe"],
        EXIT_USAGE,
        "bad proxy profile {tmp}/maybe/maybe.toml: expect: ",
        id="profile-bad-expect",
    ),
    pytest.param(
        ["matrix", "--profile", "compliant", "--screenshots", "{tmp}"],
        EXIT_USAGE,
        "--screenshots needs --browser: the Python client has no screen",
        id="matrix-screenshots-without-browser",
    ),
    pytest.param(
        ["matrix", "--profile", "compliant", "--report-html", "{tmp}/no/such.html"],
        EXIT_USAGE,
        "--report-html '{tmp}/no/such.html': no folder '{tmp}/no' to write it in",
        id="matrix-report-html-no-folder",
    ),
    pytest.param(
        ["matrix", "--profile", "compliant", "--report-json", "{tmp}"],
        EXIT_USAGE,
        "--report-json '{tmp}': it is a folder; give a file's path",
        id="matrix-report-json-folder",
    ),
    # matrix --upstream: the URL.
    pytest.param(
        ["matrix", "--upstream", "ftp://127.0.0.1:9", *TRIGGER],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'ftp://127.0.0.1:9'",
        id="upstream-scheme",
    ),
    pytest.param(
        ["matrix", "--upstream", "localhost:5000", *TRIGGER],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'localhost:5000'",
        id="upstream-no-scheme",
    ),
    pytest.param(
        ["matrix", "--upstream", UP + "/cms", *TRIGGER],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://127.0.0.1:9/cms'; {NO_PATH}",
        id="upstream-path",
    ),
    pytest.param(
        ["matrix", "--upstream", "http://127.0.0.1:0", "--trigger", "true"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://127.0.0.1:0'; {PORT_ZERO}",
        id="upstream-port-0",
    ),
    pytest.param(
        ["matrix", "--upstream", "http://127.0.0.1:99999", "--trigger", "true"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://127.0.0.1:99999'; {BAD_PORT}",
        id="upstream-port-range",
    ),
    pytest.param(
        ["matrix", "--upstream", "http://127.0.0.1:http", "--trigger", "true"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://127.0.0.1:http'; {BAD_PORT}",
        id="upstream-port-word",
    ),
    pytest.param(
        ["matrix", "--upstream", "http://local host:5000", "--trigger", "true"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://local host:5000'; 'local host' is not a "
        "host name",
        id="upstream-space-in-host",
    ),
    pytest.param(
        ["matrix", "--upstream", "http://editor:s3cret@127.0.0.1:9", "--trigger", "true"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://editor:<redacted>@127.0.0.1:9'; {CREDENTIALS}",
        id="upstream-credentials",
    ),
    # matrix --upstream: what is there. A URL without a port means the scheme's; the server
    # must answer HTTP, else the run stops naming it, not the harness's own proxy port.
    pytest.param(
        [
            "matrix",
            "--profile",
            "compliant",
            "--upstream",
            "http://cms.invalid",
            "--trigger",
            "true",
        ],
        EXIT_USAGE,
        f"server http://cms.invalid (--upstream): no such host 'cms.invalid' (the name does not "
        f"resolve) {DIRECTLY}",
        id="upstream-no-port-no-such-host",
    ),
    pytest.param(
        ["matrix", "--profile", "compliant", "--upstream", "https://cms.invalid/", *TRIGGER],
        EXIT_USAGE,
        "server https://cms.invalid (--upstream): no such host 'cms.invalid'",
        id="upstream-https-no-port-no-such-host",
    ),
    pytest.param(
        ["matrix", "--profile", "compliant", "--upstream", "http://{refused}", "--trigger", "true"],
        EXIT_USAGE,
        "server http://{refused} (--upstream): connection refused: nothing listens on "
        "127.0.0.1 port "
        f"{{refused_port}} {DIRECTLY}",
        id="upstream-refused",
    ),
    pytest.param(
        ["matrix", "--profile", "compliant", "--upstream", "http://{garbage}", "--trigger", "true"],
        EXIT_USAGE,
        f"server http://{{garbage}} (--upstream): not HTTP: it answered 'garbage' to "
        f"{SETTINGS} {DIRECTLY}",
        id="upstream-not-http",
    ),
    pytest.param(
        [
            "matrix",
            "--profile",
            "compliant",
            "--upstream",
            "https://{garbage}",
            "--trigger",
            "true",
        ],
        EXIT_USAGE,
        "server https://{garbage} (--upstream): the TLS handshake failed (wrong version "
        "number): does it "
        "speak https on port {garbage_port}?",
        id="upstream-https-not-tls",
    ),
    pytest.param(
        ["matrix", "--profile", "compliant", "--upstream", "http://{silent}", "--trigger", "true"],
        EXIT_USAGE,
        f"server http://{{silent}} (--upstream): no answer within {SILENT_WAIT:g}s to "
        f"{SETTINGS} {DIRECTLY}",
        id="upstream-never-answers",
    ),
    # matrix --upstream: the trigger and the CA.
    pytest.param(["matrix", "--upstream", UP], EXIT_USAGE, NO_TRIGGER, id="upstream-no-trigger"),
    pytest.param(
        ["matrix", "--trigger", "true"],
        EXIT_USAGE,
        "--trigger needs --upstream URL: against the simulated CMS the harness publishes the "
        "updates itself",
        id="trigger-without-upstream",
    ),
    pytest.param(
        ["matrix", *TRIGGER],
        EXIT_USAGE,
        "--trigger-url needs --upstream URL",
        id="trigger-url-without-upstream",
    ),
    pytest.param(
        ["matrix", "--trigger-timeout", "5"],
        EXIT_USAGE,
        "--trigger-timeout needs --upstream URL",
        id="trigger-timeout-without-upstream",
    ),
    pytest.param(
        ["matrix", "--upstream", UP, "--trigger", "make-update 'unclosed"],
        EXIT_USAGE,
        "--trigger must be a command line such as 'python make_notification.py --user "
        "editor' (split as a shell would, run without one; the marker is added as the last "
        'argument), got "make-update \'unclosed": No closing quotation',
        id="trigger-unclosed-quote",
    ),
    pytest.param(
        ["matrix", "--upstream", UP, "--trigger", ""],
        EXIT_USAGE,
        "--trigger must be a command line such as",
        id="trigger-empty",
    ),
    pytest.param(
        ["matrix", "--upstream", UP, "--trigger", "no-such-wsharness-trigger --x"],
        EXIT_USAGE,
        "--trigger: program 'no-such-wsharness-trigger' not found: give its path, or one on "
        "the PATH",
        id="trigger-not-found",
    ),
    pytest.param(
        ["matrix", "--upstream", UP, "--trigger-url", "localhost/hook"],
        EXIT_USAGE,
        f"--trigger-url must be {WEB}, got 'localhost/hook'",
        id="trigger-url-no-scheme",
    ),
    pytest.param(
        ["matrix", "--upstream", UP, "--trigger-url", "http://127.0.0.1:0/hook"],
        EXIT_USAGE,
        f"--trigger-url must be {WEB}, got 'http://127.0.0.1:0/hook'; {PORT_ZERO}",
        id="trigger-url-port-0",
    ),
    pytest.param(
        ["matrix", "--upstream", UP, "--trigger", "true", "--trigger-url", UP + "/x"],
        EXIT_USAGE,
        "argument --trigger-url: not allowed with argument --trigger",
        id="trigger-and-trigger-url",
    ),
    pytest.param(
        ["matrix", "--upstream", UP, "--trigger-timeout", "0"],
        EXIT_USAGE,
        "argument --trigger-timeout: must be a finite number > 0, got '0'",
        id="trigger-timeout-0",
    ),
    pytest.param(
        ["matrix", "--upstream-ca", "/nonexistent/ca.pem"],
        EXIT_USAGE,
        "--upstream-ca needs an https:// --upstream, the server whose certificate its CAs are "
        "to verify; none was given",
        id="upstream-ca-without-upstream",
    ),
    pytest.param(
        ["matrix", "--upstream", UP, *TRIGGER, "--upstream-ca", "/nonexistent/ca.pem"],
        EXIT_USAGE,
        "--upstream-ca needs an https:// --upstream, the server whose certificate its CAs are "
        f"to verify; got {UP!r}",
        id="upstream-ca-http-upstream",
    ),
    *[
        pytest.param(
            ["matrix", "--upstream", "https://127.0.0.1:9", *TRIGGER, "--upstream-ca", ca],
            EXIT_USAGE,
            f"--upstream-ca must be a PEM file of CA certificates, got '{ca}': {why}\n",
            id=f"upstream-ca-{name}",
        )
        for name, ca, why in [
            (
                "not-pem",
                "{tmp}/notes.pem",
                "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            ),
            ("folder", "{tmp}", "it is a folder"),
            ("missing", "{tmp}/none.pem", "no such file"),
        ]
    ],
    pytest.param(
        ["matrix", "--upstream", UP, "--trigger", "true", "--profile", "server-restart"],
        EXIT_USAGE,
        f"no profile left to run against {UP}: server-restart needs the server changed "
        "([server] restart_after = 1000, down_for = 10000: the harness must restart the "
        "server), which the harness cannot do to a real deployment",
        id="upstream-no-profile-left",
    ),
    # proxy.
    pytest.param(
        ["proxy", "nope", "--upstream", UP],
        EXIT_USAGE,
        f"unknown proxy profile 'nope'; {VALID_CHOICES}",
        id="proxy-unknown-profile",
    ),
    pytest.param(
        ["proxy", "compliant"],
        EXIT_USAGE,
        "the following arguments are required: --upstream",
        id="proxy-no-upstream",
    ),
    pytest.param(
        [*PROXY, "--upstream", "http://127.0.0.1:0"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://127.0.0.1:0'; {PORT_ZERO}",
        id="proxy-upstream-port-0",
    ),
    pytest.param(
        [*PROXY, "--upstream", "http://editor:s3cret@127.0.0.1:9"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://editor:<redacted>@127.0.0.1:9'; {CREDENTIALS}",
        id="proxy-upstream-credentials",
    ),
    pytest.param(
        [*PROXY, "--upstream", UP + "/cms?x=1"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://127.0.0.1:9/cms?x=1'; {NO_PATH}",
        id="proxy-upstream-path",
    ),
    pytest.param(
        [*PROXY, "--upstream", UP, "--upstream-ca", "{tmp}/notes.pem"],
        EXIT_USAGE,
        "--upstream-ca needs an https:// --upstream, the server whose certificate its CAs are "
        f"to verify; got {UP!r}",
        id="proxy-upstream-ca-http-upstream",
    ),
    pytest.param(
        ["proxy", "compliant", "--upstream", UP, "--duration", "0"],
        EXIT_USAGE,
        "argument --duration: must be a finite number > 0, got '0'",
        id="proxy-duration-0",
    ),
    pytest.param(
        ["proxy", "compliant", "--upstream", UP, "--duration", "soon"],
        EXIT_USAGE,
        "argument --duration: must be a number > 0, got 'soon'",
        id="proxy-duration-word",
    ),
    pytest.param(
        [*PROXY, "--upstream", UP, "--time-scale", "-2"],
        EXIT_USAGE,
        "argument --time-scale: must be a finite number > 0, got '-2'",
        id="proxy-time-scale",
    ),
    pytest.param(
        [*PROXY, "--upstream", UP, "--real", "--backend", "cloud"],
        EXIT_USAGE,
        "argument --backend: invalid choice: 'cloud' (choose from 'auto', 'docker', 'local')",
        id="proxy-real-backend",
    ),
    pytest.param(
        [*PROXY, "--upstream", UP, "--real"],
        EXIT_USAGE,
        "unknown real proxy config 'compliant'; valid choices: "
        + ", ".join(c.name for c in sorted(RealCatalogue(), key=lambda c: c.name)),
        id="proxy-real-unknown-config",
    ),
    pytest.param(
        ["proxy", "nginx-no-upgrade", "--real", "--upstream", "http://127.0.0.1:0"],
        EXIT_USAGE,
        f"--upstream must be {SERVER}, got 'http://127.0.0.1:0'; {PORT_ZERO}",
        id="proxy-real-upstream-port-0",
    ),
    # diagnose.
    pytest.param(
        ["diagnose"],
        EXIT_USAGE,
        "the following arguments are required: URL",
        id="diagnose-no-url",
    ),
    pytest.param(
        ["diagnose", "ftp://x"],
        EXIT_USAGE,
        f"URL must be {TARGET}, got 'ftp://x'",
        id="diagnose-scheme",
    ),
    pytest.param(
        ["diagnose", "http://127.0.0.1:0"],
        EXIT_USAGE,
        f"URL must be {TARGET}, got 'http://127.0.0.1:0'; {PORT_ZERO}",
        id="diagnose-port-0",
    ),
    pytest.param(
        ["diagnose", "ws://h:99999/"],
        EXIT_USAGE,
        f"URL must be {TARGET}, got 'ws://h:99999/'; {BAD_PORT}",
        id="diagnose-port-range",
    ),
    pytest.param(
        ["diagnose", "wss://editor:s3cret@127.0.0.1:1/"],
        EXIT_USAGE,
        f"URL must be {TARGET}, got 'wss://editor:<redacted>@127.0.0.1:1/'; {CREDENTIALS}",
        id="diagnose-credentials",
    ),
    pytest.param(
        [*DIAGNOSE, "--proxy", "nope"],
        EXIT_USAGE,
        f"--proxy must be {TARGET}, got 'nope'",
        id="diagnose-proxy",
    ),
    pytest.param(
        [*DIAGNOSE, "--proxy", "http://127.0.0.1:0"],
        EXIT_USAGE,
        f"--proxy must be {TARGET}, got 'http://127.0.0.1:0'; {PORT_ZERO}",
        id="diagnose-proxy-port-0",
    ),
    pytest.param(
        [*DIAGNOSE, "--direct", "x:y"],
        EXIT_USAGE,
        f"--direct must be {TARGET}, got 'x:y'",
        id="diagnose-direct",
    ),
    pytest.param(
        [*DIAGNOSE, "--direct", "http://127.0.0.1:0"],
        EXIT_USAGE,
        f"--direct must be {TARGET}, got 'http://127.0.0.1:0'; {PORT_ZERO}",
        id="diagnose-direct-port-0",
    ),
    pytest.param(
        [*DIAGNOSE, "--idle", "-1"],
        EXIT_USAGE,
        "argument --idle: must be a finite number of seconds > 0, got '-1'",
        id="diagnose-idle",
    ),
    pytest.param(
        [*DIAGNOSE, "--timeout", "soon"],
        EXIT_USAGE,
        "argument --timeout: must be a number of seconds > 0, got 'soon'",
        id="diagnose-timeout",
    ),
    pytest.param(
        [*DIAGNOSE, "--heartbeat-timeout", "0"],
        EXIT_USAGE,
        "argument --heartbeat-timeout: must be a finite number of seconds > 0, got '0'",
        id="diagnose-heartbeat-timeout",
    ),
    pytest.param(
        [*DIAGNOSE, "--header", "NoColon"],
        EXIT_USAGE,
        "argument --header: must be 'Name: value', got 'NoColon'",
        id="diagnose-header-no-colon",
    ),
    pytest.param(
        [*DIAGNOSE, "--header", "Bad Name: x"],
        EXIT_USAGE,
        "argument --header: must be 'Name: value', got 'Bad Name: x'",
        id="diagnose-header-space",
    ),
    pytest.param(
        [*DIAGNOSE, "--header", "X-Token: a\nb"],
        EXIT_USAGE,
        "argument --header: a header value cannot hold a line break",
        id="diagnose-header-line-break",
    ),
    pytest.param(
        [*DIAGNOSE, "--endpoint", "socket"],
        EXIT_USAGE,
        "bad --endpoint 'socket': give a path starting with '/'",
        id="diagnose-endpoint",
    ),
    pytest.param(
        [*DIAGNOSE, "--ca", "/nonexistent.pem"],
        EXIT_USAGE,
        "--ca must be a PEM file of CA certificates, got '/nonexistent.pem': no such file",
        id="diagnose-ca-missing",
    ),
    # diagnose of something that is not HTTP: a problem found (1), said as such.
    pytest.param(
        ["diagnose", "http://{garbage}", "--timeout", "2"],
        EXIT_PROBLEM,
        "-> not HTTP: 'garbage' at upgrade after",
        id="diagnose-not-http",
    ),
    pytest.param(
        ["diagnose", "http://127.0.0.1:1", "--proxy", "http://{garbage}", "--timeout", "2"],
        EXIT_PROBLEM,
        "problem (not-http): What listens at the forward proxy {garbage} does not speak HTTP: "
        "it answered 'garbage' to the CONNECT request.",
        id="diagnose-proxy-not-http",
    ),
    pytest.param(
        ["diagnose", "https://{garbage}", "--timeout", "2"],
        EXIT_PROBLEM,
        "problem (tls-failed): The TLS handshake with wss://{garbage}/EPiServer/Shell/socket/"
        "endpoint failed: wrong version number.",
        id="diagnose-tls-said-once",
    ),
    pytest.param(
        ["diagnose", "http://cms.invalid", "--timeout", "2"],
        EXIT_PROBLEM,
        "Could not connect to ws://cms.invalid:80/EPiServer/Shell/socket/endpoint: no such host.",
        id="diagnose-no-such-host",
    ),
]


class _Garbage:
    """A loopback server that answers every connection with a line that is not HTTP."""

    async def __aenter__(self) -> int:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.read(65536)
                writer.write(b"garbage\r\n\r\n")
                await writer.drain()
            except ConnectionError:
                pass  # the client gave up first
            finally:
                writer.close()

        self.server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """What the cases' placeholders stand for: loopback servers and files in ``tmp_path``."""
    monkeypatch.setattr(reachable, "ANSWER_TIMEOUT", SILENT_WAIT)
    _files(tmp_path)
    loop = LoopThread(name="wsharness-garbage")
    # Bound, never listening: the kernel refuses a connection at once.
    refused = socket.socket()
    # Listening, never accepting: the kernel completes the handshake, nobody answers.
    silent = socket.socket()
    try:
        refused.bind(("127.0.0.1", 0))
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        garbage = loop.enter(_Garbage(), 5.0)
        ports = {
            "refused": refused.getsockname()[1],
            "silent": silent.getsockname()[1],
            "garbage": garbage,
        }
        found = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
        found |= {f"{name}_port": str(port) for name, port in ports.items()}
        yield {"tmp": str(tmp_path), **found}
    finally:
        refused.close()
        silent.close()
        loop.close()


def _files(tmp_path: Path) -> None:
    (tmp_path / "notes.pem").write_text("not a certificate\n", encoding="utf-8")
    compliant = (builtin_dir() / "compliant.toml").read_text(encoding="utf-8")
    for folder, name, text in [
        ("taken", "compliant", compliant),
        ("broken", "broken", "this is [not toml\n"),
        ("maybe", "maybe", compliant.replace('expect = "delivered"', 'expect = "maybe"')),
    ]:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{name}.toml").write_text(text, encoding="utf-8")


def _fill(text: str, places: dict[str, str]) -> str:
    # Not str.format: messages quote JSON and TOML, braces and all.
    for name, value in places.items():
        text = text.replace(f"{{{name}}}", value)
    return text


def _run(argv: list[str]) -> int | str | None:
    # argparse's own errors exit 2 through SystemExit; the command's return their code.
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize(("argv", "code", "message"), CLI_CASES)
def test_the_command_refuses_bad_input_saying_why(
    places: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    assert _run([_fill(arg, places) for arg in argv]) == code
    out, err = capsys.readouterr()
    said = err if code == EXIT_USAGE else out
    assert _fill(message, places) in said, said
    assert "Traceback" not in out + err
    assert "s3cret" not in out + err
    assert "HTTP None" not in out
    if code == EXIT_USAGE:
        assert out == ""


def test_there_are_enough_cases() -> None:
    assert len(CLI_CASES) + len(PLUGIN_CASES) >= 50


# The plugin: a usage error (exit 4) names the option, the value and the valid choices.

UPSTREAM = "--wsharness-upstream / wsharness_upstream"
SCALE = "--wsharness-time-scale / wsharness_time_scale"

# Command-line arguments, ini lines, what stderr says.
PLUGIN_CASES = [
    *[
        pytest.param(
            [f"--wsharness-time-scale={value}"],
            "",
            f"{SCALE} must be a {kind} > 0, got {value!r}",
            id=f"time-scale-{value}",
        )
        for value, kind in [
            ("0", "finite number"),
            ("-1", "finite number"),
            ("abc", "number"),
            ("nan", "finite number"),
        ]
    ],
    pytest.param(
        [],
        "wsharness_time_scale = fast",
        f"{SCALE} must be a number > 0, got 'fast'",
        id="ini-time-scale",
    ),
    pytest.param(
        ["--wsharness-profile", "nope"],
        "",
        f"unknown proxy profile 'nope'; {VALID_CHOICES}",
        id="profile",
    ),
    pytest.param(
        [],
        "wsharness_profiles = compliant bogus",
        f"unknown proxy profile 'bogus'; {VALID_CHOICES}",
        id="ini-profiles",
    ),
    pytest.param(
        ["--wsharness-profiles-dir=missing"],
        "",
        "bad proxy profile missing: (folder): is not a folder of profile files",
        id="profiles-dir",
    ),
    *[
        pytest.param(
            [f"--wsharness-upstream={value}"],
            "",
            f"{UPSTREAM} must be {SERVER}, got {value.replace('s3cret', '<redacted>')!r}{why}",
            id=f"upstream-{name}",
        )
        for name, value, why in [
            ("scheme", "ftp://127.0.0.1:5000", ""),
            ("no-scheme", "localhost:5000", ""),
            ("no-host", "http://", ""),
            ("port-range", "http://127.0.0.1:99999", f"; {BAD_PORT}"),
            ("port-0", "http://127.0.0.1:0", f"; {PORT_ZERO}"),
            ("path", "http://127.0.0.1:5000/cms", f"; {NO_PATH}"),
            ("credentials", "http://editor:s3cret@127.0.0.1:5000", f"; {CREDENTIALS}"),
        ]
    ],
    pytest.param(
        [],
        "wsharness_upstream = http://127.0.0.1:0",
        f"{UPSTREAM} must be {SERVER}, got 'http://127.0.0.1:0'; {PORT_ZERO}",
        id="ini-upstream-port-0",
    ),
    pytest.param(
        ["--wsharness-report-html=no/such.html"],
        "",
        "--wsharness-report-html 'no/such.html': no folder '{dir}/no' to write it in",
        id="report-html-no-folder",
    ),
    pytest.param(
        ["--wsharness-report-json=."],
        "",
        "--wsharness-report-json '.': it is a folder; give a file's path",
        id="report-json-folder",
    ),
]


@pytest.mark.parametrize(("args", "ini", "message"), PLUGIN_CASES)
def test_the_plugin_refuses_bad_options_saying_why(
    pytester: pytest.Pytester,
    write_ini: Callable[..., None],
    args: list[str],
    ini: str,
    message: str,
) -> None:
    if ini:
        write_ini(ini, time_scale=None)
    else:
        write_ini()
    pytester.makepyfile(test_inner="def test_nothing():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert _fill(message, {"dir": str(pytester.path)}) in err, err
    assert "Traceback" not in err + result.stdout.str()
    assert "s3cret" not in err + result.stdout.str()


# The plugin in front of a server that is not there: each test errors naming the server and
# what happened there, not the harness's own proxy port.

UNREACHABLE = [
    pytest.param(
        "http://cms.invalid",
        "no such host 'cms.invalid' (the name does not resolve)",
        id="no-port-no-such-host",
    ),
    pytest.param(
        "http://{refused}",
        "connection refused: nothing listens on 127.0.0.1 port {refused_port}",
        id="refused",
    ),
    pytest.param(
        "http://{garbage}", f"not HTTP: it answered 'garbage' to {SETTINGS}", id="garbage"
    ),
    pytest.param(
        "http://{silent}", f"no answer within {SILENT_WAIT:g}s to {SETTINGS}", id="silent"
    ),
]


@pytest.mark.parametrize(("upstream", "what"), UNREACHABLE)
def test_a_test_in_front_of_a_server_that_is_not_there_names_it(
    pytester: pytest.Pytester,
    write_ini: Callable[..., None],
    places: dict[str, str],
    upstream: str,
    what: str,
) -> None:
    write_ini()
    pytester.makepyfile(
        test_inner=textwrap.dedent(
            """
            import pytest

            @pytest.mark.wsharness_profiles("compliant")
            def test_first(cms_client):
                pass

            @pytest.mark.wsharness_profiles("header-stripping")
            def test_second(cms_client):
                pass
            """
        )
    )
    url = _fill(upstream, places)
    result = pytester.runpytest(f"--wsharness-upstream={url}")
    result.assert_outcomes(errors=2)
    out = result.stdout.str()
    said = f"server {url} ({UPSTREAM}): {_fill(what, places)} {DIRECTLY}"
    assert out.count(said) >= 2, out
    assert "Traceback" not in out
    assert "ServerDisconnected" not in out
