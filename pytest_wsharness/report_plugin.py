"""pytest hooks for the run's reports (entry point ``wsharness-report``): hooks only.

Every scenario an assertion judges is recorded on its test as ``user_properties``
(``wsharness_profile``, ``wsharness_verdict``, and the whole result as ``wsharness_scenario``),
which JUnit XML writes as properties and pytest-xdist carries to the controller. There a table
of them ends the terminal report, and ``--wsharness-report-json PATH`` writes them as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import asdict
from pathlib import Path

import pytest

from . import report as scenarios

PROPERTY = "wsharness_scenario"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsharness")
    group.addoption(
        "--wsharness-report-json",
        metavar="PATH",
        default=None,
        help="write every asserted scenario (test, profile, verdict, what the UI showed) as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Reports(config), "wsharness-reports")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    def record(result: scenarios.ScenarioResult) -> None:
        item.user_properties.append(("wsharness_profile", result.profile))
        item.user_properties.append(("wsharness_verdict", result.verdict))
        item.user_properties.append((PROPERTY, result.to_json()))

    previous = scenarios.set_sink(record)
    try:
        return (yield)
    finally:
        scenarios.set_sink(previous)


class _Reports:
    """Collects the scenarios from the test reports (on the xdist controller too)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[tuple[str, str, scenarios.ScenarioResult]] = []

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                result = scenarios.ScenarioResult.from_json(str(value))
                self.results.append((report.nodeid, report.outcome, result))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.results:
            return
        terminalreporter.section("wsharness scenarios")
        rows = [(test.split("::", 1)[-1], result) for test, _, result in self.results]
        terminalreporter.write_line(scenarios.format_summary(rows))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("--wsharness-report-json")
        if path is None or hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller writes the file
        data = [
            {"test": test, "outcome": outcome, **asdict(result)}
            for test, outcome, result in self.results
        ]
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
