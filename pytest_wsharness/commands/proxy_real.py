"""``wsharness proxy --real``: a real proxy config (shipped, or a team's own with ``--config``)
in front of any server, printing what each connection went through, as seen from outside.

A real proxy keeps no records the harness can read, so a plain relay (the ``compliant``
relay: no fault, it passes every byte as it comes) listens where the user asked and passes
each connection to the real proxy: it sees the request, the status the proxy answered, the
frames and who closed, and when.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

from ..errors import UsageError
from ..profiles import Catalogue
from ..reports.columns import wrap
from . import EXIT_OK
from .proxy import POLL, check_upstream, on_signals

if TYPE_CHECKING:
    from ..real.configs import RealConfig
    from ..real.local import LocalProxy
    from ..relay.records import ConnectionRecord


def serve_real(
    config: RealConfig,
    upstream: str,
    *,
    listen: tuple[str, int],
    duration: float | None,
    backend: str = "auto",
    catalogue: Catalogue | None = None,
    modelled: bool = True,
    out: TextIO = sys.stdout,
    time_scale: float = 1.0,
) -> None:
    """Run ``config`` in front of ``upstream`` until interrupted or ``duration`` seconds pass:
    in Docker when an engine answers, else as a local process (``backend`` chooses: ``auto``,
    ``docker`` or ``local``), printing a line for every connection as it is answered and as
    it ends. Its idle cuts are scaled by ``time_scale``, for clients that run at that scale.

    Args:
        modelled: whether ``config.models`` was named by the user; when not, the first line
            says so rather than claim a model.

    Raises:
        UsageError: a bad ``upstream``.
        MissingPart: the software is not installed.
        TimeScaleUnsupported: an idle cut of the config cannot be scaled by ``time_scale``;
            the message names the smallest time scale that works.
    """
    from ..real.backends import runner
    from ..relay.relay import Relay

    origin = check_upstream(upstream).origin
    proxy = runner(backend)(config, origin, catalogue, time_scale=time_scale)
    stop = threading.Event()
    restore = on_signals(lambda *_: stop.set())
    tap = None
    try:
        proxy.start()
        # websocket_only: the tap reads each first request, to tell the socket from the page.
        tap = Relay(
            proxy.url,
            name=f"{config.name} tap",
            websocket_only=True,
            host=listen[0],
            port=listen[1],
        )
        tap.start()
        model = f"modelled by {config.models}" if modelled else "no --models given"
        page = f"open {tap.url}" if not proxy.forward else f"as the browser's proxy for {origin}"
        software = config.software
        for line in (
            f"{config.name} ({software} {where(proxy)}, {model})",
            f"listening on {tap.url} ({page})",
            f"{software} itself listens on {proxy.url}; its config and logs: {proxy.workdir}",
        ):
            say(line, out)
        _print_changes(config, proxy, origin, time_scale, out)
        deadline = None if duration is None else time.monotonic() + duration
        seen: dict[int, str] = {}
        while not stop.wait(POLL):  # bounded by the deadline, or Ctrl-C
            proxy.check()
            _report(tap.records, seen, proxy.forward, out)
            if deadline is not None and time.monotonic() >= deadline:
                break
        _report(tap.records, seen, proxy.forward, out)
    finally:
        restore()
        if tap is not None:
            tap.stop()
        proxy.stop()


def _print_changes(
    config: RealConfig,
    proxy: LocalProxy,
    upstream: str,
    time_scale: float,
    out: TextIO,
) -> None:
    """What the harness rewrote in the user's file, with the port, upstream and folder of
    this run in place of the placeholders, wrapped to the terminal."""
    workdir = proxy.workdir
    if not config.changes or workdir is None:
        return
    port = int(proxy.url.rsplit(":", 1)[1])

    def fill(text: str) -> str:
        return config.render(
            port=port, upstream=upstream, workdir=workdir, time_scale=time_scale, text=text
        )

    say(f"what the harness rewrote in {config.path}:", out)
    for change in config.changes:
        if change.before and " ".join(change.before.split()) == fill(change.after):
            continue  # a timeout that the time scale leaves as it was
        say(fill(change.describe()), out, prefix="  ", indent="      ")


def say(text: str, out: TextIO, *, prefix: str = "wsharness: ", indent: str = "    ") -> None:
    """Print ``text`` wrapped to the terminal, continued lines indented."""
    print(wrap(text, prefix=prefix, indent=indent), file=out, flush=True)


def _report(
    records: list[ConnectionRecord], seen: dict[int, str], forward: bool, out: TextIO
) -> None:
    for record in records:
        line = connection_line(record, forward)
        if line and seen.get(record.index) != line:
            seen[record.index] = line
            say(line, out, prefix="")


def connection_line(record: ConnectionRecord, forward: bool = False) -> str:
    """What one connection went through the real proxy, in a line; ``""`` for the page's own
    requests to a reverse proxy, and for a connection that has shown nothing yet. A forward
    proxy's connections all show: the socket's upgrade is inside a CONNECT tunnel."""
    if record.asked_to_upgrade is False and not forward:
        return ""
    what = "WebSocket upgrade asked" if record.asked_to_upgrade else "a connection"
    if record.status is None and record.ended is None:
        return ""
    parts = [f"connection #{record.index} from {record.client}: {what}"]
    if record.status is not None:
        after = _ms(record.answered_at, record.started)
        parts.append(f"the proxy answered HTTP {record.status}{after}")
    else:
        parts.append("no answer")
    if record.upgraded:
        parts.append(f"{record.frames_up} frames up, {record.frames_down} down")
    if record.ended is None:
        parts.append("open")
    else:
        ended = record.ended.replace("server", "the proxy")
        parts.append(f"{ended}{_ms(record.ended_at, record.started)}")
    return ", ".join(parts)


def _ms(at: float | None, start: float) -> str:
    if at is None:
        return ""
    elapsed = at - start
    return f" after {elapsed * 1000:.0f} ms" if elapsed < 1 else f" after {elapsed:.1f} s"


def where(proxy: object) -> str:
    """``in Docker`` or ``as a local process``, for the first line."""
    return "in Docker" if type(proxy).__name__ == "DockerProxy" else "as a local process"


def run_real(args: argparse.Namespace, catalogue: Catalogue, listen: tuple[str, int]) -> int:
    """``wsharness proxy --real CONFIG`` or ``--config FILE``: check what goes with what, read
    the config, run it.

    Raises:
        UsageError: CONFIG and ``--config`` both or neither, ``--software`` or ``--models``
            without ``--config``, an unknown profile or config.
        ConfigRefused: a team's own config the harness cannot run.
    """
    from ..real.configs import RealCatalogue

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
        config, modelled = RealCatalogue().get(args.profile), True
    else:
        from ..real.adapt import load_own

        own = load_own(args.config, args.software, args.models)
        config, modelled = own.config, own.modelled
    serve_real(
        config,
        args.upstream,
        listen=listen,
        duration=args.duration,
        backend=args.backend,
        catalogue=catalogue,
        modelled=modelled,
        time_scale=args.time_scale,
    )
    return EXIT_OK
