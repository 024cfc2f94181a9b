"""What the edit UI shows: the notification badge, the projects list, the dialogs.

Pure: the driver fetches over REST and hands the results here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..protocol import Action, Topic, items_of
from .machine import Dialog


@dataclass
class UiView:
    """The parts of the edit UI that realtime updates change.

    Attributes:
        unread: the unread-notification badge: fetched at load, then incremented by pushes.
        projects: the projects list by id.
        project_items: the project items by id.
        activities: activity and comment items received.
        live_updates: ``(topic, data)`` of every push received since the page loaded.
        dialogs: the dialogs on screen now.
    """

    unread: int = 0
    projects: dict[Any, dict[str, Any]] = field(default_factory=dict)
    project_items: dict[Any, dict[str, Any]] = field(default_factory=dict)
    activities: list[dict[str, Any]] = field(default_factory=list)
    live_updates: list[tuple[str, Any]] = field(default_factory=list)
    dialogs: set[Dialog] = field(default_factory=set)

    def load(
        self, unread: int, projects: list[dict[str, Any]], items: list[dict[str, Any]]
    ) -> None:
        """Replace everything with what a page load fetched."""
        self.unread = unread
        self.projects = {p.get("id"): p for p in projects}
        self.project_items = {i.get("id"): i for i in items}
        self.activities = []
        self.live_updates = []
        self.dialogs = set()

    def apply(self, topic: str, data: Any) -> list[Any]:
        """Apply one push; return the project ids the UI must re-fetch (saved projects)."""
        self.live_updates.append((topic, data))
        refetch = []
        for item in items_of(data):
            action = item.get("action", Action.SAVED)
            key = item.get("id")
            if topic == Topic.NOTIFICATION and action == Action.SAVED:
                self.unread += 1
            elif topic == Topic.PROJECT:
                if action == Action.DELETED:
                    self.projects.pop(key, None)
                else:
                    refetch.append(key)
            elif topic == Topic.PROJECT_ITEM:
                if action == Action.DELETED:
                    self.project_items.pop(key, None)
                else:
                    self.project_items[key] = item
            elif topic in (Topic.ACTIVITY, Topic.ACTIVITY_COMMENT):
                self.activities.append(item)
        return refetch
