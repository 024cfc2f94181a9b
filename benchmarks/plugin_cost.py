"""The ``fixtures`` and ``startup`` groups: what the plugins cost a ``pytest`` run, each
``pytest`` a subprocess of its own.

- fixtures: the marginal cost of one more test, from a generated file of N tests against the
  same file with 1 test ((t(N) - t(1)) / (N - 1), so start-up and first-test warm-up cancel
  out); the baseline is N tests that use no fixture. Rows: ``cms_client`` +
  ``assert_updates_delivered`` behind ``compliant`` (target: +20 ms a test),
  ``assert_fell_back`` behind ``header-stripping`` (+60 ms over its quiet window), ``cms_browser``
  behind ``compliant`` (+200 ms; skipped without Chromium). Time scale 0.01. Each has a second
  row, ``median test``: the median test's own time (pytest's JUnit XML: setup, call and
  teardown) against the median plain test's, which one slow test of a run does not move. The
  browser row has its floor beside it: the same two page loads with Playwright alone
  (``browser_floor.py``), and the median browser test against that floor.
- startup: ``pytest`` running one trivial test, and ``--collect-only``, with the plugins against
  ``-p no:`` each of them (target: +50 ms), in 5 back-to-back pairs per repeat: the figure is the
  median of the pairs' differences. Python writes and reuses bytecode, as it does by default. One
  more row runs the trivial test with ``PYTHONDONTWRITEBYTECODE=1`` (set in many Docker images;
  a read-only site-packages does the same): pytest then compiles, on every run, each module of
  ours that the plugins import (it rewrites the asserts of every module of a package that has
  ``pytest11`` entry points, and caches the result only as bytecode).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

import pytest_wsharness
from browser_floor import chromium_floor
from pytest_wsharness.errors import MissingPart
from pytest_wsharness.scenario.observe import quiet_window
from results import BenchError, Row, Table, added, median

# The checkout whose package this script imported: the pytest subprocesses import the same.
SOURCE = Path(pytest_wsharness.__file__).resolve().parent.parent

FIXTURE_SCALE = 0.01
# pytest-asyncio warns without its loop scope, with the plugins or without.
STARTUP_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
PYTEST_INI = f"{STARTUP_INI}wsharness_time_scale = {FIXTURE_SCALE}\n"
PLAIN_TESTS = """\
import pytest


@pytest.mark.parametrize("number", range({count}))
def test_plain(number):
    pass
"""
FIXTURE_TESTS = """\
import pytest
from pytest_wsharness.assertions import {assertion}


@pytest.mark.wsharness_profiles("{profile}")
@pytest.mark.parametrize("number", range({count}))
def test_{name}(number, {driver}, cms_server, cms_proxy):
    {assertion}({driver}, cms_server, proxy=cms_proxy)
"""
NO_PLUGINS = ("wsharness", "wsharness-browser", "wsharness-real", "wsharness-report")
STARTUP_TARGET_MS = 50.0
# Start-up pairs per repeat: one run is ~0.5 s and its noise is of the order of the target.
STARTUP_PAIRS = 5


def pytest_env(bytecode: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE), env.get("PYTHONPATH")]))
    env.pop("PYTEST_ADDOPTS", None)
    return env


@contextmanager
def pytest_folder(ini: str) -> Iterator[Path]:
    """A temporary folder with ``ini`` as its pytest.ini."""
    with tempfile.TemporaryDirectory(prefix="wsharness-bench-") as work:
        folder = Path(work)
        (folder / "pytest.ini").write_text(ini, encoding="utf-8")
        yield folder


def pytest_seconds(folder: Path, args: Sequence[str], limit: float, bytecode: bool = True) -> float:
    """Run ``pytest args`` in ``folder``; its wall time. Raises BenchError unless it passed."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            cwd=folder,
            env=pytest_env(bytecode),
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"pytest {' '.join(args)} did not end within {limit:g}s") from None
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-4:])
        raise BenchError(f"pytest {' '.join(args)} exited {done.returncode}: {tail}")
    return elapsed


def test_times(report: Path) -> list[float]:
    """Each test's own time (setup, call and teardown) from pytest's JUnit XML ``report``."""
    root = ElementTree.parse(report).getroot()
    return [float(case.get("time", "nan")) for case in root.iter("testcase")]


def marginal(
    folder: Path, name: str, source: str, count: int, repeat: int, limit: float
) -> tuple[float, float]:
    """Seconds one more test of ``source`` (a template of ``count`` tests) adds, and the
    median test's own time over every run of the ``count`` tests.

    The second figure is steadier on a shared machine: a hiccup moves one test of a run, where
    it moves the whole run's wall time, and so the marginal."""
    many, one = f"test_{name}_{count}.py", f"test_{name}_1.py"
    (folder / many).write_text(source.format(count=count), encoding="utf-8")
    (folder / one).write_text(source.format(count=1), encoding="utf-8")
    times: dict[str, list[float]] = {many: [], one: []}
    each: list[float] = []
    report = folder / f"{name}.xml"
    for _ in range(repeat):
        for file in (one, many):
            args = [file, f"--junitxml={report}"] if file == many else [file]
            times[file].append(pytest_seconds(folder, args, limit))
        each += test_times(report)
    return (median(times[many]) - median(times[one])) / (count - 1), median(each)


def bench_fixtures(table: Table, count: int, repeat: int) -> None:
    fallback_wait = quiet_window(FIXTURE_SCALE) * 1e3
    kinds = [
        ("compliant", "cms_client", "assert_updates_delivered", 20.0, ""),
        (
            "header-stripping",
            "cms_client",
            "assert_fell_back",
            60.0 + fallback_wait,
            f"+60+{fallback_wait:g}ms wait",
        ),
        ("compliant", "cms_browser", "assert_updates_delivered", 200.0, ""),
    ]
    with pytest_folder(PYTEST_INI) as folder:
        try:
            plain, plain_test = marginal(folder, "plain", PLAIN_TESTS, count, repeat, 60.0 + count)
        except BenchError as error:
            table.fail("fixtures/test: baseline", error)
            return
        for profile, driver, assertion, limit_ms, text in kinds:
            name = f"fixtures/test {'browser' if driver == 'cms_browser' else profile}"
            if driver == "cms_browser":
                from pytest_wsharness.browser.chromium import find_browser

                try:
                    find_browser()
                except MissingPart as missing:
                    table.skip(name, str(missing))
                    continue
            source = FIXTURE_TESTS.format(
                assertion=assertion,
                profile=profile,
                count="{count}",
                name=profile.replace("-", "_") + "_" + driver,
                driver=driver,
            )
            limit = 120.0 + count * (20.0 if driver == "cms_browser" else 5.0)
            try:
                cost, test = marginal(
                    folder, name.split()[-1].replace("-", "_"), source, count, repeat, limit
                )
            except BenchError as error:
                table.fail(name, error)
                continue
            table.row(added(name, plain, cost, limit_ms, text))
            table.row(added(f"{name}, median test", plain_test, test, limit_ms, text))
            if driver == "cms_browser":
                chromium_rows(table, plain_test, test, count, limit_ms)


def chromium_rows(
    table: Table, plain_test: float, test: float, rounds: int, limit_ms: float
) -> None:
    """The browser row's floor: the same two page loads in a fresh context with Playwright
    alone (``browser_floor.py``), held to the same target, and the median test against it."""
    name = "fixtures/test browser: Chromium alone"
    try:
        floor = asyncio.run(chromium_floor(rounds, FIXTURE_SCALE))
    except Exception as error:  # Playwright's errors too: the table says what failed
        table.fail(name, error)
        return
    table.row(added(name, plain_test, floor, limit_ms))
    table.row(Row("fixtures/test browser, median test/Chromium alone", floor, test, "ms"))


def bench_startup(table: Table, repeat: int) -> None:
    without = [arg for plugin in NO_PLUGINS for arg in ("-p", f"no:{plugin}")]
    with pytest_folder(STARTUP_INI) as folder:
        (folder / "test_one.py").write_text("def test_one():\n    pass\n", encoding="utf-8")
        for name, extra, bytecode in (
            ("start-up, 1 test", [], True),
            ("start-up, --collect-only", ["--collect-only"], True),
            ("start-up, 1 test, PYTHONDONTWRITEBYTECODE=1", [], False),
        ):
            runs: dict[bool, list[float]] = {True: [], False: []}
            try:
                for plugins in (True, False):  # warm the file and bytecode caches; not counted
                    args = [*extra, *([] if plugins else without)]
                    pytest_seconds(folder, args, 60.0, bytecode)
                for _ in range(repeat * STARTUP_PAIRS):
                    for plugins in (True, False):
                        args = [*extra, *([] if plugins else without), "test_one.py"]
                        runs[plugins].append(pytest_seconds(folder, args, 60.0, bytecode))
            except BenchError as error:
                table.fail(name, error)
                continue
            # The median of each pair's difference: a pair runs back to back, so a drift of the
            # machine between pairs cancels out, where a difference of medians keeps it.
            extra_s = median([a - b for a, b in zip(runs[True], runs[False], strict=True)])
            base = median(runs[False])
            table.row(added(name, base, base + extra_s, STARTUP_TARGET_MS))
