"""What one page load in Chromium left: what its realtime client did, as the browser showed it
(``BrowserLife``, the browser's ``client.machine``), and the screenshot and console log kept
for a failure."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client.machine import Dialog, TimelineEntry


@dataclass
class BrowserLife:
    """What the realtime client of one page load did, as the browser showed it."""

    attempt_count: int = 0
    dialogs_shown: list[Dialog] = field(default_factory=list)
    reconnect_delays: list[float] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    seen_dialogs: set[str] = field(default_factory=set)

    @property
    def attempts(self) -> int:
        """WebSockets the page opened or tried to, from the browser's network record."""
        return self.attempt_count


async def save_artifacts(
    page: Any, folder: Path | None, name: str, console: list[str]
) -> list[Path]:
    """Write a screenshot of ``page`` and its ``console`` log into ``folder``.

    Returns:
        The files written: nothing without a folder or a page.
    """
    if folder is None or page is None:
        return []
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    screenshot = folder / f"{name}.png"
    log = folder / f"{name}.console.log"
    saved = []
    with contextlib.suppress(Exception):  # a page that crashed cannot be shot
        await page.screenshot(path=str(screenshot), full_page=True)
        saved.append(screenshot)
    await asyncio.to_thread(log.write_text, "\n".join(console) + "\n", encoding="utf-8")
    saved.append(log)
    return saved
