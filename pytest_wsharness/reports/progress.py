"""Progress of a long run (a browser matrix, a real deployment's) on standard error.

On a terminal, one line rewritten in place: done/total, the time so far and what is running.
Elsewhere (a CI log, a pipe), a plain line per finished scenario, which a log keeps readable.
Standard output keeps only the results, for a script to read.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .columns import terminal_width


class Progress:
    """Says how far a run of ``total`` scenarios is.

    Args:
        total: how many scenarios the run has.
        stream: where to write; standard error by default.
        live: rewrite one line in place; by default, when ``stream`` is a terminal.
    """

    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty()) if live is None else live
        self.done_count = 0
        self.running: list[str] = []
        self._started = time.monotonic()
        self._shown = 0

    def start(self, name: str) -> None:
        """Scenario ``name`` started."""
        self.running.append(name)
        if self.live:
            self._redraw()

    def done(self, name: str, verdict: str) -> None:
        """Scenario ``name`` ended with ``verdict``."""
        if name in self.running:
            self.running.remove(name)
        self.done_count += 1
        if self.live:
            self._redraw()
        else:
            self._write(f"wsharness: [{self.done_count}/{self.total}] {name}: {verdict}, "
                        f"{self._elapsed()} so far\n")  # fmt: skip

    def close(self) -> None:
        """Clear the live line, so that the results start on a clean one."""
        if self.live and self._shown:
            self._write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def _redraw(self) -> None:
        running = ", ".join(self.running) or "-"
        line = f"[{self.done_count}/{self.total}] {self._elapsed()}  running: {running}"
        line = line[: max(10, terminal_width() - 1)]
        # Padded over what the last line left, then back to the line's start.
        self._write("\r" + line.ljust(self._shown))
        self._shown = len(line)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self._started:.1f}s"

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
