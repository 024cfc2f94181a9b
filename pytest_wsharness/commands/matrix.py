"""``wsharness matrix``: every proxy profile x {WebSocket enabled, disabled}, one row each,
against the simulated CMS (or, with ``--upstream``, a team's own: see
:mod:`~pytest_wsharness.commands.upstream`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PageLoadError, TriggerFailed, UsageError
from ..profiles import Catalogue, Profile
from ..runtime import timescale
from . import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_PROBLEM
from .args import add_profiles_dir, positive_number
from .upstream import add_upstream_options, real_deployment

if TYPE_CHECKING:
    from ..scenario.matrix import Row
    from ..upstream.deployment import RealDeployment


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``matrix`` subcommand to the ``wsharness`` parser's subparsers."""
    matrix: argparse.ArgumentParser = commands.add_parser(
        "matrix",
        help="run every profile x {WebSocket enabled, disabled} against the simulated CMS "
        "(or your own: --upstream)",
        description="Run every proxy profile with WebSockets enabled and disabled against the "
        "embedded simulated CMS, with the CMS client model, and print what each hop did. With "
        "--upstream, run them in front of your own CMS instead.",
    )
    matrix.add_argument(
        "--profile", action="append", metavar="NAME", help="run only this profile (repeatable)"
    )
    matrix.add_argument(
        "--time-scale",
        type=positive_number,
        default=None,
        metavar="F",
        help="multiply every timing (3 s heartbeat, 5 s x n^2 reconnect, the proxies' "
        f"durations) by F (default {timescale.SIMULATED:g}; {timescale.REAL_DEPLOYMENT:g} "
        "with --upstream, whose own proxies keep their real timeouts); a scenario the "
        "harness was too busy to judge runs again at 4 and 16 times F",
    )
    matrix.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="under every row, what was expected and what the proxy and the server did (by "
        "default only under rows that went wrong)",
    )
    matrix.add_argument(
        "--browser",
        action="store_true",
        help="drive the edit UI in headless Chromium (Playwright and the system's chromium) "
        "instead of the Python client model",
    )
    matrix.add_argument(
        "--screenshots",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --browser, save a screenshot per scenario in DIR, taken before the reload",
    )
    matrix.add_argument(
        "--report-html",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the scenarios as one self-contained HTML file, with a timeline of the "
        "connection per scenario (client, proxy, server), to attach to a ticket",
    )
    matrix.add_argument(
        "--report-json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the scenarios, with their timelines, as JSON",
    )
    add_upstream_options(matrix)
    add_profiles_dir(matrix)
    matrix.set_defaults(run=run)
    return matrix


def run(args: argparse.Namespace) -> int:
    """Run the matrix the parsed ``args`` ask for; print it; return the exit code.

    Raises:
        UsageError: a bad profile, option or report path, or a bad ``--upstream``.
        MissingPart: ``--browser`` and no Chromium.
        UpstreamUnreachable: ``--upstream`` does not answer HTTP when asked directly.
    """
    catalogue = Catalogue(args.profiles_dir)
    chosen = [catalogue.get(name) for name in args.profile] if args.profile else list(catalogue)
    if args.screenshots is not None and not args.browser:
        raise UsageError("--screenshots needs --browser: the Python client has no screen")
    deployment, chosen, left_out = real_deployment(args, chosen)
    from ..reports.scenarios import check_report_path

    for option, path in (
        ("--report-html", args.report_html),
        ("--report-json", args.report_json),
    ):
        if path is not None:
            check_report_path(path, option)
    if args.browser:
        from ..browser.chromium import find_browser

        find_browser()
    driver = "browser" if args.browser else "model"
    scale = args.time_scale
    if scale is None:
        scale = timescale.default(real_deployment=deployment is not None)
    reports = {"html": args.report_html, "json": args.report_json}
    return _matrix(
        chosen, scale, driver, args.screenshots, deployment, left_out, reports, args.verbose
    )


def _matrix(
    profiles: list[Profile],
    scale: float,
    driver: str,
    screenshots: Path | None,
    deployment: RealDeployment | None = None,
    left_out: Sequence[tuple[str, str]] = (),
    reports: dict[str, Path | None] | None = None,
    verbose: bool = False,
) -> int:
    from ..reports.matrix_table import format_table, use_color
    from ..reports.progress import Progress
    from ..scenario.matrix import run_matrix
    from ..verdict import Verdict

    started = time.perf_counter()
    total = len(profiles) * (1 if deployment is not None else 2)
    progress = Progress(total)
    run = run_matrix(
        profiles,
        scale,
        driver=driver,
        screenshots=screenshots,
        deployment=deployment,
        progress=progress,
    )
    try:
        rows = asyncio.run(run)
    except (TriggerFailed, PageLoadError) as error:
        progress.close()
        # The team's trigger, or a page that does not load at all (a refused certificate):
        # no scenario can be judged without them.
        print(f"wsharness: error: {error}", file=sys.stderr)
        return EXIT_PROBLEM
    progress.close()
    print(format_table(rows, verbose=verbose, color=use_color(sys.stdout)))
    for name, reason in left_out:
        print(f"left out {name}: it {reason}")
    unsure = [r for r in rows if r.verdict is Verdict.INCONCLUSIVE]
    wrong = [r for r in rows if not r.ok and r not in unsure]
    ok = len(rows) - len(wrong) - len(unsure)
    against = f", against {deployment.url}" if deployment is not None else ""
    print(
        f"\n{len(rows)} scenarios, {ok} as expected, {len(wrong)} wrong, "
        + (f"{len(unsure)} inconclusive (not judged: see above), " if unsure else "")
        + f"in {time.perf_counter() - started:.1f}s (time scale {scale:g}"
        + (", in Chromium" if driver == "browser" else "")
        + against
        + ")"
        + (f"; {len(left_out)} profile(s) left out" if left_out else "")
    )
    if screenshots is not None:
        print(f"screenshots: {screenshots}")
    _write_reports(rows, reports or {})
    if wrong:
        return EXIT_PROBLEM
    return EXIT_INCONCLUSIVE if unsure else EXIT_OK


def _write_reports(rows: Sequence[Row], reports: dict[str, Path | None]) -> None:
    from ..reports.html import render_html
    from ..reports.scenarios import scenarios_json

    results = [(row.name, "passed" if row.ok else "failed", row.to_result()) for row in rows]
    for kind, render in (("html", render_html), ("json", scenarios_json)):
        path = reports.get(kind)
        if path is not None:
            path.write_text(render(results), encoding="utf-8")
            print(f"{kind.upper()} report: {path.resolve()}")
