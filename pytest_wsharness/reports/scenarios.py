"""What each scenario of a test run ended as, for the reports: a table at the end of the run,
a JSON file, an HTML file, and properties in JUnit XML. No pytest here: the assertions emit, a
sink collects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UsageError

ScenarioSink = Callable[["ScenarioResult"], None]


def check_report_path(path: Path, option: str) -> Path:
    """Return ``path`` if a report can be written there: a file in a folder that exists.

    Checked before a run, since reports are written at its end.

    Raises:
        UsageError: ``path`` is a folder, or its folder does not exist; the message names
            ``option`` and the path.
    """
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r}: it is a folder; give a file's path")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise UsageError(f"{option} {str(path)!r}: no folder {str(folder)!r} to write it in")
    return path


_sink: ScenarioSink | None = None


HOPS = ("client", "proxy", "server")


@dataclass(frozen=True)
class HopEvent:
    """One thing one hop did, in a scenario's timeline.

    Attributes:
        t: seconds since the scenario began.
        hop: one of :data:`HOPS`.
        text: what happened, in words.
    """

    t: float
    hop: str
    text: str


@dataclass(frozen=True)
class ScenarioResult:
    """One asserted scenario.

    Attributes:
        profile: the proxy profile, or ``""`` without a proxy.
        websocket_enabled: the CMS's ``WebSocketEnabled``.
        expected: the verdict the UI should earn.
        verdict: the verdict it earned (``wrong`` when it broke an expectation).
        ui: what the editor saw, in a few words.
        problems: the broken expectations.
        driver: ``model`` (the Python client) or ``browser``.
        timeline: what the client, the proxy and the server did, in time order
            (:func:`~pytest_wsharness.scenario.timeline.build_timeline`).
        diagnosis: for a failed scenario behind a proxy, what ``wsharness diagnose`` found on
            its path afterwards, one sentence per finding with its likely fix.
        time_scale: the time scale the scenario ran at (0 when not known).
        lag_ms: how late the harness itself ran at worst meanwhile (its event loops, a
            browser's timers), in milliseconds: what makes a scenario inconclusive.
    """

    profile: str
    websocket_enabled: bool
    expected: str
    verdict: str
    ui: str
    problems: tuple[str, ...] = ()
    driver: str = "model"
    timeline: tuple[HopEvent, ...] = ()
    diagnosis: tuple[str, ...] = ()
    time_scale: float = 0.0
    lag_ms: float = 0.0

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ScenarioResult:
        """The result :meth:`to_json` wrote."""
        data = json.loads(text)
        data["problems"] = tuple(data.get("problems", ()))
        data["diagnosis"] = tuple(data.get("diagnosis", ()))
        data["timeline"] = tuple(HopEvent(**event) for event in data.get("timeline", ()))
        return cls(**data)


def scenarios_json(rows: Sequence[tuple[str, str, ScenarioResult]]) -> str:
    """The rows ``(test, outcome, result)`` as the JSON report: a list of objects."""
    data = [{"test": test, "outcome": outcome, **asdict(result)} for test, outcome, result in rows]
    return json.dumps(data, indent=2) + "\n"


def set_sink(sink: ScenarioSink | None) -> ScenarioSink | None:
    """Send the results emitted from now on to ``sink`` (``None``: nowhere); return the sink
    it replaces, for the caller to put back (a pytester run inside a test has its own)."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def emit(result: ScenarioResult) -> None:
    """Hand a result to the current sink, if any."""
    if _sink is not None:
        _sink(result)


def format_summary(
    rows: Sequence[tuple[str, ScenarioResult]], *, verbose: bool = False, width: int = 100
) -> str:
    """The end-of-run summary, fitting ``width``: every scenario that did not go as expected
    (wrong or inconclusive) in a table, each with its mark, verdict (and what was expected),
    profile, WebSockets, driver and test; the rest counted on one line by verdict, or also in
    the table with ``verbose`` (pytest's ``-v``)."""
    from collections import Counter

    from .columns import marks as outcome_marks
    from .columns import table

    marks = outcome_marks()

    def kind(r: ScenarioResult) -> str:
        if r.verdict == "inconclusive":
            return "unsure"
        return "ok" if r.verdict == r.expected else "wrong"

    shown = [(test, r) for test, r in rows if verbose or kind(r) != "ok"]
    passed = [r for _, r in rows if kind(r) == "ok"]
    out = []
    if passed:
        counts = Counter(r.verdict for r in passed)
        tally = ", ".join(f"{n} {verdict}" for verdict, n in counts.most_common())
        out.append(f"{marks['ok']} {len(passed)} scenario(s) as expected: {tally}")
    if shown:
        cells = [
            (
                marks[kind(r)],
                r.verdict if kind(r) != "wrong" else f"{r.verdict}, expected {r.expected}",
                r.profile or "-",
                "enabled" if r.websocket_enabled else "disabled",
                r.driver,
                test,
            )
            for test, r in shown
        ]
        header = ("", "verdict", "profile", "websocket", "driver", "test")
        out += [line.rstrip() for line in table(header, cells, width)]
    return "\n".join(out)
