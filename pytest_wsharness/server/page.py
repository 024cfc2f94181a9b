"""The edit-UI page the simulated CMS serves, for a real browser to run.

``ui/editui.html`` shows the notification badge, the projects list and the realtime dialogs;
``ui/realtime.js`` is the realtime client, the same algorithm as ``client/machine.py``. The page
gets the server's routes, the heartbeat text, the topics and the dialog texts from a JSON block
written into it here, so that the page, the Python client and the server share one protocol.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from importlib import resources

from ..protocol import HEARTBEAT, NO_CONNECTION_TEXT, Routes, Topic

DIALOG_TEXTS = {
    "noconnection": NO_CONNECTION_TEXT,
    "reconnecting": "The connection to the server was lost. Trying to reconnect...",
    "reconnect-failed": "The connection to the server could not be restored. Reload the page.",
}


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("ui", name).read_text(encoding="utf-8")


def page_html(routes: Routes) -> str:
    """The edit-UI page, configured for ``routes``."""
    config = {
        "routes": dataclasses.asdict(routes),
        "heartbeat": HEARTBEAT,
        "topics": {"notification": Topic.NOTIFICATION.value, "project": Topic.PROJECT.value},
        "dialogs": DIALOG_TEXTS,
    }
    # "</" would end the <script> block early; "<\/" is the same JSON.
    embedded = json.dumps(config).replace("</", "<\\/")
    page = _asset("editui.html").replace("{{CONFIG}}", embedded)
    return page.replace("{{SCRIPT}}", routes.script)


def realtime_js() -> str:
    """The page's realtime client."""
    return _asset("realtime.js")
