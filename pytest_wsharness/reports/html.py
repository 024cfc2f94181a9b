"""The run's scenarios as one self-contained HTML file, to attach to a support ticket.

A summary table, then per scenario (a ``<details>``, open when its test failed) what the editor
saw, the broken expectations and the timeline in three lanes: client, proxy, server. Inline CSS,
no script, no external resource: it opens offline, in a mail client's viewer too. Every text is
escaped; the timeline quotes no credential (see :mod:`pytest_wsharness.scenario.timeline`).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from html import escape

from .. import __version__
from .scenarios import HOPS, HopEvent, ScenarioResult

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
.meta { color: #555; margin: 0 0 1em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.passed { color: #17692d; font-weight: 600; }
.failed { color: #a4161a; font-weight: 600; }
details { border: 1px solid #ccc; border-radius: 4px; margin: .5em 0; padding: .3em .8em; }
summary { cursor: pointer; font-weight: 600; }
.timeline td.t { font-variant-numeric: tabular-nums; text-align: right; white-space: nowrap; }
.timeline td.lane { width: 30%; }
.timeline td.client:not(:empty) { background: #eef4ff; }
.timeline td.proxy:not(:empty) { background: #fff6e5; }
.timeline td.server:not(:empty) { background: #eefaf0; }
"""


def render_html(
    rows: Sequence[tuple[str, str, ScenarioResult]],
    *,
    generated: datetime.datetime | None = None,
    version: str = __version__,
) -> str:
    """Render the scenarios of a run as one HTML document.

    Args:
        rows: ``(test node id, pytest outcome, result)`` per scenario, in run order.
        generated: when the report was made. It defaults to now, in UTC.
        version: the pytest-wsharness version to name. It defaults to this one's.

    Returns:
        The whole document, with its CSS inline and no script.
    """
    when = (generated or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")
    failed = sum(1 for _, outcome, _ in rows if outcome != "passed")
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        "<title>pytest-wsharness scenarios</title>\n",
        f"<style>{_CSS}</style>\n</head>\n<body>\n",
        "<h1>pytest-wsharness scenarios</h1>\n",
        f'<p class="meta">Generated {escape(when)} by pytest-wsharness {escape(version)}: '
        f"{len(rows)} scenario(s), {failed} failed.</p>\n",
        _summary(rows),
        *(_scenario(i, *row) for i, row in enumerate(rows, 1)),
        "</body>\n</html>\n",
    ]
    return "".join(parts)


def _summary(rows: Sequence[tuple[str, str, ScenarioResult]]) -> str:
    head = ("test", "profile", "websocket", "driver", "expected", "verdict", "result")
    lines = ['<table class="summary">\n<tr>', *(f"<th>{h}</th>" for h in head), "</tr>\n"]
    for i, (test, outcome, r) in enumerate(rows, 1):
        cells = (
            f'<a href="#scenario-{i}">{escape(test)}</a>',
            escape(r.profile or "-"),
            "enabled" if r.websocket_enabled else "disabled",
            escape(r.driver),
            escape(r.expected),
            escape(r.verdict),
            _outcome(outcome),
        )
        lines += ["<tr>", *(f"<td>{c}</td>" for c in cells), "</tr>\n"]
    lines.append("</table>\n")
    return "".join(lines)


def _scenario(index: int, test: str, outcome: str, r: ScenarioResult) -> str:
    # A failed scenario opens by itself: it is what the reader came for.
    opened = " open" if outcome != "passed" else ""
    # "verdict WRONG, test failed": the verdict and the test's outcome are two things, and
    # side by side as "WRONG failed" they read as one.
    title = f"{test} ({r.profile or 'no proxy'}): verdict {r.verdict}, test"
    problems = "".join(f"<li>{escape(p)}</li>" for p in r.problems) or "<li>none</li>"
    found = "".join(f"<li>{escape(d)}</li>" for d in r.diagnosis)
    diagnosis = f"<p>Diagnosis of the path:</p>\n<ul>{found}</ul>\n" if found else ""
    return (
        f'<details id="scenario-{index}"{opened}>\n'
        f"<summary>{escape(title)} {_outcome(outcome)}</summary>\n"
        f"<p>Expected: {escape(r.expected)}. The editor saw: {escape(r.ui)}.</p>\n"
        f"<p>Problems:</p>\n<ul>{problems}</ul>\n{diagnosis}"
        f"{_timeline(r.timeline)}</details>\n"
    )


def _timeline(events: Sequence[HopEvent]) -> str:
    if not events:
        return "<p>No timeline was recorded.</p>\n"
    head = "".join(f'<th class="lane">{hop}</th>' for hop in HOPS)
    lines = ['<table class="timeline">\n<tr><th>t (s)</th>', head, "</tr>\n"]
    for event in events:
        # An unknown hop (a newer writer) still shows, in the first lane, named.
        hop = event.hop if event.hop in HOPS else HOPS[0]
        text = event.text if hop == event.hop else f"[{event.hop}] {event.text}"
        cells = "".join(
            f'<td class="lane {lane}">{escape(text) if lane == hop else ""}</td>' for lane in HOPS
        )
        lines.append(f'<tr><td class="t">{event.t:.3f}</td>{cells}</tr>\n')
    lines.append("</table>\n")
    return "".join(lines)


def _outcome(outcome: str) -> str:
    css = "passed" if outcome == "passed" else "failed"
    return f'<span class="{css}">{escape(outcome)}</span>'
