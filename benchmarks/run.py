"""Benchmarks: what the plugin, the fixtures and the proxy path cost, each against a baseline.

    python benchmarks/run.py [--quick] [--repeat R] [--only GROUP,...] [--tests N]
                             [--round-trips N] [--echo N] [--clients 1,10,100,1000]
                             [--publishes P] [--connect N] [--catalogue-profiles K]

Every figure is measured against a baseline taken in the same run on the same machine, and
printed as a ratio, so that a slow day does not read as a regression. Each is the median of
``--repeat`` runs (3), printed in one table with its target and ``met`` or ``MISSED``. The
groups, each described (rows, baselines, targets) in its module, all in this folder:

- ``fixtures`` and ``startup`` (``plugin_cost.py``): one more test with the fixtures against one
  with none (target: +20 ms behind ``compliant``), and ``pytest``'s start-up with the plugins
  against without them (+50 ms); ``pytest`` subprocesses.
- ``path`` (``wire.py``): echo round-trip time and pipelined throughput, and heartbeat round
  trips over ws:// and wss://, through the relay against straight.
- ``broadcast`` and ``connect`` (``many_clients.py``): publish-to-frame p99 for 1 to 1000
  clients, and 500 WebSockets opened at once, through the relay against straight.
- ``catalogue`` (``catalogue_cost.py``): every profile against one scenario (under a minute).

``results.py`` holds the table and its rows; ``routes.py`` the paths a WebSocket takes and the
clients. Each figure of ``path``, ``broadcast`` and ``connect`` is taken over every path: direct;
the relay on a thread of this interpreter, as the fixtures run it (it shares the GIL with the
clients and the server); ``wsharness proxy compliant`` in a process of its own, as a support
engineer runs it and as nginx runs; and, with nginx installed, the real ``nginx-websocket``
config (``worker_connections`` raised from the catalogue's 64, which holds 31 proxied sockets,
to 4096), with relay/nginx ratios. Both relay paths are held to each target. Direct is a hard
baseline where the server shares the clients' event loop (no thread, no process crossed):
``path`` also runs its echo server in a process of its own, as a real CMS is, and prints both
sets of rows. The open-file soft limit is raised to the hard limit first.

``--quick`` is a smoke run: tiny sizes, 1 repeat, 2 profiles of the catalogue (no verdict on
that row). Nothing here is a test: it reports, and exits 1 only when a measurement failed.
Traffic stays on 127.0.0.1; every server binds port 0. The modules are imported as this
script's neighbours (``sys.path[0]`` is this folder): run it as a script, not with ``-m``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from catalogue_cost import bench_catalogue
from many_clients import bench_broadcast, bench_connect
from plugin_cost import bench_fixtures, bench_startup
from results import Table
from routes import nginx_config
from wire import bench_echo, bench_heartbeats

Measure = Callable[[], Coroutine[Any, Any, None]]
SPEED_LOOP = 3_000_000
GROUPS = ("fixtures", "startup", "path", "broadcast", "connect", "catalogue")


def raise_file_limit() -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == wanted:
        return f"open-file soft limit {soft}, the hard limit already"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as error:
        return f"open-file soft limit {soft}: could not raise it to {wanted} ({error})"
    return f"open-file soft limit raised from {soft} to {wanted} (the hard limit)"


def machine_speed() -> str:
    """How fast this machine runs Python now: the figures in milliseconds (the fixtures and
    start-up rows) are not ratios, and a shared machine's speed drifts by 2-3x in an hour."""
    loops = []
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for number in range(SPEED_LOOP):
            total += number
        loops.append(time.perf_counter() - start)
    return (
        f"machine speed: a {SPEED_LOOP:,}-step Python loop took {min(loops) * 1e3:.0f} ms "
        "(best of 3), to compare runs on other days"
    )


def sizes(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"client counts of at least 1, got {text!r}")
    return values


def groups(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"groups among {', '.join(GROUPS)}, got {text!r}")
    return chosen


QUICK = {
    "repeat": 1,
    "tests": 2,
    "round_trips": 50,
    "echo": 50,
    "clients": [1, 10],
    "publishes": 2,
    "connect": 20,
    "catalogue_profiles": 2,
}
FULL = {
    "repeat": 3,
    "tests": 30,
    "round_trips": 2000,
    "echo": 2000,
    "clients": [1, 10, 100, 1000],
    "publishes": 5,
    "connect": 500,
    "catalogue_profiles": 0,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, 1 repeat")
    parser.add_argument("--repeat", type=int, metavar="R", help="runs per figure (median); 3")
    parser.add_argument("--only", type=groups, metavar="GROUP,...", help=", ".join(GROUPS))
    parser.add_argument("--tests", type=int, metavar="N", help="tests per generated file; 30")
    parser.add_argument("--round-trips", type=int, metavar="N", help="heartbeats; 2000")
    parser.add_argument("--echo", type=int, metavar="N", help="echo round trips/messages; 2000")
    parser.add_argument("--clients", type=sizes, metavar="N,...", help="1,10,100,1000")
    parser.add_argument("--publishes", type=int, metavar="P", help="publishes per run; 5")
    parser.add_argument("--connect", type=int, metavar="N", help="clients opened at once; 500")
    parser.add_argument(
        "--catalogue-profiles", type=int, metavar="K", help="the first K profiles; 0 = all"
    )
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.repeat, args.round_trips, args.echo, args.publishes, args.connect) < 1:
        parser.error("--repeat, --round-trips, --echo, --publishes and --connect: at least 1")
    if args.tests < 2:
        parser.error("--tests must be at least 2 (the cost is t(N) - t(1))")
    only = args.only or list(GROUPS)

    print(raise_file_limit())
    print(machine_speed())
    nginx, about = nginx_config()
    print(f"nginx: {about}")
    print(
        f"median of {args.repeat}; {args.tests} tests a file, {args.echo} echoes, "
        f"{args.round_trips} heartbeats, clients {','.join(map(str, args.clients))} x "
        f"{args.publishes} publishes, {args.connect} connects"
    )
    table = Table()
    table.header()
    if "fixtures" in only:
        bench_fixtures(table, args.tests, args.repeat)
    if "startup" in only:
        bench_startup(table, args.repeat)
    # The in-process groups, each measurement in an event loop of its own.
    repeat = args.repeat
    measurements: list[tuple[str, str, Measure]] = [
        ("path", "echo", lambda: bench_echo(table, args.echo, repeat, nginx)),
        (
            "path",
            "heartbeats ws://",
            lambda: bench_heartbeats(table, args.round_trips, repeat, False, nginx),
        ),
        (
            "path",
            "heartbeats wss://",
            lambda: bench_heartbeats(table, args.round_trips, repeat, True, nginx),
        ),
        (
            "broadcast",
            "broadcast",
            lambda: bench_broadcast(table, args.clients, args.publishes, repeat, nginx),
        ),
        (
            "connect",
            f"connect {args.connect}",
            lambda: bench_connect(table, args.connect, repeat, nginx),
        ),
        ("catalogue", "catalogue", lambda: bench_catalogue(table, args.catalogue_profiles)),
    ]
    for group, name, measure in measurements:
        if group not in only:
            continue
        try:
            asyncio.run(measure())
        except Exception as error:
            table.fail(name, error)
    return 1 if table.failed else 0


if __name__ == "__main__":
    sys.exit(main())
