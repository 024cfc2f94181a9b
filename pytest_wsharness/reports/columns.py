"""Text tables that fit the reader's terminal: a header row, aligned columns, the last one wrapped.

The commands print for people: in a terminal its width, ``COLUMNS`` when set (a pipe, CI logs),
and 100 columns otherwise, so that a line never wraps under the next one.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Sequence

DEFAULT_WIDTH = 100
# A mark per outcome, told apart by its shape, not its colour; ASCII where UTF-8 is not spoken.
MARKS = {"ok": "\u2714", "wrong": "\u2716", "unsure": "?"}
ASCII_MARKS = {"ok": "+", "wrong": "x", "unsure": "?"}
# The last column keeps at least this many characters, however wide the others are.
MIN_LAST = 30
STACKED_INDENT = 4


def marks() -> dict[str, str]:
    """The outcome marks the standard output can print: :data:`MARKS`, else ASCII ones."""
    encoding = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "")
    return MARKS if encoding.startswith("utf") else ASCII_MARKS


def terminal_width() -> int:
    """The width to print to: the terminal's, ``COLUMNS`` if set, else 100."""
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def wrap(text: str, *, prefix: str = "", indent: str = "    ", width: int | None = None) -> str:
    """``text`` (one line) after ``prefix``, wrapped to ``width`` (the terminal's by default),
    continued lines after ``indent``. URLs and paths are never broken: a line holds a long one
    whole rather than cut it where a reader would copy it."""
    import textwrap

    return textwrap.fill(
        text,
        width or terminal_width(),
        initial_indent=prefix,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None
) -> list[str]:
    """The lines of a table: ``header`` then ``rows``, columns two spaces apart, each as wide
    as its widest cell but the last, which is wrapped to ``width`` (the terminal's by default)
    and continues under itself; where fewer than ``MIN_LAST`` columns are left for it, it goes
    under its row instead, indented."""
    width = terminal_width() if width is None else width
    cells = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lead = sum(widths) + 2 * len(widths)
    # Too narrow for the last column (or its longest word: a test id, a path) beside the
    # others: it goes under its row, indented.
    longest = max((len(word) for row in cells for word in row[-1].split()), default=0)
    under = width - lead < max(MIN_LAST, longest)
    indent = STACKED_INDENT if under else lead
    room = max(MIN_LAST, width - indent)
    lines = []
    for row in cells:
        start = "".join(f"{cell:<{w}}  " for cell, w in zip(row, widths, strict=False))
        # A word longer than the room (a test id, a path) stays whole, to be copied.
        wrapped = textwrap.wrap(row[-1], room, break_on_hyphens=False, break_long_words=False)
        wrapped = wrapped or [""]
        if under:
            lines.append(start.rstrip())
            lines += [" " * indent + part for part in wrapped]
        else:
            lines.append((start + wrapped[0]).rstrip())
            lines += [" " * indent + more for more in wrapped[1:]]
    return lines
