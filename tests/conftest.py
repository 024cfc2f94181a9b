"""What every test here shares: the suite-wide guard that no test leaves a thread or a socket
behind, the markers of the slow kinds (put on each test by what it uses), and the fixtures of
the acceptance tests, which run an inner pytest with ``pytester``.

Kept light: a pure unit test imports no engine (mitmproxy, aiohttp, Playwright) because of this
file; a fixture imports what it needs when it runs.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_wsharness.errors import MissingPart
from pytest_wsharness.runtime.require import skip_or_fail

if TYPE_CHECKING:
    from pytest_wsharness.server import SimulatedCMS

LINGER_TIMEOUT = 5.0

# The slow kinds, so that a quick loop can leave them out: pytest -m "not browser".
MARKERS = {
    "browser": "drives headless Chromium",
    "real_proxy": "runs real proxy software (nginx, HAProxy, Apache, Caddy, Squid, tinyproxy)",
    "docker": "needs a Docker engine",
}
BROWSER_FIXTURES = frozenset(
    {"cms_browser", "cms_browser_factory", "chromium", "wsharness_chromium"}
)
# The helpers that run real proxy software without the fixture (tests/real_software.py,
# tests/own_config.py); each skips the test (fails it in CI) where the software is missing.
REAL_PROXY_CALLS = frozenset({"installed", "side_by_side", "assert_idle_cut", "find_binary"})


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test of a slow kind by what it uses: ``browser`` for the browser fixtures or a
    ``browser`` parameter (the driver of tests/test_browser.py), ``real_proxy`` for the
    ``real_proxy`` fixture or a call of :data:`REAL_PROXY_CALLS`, ``docker`` for the
    ``docker_client`` fixture or a ``docker`` parameter (a backend). A test the rule cannot
    see, such as one whose inner pytest run drives the browser, carries the marker itself."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = _param_values(item)
        if fixtures & BROWSER_FIXTURES or "browser" in params:
            item.add_marker(pytest.mark.browser)
        if "real_proxy" in fixtures or _names(item) & REAL_PROXY_CALLS:
            item.add_marker(pytest.mark.real_proxy)
        if "docker_client" in fixtures or "docker" in params:
            item.add_marker(pytest.mark.docker)


def _param_values(item: pytest.Item) -> set[str]:
    callspec = getattr(item, "callspec", None)
    return {v for v in callspec.params.values() if isinstance(v, str)} if callspec else set()


def _names(item: pytest.Item) -> set[str]:
    """The global and attribute names the test's own code (nested functions included) uses."""
    function = getattr(item, "function", None)
    code = getattr(function, "__code__", None)
    names: set[str] = set()
    codes = [code] if code is not None else []
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


# The ini of every inner pytest run: warnings are errors, except the unraisables of the outer
# suite's pyproject.toml (objects asyncio drops, found by the collector in whichever test).
INNER_INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning
    ignore:Exception ignored in. <function _Sel:pytest.PytestUnraisableExceptionWarning
    ignore:Exception ignored in. <function StreamWriter:pytest.PytestUnraisableExceptionWarning
"""


@pytest.fixture
def chromium() -> Path:
    """The system's Chromium; skips naming it when missing (fails in CI, which installs it)."""
    from pytest_wsharness.browser.chromium import find_browser

    try:
        return find_browser()
    except MissingPart as missing:
        skip_or_fail(missing, "WSHARNESS_REQUIRE_BROWSER")


@pytest.fixture
def write_ini(pytester: pytest.Pytester) -> Callable[..., None]:
    """Write the inner run's ini: :data:`INNER_INI`, the time scale (``None``: the default),
    then each given line (``key = value``)."""

    def write(*lines: str, time_scale: str | None = "0.01") -> None:
        if time_scale is not None:
            lines = (f"wsharness_time_scale = {time_scale}", *lines)
        pytester.makeini(INNER_INI + "".join(f"{line}\n" for line in lines))

    return write


@pytest.fixture
def inner(pytester: pytest.Pytester, write_ini: Callable[..., None]) -> pytest.Pytester:
    """A pytester directory with the ini every inner run uses (:func:`write_ini`'s defaults).
    A module whose tests all run the same inner module overrides it, writing that module."""
    write_ini()
    return pytester


@pytest.fixture
def credential_suite(
    pytester: pytest.Pytester, write_ini: Callable[..., None]
) -> Callable[[dict[str, str], str], pytest.Pytester]:
    """An inner suite whose client sends the given credential headers
    (``cms_client_headers``), with the given test module; the redaction tests run it."""

    def make(secrets: dict[str, str], tests: str) -> pytest.Pytester:
        write_ini()
        pytester.makeconftest(
            "import pytest\n\n\n"
            "@pytest.fixture\n"
            f"def cms_client_headers():\n    return {secrets!r}\n"
        )
        pytester.makepyfile(test_inner=textwrap.dedent(tests))
        return pytester

    return make


@pytest.fixture
def team_server() -> Iterator[Callable[..., SimulatedCMS]]:
    """Start a team's dev instance: ``team_server(**options)`` is a simulated CMS of those
    options on a loop thread of its own, as a server the harness does not run would be in a
    process of its own. Each one is stopped at teardown, the last first."""
    from pytest_wsharness.runtime.loopthread import LoopThread
    from pytest_wsharness.server import SimulatedCMS

    with contextlib.ExitStack() as started:

        def start(**options: Any) -> SimulatedCMS:
            loop = LoopThread(name="wsharness-team")
            started.callback(loop.close)
            return loop.enter(SimulatedCMS(**options), 30.0)

        yield start


def _sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed while listing
        if target.startswith("socket:"):
            found.add(f"{fd}->{target}")
    return found


def _describe(sockets: set[str]) -> str:
    """Each socket's fd, family and addresses, so a leak names the connection it was."""
    described = []
    for entry in sorted(sockets):
        fd = int(entry.split("->")[0])
        try:
            with socket.socket(fileno=os.dup(fd)) as sock:
                try:
                    peer = f" -> {sock.getpeername()}"
                except OSError:
                    peer = " (no peer)"
                described.append(f"{entry} {sock.family.name} {sock.getsockname()}{peer}")
        except OSError as error:
            described.append(f"{entry} ({error.strerror})")
    return "; ".join(described)


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def _session_browser() -> tuple[set[threading.Thread], set[str]]:
    """What the session's Chromium (``wsharness_chromium``) holds: started by the first test
    that uses a browser, closed at the end of the session, so never that test's leak. Named
    one by one (its loop thread and self-pipe, Playwright's child watcher), not by a pattern:
    anything else a browser test leaves is still caught, and each test's own context is
    checked by the fixture's teardown."""
    threads: set[threading.Thread] = set()
    fds: set[int] = set()
    shared = sys.modules.get("pytest_wsharness.browser.shared")
    if shared is None:  # no browser yet: the guard does not load one's module to find out
        return threads, set()
    for chromium in shared.ChromiumThread.running():
        held_threads, held_fds = chromium.holds()
        threads |= held_threads
        fds |= held_fds
    return threads, {s for s in _sockets() if int(s.split("->", 1)[0]) in fds}


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a thread or a socket open after its fixtures are torn down."""
    if request.node.get_closest_marker("leaks_allowed"):
        yield
        return
    threads, sockets = _threads(), _sockets()
    yield
    session_threads, session_sockets = _session_browser()
    threads |= session_threads
    sockets |= session_sockets
    # Threads that finished their work may still be exiting: wait on each, bounded.
    for thread in _threads() - threads:
        thread.join(LINGER_TIMEOUT)
    left = [t.name for t in _threads() - threads]
    assert not left, f"threads left running: {left}"
    opened = _sockets() - sockets
    if opened:
        described = _describe(opened)
        # A socket only a reference cycle holds closes at a full collection: say if it was one.
        gc.unfreeze()
        gc.collect()
        cycles = opened - _sockets()
        raise AssertionError(
            f"sockets left open: {described}"
            + (f"; a full garbage collection closed {sorted(cycles)}" if cycles else "")
        )


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """COLUMNS wide enough that no command wraps a line: for tests that read a line's words
    (the width tests set COLUMNS themselves)."""
    monkeypatch.setenv("COLUMNS", "400")
