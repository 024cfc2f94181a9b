"""What each scenario of a test run ended as, for the reports: a table at the end of the run,
a JSON file, an HTML file, and properties in JUnit XML. No pytest here: the assertions emit, a
sink collects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import UsageError

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
            (:func:`~pytest_wsharness.timeline.build_timeline`).
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


def format_summary(rows: Sequence[tuple[str, ScenarioResult]]) -> str:
    """A plain-text table: test, profile, WebSockets, driver, expected, verdict."""
    header = ("test", "profile", "websocket", "driver", "expected", "verdict")
    lines = [
        (
            test,
            r.profile or "-",
            "enabled" if r.websocket_enabled else "disabled",
            r.driver,
            r.expected,
            r.verdict,
        )
        for test, r in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=False)]
    out = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (header, tuple("-" * w for w in widths), *lines)
    ]
    return "\n".join(out)
