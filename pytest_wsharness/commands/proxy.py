"""``wsharness proxy``: any profile in front of any server, reporting each connection's fate."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..errors import UsageError
from ..profiles import Catalogue, Profile
from ..proxy.chain import ProfileProxy
from ..reports.columns import wrap
from ..runtime import listen as listening
from ..runtime.urls import Url, parse_url
from ..scenario.explain import relay_summary
from ..upstream.certificates import check_upstream_ca
from . import EXIT_OK
from .args import add_listen_arguments, add_profiles_dir, positive_number

POLL = 0.2


def parse_listen(value: str, *, beyond_loopback: bool = False) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (or ``PORT``) for ``--listen`` and check that a proxy can listen
    there (see :mod:`pytest_wsharness.runtime.listen`).

    Args:
        value: the option's value; ``[::1]:0`` for an IPv6 address.
        beyond_loopback: accept an address other machines can reach
            (``--listen-beyond-loopback``). It defaults to ``False``.

    Raises:
        UsageError: not ``HOST:PORT``, a host that is not loopback without
            ``beyond_loopback``, a port already taken or an address no interface has; the
            message names the address.
    """
    host, port = listening.parse_listen(value, beyond_loopback=beyond_loopback)
    listening.check_bindable(host, port)
    return host, port


def check_upstream(url: str) -> Url:
    """Read ``--upstream``: an ``http(s)://host[:port]`` URL, the port the scheme's when none
    is given.

    Raises:
        UsageError: anything else; the message names ``--upstream``, the value and the form
            wanted (see :func:`~pytest_wsharness.runtime.urls.parse_url`).
    """
    return parse_url(url, "--upstream")


def serve(
    profile: Profile,
    upstream: str,
    *,
    listen: tuple[str, int],
    time_scale: float,
    duration: float | None,
    upstream_ca: Path | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Run ``profile`` in front of ``upstream`` until interrupted or ``duration`` seconds pass,
    printing a line for every connection as it opens and as it ends.

    In front of an ``https`` upstream the proxy opens the clients' TLS with a CA made up for
    the run; its certificate is written to a file, named in the first lines, for the browser
    to trust. ``upstream_ca`` is a PEM file of the CAs to trust upstream besides the system's.

    Raises:
        UsageError: a bad ``upstream``, or an ``upstream_ca`` that is not a PEM file of CAs.
    """
    upstream = check_upstream(upstream).text
    check_upstream_ca(upstream_ca, upstream, option="--upstream-ca", upstream_option="--upstream")
    stop = threading.Event()
    proxy = ProfileProxy(
        profile,
        upstream,
        time_scale=time_scale,
        host=listen[0],
        port=listen[1],
        upstream_ca=upstream_ca,
    )
    proxy.start()
    restore = on_signals(lambda *_: stop.set())
    folder = tempfile.TemporaryDirectory(prefix="wsharness-proxy-ca-")
    try:
        page, forward = proxy.route(upstream)
        where = f"as the browser's proxy for {page}" if forward else f"open {page}"
        say = f"{profile.name} listening on {proxy.url} ({where})"
        print(wrap(say, prefix="wsharness: "), file=out, flush=True)
        for index, pem in enumerate(proxy.client_trust):
            path = Path(folder.name, f"proxy-ca-{index}.pem")
            path.write_text(pem)
            print(
                f"wsharness: the proxy's certificates come from {path}: trust it",
                file=out,
                flush=True,
            )
        deadline = None if duration is None else time.monotonic() + duration
        reporter = _Reporter(out)
        while not stop.wait(POLL):
            reporter.report(proxy)
            if deadline is not None and time.monotonic() >= deadline:
                break
        reporter.report(proxy)
    finally:
        restore()
        proxy.stop()
        folder.cleanup()
    proxy.check()


class _Reporter:
    """Prints what is new in the proxy's records since the last look."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.seen: dict[Any, str] = {}

    def report(self, proxy: ProfileProxy) -> None:
        for record in proxy.records:
            if record.finished:
                self._say(("edge", id(record)), f"{record.request}: {record.describe()}")
        for connection in proxy.connections:
            if connection.asked_to_upgrade is False:
                continue  # the page's own requests
            text, _ = relay_summary([connection])
            if not text:
                # Nothing the relay can say yet: no request, or one it did not read.
                waiting = (
                    connection.asked_to_upgrade is None
                    and not connection.encrypted
                    and connection.ended is None
                    and connection.bytes_up == 0
                )
                text = "no request yet" if waiting else "relayed"
            state = connection.ended or "open"
            self._say(
                ("relay", connection.index),
                f"connection #{connection.index} from {connection.client}: {text} [{state}]",
            )

    def _say(self, key: Any, line: str) -> None:
        if self.seen.get(key) != line:
            self.seen[key] = line
            print(wrap(line), file=self.out, flush=True)


def on_signals(handler: Callable[..., None]) -> Callable[[], None]:
    """Call ``handler`` on SIGINT and SIGTERM (from the main thread only); returns what puts
    the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, previous in old.items():
            signal.signal(sig, previous)

    return restore


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``proxy`` subcommand to the ``wsharness`` parser's subparsers."""
    proxy: argparse.ArgumentParser = commands.add_parser(
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
        "line. See the docs: Real proxies, your own proxy config.",
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
    add_profiles_dir(proxy)
    proxy.set_defaults(run=run)
    return proxy


def run(args: argparse.Namespace) -> int:
    """Run the proxy the parsed ``args`` ask for until Ctrl-C or ``--duration``.

    Raises:
        UsageError: a bad profile, address or option; a real config the harness cannot run.
        MissingPart: the real software is not installed.
    """
    catalogue = Catalogue(args.profiles_dir)
    listen = parse_listen(args.listen, beyond_loopback=args.listen_beyond_loopback)
    if args.real or args.config is not None:
        from .proxy_real import run_real

        return run_real(args, catalogue, listen)
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
