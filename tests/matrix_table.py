"""Reading ``wsharness matrix``'s table back in tests: one record per scenario row."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pytest_wsharness.reports.columns import ASCII_MARKS
from pytest_wsharness.reports.columns import MARKS as MATRIX_MARKS

# Wide enough that no row wraps: the tests read each row's cells from one line.
WIDE = "400"
MARKS = {*MATRIX_MARKS.values(), *ASCII_MARKS.values()}


@dataclass
class Scenario:
    mark: str
    verdict: str
    profile: str
    websocket: str
    editor: str
    details: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The row and the lines under it, as one string."""
        return " | ".join([self.editor, *self.details])


def scenarios(out: str) -> list[Scenario]:
    """The table's rows (after its header, before the summary), with their detail lines."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["verdict"])
    found: list[Scenario] = []
    for line in lines[start + 1 :]:
        if not line.strip() or not (line.startswith(" ") or line[:1] in MARKS):
            break  # the lines after the table: "left out ...", the summary
        if line.startswith(" "):
            found[-1].details.append(line.strip())
            continue
        cells = re.split(r"\s{2,}", line.strip())
        found.append(Scenario(*cells[:5]))
    return found


def of(out: str, *profiles: str) -> list[Scenario]:
    """The rows of ``profiles``, in the table's order."""
    return [s for s in scenarios(out) if s.profile in profiles]
