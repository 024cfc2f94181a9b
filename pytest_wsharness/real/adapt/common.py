"""What every software's adapter shares: the record of a change, edits made on the user's own
text (so that what is not rewritten stays as they wrote it), and the rule for timeouts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...errors import ConfigRefused
from ...runtime.timescale import CMS_HEARTBEAT


@dataclass(frozen=True)
class Change:
    """One directive of the user's file that the harness rewrote or left out.

    Attributes:
        line: its line in the file, 1-based; 0 for what the harness added.
        before: the directive as written (one line); ``""`` for an addition.
        after: what it became; ``""`` when it was left out.
        why: why, in a few words.
    """

    line: int
    before: str
    after: str
    why: str

    def describe(self) -> str:
        """One line for the terminal: ``line 12: listen 443 ssl; -> listen ...; (why)``, or
        ``added <why>``."""
        if not self.before:
            return f"added {self.why}"
        after = self.after or "left out"
        return f"line {self.line}: {self.before} -> {after} ({self.why})"


@dataclass(frozen=True)
class Adapted:
    """A config made runnable: its text with the harness's placeholders, and what changed."""

    text: str
    changes: list[Change]


@dataclass
class Edits:
    """Replacements of spans of the user's text, applied at once; each one is also a
    :class:`Change` to show the user.

    Args:
        text: the user's file.
        source: its name, for errors.
    """

    text: str
    source: str
    changes: list[Change] = field(default_factory=list)
    _spans: list[tuple[int, int, str]] = field(default_factory=list)

    def line_of(self, offset: int) -> int:
        """The 1-based line of ``offset``."""
        return self.text.count("\n", 0, offset) + 1

    def replace(self, start: int, end: int, new: str, why: str) -> None:
        """Put ``new`` in place of ``text[start:end]`` (``""`` leaves it out, and its line
        with it when nothing else is on that line)."""
        lines = self.text[start:end].strip().splitlines() or [""]
        before = " ".join(lines[0].split()) + (" ..." if len(lines) > 1 else "")
        after = " ".join(new.split())
        if len(lines) == 1 and before == after:
            return
        if not new:
            start, end = self._whole_lines(start, end)
        self._spans.append((start, end, new))
        self.changes.append(Change(self.line_of(start), before, after, why))

    def _whole_lines(self, start: int, end: int) -> tuple[int, int]:
        """``start, end`` widened to whole lines when only blanks share them."""
        begin = self.text.rfind("\n", 0, start) + 1
        stop = self.text.find("\n", end)
        stop = len(self.text) if stop < 0 else stop + 1
        if self.text[begin:start].strip() or self.text[end:stop].strip():
            return start, end
        return begin, stop

    def add(self, offset: int, new: str, why: str) -> None:
        """Insert ``new`` at ``offset``; ``why`` says what it is (``"the harness's logs"``).
        With ``why`` empty, no change is shown (the end of a block begun by another)."""
        self._spans.append((offset, offset, new))
        if why:
            self.changes.append(Change(0, "", " ".join(new.split()), why))

    def refuse(self, offset: int, directive: str, why: str) -> ConfigRefused:
        """The error for a directive at ``offset`` that cannot be run (for ``raise``)."""
        return ConfigRefused(self.source, self.line_of(offset), " ".join(directive.split()), why)

    def apply(self) -> Adapted:
        """The text with every replacement made.

        Raises:
            ValueError: two replacements overlap (a bug in an adapter).
        """
        spans = sorted(self._spans, key=lambda span: (span[0], span[1]))
        pieces, at = [], 0
        for start, end, new in spans:
            if start < at:
                raise ValueError(f"overlapping edits at offset {start} of {self.source}")
            pieces += [self.text[at:start], new]
            at = end
        pieces.append(self.text[at:])
        changes = sorted(self.changes, key=lambda change: (change.line == 0, change.line))
        return Adapted("".join(pieces), changes)


def timeout(seconds: float) -> str:
    """The placeholder for a timeout of ``seconds`` that can end an open socket.

    One shorter than the CMS heartbeat cuts a socket between heartbeats, in real life: scaled
    exactly with the client's timings, it keeps doing so (``@SCALED:N@``). A longer one never
    cuts a socket whose heartbeat flows; it is kept, and grows with time scales above 1
    (``@TIMEOUT:N@``). See :mod:`~pytest_wsharness.real.configs`.
    """
    kind = "SCALED" if seconds < CMS_HEARTBEAT else "TIMEOUT"
    return f"@{kind}:{seconds:g}@"


DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|us|s|m|h|d)?")
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration(text: str, default_unit: str) -> float | None:
    """Seconds in ``text``, one or more ``<number><unit>`` (``1m30s``, ``500ms``, ``60``);
    ``None`` when it is not one. A number with no unit is in ``default_unit``."""
    total, at = 0.0, 0
    for match in DURATION.finditer(text):
        if match.start() != at:
            return None
        total += float(match[1]) * UNITS[match[2] or default_unit]
        at = match.end()
    return total if at == len(text) and text else None


PLACEHOLDER = re.compile(r"@(PORT|UPSTREAM|UPSTREAM_HOSTPORT|UPSTREAM_HOST|UPSTREAM_PORT|WORKDIR)@")


def has_placeholders(text: str) -> bool:
    """Whether the text is written with the harness's placeholders already (``@PORT@``...)."""
    return PLACEHOLDER.search(text) is not None
