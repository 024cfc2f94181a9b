"""The browser fixtures through pytester: a failure leaves a screenshot and the console log and
names them; a machine without Chromium skips with a reason naming it, unless told to fail."""

from __future__ import annotations

import re
import textwrap
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


# Marked here: the browser runs in the inner pytest, where conftest.py cannot see it.
@pytest.mark.browser
def test_a_failing_browser_test_names_its_screenshot_and_console_log(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_inner=textwrap.dedent(FAILING))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    # Each file on a line of its own, whole, to copy.
    result.stdout.fnmatch_lines(
        ["E *screenshot: * /*/failure.png", "E *console log: * /*/failure.console.log"]
    )
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


# Run in this order in one session: each test's page is a fresh context of one Chromium.
SHARED = """
    import pytest

    # A 3 s heartbeat: a busy machine must not make test 4's socket miss one.
    pytestmark = pytest.mark.wsharness_time_scale(1)

    STORE = "() => { document.cookie = 'editor=seen; path=/'; localStorage.setItem('k', 'v');"
    STORE += " sessionStorage.setItem('k', 'v'); }"
    READ = "() => [document.cookie, localStorage.getItem('k'), sessionStorage.getItem('k')]"

    @pytest.mark.wsharness_profiles("compliant")
    def test_1_stores(cms_browser, wsharness_chromium):
        cms_browser.loop.run(cms_browser.engine.page.evaluate(STORE), 10)
        assert cms_browser.loop.run(cms_browser.engine.page.evaluate(READ), 10) == [
            "editor=seen", "v", "v"]

    @pytest.mark.wsharness_profiles("compliant")
    def test_2_sees_none_of_it(cms_browser, wsharness_chromium):
        assert cms_browser.loop.run(cms_browser.engine.page.evaluate(READ), 10) == ["", None, None]
        assert wsharness_chromium.chromium.launches == 1  # the same browser, a new context
        assert wsharness_chromium.chromium.spares_taken == 1  # opened as test 1 ended

    @pytest.mark.wsharness_profiles("compliant")
    def test_3_crashes_the_browser(cms_browser, wsharness_chromium):
        browser = cms_browser.engine.page.context.browser
        # What a renderer or GPU crash that takes the browser down looks like to Playwright.
        cms_browser.loop.run(browser.close(), 30)
        assert not browser.is_connected()

    @pytest.mark.wsharness_profiles("compliant")
    def test_4_gets_a_new_browser(cms_browser, wsharness_chromium):
        assert cms_browser.settle().value == "connected"
        assert wsharness_chromium.chromium.launches == 2
"""


@pytest.mark.browser
def test_each_test_gets_a_fresh_context_of_one_browser_relaunched_after_a_crash(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_inner=textwrap.dedent(SHARED))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


LEAKY = """
    import pytest

    @pytest.mark.wsharness_profiles("compliant")
    def test_opens_a_context_of_its_own(cms_browser):
        browser = cms_browser.engine.page.context.browser
        cms_browser.loop.run(browser.new_context(), 10)

    @pytest.mark.wsharness_profiles("compliant")
    def test_next(cms_browser, wsharness_chromium):
        assert wsharness_chromium.chromium.open_contexts == 1  # its own only
"""


@pytest.mark.browser
def test_a_context_left_open_fails_the_teardown_and_is_closed(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_inner=textwrap.dedent(LEAKY))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*1 browser context(s) left open by the test; closed now, so that the next test*"]
    )


# The issue names service workers beside cookies and storage: a worker one test registers
# must not serve the next test's pages. Served here on a loopback origin of its own (a service
# worker needs a secure context, which http://127.0.0.1 is).
SERVICE_WORKERS = """
    import functools, http.server, threading
    import pytest

    pytestmark = pytest.mark.wsharness_time_scale(1)
    PAGE = "<!doctype html><title>sw</title>"
    WORKER = "self.addEventListener('fetch', () => {});"
    COUNT = "() => navigator.serviceWorker.getRegistrations().then(r => r.length)"
    REGISTER = "() => navigator.serviceWorker.register('/sw.js').then(() => 1)"
    READY = "() => navigator.serviceWorker.ready.then(() => 1)"

    @pytest.fixture(scope="module")
    def origin(tmp_path_factory):
        folder = tmp_path_factory.mktemp("sw")
        (folder / "index.html").write_text(PAGE)
        (folder / "sw.js").write_text(WORKER)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()
        server.server_close()
        thread.join(10)

    def _look(cms_browser, origin, register):
        context = cms_browser.engine.page.context

        async def look():
            page = await context.new_page()
            try:
                await page.goto(origin + "/index.html")
                if register:
                    assert await page.evaluate(REGISTER) == 1
                    assert await page.evaluate(READY) == 1
                return await page.evaluate(COUNT), len(context.service_workers)
            finally:
                await page.close()

        return cms_browser.loop.run(look(), 30)

    @pytest.mark.wsharness_profiles("compliant")
    def test_1_registers_a_service_worker(cms_browser, origin):
        # The checks of test 2 find the worker where there is one: they can fail.
        assert _look(cms_browser, origin, register=True) == (1, 1)

    @pytest.mark.wsharness_profiles("compliant")
    def test_2_sees_no_service_worker(cms_browser, origin, wsharness_chromium):
        assert _look(cms_browser, origin, register=False) == (0, 0)
        assert wsharness_chromium.chromium.launches == 1  # the same browser, a new context
"""


@pytest.mark.browser
def test_a_service_worker_does_not_outlive_its_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_inner=textwrap.dedent(SERVICE_WORKERS))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
