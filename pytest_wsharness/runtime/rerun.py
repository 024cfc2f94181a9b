"""Re-running a test whose scenario was inconclusive, at a larger time scale.

A scenario is inconclusive (:class:`~pytest_wsharness.errors.Inconclusive`) when the harness
itself lagged more than the scenario's timings allow: the machine was too busy to tell what the
proxy did at that time scale. The test is then run again, fixtures and all, with
``wsharness_time_scale`` multiplied by :data:`FACTOR`, at most :data:`MAX_RERUNS` times; only
the last run is reported, and its report says what the earlier runs saw (a section, and a
``wsharness_rerun`` user property that JUnit XML carries). Done as pytest-rerunfailures does
it (``runtestprotocol`` again after the fixtures are torn down), for this one exception only.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from _pytest.runner import runtestprotocol

from ..errors import Inconclusive
from .lag import MAX_RERUNS
from .lag import RERUN_FACTOR as FACTOR

PROPERTY = "wsharness_rerun"

attempt_key = pytest.StashKey[int]()
_inconclusive_key = pytest.StashKey[str]()


def scale_factor(item: pytest.Item) -> int:
    """What this run of ``item`` multiplies the time scale by: 1, then 4, then 16."""
    return int(FACTOR ** item.stash.get(attempt_key, 0))


class RerunInconclusive:
    """The hooks; registered by the plugin."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        if "wsharness_time_scale" not in getattr(item, "fixturenames", ()):
            return None  # not the harness's: pytest's own protocol runs it
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        notes: list[str] = []
        # What a run adds (the reports' scenarios) belongs to that run: only the last counts.
        properties = list(item.user_properties)
        for attempt in range(MAX_RERUNS + 1):
            item.user_properties[:] = properties
            item.stash[attempt_key] = attempt
            if _inconclusive_key in item.stash:
                del item.stash[_inconclusive_key]
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
            seen = item.stash.get(_inconclusive_key, None)
            if seen is None or attempt == MAX_RERUNS:
                break
            notes.append(
                f"run {attempt + 1} (time scale x{scale_factor(item)}) was {seen}; "
                f"re-run with time scale x{FACTOR ** (attempt + 1)}"
            )
        # The notes go with the call, or with the setup when that is where the last run ended.
        noted = next((r for r in reports if r.when == "call"), reports[0] if reports else None)
        for report in reports:
            if notes and report is noted:
                report.sections.append(("wsharness re-runs", "\n".join(notes)))
                report.user_properties.append((PROPERTY, " | ".join(notes)))
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, None, None]:
        yield
        excinfo = call.excinfo
        # A fixture's page load can be inconclusive too (a hop's scaled timeout ran out while
        # the machine stalled): the setup is re-run with the rest.
        if (
            call.when in ("setup", "call")
            and excinfo is not None
            and excinfo.errisinstance(Inconclusive)
        ):
            item.stash[_inconclusive_key] = str(excinfo.value)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        reran = [
            (report.nodeid, value)
            for reports in terminalreporter.stats.values()
            for report in reports
            if isinstance(report, pytest.TestReport)
            for name, value in report.user_properties
            if name == PROPERTY
        ]
        if not reran:
            return
        terminalreporter.section("wsharness re-runs (the harness lagged, not the proxy)")
        for nodeid, note in reran:
            terminalreporter.write_line(f"{nodeid}: {note}")
