"""pytest fixtures for the edit UI in headless Chromium (entry point ``wsharness-browser``).

Hooks and fixtures only; the engine is :class:`~pytest_wsharness.browser.client.BrowserClient`
on a :class:`~pytest_wsharness.browser.shared.ChromiumThread`. As in pytest-playwright, Chromium
is launched once per session (per pytest-xdist worker) and each client gets a fresh context of
it: cookies, storage and service workers never reach the next test (issue 11: a whole Chromium
per test cost about 1.3 s). Playwright and Chromium are looked for when a browser fixture is
first used: a test that needs them skips, naming the missing part, unless
``WSHARNESS_REQUIRE_BROWSER=1`` (set in CI), which makes it fail instead.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import MissingPart
from ..runtime.require import skip_or_fail

# The engine is imported by the fixtures that use it: see the same note in ../plugin.py.
if TYPE_CHECKING:
    from ..proxy.base import Proxy
    from ..runtime.sync import SyncClient, SyncCMS
    from ..runtime.tls import TestCA
    from ..upstream.deployment import RealDeployment
    from .shared import ChromiumThread

REQUIRE_ENV = "WSHARNESS_REQUIRE_BROWSER"
_LOADED = pytest.StashKey["list[SyncClient]"]()
_CHROMIUM = pytest.StashKey["ChromiumThread"]()
BROWSER_FIXTURES = ("cms_browser", "cms_browser_factory", "wsharness_chromium")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # Open the next test's page in the background only when that test asks for a browser: a
    # renderer starting while a test at time scale 0.01 runs is lag it need not have.
    chromium = item.config.stash.get(_CHROMIUM, None)
    if chromium is not None:
        names = getattr(nextitem, "fixturenames", ())
        chromium.chromium.spare = any(name in names for name in BROWSER_FIXTURES)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    browsers = item.stash.get(_LOADED, [])
    if report.when == "call" and report.failed and browsers:
        from ..assertions import save_browser_artifacts

        for index, client in enumerate(browsers):
            try:
                saved = save_browser_artifacts(client, f"browser-{index}")
            except Exception as error:  # the browser may be what failed
                saved, note = [], f"could not save the browser's artifacts: {error!r}"
            else:
                note = "\n".join(str(path) for path in saved)
            report.sections.append((f"wsharness browser {index}", note))
    return report


@pytest.fixture(scope="session")
def wsharness_chromium(pytestconfig: pytest.Config) -> Iterator[ChromiumThread]:
    """The session's Chromium (each pytest-xdist worker has its own): Playwright starts once,
    on an event-loop thread of its own, and launches the browser when a client first needs
    it, again if it crashed. Every browser client gets a fresh context of it, closed after its
    test; the next test's context and page open as one ends when the next test asks for a
    browser fixture by name (``SharedChromium(spare=True)``).
    Closed at the end of the session. Skips when Chromium or Playwright is missing."""
    from .shared import ChromiumThread

    try:
        chromium = ChromiumThread()
    except MissingPart as missing:
        skip_or_fail(missing, REQUIRE_ENV)
    pytestconfig.stash[_CHROMIUM] = chromium
    yield chromium
    del pytestconfig.stash[_CHROMIUM]
    chromium.close()


@pytest.fixture
def cms_browser_factory(
    request: pytest.FixtureRequest,
    wsharness_chromium: ChromiumThread,
    wsharness_time_scale: float,
    tmp_path: Path,
    cms_client_headers: dict[str, str],
) -> Iterator[Callable[..., SyncClient]]:
    """Load the CMS edit UI in headless Chromium:
    ``cms_browser_factory(url, proxy=None, trust=())``.

    ``url`` is where the page is served from (a proxy's or the server's URL); ``proxy`` an
    explicit (forward) proxy the browser is set to use; ``trust`` the test CAs whose
    certificates it accepts, for an ``https`` page. It sends ``cms_client_headers`` with every
    request, as the Python client does. The client offers what the Python
    client does (``view``, ``state``, ``machine``, ``events``, ``refresh()``...), read from the
    DOM and the browser's WebSocket record, so the same assertions apply. When the test fails,
    each browser's screenshot and console log are saved under ``tmp_path`` and named in the
    report. Each client is a fresh context (and page) of ``wsharness_chromium``, closed after
    the test; a context still open then fails the test's teardown. Skips when Chromium or
    Playwright is missing.
    """
    from ..runtime.sync import SyncClient
    from .client import BrowserClient

    loaded: list[SyncClient] = []
    request.node.stash[_LOADED] = loaded

    def make(url: str, proxy: str | None = None, trust: Sequence[TestCA] = ()) -> SyncClient:
        engine = BrowserClient(
            url,
            time_scale=wsharness_time_scale,
            proxy=proxy,
            artifacts=tmp_path / "browser",
            trust=trust,
            headers=cms_client_headers,
            browser=wsharness_chromium.chromium,
        )
        loop = wsharness_chromium.loop
        loop.run(engine.__aenter__(), 90.0, "the CMS edit UI to load in Chromium")
        client = SyncClient(loop, engine)
        loaded.append(client)
        return client

    yield make
    for client in reversed(loaded):
        wsharness_chromium.loop.run(client.engine.close(), 60.0, "the page's context to close")
    left = wsharness_chromium.close_contexts()
    if left:
        pytest.fail(
            f"{left} browser context(s) left open by the test; closed now, so that the next "
            "test starts clean"
        )


@pytest.fixture
def cms_browser(
    cms_server: SyncCMS | RealDeployment,
    cms_proxy: Proxy,
    cms_browser_factory: Callable[..., SyncClient],
) -> SyncClient:
    """The CMS edit UI in headless Chromium, loaded through ``cms_proxy`` (as its page, or as
    the browser's proxy for a forward profile). When the server speaks TLS it trusts
    ``wsharness_ca``, and the CA a TLS-intercepting proxy presents, as a managed machine does.
    In front of an ``https`` real deployment it trusts the CA the proxy presents; a forward
    profile there skips, saying why (Chromium would meet the deployment's own certificate)."""
    reason = cms_server.browser_skip_reason(cms_proxy.profile)
    if reason is not None:
        pytest.skip(reason)
    page, forward = cms_proxy.route(cms_server.url)
    return cms_browser_factory(page, proxy=forward, trust=cms_server.browser_trust(cms_proxy))
