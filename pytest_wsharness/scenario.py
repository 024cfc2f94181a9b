"""One scenario end to end: publish an update, watch the UI, reload, judge.

Async and pytest-free; the matrix, the CLI and the pytest assertions all go through here.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from .client.driver import CmsClient
from .client.machine import State
from .protocol import Action, Topic
from .server.cms import SimulatedCMS
from .verdict import Observation

SETTLE_TIMEOUT = 15.0
DELIVERY_TIMEOUT = 5.0
_markers = itertools.count(1)
_NO_SOCKET = {State.NO_CONNECTION, State.DISABLED, State.GAVE_UP}


def quiet_window(time_scale: float) -> float:
    """How long to watch a UI that should stay quiet, in seconds.

    Long enough for a heartbeat kill (2 missed checks, 6 s) and the first reconnect (5 s) to show
    at the CMS's own timings, scaled; never under 0.2 s so a slow machine still gets a fair look.
    """
    return max(0.2, 7.0 * time_scale)


def update_for(marker: str) -> list[tuple[Topic, dict[str, Any]]]:
    """The pushes of one recognisable update: a notification and a saved project."""
    return [
        (Topic.NOTIFICATION, {"id": marker, "action": int(Action.SAVED), "subject": marker}),
        (Topic.PROJECT, {"id": marker, "action": int(Action.SAVED), "name": f"Project {marker}"}),
    ]


def shows(client: CmsClient, marker: str, unread_before: int) -> bool:
    """Whether the client's UI shows the update ``marker``: the project and a higher badge."""
    return marker in client.view.projects and client.view.unread > unread_before


async def observe(
    client: CmsClient,
    server: SimulatedCMS,
    *,
    expect_live: bool,
    time_scale: float,
    timeout: float = DELIVERY_TIMEOUT,
) -> Observation:
    """Publish an update, watch the client, then reload the page and look again.

    Args:
        client: a loaded client.
        server: the server it reads from, directly or through proxies.
        expect_live: wait up to ``timeout`` for a live update; otherwise watch for
            :func:`quiet_window` to see that nothing arrives and nothing retries.
        time_scale: the client's time scale.
        timeout: the bound on a live update, in seconds.
    """
    await client.settle(SETTLE_TIMEOUT)
    marker = f"wsharness-{next(_markers)}"
    unread_before = client.view.unread
    for topic, data in update_for(marker):
        await server.publish(topic, data)
    if expect_live:
        # No need to sit out the timeout once the client can no longer receive anything.
        def done() -> bool:
            return shows(client, marker, unread_before) or client.state in _NO_SOCKET

        await _within(client, done, timeout)
    else:
        await _within(
            client, lambda: shows(client, marker, unread_before), quiet_window(time_scale)
        )
    live = shows(client, marker, unread_before)
    if live and not expect_live:
        # Give a retry storm, if there is one, the same window to show itself.
        await _within(client, lambda: False, quiet_window(time_scale))
    machine, events, state = client.machine, list(client.events), client.state
    await client.refresh()
    await client.settle(SETTLE_TIMEOUT)
    return Observation(
        websocket_enabled=bool(client.websocket_enabled),
        attempts=machine.attempts,
        opened=any(e.kind == "open" for e in events),
        state=state,
        dialogs=tuple(machine.dialogs_shown),
        live=live,
        after_refresh=marker in client.view.projects,
        socket_events=tuple(str(e) for e in events),
    )


async def _within(client: CmsClient, predicate: Callable[[], bool], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await client.wait_for(predicate, seconds, "the observation window")
