"""Acceptance tests of the pytest plugin: write a test module with ``pytester``, run it, assert.

Every run asserts on the outcome counts and on the output, as pytest-xdist's acceptance tests do.
Runs are in-process (fast) unless a test needs a fresh interpreter (xdist, the report of a
session hook), where ``runpytest_subprocess`` gives isolation.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable

import pytest

from pytest_wsharness.browser.shared import ChromiumThread
from pytest_wsharness.profiles import Catalogue

BUILTIN = Catalogue().names()
FOUR = ["compliant", "firewall", "firewall-reset", "header-stripping"]
VALID_CHOICES = "valid choices: " + ", ".join(BUILTIN)


IMPORTS = """
    import pytest
    from pytest_wsharness.assertions import (
        assert_expected_outcome, assert_fell_back, assert_updates_delivered,
    )
"""

EVERY_PROFILE = (
    IMPORTS
    + """
    def test_outcome(cms_client, cms_server, cms_proxy, wsharness_profile):
        assert cms_proxy.profile.name == wsharness_profile
        assert_expected_outcome(cms_client, cms_server, cms_proxy)
"""
)


def _module(inner: pytest.Pytester, source: str) -> None:
    inner.makepyfile(test_inner=textwrap.dedent(source))


def test_every_builtin_profile_runs_once(inner: pytest.Pytester) -> None:
    _module(inner, EVERY_PROFILE)
    result = inner.runpytest("-v")
    result.assert_outcomes(passed=len(BUILTIN))
    result.stdout.fnmatch_lines([f"*test_outcome?{name}? PASSED*" for name in BUILTIN])
    assert result.ret == pytest.ExitCode.OK


def test_report_header_names_time_scale_and_profiles(inner: pytest.Pytester) -> None:
    _module(inner, "def test_nothing():\n    pass\n")
    result = inner.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["wsharness: time scale 0.01, profiles: all"])


UNUSED = """
    import sys

    ENGINE = ("aiohttp", "websockets", "mitmproxy", "playwright", "docker", "cryptography")
    OURS = (
        "profiles", "client.driver", "client.machine", "server.cms", "relay", "proxy.mitm",
        "real.local", "reports.html",
    )


    def test_nothing():
        imported = [
            name
            for name in sys.modules
            if name.split(".")[0] in ENGINE
            or name.removeprefix("pytest_wsharness.") in OURS
        ]
        assert imported == []
"""


def test_a_run_that_uses_none_of_it_imports_none_of_the_engine(inner: pytest.Pytester) -> None:
    # Installed, the plugins load in every pytest run of the environment: a suite that uses
    # none of the fixtures must not pay for aiohttp, mitmproxy or the catalogue (issue 11).
    _module(inner, UNUSED)
    result = inner.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)


def test_marker_selects_exactly_its_profiles(inner: pytest.Pytester) -> None:
    _module(
        inner,
        IMPORTS
        + """
    @pytest.mark.wsharness_profiles("compliant", "firewall")
    def test_two(cms_client, cms_server, cms_proxy):
        assert_expected_outcome(cms_client, cms_server, cms_proxy)
    """,
    )
    result = inner.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_two?compliant? PASSED*", "*test_two?firewall? PASSED*"])
    result.stdout.no_fnmatch_line("*header-stripping*PASSED*")


def test_option_narrows_to_one_profile(inner: pytest.Pytester) -> None:
    _module(inner, EVERY_PROFILE)
    result = inner.runpytest("-v", "--wsharness-profile", "firewall")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["wsharness: time scale 0.01, profiles: firewall"])
    result.stdout.fnmatch_lines(["*test_outcome?firewall? PASSED*"])


def test_ini_chooses_profiles_for_unmarked_tests(
    pytester: pytest.Pytester, write_ini: Callable[..., None]
) -> None:
    write_ini("wsharness_profiles = compliant header-stripping")
    _module(pytester, EVERY_PROFILE)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["wsharness: time scale 0.01, profiles: compliant, header-stripping"]
    )
    result.stdout.fnmatch_lines(
        ["*test_outcome?compliant? PASSED*", "*test_outcome?header-stripping? PASSED*"]
    )


def test_option_outside_the_markers_set_skips_the_test(inner: pytest.Pytester) -> None:
    _module(
        inner,
        """
    import pytest

    @pytest.mark.wsharness_profiles("compliant", "firewall")
    def test_marked(wsharness_profile):
        pass
    """,
    )
    result = inner.runpytest("-rs", "-v", "--wsharness-profile", "header-stripping")
    result.assert_outcomes(skipped=1)
    # Named, and not pytest's "got empty parameter set" with a [NOTSET] id.
    result.stdout.fnmatch_lines(
        [
            "*test_inner.py::test_marked?not-selected? SKIPPED*",
            "SKIPPED * --wsharness-profile asked for header-stripping; this test's "
            "@pytest.mark.wsharness_profiles allows only compliant, firewall",
        ]
    )
    assert "NOTSET" not in result.stdout.str()


def test_a_marker_without_profiles_is_a_usage_error(inner: pytest.Pytester) -> None:
    _module(
        inner,
        """
    import pytest

    @pytest.mark.wsharness_profiles()
    def test_marked(wsharness_profile):
        pass
    """,
    )
    result = inner.runpytest()
    result.stdout.fnmatch_lines(["*test_marked: @pytest.mark.wsharness_profiles() names no*"])


def test_unknown_profile_in_marker_is_named(inner: pytest.Pytester) -> None:
    _module(
        inner,
        """
    import pytest

    @pytest.mark.wsharness_profiles("compliant", "bogus")
    def test_marked(wsharness_profile):
        pass
    """,
    )
    result = inner.runpytest()
    # Raised while collecting: pytest reports a collection error and stops.
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [f"*test_inner.py::test_marked: unknown proxy profile 'bogus'; {VALID_CHOICES}*"]
    )
    result.assert_outcomes(errors=1)


def test_failures_say_what_each_hop_saw(inner: pytest.Pytester) -> None:
    _module(
        inner,
        IMPORTS
        + """
    @pytest.mark.wsharness_profiles("header-stripping", "firewall")
    def test_live(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
    """,
    )
    result = inner.runpytest()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    # No frame of the harness in the traceback: the test's own line, then the message.
    assert "pytest_wsharness/" not in out.split("= FAILURES =")[1].split("= wsharness")[0]
    assert max(len(line) for line in out.splitlines() if line.startswith("E ")) <= 100
    result.stdout.fnmatch_lines(
        [
            # One line a hop, the same words as the one-line explanation of the reports.
            "E *OutcomeError: expected updates delivered, but:",
            "E *proxy did:      header-stripping removed Connection, Upgrade, forwarded the *",
            "E *server did:     never saw an Upgrade header and answered 200 OK",
            "E *client saw:     handshake failed (HTTP 200), closed 1006",
            "E *UI showed:      1 failed attempt(s), noconnection, no live update, shown after*",
            "E *UI should have: got the update live",
            "E *diagnosis:      The upgrade headers were stripped on the way: the server upgrades*",
            "E *likely fix:     nginx: in the location that proxies the CMS: proxy_http_version*",
            "E *OutcomeError: expected updates delivered, but:",
            "E *proxy did:      firewall answered 403 itself",
            "E *server did:     never saw the endpoint request",
            "E *client saw:     handshake failed (HTTP 403), closed 1006",
            "E *diagnosis:      The middle tier refused the upgrade with 403 Forbidden*",
        ]
    )


def test_a_failure_behind_two_backends_names_each(inner: pytest.Pytester) -> None:
    # Issue 10: the message spoke of the first backend only, while the socket went to the other.
    _module(
        inner,
        IMPORTS
        + """
    @pytest.mark.wsharness_profiles("two-backends")
    def test_live(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
    """,
    )
    result = inner.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *proxy did:      two-backends tunnelled the WebSocket",
            "E *server did:     backend 1 *; backend 2 *",
            "E *client saw:     *",
        ]
    )
    result.stdout.fnmatch_lines(["E *server did: * backend ? upgraded (101)*"])


def test_a_failure_on_a_working_path_says_the_path_works(inner: pytest.Pytester) -> None:
    # The proxy passes the socket: the diagnosis tells the reader to look at the UI instead.
    _module(
        inner,
        IMPORTS
        + """
    @pytest.mark.wsharness_profiles("compliant")
    def test_fell_back(cms_client, cms_server, cms_proxy):
        assert_fell_back(cms_client, cms_server, proxy=cms_proxy)
    """,
    )
    result = inner.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E *diagnosis: * The WebSocket opened in *s and the heartbeat came back in *"]
    )


def test_websocket_disabled_falls_back_and_is_not_delivered(inner: pytest.Pytester) -> None:
    _module(
        inner,
        IMPORTS
        + """
    pytestmark = [
        pytest.mark.parametrize("websocket_enabled", [False]),
        pytest.mark.wsharness_profiles("compliant"),
    ]

    def test_falls_back(cms_client, cms_server, cms_proxy):
        assert_fell_back(cms_client, cms_server, proxy=cms_proxy)

    def test_not_delivered(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
    """,
    )
    result = inner.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_falls_back?compliant-False? PASSED*",
            "*test_not_delivered?compliant-False? FAILED*",
            "E *client saw: * opened no socket (WebSocketEnabled=false)*",
        ]
    )


def test_proxy_factory_rejects_an_unknown_profile(inner: pytest.Pytester) -> None:
    _module(
        inner,
        f"""
    import pytest

    def test_factory(proxy_factory, cms_server):
        with pytest.raises(pytest.UsageError, match="{VALID_CHOICES}"):
            proxy_factory("nope")
        assert proxy_factory("compliant").url.startswith("http://127.0.0.1:")
    """,
    )
    result = inner.runpytest()
    result.assert_outcomes(passed=1)


def test_async_test_uses_the_sync_fixtures(inner: pytest.Pytester) -> None:
    _module(
        inner,
        IMPORTS
        + """
    @pytest.mark.asyncio
    @pytest.mark.wsharness_profiles("compliant", "firewall")
    async def test_async(cms_client, cms_server, cms_proxy):
        assert_expected_outcome(cms_client, cms_server, cms_proxy)
    """,
    )
    result = inner.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_async?compliant? PASSED*", "*test_async?firewall? PASSED*"])


def test_runs_under_xdist(inner: pytest.Pytester) -> None:
    _module(inner, EVERY_PROFILE)
    chosen = [arg for name in FOUR for arg in ("--wsharness-profile", name)]
    result = inner.runpytest_subprocess("-n", "2", "-p", "xdist", *chosen)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*2 workers*", "*4 passed*"])
    assert result.ret == pytest.ExitCode.OK


LEAK_REPORT = """
    import threading

    def pytest_sessionfinish(session):
        left = sorted(t.name for t in threading.enumerate() if t.name.startswith("wsharness-"))
        print(f"\\nwsharness threads left: {left}")
"""


def test_no_threads_left_after_a_session(inner: pytest.Pytester) -> None:
    # A passing and a failing test: teardown must stop the loop and proxy threads either way.
    inner.makeconftest(textwrap.dedent(LEAK_REPORT))
    _module(
        inner,
        IMPORTS
        + """
    @pytest.mark.wsharness_profiles("compliant", "header-stripping")
    def test_live(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
    """,
    )
    result = inner.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["wsharness threads left: []"])


def test_no_threads_left_after_an_inprocess_run(inner: pytest.Pytester) -> None:
    _module(
        inner,
        IMPORTS
        + """
    import threading

    @pytest.mark.wsharness_profiles("firewall-reset")
    def test_outcome(cms_client, cms_server, cms_proxy):
        assert_expected_outcome(cms_client, cms_server, cms_proxy)
        names = [t.name for t in threading.enumerate()]
        assert "wsharness-proxy-firewall-reset" in names, names
    """,
    )
    # The outer session's Chromium, if a browser test of this worker started it, is not the
    # inner run's: named one by one, as tests/conftest.py does.
    outer = {t for chromium in ChromiumThread.running() for t in chromium.holds()[0]}
    result = inner.runpytest()
    result.assert_outcomes(passed=1)
    left = [
        t.name for t in threading.enumerate() if t.name.startswith("wsharness-") and t not in outer
    ]
    assert left == []
