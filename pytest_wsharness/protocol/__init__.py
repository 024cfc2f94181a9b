"""The CMS realtime protocol, as the edit UI and the server speak it (REFERENCE.md section 1).

Shared by the simulated server and the client model so that the two cannot disagree.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from ..errors import UnknownChoiceError

HEARTBEAT = "/epi/heartbeat"
DEFAULT_ENDPOINT = "/EPiServer/Shell/socket/endpoint"

NO_CONNECTION_TEXT = (
    "A real-time connection could not be established with the server. This may be caused by "
    "incorrect configuration. Please see the User interface section in the user guide for further "
    "information."
)


class Topic(enum.StrEnum):
    """The topics the CMS server pushes; the client filters, it never subscribes."""

    PROJECT = "/episerver/cms/project"
    PROJECT_ITEM = "/episerver/cms/project-item"
    ACTIVITY = "/episerver/cms/activity"
    ACTIVITY_COMMENT = "/episerver/cms/activity-comment"
    NOTIFICATION = "/episerver/cms/notification"

    @classmethod
    def parse(cls, value: str) -> Topic:
        """Return the topic named ``value``.

        Raises:
            UnknownChoiceError: ``value`` is not a CMS topic.
        """
        try:
            return cls(value)
        except ValueError:
            raise UnknownChoiceError("topic", value, [t.value for t in cls]) from None


class Action(enum.IntEnum):
    """What happened to an item: the client re-fetches saved items and evicts deleted ones."""

    SAVED = 1
    DELETED = 2


@dataclass(frozen=True)
class Routes:
    """The server paths the edit UI reads; ``endpoint`` is configurable, as in the CMS."""

    endpoint: str = DEFAULT_ENDPOINT
    settings: str = "/EPiServer/Shell/settings"
    unread_count: str = "/EPiServer/cms/Stores/notification/unreadcount"
    notifications: str = "/EPiServer/cms/Stores/notification"
    projects: str = "/EPiServer/cms/Stores/project"
    project_items: str = "/EPiServer/cms/Stores/projectitem"
    activities: str = "/EPiServer/cms/Stores/activity"
    page: str = "/EPiServer/Shell/edit"
    script: str = "/EPiServer/Shell/realtime.js"

    def __post_init__(self) -> None:
        if not self.endpoint.startswith("/"):
            raise ValueError(f"endpoint must be a path starting with '/', got {self.endpoint!r}")


def encode_message(topic: Topic | str, data: Any) -> str:
    """Encode one server push as the CMS sends it: ``{"topic": ..., "data": ...}``."""
    return json.dumps({"topic": str(Topic.parse(str(topic))), "data": data})


def items_of(data: Any) -> list[dict[str, Any]]:
    """Return the items in a push payload, which is one item or a list of items."""
    items = data if isinstance(data, list) else [data]
    return [item for item in items if isinstance(item, dict)]
