"""pytest hooks for the run's reports (entry point ``wsharness-report``): hooks only.

Every scenario an assertion judges is recorded on its test as ``user_properties``
(``wsharness_profile``, ``wsharness_verdict``, and the whole result as ``wsharness_scenario``),
which JUnit XML writes as properties and pytest-xdist carries to the controller. There a table
of them ends the terminal report, ``--wsharness-report-json PATH`` writes them as JSON, and
``--wsharness-report-html PATH`` as one self-contained HTML file with each one's timeline.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from ..errors import UsageError
from . import scenarios

PROPERTY = "wsharness_scenario"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsharness")
    group.addoption(
        "--wsharness-report-json",
        metavar="PATH",
        default=None,
        help="write every asserted scenario (test, profile, verdict, what the UI showed) as JSON",
    )
    group.addoption(
        "--wsharness-report-html",
        metavar="PATH",
        default=None,
        help="write every asserted scenario, with its client/proxy/server timeline, as one "
        "self-contained HTML file (for a support ticket)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Written at the end of the run: a path that cannot take the file would cost the run.
    for option in ("--wsharness-report-json", "--wsharness-report-html"):
        path = config.getoption(option)
        if path is not None:
            try:
                scenarios.check_report_path(Path(path), option)
            except UsageError as error:
                raise pytest.UsageError(str(error)) from None
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
        self.html: Path | None = None  # the HTML report, once written

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                result = scenarios.ScenarioResult.from_json(str(value))
                self.results.append((report.nodeid, report.outcome, result))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.results:
            terminalreporter.section("wsharness scenarios")
            rows = [(test.split("::", 1)[-1], result) for test, _, result in self.results]
            width = terminalreporter.config.get_terminal_writer().fullwidth
            verbose = terminalreporter.config.get_verbosity() > 0
            summary = scenarios.format_summary(rows, verbose=verbose, width=width)
            terminalreporter.write_line(summary)
        if self.html is not None:
            terminalreporter.write_line(f"wsharness HTML report: {self.html}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller writes the files
        path = self.config.getoption("--wsharness-report-json")
        if path is not None:
            Path(path).write_text(scenarios.scenarios_json(self.results), encoding="utf-8")
        html = self.config.getoption("--wsharness-report-html")
        if html is not None:
            self.html = Path(html).resolve()
            from .html import render_html  # only when a report is asked for

            self.html.write_text(render_html(self.results), encoding="utf-8")
