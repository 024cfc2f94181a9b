"""Waiting on a client of the edit UI, and saying what it saw: shared by both drivers
(:class:`~pytest_wsharness.client.driver.CmsClient` and
:class:`~pytest_wsharness.browser.client.BrowserClient`), so that their waits and failure
messages cannot drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import HarnessTimeout
from .machine import Dialog, State

if TYPE_CHECKING:
    from .events import SocketEvent

SETTLED = {State.CONNECTED, State.NO_CONNECTION, State.DISABLED, State.GAVE_UP}
# Reached only after the first connect had an outcome: a socket lost after it opened.
_AFTER_AN_OUTCOME = SETTLED | {State.WAITING}


class Waiting:
    """``wait_for``, ``settle`` and ``describe`` over what a driver keeps.

    A driver sets ``_changed`` whenever its UI changes, and offers ``state``,
    ``websocket_enabled``, ``events``, ``_attempts()`` and ``_dialogs_shown()``; ``who`` names
    it in messages.
    """

    who = "client"
    _changed: asyncio.Event
    websocket_enabled: bool | None
    events: list[SocketEvent]

    @property
    def state(self) -> State:
        raise NotImplementedError

    def _attempts(self) -> int:
        raise NotImplementedError

    def _dialogs_shown(self) -> Sequence[Dialog]:
        raise NotImplementedError

    def _raise_errors(self) -> None:
        """Re-raise an error the driver had in the background; none by default."""

    async def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate()`` is true, re-checking whenever the UI changes.

        Raises:
            HarnessTimeout: it stayed false for ``timeout`` seconds; the message says what the
                client saw.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            self._raise_errors()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise HarnessTimeout(what, timeout, self.describe())
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        self._raise_errors()

    async def settle(self, timeout: float) -> None:
        """Wait until the first connect of this page life has had an outcome.

        Judged on what happened, not on the state at the moment of looking: a socket that
        opens and is cut at once (``accept-then-fin``) is ``connected`` for a few
        milliseconds, which a reader that looks a little later never sees; a second attempt,
        or any state only an outcome leads to, says the first one had its outcome.
        """
        await self.wait_for(self.settled, timeout, "the realtime client to settle")

    def settled(self) -> bool:
        """Whether the first connect of this page life has had an outcome (or none is made)."""
        return self.state in _AFTER_AN_OUTCOME or self._attempts() >= 2

    def describe(self) -> str:
        """Say what the client saw, for failure messages."""
        if self.websocket_enabled is False:
            seen = "opened no socket (WebSocketEnabled=false)"
        elif not self.events:
            seen = f"made {self._attempts()} attempt(s) with no outcome yet"
        else:
            seen = "; ".join(str(e) for e in self.events[-3:])
        dialogs = ", ".join(d.value for d in self._dialogs_shown()) or "none"
        return f"{self.who} {seen}; state {self.state}; dialogs: {dialogs}"
