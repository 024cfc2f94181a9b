"""``wsharness serve``: the simulated CMS on its own, for a proxy, a diagnosis or a browser.

    wsharness serve [--listen HOST:PORT] [--tls] [--websocket on|off] [--no-websocket-feature]
                    [--duration S]

It prints where it listens (the site, the edit UI, the realtime endpoint), how to publish an
update, and then a line for every request it answers, until Ctrl-C or ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from typing import Any, TextIO

from ..diagnose.report import printable
from ..reports.columns import wrap
from ..runtime import listen as listening
from ..server.cms import NOTIFICATION_HOOK, SimulatedCMS
from ..server.records import RequestRecord
from .args import add_listen_arguments, seconds

DESCRIPTION = (
    "Run the simulated CMS (its edit UI, REST reads and realtime endpoint) on its own, so that "
    "wsharness proxy, wsharness diagnose and a browser have a server to point at."
)
EXPOSED = "the simulated CMS would take connections from the network"
# How often new requests are printed: output for a person, not a wait for readiness.
POLL = 0.2


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to the ``wsharness`` parser's subparsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve", help="run the simulated CMS on its own", description=DESCRIPTION
    )
    add_listen_arguments(parser, "the simulated CMS")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve https:// and wss:// with a certificate of a test CA made up for the run; "
        "the CA's file is named in the output, to trust (wsharness diagnose --ca FILE, "
        "wsharness proxy --upstream-ca FILE)",
    )
    parser.add_argument(
        "--websocket",
        choices=("on", "off"),
        default="on",
        help="UIOptions.WebSocketEnabled: with off the edit UI opens no socket and shows "
        "updates after a reload (default on)",
    )
    parser.add_argument(
        "--no-websocket-feature",
        action="store_true",
        help="answer the upgrade like a plain page, as IIS without the WebSocket Protocol "
        "feature (or App Service with Web sockets off) does",
    )
    parser.add_argument(
        "--duration",
        type=seconds,
        default=None,
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Serve until interrupted or ``--duration`` ends; return the exit code.

    Raises:
        UsageError: ``--listen`` is not a loopback ``HOST:PORT`` (without
            ``--listen-beyond-loopback``), or the address is taken or not this machine's.
    """
    host, port = listening.parse_listen(
        args.listen, beyond_loopback=args.listen_beyond_loopback, exposed=EXPOSED
    )
    listening.check_bindable(host, port)
    asyncio.run(
        serve(
            host=host,
            port=port,
            tls=args.tls,
            websocket_enabled=args.websocket == "on",
            websocket_feature=not args.no_websocket_feature,
            duration=args.duration,
            out=out,
        )
    )
    return 0


async def serve(
    *,
    host: str,
    port: int,
    tls: bool,
    websocket_enabled: bool,
    websocket_feature: bool,
    duration: float | None,
    out: TextIO,
) -> None:
    """Run the simulated CMS on ``host:port`` until SIGINT/SIGTERM or ``duration`` seconds."""
    stopped = asyncio.Event()
    with _on_signals(stopped), tempfile.TemporaryDirectory(prefix="wsharness-serve-") as folder:
        ssl = None
        trust = None
        if tls:
            from ..runtime.tls import TestCA  # cryptography: only for --tls

            ca = TestCA()
            ssl = ca.issue().server_context()
            trust = ca.write(folder)
        cms = SimulatedCMS(
            websocket_enabled=websocket_enabled,
            websocket_feature=websocket_feature,
            host=host,
            port=port,
            ssl=ssl,
        )
        async with cms:
            for line in _banner(cms, trust):
                text = f"wsharness: {line}" if "\n" in line else wrap(line, prefix="wsharness: ")
                print(text, file=out, flush=True)
            shown = 0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration):
                    while not stopped.is_set():
                        shown = _report(cms.requests, shown, out)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stopped.wait(), POLL)
            _report(cms.requests, shown, out)


def _banner(cms: SimulatedCMS, trust: object) -> list[str]:
    settings = "on" if cms.websocket_enabled else "off"
    feature = "" if cms.websocket_feature else ", no WebSocket feature (upgrades answered 200)"
    socket_url = cms.url.replace("http", "ws", 1) + cms.routes.endpoint
    lines = [
        f"simulated CMS listening on {cms.url} (WebSocketEnabled {settings}{feature})",
        f"edit UI: {cms.url}{cms.routes.page}",
        f"realtime endpoint: {socket_url}",
    ]
    if trust is not None:
        lines.append(f"its certificates come from {trust}: trust it")
    # On lines of their own, continued with a backslash, so that it can be copied whole.
    lines.append(
        "publish an update:\n    curl -X POST -H 'Content-Type: application/json' \\\n"
        f"""      -d '{{"marker": "hello"}}' {cms.url}{NOTIFICATION_HOOK}"""
        + (f" \\\n      --cacert {trust}" if trust is not None else "")
    )
    lines.append("stop: Ctrl-C")
    return lines


def _report(requests: list[RequestRecord], shown: int, out: TextIO) -> int:
    """Print the requests after the first ``shown``; return how many are shown now."""
    for record in requests[shown:]:
        answer = str(record.status) if record.status is not None else "no answer"
        if record.no_answer:
            answer += f" ({record.no_answer})"
        line = f"{record.method} {record.path} HTTP/{record.version} -> {answer}"
        print(wrap(printable(line), prefix="wsharness: "), file=out, flush=True)
    return len(requests)


@contextlib.contextmanager
def _on_signals(stopped: asyncio.Event) -> Any:
    """Set ``stopped`` on SIGINT and SIGTERM while the block runs (main thread only)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(sig, stopped.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
