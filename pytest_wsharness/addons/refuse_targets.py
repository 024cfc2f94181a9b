"""RefuseOtherTargets: an explicit proxy of ours reaches only the upstream it was given.

mitmproxy's regular (forward) mode goes wherever a client asks: ``CONNECT host:port``, an
absolute URL (``GET http://host:port/``) or a ``Host`` header. A forward profile left running
would then be an open relay to every port of the machine (issue 10). This addon answers every
request for another target with the proxy's own 403, naming the target it refused and the one it
allows, and leaves the refusal in the flow's metadata for the record. Inside a ``CONNECT``
tunnel mitmproxy sends requests to the tunnel's target, already checked, whatever their
``Host``.

Option ``wsharness_allowed_targets`` (``host:port``, repeatable) sets the allowed targets when
run as ``mitmdump -s``; with none, every target is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from mitmproxy import exceptions, http

from pytest_wsharness.proxy.records import ALLOWED_TARGETS, ANSWERED_BY_PROXY, REFUSED_TARGET

HEADERS = {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"}


class RefuseOtherTargets:
    """Answer 403 to every request, ``CONNECT`` included, for a target not in ``allowed``.

    Args:
        allowed: the ``host:port`` targets the proxy may reach (an IPv6 address in
            brackets). It defaults to none: every target is refused.

    Raises:
        ValueError: a target that is not ``host:port`` with a port 1-65535.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = _check_targets(allowed)
        self._options: Any = None

    def load(self, loader: Any) -> None:
        # This master's options, not the global ctx: several masters run in one process.
        self._options = loader.master.options
        loader.add_option(
            "wsharness_allowed_targets",
            Sequence[str],
            sorted(_authority(target) for target in self.allowed),
            "host:port targets the proxy may reach; repeat the option for several.",
        )

    def configure(self, updated: set[str]) -> None:
        if "wsharness_allowed_targets" in updated and self._options is not None:
            try:
                self.allowed = _check_targets(self._options.wsharness_allowed_targets)
            except ValueError as error:
                raise exceptions.OptionsError(str(error)) from None

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._refuse_elsewhere(flow)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._refuse_elsewhere(flow)

    def _refuse_elsewhere(self, flow: http.HTTPFlow) -> None:
        target = (_host(flow.request.host), flow.request.port)
        if target in self.allowed:
            return
        asked = _authority(target)
        allowed = tuple(sorted(_authority(t) for t in self.allowed))
        reach = f"it reaches only {', '.join(allowed)}" if allowed else "it is allowed no target"
        body = f"This proxy refused to reach {asked}: {reach}.\n"
        flow.response = http.Response.make(403, body, HEADERS)
        flow.metadata[ANSWERED_BY_PROXY] = True
        flow.metadata[REFUSED_TARGET] = asked
        flow.metadata[ALLOWED_TARGETS] = allowed


def _host(host: str) -> str:
    """One spelling per host: lower case, an IP address in its canonical form."""
    host = host.strip("[]").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _authority(target: tuple[str, int]) -> str:
    host, port = target
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_targets(targets: Iterable[str]) -> frozenset[tuple[str, int]]:
    if isinstance(targets, str | bytes):
        raise ValueError(f"allowed targets must be a list of host:port, got {targets!r}")
    checked = set()
    for target in targets:
        host, _, port = str(target).rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(
                f"allowed targets must be host:port with a port 1-65535, got {target!r}"
            )
        checked.add((_host(host), int(port)))
    return frozenset(checked)


addons = [RefuseOtherTargets()]
