"""Where a scenario's update comes from, and how to tell that the UI shows it.

Every scenario (:func:`~pytest_wsharness.scenario.observe.observe`) makes the server push one
recognisable update, identified by a marker string, then asks whether the UI showed it live and
after a reload. An :class:`UpdateSource` does both:

* :class:`SimulatedUpdates`: the harness publishes on its own simulated CMS: a notification and
  a project whose id is the marker, so the UI shows exactly that update or it did not get it;
* :class:`CallbackUpdates`: a trigger of the team's makes a real deployment push an update
  (its API creates a notification, ``wsharness matrix --trigger`` runs a command). A real
  server chooses its own ids and may push no more than ``{id, action}``, so the UI shows the
  update when its unread badge rose, or when an item it received or re-fetched carries the
  marker.

Pytest-free; the simulated CMS and the team's triggers do the talking.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..client.view import UiView
from ..errors import NoUpdateTrigger, TriggerFailed, WsHarnessError
from ..protocol import Topic
from ..runtime.loopthread import on_loop
from ..server.cms import SimulatedCMS
from ..server.reads import marked_update

# A trigger of the team's: called with the marker, plain (run in a thread of its own, so that a
# blocking HTTP call cannot stall the clients' event loop) or async (awaited on that loop, or
# on the simulated CMS's when it is given one: a shared browser's client runs on a loop of its
# own, and a trigger written for the simulated CMS uses that server's objects).
UpdateTrigger = Callable[[str], object]

TRIGGER_TIMEOUT = 30.0


class UpdateSource(Protocol):
    """Makes the server under test push one update, and says whether the UI shows it."""

    @property
    def server(self) -> SimulatedCMS | None:
        """The simulated CMS behind the updates, for the server-side events of a scenario (a
        restart); ``None`` for a real deployment, which the harness cannot restart."""
        ...

    async def trigger(self, marker: str) -> None:
        """Make the server push an update carrying ``marker``; return once it was asked to.

        Raises:
            TriggerFailed: the team's trigger failed or did not answer in time.
            NoUpdateTrigger: there is no trigger for a real deployment.
        """
        ...

    def shows_live(self, view: UiView, marker: str, unread_before: int) -> bool:
        """Whether ``view`` shows the update without a reload (``unread_before``: the badge
        when the update was triggered)."""
        ...

    def shows_after_refresh(self, view: UiView, marker: str, unread_before: int) -> bool:
        """Whether ``view``, just reloaded, shows the update."""
        ...


def update_for(marker: str) -> list[tuple[Topic, dict[str, Any]]]:
    """The pushes of one recognisable update: a notification and a saved project."""
    return marked_update(marker)


def shows(view: UiView, marker: str, unread_before: int) -> bool:
    """Whether ``view`` shows the update ``marker`` of the simulated CMS: the project and a
    higher badge."""
    return marker in view.projects and view.unread > unread_before


def carries(view: UiView, marker: str) -> bool:
    """Whether an item ``view`` holds or received carries ``marker``: a project keyed by it or
    naming it, or a push whose data mentions it."""
    if marker in view.projects:
        return True
    seen = [*view.projects.values(), *(data for _, data in view.live_updates)]
    return any(marker in json.dumps(item, default=str) for item in seen)


class SimulatedUpdates:
    """Updates the harness publishes on its own simulated CMS.

    It is also a valid :data:`UpdateTrigger` (``await updates(marker)``): the default of the
    ``cms_trigger_update`` fixture.

    Args:
        server: the simulated CMS the client reads from.
        backends: every backend of the site when there are several: the update is saved on one
            that does not hold the client's socket, as an editor's save lands anywhere.
    """

    def __init__(self, server: SimulatedCMS, backends: Sequence[SimulatedCMS] = ()) -> None:
        self.server = server
        self.backends = list(backends)

    async def __call__(self, marker: str) -> None:
        await self.trigger(marker)

    async def trigger(self, marker: str) -> None:
        """Publish the notification and the project of ``marker`` (see :func:`update_for`)."""
        publisher = next((b for b in self.backends if b.connections == 0), self.server)
        # On the server's loop: the client's may be another (a shared browser's).
        await on_loop(publisher.loop, self._publish(publisher, marker))

    @staticmethod
    async def _publish(publisher: SimulatedCMS, marker: str) -> None:
        for topic, data in update_for(marker):
            await publisher.publish(topic, data)

    def shows_live(self, view: UiView, marker: str, unread_before: int) -> bool:
        """The project of ``marker`` is listed and the badge rose."""
        return shows(view, marker, unread_before)

    def shows_after_refresh(self, view: UiView, marker: str, unread_before: int) -> bool:
        """The project of ``marker`` is listed."""
        return marker in view.projects


class MissingTrigger:
    """The ``cms_trigger_update`` of a real deployment that nobody overrode: calling it, or
    building a :class:`CallbackUpdates` on it, raises :class:`NoUpdateTrigger`.

    Args:
        url: the real deployment, for the message.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, marker: str) -> None:
        raise NoUpdateTrigger(self.url)


class CallbackUpdates:
    """Updates a trigger of the team's makes the server push: a real deployment's own.

    Args:
        trigger: called with the marker; it makes the server push an update for the editor the
            page loads as: an unread notification (the badge rises) and/or a saved project
            whose fields carry the marker. Plain functions run in a thread of their own;
            ``async`` ones are awaited (on ``server``'s event loop when there is one).
        timeout: seconds the trigger may take. It defaults to 30. A plain function that
            overruns keeps its thread until it returns: bound its own I/O.
        name: what the trigger is, for messages. It defaults to ``"cms_trigger_update"``.
        server: the simulated CMS behind a trigger given for it, for a restart; ``None``, the
            default, for a real deployment.

    Raises:
        NoUpdateTrigger: ``trigger`` is a :class:`MissingTrigger`.
    """

    def __init__(
        self,
        trigger: UpdateTrigger,
        *,
        timeout: float = TRIGGER_TIMEOUT,
        name: str = "cms_trigger_update",
        server: SimulatedCMS | None = None,
    ) -> None:
        if isinstance(trigger, MissingTrigger):
            # Said before the scenario starts, in the test's own thread: the clearest place.
            raise NoUpdateTrigger(trigger.url)
        self.server = server
        self._trigger = trigger
        self.timeout = timeout
        self.name = name

    async def trigger(self, marker: str) -> None:
        """Call the trigger with ``marker``, bounded by the timeout.

        Raises:
            TriggerFailed: it raised (the original exception is the ``__cause__``), or took
                longer than the timeout.
        """
        try:
            if _is_async(self._trigger):
                loop = self.server.loop if self.server is not None else None
                result = await asyncio.wait_for(
                    on_loop(loop, _awaited(self._trigger(marker))), self.timeout
                )
            else:
                result = await asyncio.wait_for(
                    asyncio.to_thread(self._trigger, marker), self.timeout
                )
                if inspect.isawaitable(result):  # a plain function that returned a coroutine
                    await asyncio.wait_for(_awaited(result), self.timeout)
        except TimeoutError:
            raise TriggerFailed(self.name, f"no answer within {self.timeout:g}s") from None
        except WsHarnessError:
            raise
        except Exception as error:
            raise TriggerFailed(self.name, f"raised {error!r}") from error

    def shows_live(self, view: UiView, marker: str, unread_before: int) -> bool:
        """The badge rose, or an item the UI received or re-fetched carries ``marker``."""
        return view.unread > unread_before or carries(view, marker)

    def shows_after_refresh(self, view: UiView, marker: str, unread_before: int) -> bool:
        """The badge the reload read is higher, or a project it listed carries ``marker``."""
        return view.unread > unread_before or carries(view, marker)


def _is_async(trigger: UpdateTrigger) -> bool:
    # An object whose __call__ is async counts too: iscoroutinefunction does not see it.
    call = inspect.getattr_static(type(trigger), "__call__", None)
    return inspect.iscoroutinefunction(trigger) or inspect.iscoroutinefunction(call)


async def _awaited(result: object) -> object:
    return await result if inspect.isawaitable(result) else result


def source_for(trigger: UpdateTrigger, server: SimulatedCMS | None = None) -> UpdateSource:
    """The source that ``trigger`` makes: the trigger itself when it is a
    :class:`SimulatedUpdates` (the harness publishing), else a :class:`CallbackUpdates`."""
    if isinstance(trigger, SimulatedUpdates):
        return trigger
    return CallbackUpdates(trigger, server=server)
