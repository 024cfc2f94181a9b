"""No credential in any log (issue 10, section 2): with ``--log-level=DEBUG`` the libraries the
harness drives log every header they send; the values of Authorization, Cookie,
Proxy-Authorization and Set-Cookie must not reach the terminal, the live log, a log file or the
JUnit XML, at any level.
"""

from __future__ import annotations

import html
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from pytest_wsharness.runtime.redact import REDACTED, install_log_redaction, redact_text

SECRETS = {
    "Authorization": "Bearer tok-l0g-s3cr3t-authz",
    "Cookie": "EPi:StateMarker=true; .EPiServerLogin=l0g-s3cr3t-cookie",
    "Proxy-Authorization": "Basic l0g-s3cr3t-proxy",
}
# What of each value must never show: its last word (the token, the cookie's value).
SHOWN_NEVER = [value.rsplit("=", 1)[-1].split()[-1] for value in SECRETS.values()]


TESTS = """
    import logging

    import pytest
    from pytest_wsharness.assertions import assert_updates_delivered

    @pytest.mark.wsharness_profiles("compliant")
    def test_logged_at_debug(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
        # A team's own log line, at every level, with the secret in its arguments.
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            logging.getLogger("team").log(level, "> Cookie: %s", {cookie!r})

    @pytest.mark.wsharness_profiles("header-stripping")
    def test_fails_with_its_log(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
"""


@pytest.fixture
def inner(credential_suite: Callable[[dict[str, str], str], pytest.Pytester]) -> pytest.Pytester:
    return credential_suite(SECRETS, TESTS.replace("{cookie!r}", repr(SECRETS["Cookie"])))


@pytest.mark.parametrize("live", [False, True], ids=["captured", "live"])
def test_no_credential_reaches_a_log_at_debug(inner: pytest.Pytester, live: bool) -> None:
    junit = inner.path / "junit.xml"
    log_file = inner.path / "debug.log"
    result = inner.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-rA",
        "--log-level=DEBUG",
        f"--log-file={log_file}",
        "--log-file-level=DEBUG",
        "-o",
        "junit_logging=all",
        f"--junitxml={junit}",
        *(["--log-cli-level=DEBUG"] if live else []),
    )
    result.assert_outcomes(passed=1, failed=1)
    outputs = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        # Unescaped: the XML writes the marker's brackets as entities.
        "junit.xml": html.unescape(junit.read_text(encoding="utf-8")),
        "log file": log_file.read_text(encoding="utf-8"),
    }
    for name, text in outputs.items():
        for secret in SHOWN_NEVER:
            assert secret not in text, f"{secret!r} shows in {name}"
    # The headers were logged, their values hidden: by websockets (the handshake) and the team.
    for name in ("stdout", "junit.xml", "log file"):
        assert f"> Authorization: {REDACTED}" in outputs[name], name
        assert f"> Cookie: {REDACTED}" in outputs[name], name
        assert f"> Proxy-Authorization: {REDACTED}" in outputs[name], name


@pytest.fixture
def redacting() -> Iterator[None]:
    uninstall = install_log_redaction()
    yield
    uninstall()


@pytest.mark.usefixtures("redacting")
@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("> %s: %s", ("Authorization", "Bearer x"), f"> Authorization: {REDACTED}"),
        ("< Set-Cookie: %s", ("a=b",), f"< Set-Cookie: {REDACTED}"),
        (
            "headers %r",
            ({"Cookie": "a=b", "Accept": "*/*"},),
            f"headers {{'Cookie': '{REDACTED}', 'Accept': '*/*'}}",
        ),
        (
            "headers %s",
            ([("Proxy-Authorization", "Basic x")],),
            f"headers [('Proxy-Authorization', '{REDACTED}')]",
        ),
        ("%(h)s: %(v)s", ({"h": "Cookie", "v": "a=b"},), f"Cookie: {REDACTED}"),
        ("no secret %s", ("here",), "no secret here"),
    ],
)
def test_a_record_is_redacted_as_it_is_made(
    msg: str, args: tuple[object, ...], expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="wsharness.test"):
        logging.getLogger("wsharness.test").debug(msg, *args)
    [record] = caplog.records
    assert record.getMessage() == expected
    assert caplog.text.rstrip().endswith(expected)


@pytest.mark.usefixtures("redacting")
def test_a_traceback_in_a_record_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="wsharness.test"):
        try:
            raise ValueError("sent Authorization: Bearer in-a-traceback")
        except ValueError:
            logging.getLogger("wsharness.test").exception("failed")
    assert "in-a-traceback" not in caplog.text
    assert f"ValueError: sent Authorization: {REDACTED}" in caplog.text


def test_the_plugin_redacts_every_record_of_the_session(caplog: pytest.LogCaptureFixture) -> None:
    # No fixture: the plugin installed it at configure time. An install nested in it (the
    # CLI's main() called by a test), undone twice, leaves it on.
    inner = install_log_redaction()
    inner()
    inner()
    with caplog.at_level(logging.DEBUG, logger="wsharness.test"):
        logging.getLogger("wsharness.test").debug("Cookie: %s", "a=b")
    assert [r.getMessage() for r in caplog.records] == [f"Cookie: {REDACTED}"]


def test_redact_text_reads_the_forms_a_log_prints() -> None:
    assert redact_text("{'Authorization': 'Bearer x', 'Host': 'h'}") == (
        f"{{'Authorization': '{REDACTED}', 'Host': 'h'}}"
    )
    assert redact_text("[('Cookie', 'a=b'), ('Host', 'h')]") == (
        f"[('Cookie', '{REDACTED}'), ('Host', 'h')]"
    )
    # Prose naming the headers keeps its words.
    assert redact_text("removed Authorization, Cookie") == "removed Authorization, Cookie"


CLI_INSTALLS = """
import logging
from pytest_wsharness import cli

before = logging.getLogRecordFactory()
seen = []

def run(argv):
    logging.getLogger("wsharness.test").warning("> Cookie: %s", "a=b")
    seen.append(logging.getLogRecordFactory() is not before)
    return 0

cli._run = run
assert cli.main([]) == 0
assert seen == [True]
assert logging.getLogRecordFactory() is before  # undone as the command ends
"""


def test_the_cli_redacts_while_it_runs() -> None:
    # A fresh interpreter: in this one the plugin's install is already on.
    done = subprocess.run(
        [sys.executable, "-c", CLI_INSTALLS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"> Cookie: {REDACTED}\n"
