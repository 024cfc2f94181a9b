"""``wsharness matrix``'s table: one line per scenario, verdict first, fitting the terminal,
with what each hop did under the rows that went wrong."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..verdict import Verdict

if TYPE_CHECKING:
    from ..scenario.matrix import Row


def format_table(
    rows: Sequence[Row], *, verbose: bool = False, width: int | None = None, color: bool = False
) -> str:
    """Render the rows for a terminal: one line per scenario, verdict first, fitting ``width``.

    Each line starts with a mark a colour-blind reader tells apart (``MARKS``: as expected,
    wrong, inconclusive), then the verdict, the profile, WebSockets on or off and what the
    editor saw (wrapped under itself). Under a row that went wrong, and under every row with
    ``verbose``, what was expected and what each hop did; a re-run is always said. ``color``
    (a terminal, without ``NO_COLOR``) colours each mark and verdict.
    """
    from .columns import marks as outcome_marks
    from .columns import table, terminal_width

    width = terminal_width() if width is None else width
    marks = outcome_marks()
    cells = [
        (
            marks[_kind(r)],
            r.verdict.value,
            r.profile,
            "enabled" if r.websocket_enabled else "disabled",
            r.client_saw,
        )
        for r in rows
    ]
    lines = table(("", "verdict", "profile", "websocket", "what the editor saw"), cells, width)
    # The header is a row too: on a narrow terminal its last cell goes under it.
    header, *row_lines = _split_rows(lines, len(rows) + 1)
    out = [line.rstrip() for line in header]
    for r, text in zip(rows, row_lines, strict=True):
        if color:
            text[0] = _paint(text[0], _kind(r))
        out += text
        for line in _row_details(r, verbose):
            out += textwrap.wrap(
                line, width, initial_indent="    ", subsequent_indent="      ",
                break_on_hyphens=False, break_long_words=False,
            )  # fmt: skip
    return "\n".join(out)


_COLORS = {"ok": "32", "wrong": "31;1", "unsure": "33"}  # green, bold red, yellow


def use_color(stream: object) -> bool:
    """Colour only on a terminal, and never with ``NO_COLOR`` set (no-color.org)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ


def _kind(r: Row) -> str:
    if r.verdict is Verdict.INCONCLUSIVE:
        return "unsure"
    return "ok" if r.ok else "wrong"


def _paint(line: str, kind: str) -> str:
    # The mark and the verdict: the first two cells of the line.
    mark, rest = line[:1], line[1:]
    verdict = rest.lstrip().split("  ", 1)[0]
    lead = rest[: len(rest) - len(rest.lstrip())]
    tail = rest.lstrip()[len(verdict) :]
    code = _COLORS[kind]
    return f"\x1b[{code}m{mark}\x1b[0m{lead}\x1b[{code}m{verdict}\x1b[0m{tail}"


def _split_rows(lines: list[str], count: int) -> list[list[str]]:
    """Group a table's lines by row: a row starts at a line that does not start blank."""
    grouped: list[list[str]] = []
    for line in lines:
        if line[:1] != " " or not grouped:
            grouped.append([line])
        else:
            grouped[-1].append(line)
    assert len(grouped) == count, (len(grouped), count)
    return grouped


def _row_details(r: Row, verbose: bool) -> list[str]:
    lines = []
    if verbose or not r.ok:
        if not r.ok and r.verdict is not Verdict.INCONCLUSIVE:
            lines.append(f"expected:   {r.expected.value}")
        if r.websocket_enabled:
            lines.append(f"proxy did:  {r.proxy_did}")
            lines.append(f"server did: {r.server_did}")
        lines += list(r.problems)
    lines += [f"inconclusive {note}; ran again" for note in r.reruns]
    return lines
