"""The ``wsharness`` command.

    wsharness matrix [--profile NAME]... [--time-scale F] [--profiles-dir DIR]...
                     [--browser [--screenshots DIR]] [--report-html PATH] [--report-json PATH]
                     [--upstream URL (--trigger COMMAND | --trigger-url URL) [--trigger-timeout S]
                      [--upstream-ca FILE]]
    wsharness profiles [--profiles-dir DIR]... [--real]
    wsharness proxy PROFILE --upstream URL [--listen HOST:PORT [--listen-beyond-loopback]]
                    [--time-scale F] [--duration S]
    wsharness proxy --real CONFIG --upstream URL [--listen HOST:PORT] [--time-scale F]
    wsharness proxy --real --config FILE [--software S] [--models PROFILE] --upstream URL
                    [--duration S]
    wsharness diagnose URL [--proxy PROXY_URL] [--direct ORIGIN_URL] [--idle SECONDS] [--json]

Exit codes: 0 when every scenario behaved as it should, 1 when one did not, 2 for bad usage
(a URL, a file or a value it cannot use, or an ``--upstream`` that does not answer HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import timescale
from .errors import (
    MissingPart,
    PageLoadError,
    ProxyCrashed,
    TriggerFailed,
    UpstreamUnreachable,
    UsageError,
)
from .listen import add_listen_arguments
from .profiles import Catalogue, Profile

if TYPE_CHECKING:
    from .deployment import RealDeployment
    from .matrix import Row

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2
# Some scenario could not be judged even at 16 times its time scale, and none was wrong.
EXIT_INCONCLUSIVE = 3


def positive_number(value: str) -> float:
    """Parse a time scale, a duration or a timeout: a finite number > 0."""
    try:
        return timescale.positive(value)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """Return the command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="wsharness",
        description="Test CMS realtime (WebSocket) updates through simulated proxies.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    matrix = commands.add_parser(
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
    _add_upstream_options(matrix)
    profiles = commands.add_parser(
        "profiles",
        help="list the proxy profiles: name, what the UI should do behind it, what it does",
        description="List the proxy profiles of the catalogue (and of --profiles-dir): each "
        "one's name (for --profile, proxy PROFILE and the wsharness_profiles marker), what the "
        "edit UI should do behind it (delivered, fallback, reconnects, hot-loop, hangs, "
        "misses-updates) and what the proxy does. With --real, the real proxy configs.",
    )
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
        "profile",
        nargs="?",
        metavar="PROFILE|CONFIG",
        help="a profile name (see: wsharness profiles); with --real, a real proxy config "
        "(see: wsharness profiles --real)",
    )
    proxy.add_argument(
        "--real",
        action="store_true",
        help="run CONFIG, a real proxy config of proxies/real/ (nginx-no-upgrade...), with the "
        "real software instead of a simulated profile",
    )
    own = proxy.add_argument_group(
        "your own proxy config (implies --real)",
        "Run your nginx.conf, haproxy.cfg, Apache site, Caddyfile or squid.conf as written, "
        "but for what ties it to your machines: listening addresses become --listen, backend "
        "addresses --upstream, TLS on the listener is dropped, logs and pid files go to a "
        "private folder, idle timeouts follow --time-scale. What was rewritten is printed; "
        "what cannot be (an include, an upstream named by a variable) is refused, naming the "
        "line. See README: Your own proxy config.",
    )
    own.add_argument("--config", type=Path, metavar="FILE", help="the config file")
    own.add_argument(
        "--software",
        choices=("nginx", "haproxy", "apache", "caddy", "squid"),
        help="which software FILE is for (default: told from its name and text)",
    )
    own.add_argument(
        "--models",
        metavar="PROFILE",
        help="the profile FILE should behave like (see: wsharness profiles), shown in the "
        "first line; wsharness diagnose against the proxy tells which one it does",
    )
    proxy.add_argument(
        "--backend",
        choices=("auto", "docker", "local"),
        default="auto",
        help="with --real, where the software runs: docker (a container on the host network, "
        "from the project's own image), local (the software installed on this machine, as a "
        "process of its own), or auto (docker when an engine answers, else local; the default)",
    )
    proxy.add_argument("--upstream", required=True, metavar="URL", help="the server, http(s)://...")
    add_listen_arguments(proxy, "the proxy, and through it the upstream server,")
    proxy.add_argument(
        "--time-scale",
        type=positive_number,
        default=1.0,
        metavar="F",
        help="multiply the profile's durations by F (default 1: real time); with --real, the "
        "config's idle cut, refused where it would be too short",
    )
    proxy.add_argument(
        "--upstream-ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="a PEM file of CAs to trust, besides the system's, for an https upstream whose "
        "certificate your own CA issued (self-signed or internal)",
    )
    proxy.add_argument(
        "--duration",
        type=positive_number,
        default=None,
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )
    from .diagnose.command import add_parser as add_diagnose
    from .server.command import add_parser as add_serve

    add_diagnose(commands)
    add_serve(commands)
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
    """Run the command; return its exit code.

    While it runs, the values of secret headers are redacted in every log record (websockets
    logs each handshake header at DEBUG).
    """
    from .redact import install_log_redaction

    uninstall = install_log_redaction()
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`wsharness profiles | head`): no traceback, and none at exit
        # when Python flushes stdout again (the Python documentation's recipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PROBLEM
    finally:
        uninstall()


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "diagnose":
            from .diagnose.command import run

            return run(args)
        if args.command == "serve":
            from .server.command import run as run_serve

            return run_serve(args)
        catalogue = Catalogue(args.profiles_dir)
        if args.command == "profiles":
            return _real_configs() if args.real else _profiles(catalogue)
        if args.command == "proxy":
            from .standalone import parse_listen, serve

            listen = parse_listen(args.listen, beyond_loopback=args.listen_beyond_loopback)
            if args.real or args.config is not None:
                return _proxy_real(args, catalogue, listen)
            if args.profile is None:
                raise UsageError("wsharness proxy needs a PROFILE (see: wsharness profiles)")
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
        deployment, chosen, left_out = _real_deployment(args, chosen)
        from .report import check_report_path

        for option, path in (
            ("--report-html", args.report_html),
            ("--report-json", args.report_json),
        ):
            if path is not None:
                check_report_path(path, option)
        if args.browser:
            from .browser.chromium import find_browser

            find_browser()
    except (UsageError, MissingPart, UpstreamUnreachable) as error:
        print(f"wsharness: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ProxyCrashed as error:
        print(f"wsharness: {error}", file=sys.stderr)
        return EXIT_PROBLEM
    driver = "browser" if args.browser else "model"
    scale = args.time_scale
    if scale is None:
        scale = timescale.default(real_deployment=deployment is not None)
    reports = {"html": args.report_html, "json": args.report_json}
    return _matrix(
        chosen, scale, driver, args.screenshots, deployment, left_out, reports, args.verbose
    )


def _proxy_real(args: argparse.Namespace, catalogue: Catalogue, listen: tuple[str, int]) -> int:
    from .real.command import serve_real
    from .real.configs import RealCatalogue

    if (args.profile is None) == (args.config is None):
        raise UsageError(
            "wsharness proxy --real needs either CONFIG (a config of proxies/real/, see: "
            "wsharness profiles --real) or --config FILE (your own), not both"
        )
    if args.models is not None:
        catalogue.get(args.models)  # a clear error now, before anything starts
    if args.config is None:
        if args.software or args.models:
            raise UsageError("--software and --models go with --config FILE")
        config, changes, modelled = RealCatalogue().get(args.profile), [], True
    else:
        from .real.adapt import load_own

        own = load_own(args.config, args.software, args.models)
        config, changes, modelled = own.config, own.changes, own.modelled
    serve_real(
        config,
        args.upstream,
        listen=listen,
        duration=args.duration,
        backend=args.backend,
        catalogue=catalogue,
        changes=changes,
        modelled=modelled,
        time_scale=args.time_scale,
    )
    return EXIT_OK


def _real_configs() -> int:
    from .columns import table
    from .real.configs import RealCatalogue

    rows = [(c.name, c.models, c.summary) for c in RealCatalogue()]
    print("\n".join(table(("config", "models profile", "what it does"), rows)))
    return EXIT_OK


def _profiles(catalogue: Catalogue) -> int:
    from .columns import table

    rows = [(p.name, p.expect.value, p.summary) for p in catalogue]
    print("\n".join(table(("profile", "the UI should", "what the proxy does"), rows)))
    return EXIT_OK


UPSTREAM_HELP = """\
Put the proxies in front of a CMS you run (a dev instance, http://localhost:5000) instead of
the simulated one. The harness cannot publish on it, so a trigger makes it push each
scenario's update: an unread notification (the badge rises), or a saved project whose fields
carry the marker, for the user the page loads as. Each profile runs once, with the server's
own WebSocketEnabled, one scenario at a time; a profile that changes the server (its [server]
table: no WebSocket feature, TLS, a restart, two backends) is left out, with a line saying so.
A trigger that fails stops the run (exit 1), as does a page that does not load (a refused
certificate: give its CA with --upstream-ca)."""
NO_TRIGGER = (
    "--upstream needs a trigger, to make your CMS push each scenario's update: --trigger "
    "COMMAND (run with the marker as its last argument and in WSHARNESS_MARKER) or "
    '--trigger-url URL (POSTed {"marker": "..."} as JSON)'
)


def _add_upstream_options(matrix: argparse.ArgumentParser) -> None:
    from .updates import TRIGGER_TIMEOUT

    real = matrix.add_argument_group("against your own CMS", UPSTREAM_HELP)
    real.add_argument(
        "--upstream",
        metavar="URL",
        help="your CMS, http(s)://host[:port]; needs --trigger or --trigger-url",
    )
    how = real.add_mutually_exclusive_group()
    how.add_argument(
        "--trigger",
        metavar="COMMAND",
        help="run COMMAND, split as a shell would but run without one, with the marker as its "
        "last argument and in $WSHARNESS_MARKER; exit status 0 means the update was made, e.g. "
        "--trigger './make-notification --user editor'",
    )
    how.add_argument(
        "--trigger-url",
        metavar="URL",
        help='POST {"marker": "..."} as JSON to URL; a 2xx answer means the update was made '
        "(the simulated CMS answers on /wsharness/notifications)",
    )
    real.add_argument(
        "--trigger-timeout",
        type=positive_number,
        default=None,
        metavar="S",
        help=f"seconds a trigger may take before it counts as failed (default {TRIGGER_TIMEOUT:g})",
    )
    real.add_argument(
        "--upstream-ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="a PEM file of CAs to trust, besides the system's, for an https --upstream whose "
        "certificate your own CA issued (self-signed or internal); an https --trigger-url "
        "trusts them too",
    )


def _real_deployment(
    args: argparse.Namespace, chosen: list[Profile]
) -> tuple[RealDeployment | None, list[Profile], list[tuple[str, str]]]:
    """Read ``--upstream`` and its trigger: the deployment, the profiles that can run against
    it and those left out with the reason.

    Raises:
        UsageError: a bad URL or command, a trigger without ``--upstream`` or the reverse, an
            ``--upstream-ca`` that is not a PEM file of CAs or comes without an ``https``
            ``--upstream``, or no profile left to run.
        UpstreamUnreachable: ``--upstream`` does not answer HTTP when asked directly.
    """
    from .deployment import (
        RealDeployment,
        browser_left_out_reason,
        check_upstream_ca,
        left_out_reason,
    )
    from .reachable import check_reachable
    from .urls import check_url, parse_url

    trigger_given = args.trigger is not None or args.trigger_url is not None
    ca_options = {"option": "--upstream-ca", "upstream_option": "--upstream"}
    if args.upstream is None:
        check_upstream_ca(args.upstream_ca, None, **ca_options)  # refused when given
        for option, value in (
            ("--trigger", args.trigger),
            ("--trigger-url", args.trigger_url),
            ("--trigger-timeout", args.trigger_timeout),
        ):
            if value is not None:
                raise UsageError(
                    f"{option} needs --upstream URL: against the simulated CMS the harness "
                    "publishes the updates itself"
                )
        return None, chosen, []
    from .triggers import CommandTrigger, UrlTrigger, parse_command
    from .updates import TRIGGER_TIMEOUT

    upstream = parse_url(args.upstream, "--upstream")
    url = upstream.text
    ca = check_upstream_ca(args.upstream_ca, url, **ca_options)
    if not trigger_given:
        raise UsageError(NO_TRIGGER)
    timeout = args.trigger_timeout or TRIGGER_TIMEOUT
    trigger: CommandTrigger | UrlTrigger
    if args.trigger is not None:
        trigger = CommandTrigger(parse_command(args.trigger), timeout)
    else:
        trigger_url = check_url(args.trigger_url, "--trigger-url", path=True)
        trigger = UrlTrigger(trigger_url, timeout, ca_file=ca)

    def why_not(profile: Profile) -> str | None:
        reason = left_out_reason(profile)
        if reason is None and args.browser:
            reason = browser_left_out_reason(profile, url)
        return reason

    left_out = [(p.name, why) for p in chosen if (why := why_not(p)) is not None]
    runnable = [p for p in chosen if why_not(p) is None]
    if not runnable:
        reasons = "; ".join(f"{name} {why}" for name, why in left_out)
        raise UsageError(f"no profile left to run against {url}: {reasons}")
    deployment = RealDeployment(url, trigger, upstream_ca=ca, ca_option="--upstream-ca")
    # Last, once everything else is known good: the only check that sends traffic.
    check_reachable(upstream, "--upstream", path=deployment.routes.settings)
    return deployment, runnable, left_out


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
    from .matrix import format_table, run_matrix, use_color
    from .progress import Progress
    from .verdict import Verdict

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
    from .report import scenarios_json
    from .report_html import render_html

    results = [(row.name, "passed" if row.ok else "failed", row.to_result()) for row in rows]
    for kind, render in (("html", render_html), ("json", scenarios_json)):
        path = reports.get(kind)
        if path is not None:
            path.write_text(render(results), encoding="utf-8")
            print(f"{kind.upper()} report: {path.resolve()}")


if __name__ == "__main__":
    sys.exit(main())
