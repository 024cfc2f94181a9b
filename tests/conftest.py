"""Suite-wide guard: no test may leave a thread or a socket behind."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

LINGER_TIMEOUT = 5.0


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


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a thread or a socket open after its fixtures are torn down."""
    if request.node.get_closest_marker("leaks_allowed"):
        yield
        return
    threads, sockets = _threads(), _sockets()
    yield
    # Threads that finished their work may still be exiting: wait on each, bounded.
    for thread in _threads() - threads:
        thread.join(LINGER_TIMEOUT)
    left = [t.name for t in _threads() - threads]
    assert not left, f"threads left running: {left}"
    opened = _sockets() - sockets
    assert not opened, f"sockets left open: {sorted(opened)}"
