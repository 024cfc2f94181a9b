"""Verdicts under full CPU contention: do they stay right when every core is busy?

    python benchmarks/contention.py [--matrix-runs N] [--spec-runs M] [--browser-matrix-runs B]
                                    [--readme-runs R] [--short] [--time-scale F]

Runs ``wsharness matrix`` (every profile x WebSockets on/off, the Python client) and the
two-driver spec (``tests/test_browser.py`` and the browser example: the Python client and
Chromium held to the same assertions) while busy loops, one per core, keep every core at 100%:
what a team's CI runner looks like under ``pytest -n auto`` beside another job. With
``--readme-runs`` it also runs the README's ``test_every_profile`` as a team writes it (no
option: the plugin's default time scale), once per profile. The busy loops
are processes this script starts, ends by PID and bounds in time (they end on their own after
``--busy-limit`` seconds if this script is killed).

It prints, for each run, the right, wrong and inconclusive verdicts (scenarios for the matrix,
tests for the spec) and the re-runs at a larger time scale, then the totals, and how much longer
a matrix run took under load than the same run on an idle machine measured first (the
baseline). Targets: 0 wrong matrix rows, 0 failed spec tests; inconclusive results rare.

``--short`` is the form CI runs on every submission: 2 matrix runs, 1 spec run, no baseline.
Exit status: 0 when nothing was wrong, 1 otherwise. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ("tests/test_browser.py", "examples/test_cms_team_browser.py")
# The README's own test, as a team writes it: no option, the plugin's default time scale.
README_TEST = """
from pytest_wsharness.assertions import assert_expected_outcome

def test_every_profile(cms_client, cms_server, cms_proxy):   # runs once per profile
    assert_expected_outcome(cms_client, cms_server, cms_proxy)
"""
# Each run is bounded: a run that hangs is a failure of its own, not a stuck CI job.
RUN_LIMIT = 900.0
BUSY = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


@dataclass
class Tally:
    """What one run gave."""

    what: str
    right: int = 0
    wrong: int = 0
    inconclusive: int = 0
    reruns: int = 0
    seconds: float = 0.0
    worst_lag_ms: float = 0.0
    note: str = ""

    def line(self) -> str:
        lag = f"{self.worst_lag_ms:>7.0f}" if self.worst_lag_ms else f"{'-':>7}"
        return (
            f"{self.what:<22} {self.right:>5} {self.wrong:>5} {self.inconclusive:>12} "
            f"{self.reruns:>6} {lag} {self.seconds:>8.1f}s  {self.note}"
        ).rstrip()


@contextmanager
def busy_cores(count: int, limit: float) -> Iterator[list[int]]:
    """Keep ``count`` cores busy with processes of our own; stop them by PID at the end."""
    busy = [
        subprocess.Popen([sys.executable, "-c", BUSY.format(limit=limit)]) for _ in range(count)
    ]
    try:
        yield [p.pid for p in busy]
    finally:
        for process in busy:
            process.kill()
        for process in busy:
            process.wait(10)


def timed(argv: list[str], cwd: Path, tally: Tally) -> subprocess.CompletedProcess[str] | None:
    """Run ``argv``, bounded, noting its time in ``tally``; ``None`` when it had to be stopped."""
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_LIMIT, cwd=cwd)
    except subprocess.TimeoutExpired:
        tally.wrong, tally.note = 1, f"did not end within {RUN_LIMIT:g}s"
        return None
    tally.seconds = time.monotonic() - started
    return done


def run_matrix(work: Path, number: int, scale: float | None, browser: bool) -> Tally:
    """One ``wsharness matrix`` run, counted from its JSON report."""
    report = work / f"matrix-{'browser-' if browser else ''}{number}.json"
    argv = [sys.executable, "-m", "pytest_wsharness.cli", "matrix", "--report-json", str(report)]
    argv += ["--browser"] if browser else []
    argv += ["--time-scale", str(scale)] if scale is not None else []
    tally = Tally(f"matrix{' --browser' if browser else ''} #{number}")
    done = timed(argv, ROOT, tally)
    if done is None:
        return tally
    if not report.exists():
        tally.wrong = 1
        tally.note = f"exit {done.returncode}, no report: {done.stderr.strip()[-300:]}"
        return tally
    for row in json.loads(report.read_text(encoding="utf-8")):
        tally.worst_lag_ms = max(tally.worst_lag_ms, row.get("lag_ms", 0.0))
        if row["verdict"] == "inconclusive":
            tally.inconclusive += 1
        elif row["outcome"] == "passed":
            tally.right += 1
        else:
            tally.wrong += 1
            tally.note += f"WRONG {row['test']}: {'; '.join(row['problems'])[:200]} "
    tally.reruns = done.stdout.count("; ran again")
    return tally


def run_spec(
    work: Path,
    number: int,
    workers: int,
    paths: Sequence[str] = SPEC,
    cwd: Path = ROOT,
) -> Tally:
    """One run of the two-driver spec (or ``paths``) under pytest, counted from its JUnit XML."""
    junit = work / f"spec-{number}.xml"
    argv = [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider"]
    argv += [f"--junitxml={junit}", "-n", str(workers)]
    tally = Tally(f"browser spec #{number}")
    done = timed(argv, cwd, tally)
    if done is None:
        return tally
    if not junit.exists():
        tally.wrong, tally.note = 1, f"exit {done.returncode}: {done.stdout.strip()[-300:]}"
        return tally
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if case.find("skipped") is not None:
            tally.wrong += 1  # nothing may skip here: the parts are installed
            tally.note += f"SKIPPED {case.get('name')} "
        elif failure is None:
            tally.right += 1
        elif "Inconclusive" in (failure.get("message") or ""):
            tally.inconclusive += 1
        else:
            tally.wrong += 1
            tally.note += f"FAILED {case.get('name')}: {(failure.get('message') or '')[:200]} "
        reruns = [p for p in case.iter("property") if p.get("name") == "wsharness_rerun"]
        tally.reruns += len(reruns)
    return tally


def run_readme_test(work: Path, number: int, workers: int) -> Tally:
    """The README's ``test_every_profile`` in a folder of its own, with no option at all."""
    folder = work / f"readme-{number}"
    folder.mkdir()
    (folder / "test_every_profile.py").write_text(README_TEST, encoding="utf-8")
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    tally = run_spec(folder, number, workers, paths=("test_every_profile.py",), cwd=folder)
    tally.what = f"README test #{number}"
    return tally


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix-runs", type=int, default=20)
    parser.add_argument("--spec-runs", type=int, default=5)
    parser.add_argument("--browser-matrix-runs", type=int, default=0)
    parser.add_argument(
        "--readme-runs", type=int, default=0, help="the README's test, default scale"
    )
    parser.add_argument("--time-scale", type=float, default=None, help="default: the matrix's")
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy processes")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument("--busy-limit", type=float, default=3600.0)
    parser.add_argument("--short", action="store_true", help="the CI form: 2 matrix, 1 spec")
    args = parser.parse_args(argv)
    if args.short:
        args.matrix_runs, args.spec_runs, args.browser_matrix_runs, args.readme_runs = 2, 1, 0, 0
    tallies: list[Tally] = []
    baseline = None
    with tempfile.TemporaryDirectory(prefix="wsharness-contention-") as folder:
        work = Path(folder)
        if not args.short:
            baseline = run_matrix(work, 0, args.time_scale, browser=False)
            baseline.what = "matrix, idle (baseline)"
            print(baseline.line(), flush=True)
        print(f"keeping {args.busy} core(s) busy", flush=True)
        print(
            f"{'run':<22} {'right':>5} {'wrong':>5} {'inconclusive':>12} {'reruns':>6} "
            f"{'lag ms':>7} (the worst of the harness's own, matrix runs)"
        )
        with busy_cores(args.busy, args.busy_limit):
            for number in range(1, args.matrix_runs + 1):
                tallies.append(run_matrix(work, number, args.time_scale, browser=False))
                print(tallies[-1].line(), flush=True)
            for number in range(1, args.browser_matrix_runs + 1):
                tallies.append(run_matrix(work, number, args.time_scale, browser=True))
                print(tallies[-1].line(), flush=True)
            for number in range(1, args.spec_runs + 1):
                tallies.append(run_spec(work, number, args.workers))
                print(tallies[-1].line(), flush=True)
            for number in range(1, args.readme_runs + 1):
                tallies.append(run_readme_test(work, number, args.workers))
                print(tallies[-1].line(), flush=True)
    total = Tally(
        "total",
        right=sum(t.right for t in tallies),
        wrong=sum(t.wrong for t in tallies),
        inconclusive=sum(t.inconclusive for t in tallies),
        reruns=sum(t.reruns for t in tallies),
        seconds=sum(t.seconds for t in tallies),
        worst_lag_ms=max((t.worst_lag_ms for t in tallies), default=0.0),
    )
    print(total.line())
    loaded = [t.seconds for t in tallies if t.what.startswith("matrix #") and t.seconds]
    if baseline is not None and baseline.seconds and loaded:
        ratio = sorted(loaded)[len(loaded) // 2] / baseline.seconds
        print(f"a matrix run under load took {ratio:.2f}x the idle run (median of {len(loaded)})")
    return 1 if total.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
