"""What the simulated CMS stores, so that a page load or a refresh shows what was published."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..protocol import Action, Topic, items_of


@dataclass
class Content:
    """The REST side of the simulated CMS: notifications, projects, project items, activities."""

    notifications: list[dict[str, Any]] = field(default_factory=list)
    unread: int = 0
    projects: dict[Any, dict[str, Any]] = field(default_factory=dict)
    project_items: dict[Any, dict[str, Any]] = field(default_factory=dict)
    activities: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, topic: Topic, data: Any) -> None:
        """Apply one push to the store, as the real CMS had done before it pushed."""
        for item in items_of(data):
            action = item.get("action", Action.SAVED)
            if topic is Topic.NOTIFICATION:
                if action == Action.SAVED:
                    self.notifications.append(item)
                    self.unread += 1
            elif topic in (Topic.PROJECT, Topic.PROJECT_ITEM):
                store = self.projects if topic is Topic.PROJECT else self.project_items
                if action == Action.DELETED:
                    store.pop(item.get("id"), None)
                else:
                    store[item.get("id")] = item
            else:
                self.activities.append(item)
