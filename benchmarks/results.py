"""The table every benchmark writes to: a row is a figure beside its same-run baseline.

A row holds the baseline, what was measured, their ratio and the target (a ratio at most or at
least, or milliseconds added at most), with ``met`` or ``MISSED``. Also here: the median and
nearest-rank percentile the figures are taken with, and the error a measurement raises when it
could not be made. It measures nothing itself.
"""

from __future__ import annotations

import math
import statistics
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

NAME_WIDTH = 60  # the row-name column
WIDTH = 120  # the whole line, for skip and failure messages


class BenchError(Exception):
    """A measurement that could not be made; the row says why."""


def ratio(baseline: float, measured: float) -> float:
    return measured / baseline if baseline else math.inf


@dataclass(frozen=True)
class Row:
    """One line of the table: a baseline, what was measured, and its target."""

    name: str
    baseline: float
    measured: float
    unit: str  # "ms", "us", "/s" or "s"
    target: str = "-"
    met: bool | None = None  # None: no target for this row
    notes: tuple[str, ...] = ()

    added: bool = False  # judged on the time added, not the ratio: the column shows it

    @property
    def ratio(self) -> float:
        return ratio(self.baseline, self.measured)

    def line(self) -> str:
        result = "-" if self.met is None else ("met" if self.met else "MISSED")
        if self.added:
            # A baseline near zero (a test with no fixture: 0.3 ms, give or take the noise of
            # two pytest runs) makes a ratio meaningless.
            versus = f"{(self.measured - self.baseline) * 1e3:+.1f}ms"
        else:
            versus = f"{self.ratio:.2f}x"
        text = (
            f"{self.name:<{NAME_WIDTH}} {_value(self.baseline, self.unit):>9} "
            f"{_value(self.measured, self.unit):>9} {versus:>8} {self.target:<19} {result}"
        )
        return "\n".join([text, *(f"    {note}" for note in self.notes)])


def _value(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "-"
    if unit == "us":
        return f"{value * 1e6:.0f}us"
    if unit == "ms":
        return f"{value * 1e3:.1f}ms"
    if unit == "/s":
        return f"{value:.0f}/s"
    return f"{value:.2f}s"


def at_most(name: str, baseline: float, measured: float, unit: str, limit: float) -> Row:
    """A row whose ratio must stay at or under ``limit`` (a time)."""
    met = ratio(baseline, measured) <= limit
    return Row(name, baseline, measured, unit, f"<= {limit:g}x", met)


def at_least(name: str, baseline: float, measured: float, unit: str, limit: float) -> Row:
    """A row whose ratio must stay at or over ``limit`` (a rate)."""
    return Row(name, baseline, measured, unit, f">= {limit:g}x", measured >= limit * baseline)


def added(name: str, baseline: float, measured: float, limit_ms: float, text: str = "") -> Row:
    """A row whose measured time may exceed the baseline by ``limit_ms`` at most."""
    extra = (measured - baseline) * 1e3
    target = text or f"+{limit_ms:g}ms"
    return Row(name, baseline, measured, "ms", f"<= {target}", extra <= limit_ms, added=True)


class Table:
    """Prints rows as they come, keeps count of failures."""

    def __init__(self) -> None:
        self.failed = 0

    def header(self) -> None:
        print(
            f"{'row':<{NAME_WIDTH}} {'baseline':>9} {'measured':>9} {'vs base':>8} "
            f"{'target':<19} result"
        )
        print("-" * (NAME_WIDTH + 54))

    def row(self, row: Row) -> None:
        print(row.line(), flush=True)

    def skip(self, name: str, reason: str) -> None:
        self._say(name, f"skipped: {reason}")

    def fail(self, name: str, error: BaseException) -> None:
        self.failed += 1
        self._say(name, f"FAILED: {type(error).__name__}: {error}")

    def _say(self, name: str, text: str) -> None:
        lines = textwrap.wrap(text, WIDTH - NAME_WIDTH - 1) or [""]
        print(f"{name:<{NAME_WIDTH}} {lines[0]}", flush=True)
        for line in lines[1:]:
            print(f"{'':<{NAME_WIDTH}} {line}", flush=True)


RELAYS = ("relay", "relay process")  # the paths through the relay, each held to the target
SPLICE = "python splice"  # the floor of a Python proxy (routes.py), printed with no target


def path_rows(
    name: str,
    values: Mapping[str, float],
    unit: str,
    target: Callable[[str, float, float], Row],
) -> list[Row]:
    """The rows of one figure taken over every path (``routes.py``): each relay path against
    ``direct`` with ``target``; the python splice against ``direct`` and the relay process
    against the splice; with nginx, nginx against ``direct`` and each relay path against nginx
    (no target on those)."""
    direct = values["direct"]
    rows = [target(f"{name}, {path}", direct, values[path]) for path in RELAYS]
    if SPLICE in values:
        floor = values[SPLICE]
        rows.append(Row(f"{name}, {SPLICE}", direct, floor, unit))
        rows.append(Row(f"{name}, relay process/{SPLICE}", floor, values["relay process"], unit))
    if "nginx" in values:
        real = values["nginx"]
        rows.append(Row(f"{name}, nginx", direct, real, unit))
        rows += [Row(f"{name}, {path}/nginx", real, values[path], unit) for path in RELAYS]
    return rows


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]
