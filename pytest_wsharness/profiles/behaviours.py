"""The HTTP-edge behaviours a profile can name: one mitmproxy addon class each.

Nothing here imports mitmproxy: an addon's module is imported when a proxy starts.
Durations are written in profiles in milliseconds of CMS time, like Toxiproxy's; the addon gets
seconds already multiplied by the run's time scale.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .params import Param


@dataclass(frozen=True)
class BehaviourType:
    """A behaviour: its addon class (``module:Class``), a summary and its parameters.

    Attributes:
        durations: the parameters given in milliseconds, handed to the addon in scaled seconds.
        tls: what the proxy does with the clients' TLS when this behaviour is on: ``""`` (opens
            it with the site's certificate, as a load balancer does), ``"pass-through"`` or
            ``"intercept"`` (opens it with a CA of its own).
        reaches: the parameter listing more ports of the upstream's host that a forward proxy
            with this behaviour may reach besides the upstream's own (a CONNECT rule about
            port 443 must be able to let 443 through, or it could not be told from a refusal).
    """

    target: str
    summary: str
    params: Mapping[str, Param] = field(default_factory=dict)
    durations: tuple[str, ...] = ()
    tls: str = ""
    reaches: str = ""

    def ports_reached(self, params: Mapping[str, Any]) -> tuple[int, ...]:
        """The ports of the upstream's host, besides its own, this behaviour lets a forward
        proxy reach (every other target stays refused: no open relay)."""
        return tuple(int(port) for port in params[self.reaches]) if self.reaches else ()

    def build(self, params: Mapping[str, Any], time_scale: float = 1.0) -> object:
        """Return a new addon; imports its module (and so mitmproxy)."""
        kwargs = dict(params)
        for name in self.durations:
            kwargs[name] = kwargs[name] / 1000.0 * time_scale
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)(**kwargs)


_ADDONS = "pytest_wsharness.addons"
PASS_THROUGH = "pass-through"
INTERCEPT = "intercept"

BEHAVIOURS: dict[str, BehaviourType] = {
    "strip-upgrade-headers": BehaviourType(
        f"{_ADDONS}.strip_upgrade:StripUpgradeHeaders",
        "remove Connection, Upgrade and what Connection names",
    ),
    "rewrite-connection-close": BehaviourType(
        f"{_ADDONS}.connection_close:RewriteConnectionClose",
        "keep Upgrade but rewrite Connection to close",
    ),
    "deny-upgrade": BehaviourType(
        f"{_ADDONS}.deny_upgrade:DenyUpgrade",
        "answer upgrade requests from the proxy itself",
        {"status": Param(int, 403, low=400, high=599, help="the status to answer with")},
    ),
    "reset-upgrade": BehaviourType(
        f"{_ADDONS}.reset_upgrade:ResetUpgrade",
        "reset the TCP connection of upgrade requests",
    ),
    "redirect-upgrade": BehaviourType(
        f"{_ADDONS}.redirect_upgrade:RedirectUpgrade",
        "answer upgrade requests with a redirect",
        {
            "status": Param(int, 302, choices=(301, 302, 303, 307, 308)),
            "location": Param(str, "/login", help='a path, a URL, or "https" for the same URL'),
        },
    ),
    "slow-handshake": BehaviourType(
        f"{_ADDONS}.slow_handshake:SlowHandshake",
        "hold upgrade requests before forwarding them",
        {"delay": Param(float, low=0, help="milliseconds")},
        durations=("delay",),
    ),
    "break-upgrade-response": BehaviourType(
        f"{_ADDONS}.break_accept:BreakUpgradeResponse",
        "spoil the backend's 101: a wrong Sec-WebSocket-Accept or no upgrade headers",
        {"mode": Param(str, "bad-accept", choices=("bad-accept", "no-upgrade-headers"))},
    ),
    "restrict-connect": BehaviourType(
        f"{_ADDONS}.deny_connect:RestrictConnect",
        "an explicit proxy that allows CONNECT only to some ports (Squid's SSL_ports)",
        {"allowed_ports": Param(list, [443], help="ports CONNECT may reach")},
        reaches="allowed_ports",
    ),
    "intercept-tls": BehaviourType(
        f"{_ADDONS}.intercept_tls:InterceptTls",
        "open TLS with the proxy's own CA (a TLS-inspecting middlebox)",
        tls=INTERCEPT,
    ),
    "pass-tls-through": BehaviourType(
        f"{_ADDONS}.tls_passthrough:PassTlsThrough",
        "leave TLS connections untouched (a transparent proxy that only sees plain HTTP)",
        tls=PASS_THROUGH,
    ),
}
