"""The ``wsharness`` command.

    wsharness matrix [--profile NAME]... [--time-scale F] [--profiles-dir DIR]...
                     [--browser [--screenshots DIR]]
    wsharness profiles [--profiles-dir DIR]... [--real]
    wsharness proxy PROFILE --upstream URL [--listen HOST:PORT] [--time-scale F] [--duration S]
    wsharness proxy --real CONFIG --upstream URL [--listen 127.0.0.1:PORT] [--duration S]
    wsharness diagnose URL [--proxy PROXY_URL] [--direct ORIGIN_URL] [--idle SECONDS] [--json]

Exit codes: 0 when every scenario behaved as it should, 1 when one did not, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .errors import MissingPart, ProxyCrashed, UsageError
from .profiles import Catalogue, Profile

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2
DEFAULT_MATRIX_TIME_SCALE = 0.05
DEFAULT_BROWSER_TIME_SCALE = 0.1


def time_scale(value: str) -> float:
    """Parse a time scale: a finite number > 0."""
    try:
        scale = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {value!r}") from None
    if not (math.isfinite(scale) and scale > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {value!r}")
    return scale


def build_parser() -> argparse.ArgumentParser:
    """Return the command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="wsharness",
        description="Test CMS realtime (WebSocket) updates through simulated proxies.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    matrix = commands.add_parser(
        "matrix",
        help="run every profile x {WebSocket enabled, disabled} against the simulated CMS",
        description="Run every proxy profile with WebSockets enabled and disabled against the "
        "embedded simulated CMS, with the CMS client model, and print what each hop did.",
    )
    matrix.add_argument(
        "--profile", action="append", metavar="NAME", help="run only this profile (repeatable)"
    )
    matrix.add_argument(
        "--time-scale",
        type=time_scale,
        default=None,
        metavar="F",
        help="multiply every client timing (3 s heartbeat, 5 s x n^2 reconnect) by F "
        f"(default {DEFAULT_MATRIX_TIME_SCALE}; {DEFAULT_BROWSER_TIME_SCALE} with --browser, "
        "whose timers slip more)",
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
    profiles = commands.add_parser("profiles", help="list the proxy profiles, one line each")
    profiles.add_argument(
        "--real",
        action="store_true",
        help="list the real proxy configs of proxies/real/ instead, with the profile that "
        "models each",
    )
    proxy = commands.add_parser(
        "proxy",
        help="run one profile in front of a server, printing each connection's fate",
        description="Run a proxy profile in front of any server (a developer's local CMS) and "
        "print what happens to each connection until Ctrl-C.",
    )
    proxy.add_argument(
        "profile", metavar="PROFILE", help="a profile name (see: wsharness profiles)"
    )
    proxy.add_argument(
        "--real",
        action="store_true",
        help="PROFILE names a real proxy config of proxies/real/ (nginx-no-upgrade...), run "
        "in Docker when an engine answers, else as a local process from the installed software",
    )
    proxy.add_argument(
        "--backend",
        choices=("auto", "docker", "local"),
        default="auto",
        help="with --real: where it runs (default auto)",
    )
    proxy.add_argument("--upstream", required=True, metavar="URL", help="the server, http(s)://...")
    proxy.add_argument(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1:0, a free port)",
    )
    proxy.add_argument(
        "--time-scale",
        type=time_scale,
        default=1.0,
        metavar="F",
        help="multiply the profile's durations by F (default 1: real time)",
    )
    proxy.add_argument(
        "--upstream-ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="a PEM file of the CAs to trust for an https upstream (default: the system's)",
    )
    proxy.add_argument(
        "--duration",
        type=time_scale,
        default=None,
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )
    from .diagnose.command import add_parser as add_diagnose

    add_diagnose(commands)
    for sub in (matrix, profiles, proxy):
        sub.add_argument(
            "--profiles-dir",
            action="append",
            type=Path,
            default=[],
            metavar="DIR",
            help="also load the *.toml profiles in DIR (repeatable)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "diagnose":
            from .diagnose.command import run

            return run(args)
        catalogue = Catalogue(args.profiles_dir)
        if args.command == "profiles":
            return _real_configs() if args.real else _profiles(catalogue)
        if args.command == "proxy":
            from .standalone import parse_listen, serve

            listen = parse_listen(args.listen)
            if args.real:
                from .standalone import serve_real

                serve_real(
                    args.profile,
                    args.upstream,
                    listen=listen,
                    duration=args.duration,
                    backend=args.backend,
                )
                return EXIT_OK
            serve(
                catalogue.get(args.profile),
                args.upstream,
                listen=listen,
                time_scale=args.time_scale,
                duration=args.duration,
                upstream_ca=args.upstream_ca,
            )
            return EXIT_OK
        chosen = [catalogue.get(name) for name in args.profile] if args.profile else list(catalogue)
        if args.screenshots is not None and not args.browser:
            raise UsageError("--screenshots needs --browser: the Python client has no screen")
        if args.browser:
            from .browser.chromium import find_browser

            find_browser()
    except (UsageError, MissingPart) as error:
        print(f"wsharness: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ProxyCrashed as error:
        print(f"wsharness: {error}", file=sys.stderr)
        return EXIT_PROBLEM
    driver = "browser" if args.browser else "model"
    scale = args.time_scale
    if scale is None:
        scale = DEFAULT_BROWSER_TIME_SCALE if args.browser else DEFAULT_MATRIX_TIME_SCALE
    return _matrix(chosen, scale, driver, args.screenshots)


def _real_configs() -> int:
    from .real.configs import RealCatalogue

    configs = list(RealCatalogue())
    width = max(len(c.name) for c in configs)
    models = max(len(c.models) for c in configs)
    for config in configs:
        print(f"{config.name.ljust(width)}  {config.models.ljust(models)}  {config.summary}")
    return EXIT_OK


def _profiles(catalogue: Catalogue) -> int:
    width = max(len(name) for name in catalogue.names())
    for profile in catalogue:
        print(f"{profile.name.ljust(width)}  {profile.expect.value:<9}  {profile.summary}")
    return EXIT_OK


def _matrix(profiles: list[Profile], scale: float, driver: str, screenshots: Path | None) -> int:
    from .matrix import format_table, run_matrix

    started = time.perf_counter()
    rows = asyncio.run(run_matrix(profiles, scale, driver=driver, screenshots=screenshots))
    print(format_table(rows))
    wrong = [r for r in rows if not r.ok]
    print(
        f"\n{len(rows)} scenarios, {len(rows) - len(wrong)} as expected, {len(wrong)} wrong, "
        f"in {time.perf_counter() - started:.1f}s (time scale {scale:g}"
        + (", in Chromium)" if driver == "browser" else ")")
    )
    if screenshots is not None:
        print(f"screenshots: {screenshots}")
    return EXIT_PROBLEM if wrong else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
