"""The browser fixtures through pytester: a failure leaves a screenshot and the console log and
names them; a machine without Chromium skips with a reason naming it, unless told to fail."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

FAILING = """
    import pytest
    from pytest_wsharness.assertions import assert_updates_delivered

    @pytest.mark.wsharness_profiles("header-stripping")
    def test_expects_too_much(cms_browser, cms_server, cms_proxy):
        assert_updates_delivered(cms_browser, cms_server, proxy=cms_proxy)

    @pytest.mark.wsharness_profiles("compliant")
    def test_fails_its_own_way(cms_browser):
        cms_browser.settle()
        assert cms_browser.view.unread == 99
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, write_ini: Callable[..., None]) -> pytest.Pytester:
    write_ini()
    return pytester


def test_a_failing_browser_test_names_its_screenshot_and_console_log(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_inner=textwrap.dedent(FAILING))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "browser screenshot and console log: " in out
    assert "header-stripping removed Connection, Upgrade" in out
    saved = [Path(p) for p in re.findall(r"(/\S+\.(?:png|console\.log))", out)]
    assert any(p.name == "failure.png" for p in saved), out
    assert any(p.name == "browser-0.png" for p in saved), out
    for path in saved:
        assert path.is_file(), path
        assert path.stat().st_size > 0, path
    logs = [p for p in saved if p.name.endswith(".console.log")]
    assert any("Unexpected response code: 200" in p.read_text() for p in logs)


def test_without_chromium_browser_tests_skip_naming_it(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSHARNESS_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("WSHARNESS_REQUIRE_BROWSER", raising=False)
    inner.makepyfile(test_inner=textwrap.dedent(FAILING))
    result = inner.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*missing Chromium*/nonexistent/chromium*"])


def test_ci_fails_instead_of_skipping(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSHARNESS_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("WSHARNESS_REQUIRE_BROWSER", "1")
    inner.makepyfile(test_inner=textwrap.dedent(FAILING))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*MissingPart: missing Chromium*"])
