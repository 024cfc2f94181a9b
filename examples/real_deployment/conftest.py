"""How a CMS team runs the harness against its own server instead of the simulated one.

In a team's repository this file holds two fixtures and nothing else:

* ``wsharness_upstream``: the URL of the dev instance. Overriding it here points this folder at
  the server; ``pytest --wsharness-upstream http://localhost:5000`` (or the ini
  ``wsharness_upstream``) does the same for a whole run, without any override;
* ``cms_trigger_update``: how to make that server push a real update. The harness cannot
  publish on a server it does not run, so it calls ``trigger(marker)`` once per scenario;
  the trigger creates an unread notification through the server's own API (here its subject is
  the marker) and returns. The assertions then watch the editor's badge through each proxy.

The proxies go in front of the server, the page is loaded through them, and a profile that would
need the server changed (no WebSocket feature, TLS, a restart, two backends) is skipped, saying
why. Failures explain what the proxy and the client saw: the server's own records are not ours.

So that this example runs in CI, "the team's dev instance" is a simulated CMS this file starts
on 127.0.0.1 (``team_cms``), and the trigger creates the notification over HTTP through the
simulator's test hook, ``POST /wsharness/notifications``, as it would through a real API.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from pytest_wsharness.runtime.loopthread import LoopThread
from pytest_wsharness.server import SimulatedCMS

# A direct opener: urllib would otherwise send the request to a proxy named in http_proxy.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def team_cms() -> Iterator[str]:
    """Stands in for the team's dev instance (``http://localhost:5000`` in real life): a
    simulated CMS on a loop thread of its own, as a separate process would be; its URL."""
    loop = LoopThread(name="wsharness-team-cms")
    try:
        yield loop.enter(SimulatedCMS(), 30.0).url
    finally:
        loop.close()


@pytest.fixture
def wsharness_upstream(team_cms: str) -> str:
    """The server the proxies go in front of: ours, not the simulated CMS."""
    return team_cms


@pytest.fixture
def cms_trigger_update(team_cms: str) -> Callable[[str], None]:
    """Make our server push a real update: create an unread notification through its API."""

    def trigger(marker: str) -> None:
        # Runs in a thread of its own: a blocking call is fine, as long as it is bounded.
        request = urllib.request.Request(
            f"{team_cms}/wsharness/notifications",
            data=json.dumps({"marker": marker}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with _DIRECT.open(request, timeout=10) as answer:
            assert answer.status == 201, answer.status

    return trigger
