"""``wsharness diagnose``: the CMS troubleshooting guide as one command.

    wsharness diagnose URL [--proxy PROXY_URL] [--direct ORIGIN_URL] [--idle SECONDS] [--json]

Exit codes: 0 when the realtime endpoint works, 1 when a problem was found, 2 for bad usage, 3
when the answer is inconclusive: a wait ran out while this machine ran the probe late.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from ..diagnose.records import Header, Limits
from ..diagnose.report import diagnose
from ..errors import UsageError
from ..reports.columns import terminal_width
from ..upstream.certificates import check_ca_file
from .args import seconds

DESCRIPTION = (
    "Open the CMS realtime endpoint as the edit UI does (upgrade, heartbeat, optionally an "
    "idle watch) through the middle tier and, with --direct, straight at the origin server; "
    "compare, and say what happened and the likely fix in one sentence per finding."
)


def header(value: str) -> Header:
    """Parse ``Name: value``."""
    name, colon, text = value.partition(":")
    if not colon or not name.strip() or any(c in name for c in " \t\r\n"):
        raise argparse.ArgumentTypeError(f"must be 'Name: value', got {value!r}")
    if any(c in text for c in "\r\n"):
        raise argparse.ArgumentTypeError("a header value cannot hold a line break")
    return name.strip(), text.strip()


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``diagnose`` subcommand to the ``wsharness`` parser's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "diagnose", help="diagnose a site's realtime endpoint", description=DESCRIPTION
    )
    parser.add_argument(
        "url",
        metavar="URL",
        help="the site as editors reach it (https://cms.example.com) or the endpoint itself "
        "(wss://cms.example.com/EPiServer/Shell/socket/endpoint)",
    )
    parser.add_argument(
        "--proxy", metavar="PROXY_URL", help="an explicit forward proxy, http://host:port"
    )
    parser.add_argument(
        "--direct",
        metavar="ORIGIN_URL",
        help="the origin web server, bypassing the middle tier, to compare with",
    )
    parser.add_argument(
        "--idle",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="once open, stay silent this long and report a hop that cuts the socket",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--endpoint",
        default=None,
        metavar="PATH",
        help="the endpoint's path for http(s):// URLs (default /EPiServer/Shell/socket/endpoint)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for each answer (default 10)",
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=seconds,
        default=6.0,
        metavar="SECONDS",
        help="how long to wait for the heartbeat's echo (default 6: two CMS heartbeats)",
    )
    parser.add_argument(
        "--ca", type=Path, default=None, metavar="FILE", help="a PEM file of extra CAs to trust"
    )
    parser.add_argument(
        "--header",
        type=header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this header too, e.g. a session cookie (repeatable; secrets never printed)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the diagnosis the parsed ``args`` ask for; print it; return the exit code.

    Raises:
        UsageError: a URL or the CA file is not usable; the caller exits 2.
    """
    if args.endpoint is not None and not args.endpoint.startswith("/"):
        raise UsageError(f"bad --endpoint {args.endpoint!r}: give a path starting with '/'")
    cafile = str(check_ca_file(args.ca, "--ca")) if args.ca is not None else None
    limits = Limits(answer=args.timeout, heartbeat=args.heartbeat_timeout, idle=args.idle)
    found = asyncio.run(
        diagnose(
            args.url,
            proxy=args.proxy,
            direct=args.direct,
            endpoint=args.endpoint,
            limits=limits,
            cafile=cafile,
            headers=args.header,
        )
    )
    print(found.to_json() if args.json else found.to_text(terminal_width()))
    if found.inconclusive:
        return 3  # as `wsharness matrix` exits when a scenario could not be judged
    return 0 if found.ok else 1
