"""The ``wsharness`` command: the sub-commands of :mod:`pytest_wsharness.commands` put
together.

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
    wsharness serve [--listen HOST:PORT] [--tls] [--websocket on|off] [--no-websocket-feature]

Exit codes: 0 when every scenario behaved as it should, 1 when one did not, 2 for bad usage
(a URL, a file or a value it cannot use, or an ``--upstream`` that does not answer HTTP), 3
when none was wrong but some could not be judged.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .commands import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from .errors import MissingPart, ProxyCrashed, UpstreamUnreachable, UsageError

__all__ = ["EXIT_INCONCLUSIVE", "EXIT_OK", "EXIT_PROBLEM", "EXIT_USAGE", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the command's argument parser."""
    from .commands import diagnose, matrix, profiles, proxy, serve

    parser = argparse.ArgumentParser(
        prog="wsharness",
        description="Test CMS realtime (WebSocket) updates through simulated proxies.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (matrix, profiles, proxy, diagnose, serve):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code.

    While it runs, the values of secret headers are redacted in every log record (websockets
    logs each handshake header at DEBUG).
    """
    from .runtime.redact import install_log_redaction

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
        code: int = args.run(args)
    except (UsageError, MissingPart, UpstreamUnreachable) as error:
        print(f"wsharness: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ProxyCrashed as error:
        print(f"wsharness: {error}", file=sys.stderr)
        return EXIT_PROBLEM
    return code


if __name__ == "__main__":
    sys.exit(main())
