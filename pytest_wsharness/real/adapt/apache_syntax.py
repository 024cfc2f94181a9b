"""Apache's config syntax, read as written: directives and sections (``<VirtualHost ...>``),
each argument with its quotes and where it stands, so that a rewrite changes only its span."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ...errors import ConfigRefused

TAG = re.compile(r"<(/?)([^\s>]+)|\S+")
ARG = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|(?:\\[^\n]|[^\s\\])+""", re.S)
LINE = re.compile(r"(?:[^\\\n]|\\.)*", re.S)  # a logical line: a "\" at its end continues it


@dataclass(eq=False)
class Arg:
    """One argument as written (quotes included), and where."""

    raw: str
    start: int
    end: int

    @property
    def value(self) -> str:
        quoted = len(self.raw) > 1 and self.raw[0] in "\"'" and self.raw[-1] == self.raw[0]
        return self.raw[1:-1] if quoted else self.raw

    def quote(self, value: str) -> str:
        """``value`` quoted as this argument is."""
        mark = self.raw[0] if self.raw[:1] in "\"'" else ""
        return f"{mark}{value}{mark}"


@dataclass(eq=False)
class Directive:
    """A directive, or a section (``<VirtualHost ...>``, with a ``body``); ``line_end`` ends
    its (first) line, ``end`` its closing tag."""

    name: str
    args: list[Arg]
    start: int
    line_end: int
    parents: tuple[Directive, ...]
    end: int
    body: list[Directive] | None = None

    @property
    def key(self) -> str:
        return self.name.lower()


def parse(text: str, source: str) -> list[Directive]:
    """The directives of ``text``, each section holding its own."""
    top: list[Directive] = []
    stack: list[Directive] = []
    for line in LINE.finditer(text):
        first = line[0].lstrip()
        if not first or first.startswith("#"):
            continue
        start, end = line.end() - len(first), line.end()
        tag = TAG.match(text, start)
        assert tag is not None
        said = first.split("\n")[0]
        if tag[1]:
            if not stack or stack[-1].key != tag[2].lower():
                raise ConfigRefused(source, _line(text, start), said, "it closes no section")
            stack.pop().end = end
            continue
        close = text.rfind(">", start, end) if tag[2] else end
        if close < start:
            raise ConfigRefused(source, _line(text, start), said, "no '>' ends it")
        args = [Arg(m[0], m.start(), m.end()) for m in ARG.finditer(text, tag.end(), close)]
        found = Directive(tag[2] or tag[0], args, start, end, tuple(stack), end)
        (stack[-1].body if stack and stack[-1].body is not None else top).append(found)
        if tag[2]:
            found.body = []
            stack.append(found)
    if stack:
        raise ConfigRefused(source, _line(text, stack[-1].start), stack[-1].name, "never closed")
    return top


def walk(directives: list[Directive]) -> Iterator[Directive]:
    """Every directive, and those of every section, in order."""
    for d in directives:
        yield d
        yield from walk(d.body or [])


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
