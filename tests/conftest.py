"""Suite-wide guard: no test may leave a thread or a socket behind."""

from __future__ import annotations

import gc
import os
import socket
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_wsharness.browser.chromium import find_browser
from pytest_wsharness.browser.shared import ChromiumThread
from pytest_wsharness.errors import MissingPart
from pytest_wsharness.require import skip_or_fail

LINGER_TIMEOUT = 5.0

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
    for chromium in ChromiumThread.running():
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
