"""A profile's proxy: the relay (connection path and faults) in front of the mitmproxy edge.

    client -> Relay (faults, control, byte pumping) -> MitmProxy (handshake behaviours) -> server

Each part runs only when the profile needs it: a profile with no handshake behaviour has no
mitmproxy hop (the compliant path is then the relay alone), and a forward proxy is mitmproxy in
regular mode with no relay in front (clients reach it with ``CONNECT``).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..profiles import Kind, Profile, Scope
from ..profiles.behaviours import INTERCEPT, PASS_THROUGH
from ..runtime.engine import ThreadedEngine
from ..runtime.loopthread import collect_garbage
from .records import ProxyRecord

if TYPE_CHECKING:
    from ..runtime.tls import TestCA

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class ProfileProxy(ThreadedEngine):
    """The proxy that a profile describes, started in front of ``upstream``.

    Args:
        profile: what the proxy does.
        upstream: the server, ``http://127.0.0.1:PORT`` or ``https://...``.
        time_scale: multiplies every duration of every behaviour and fault. It defaults to 1.
        seed: makes the faults' random draws reproducible. It defaults to 0.
        host: the address clients connect to. It defaults to 127.0.0.1.
        port: the port clients connect to; 0 (the default) lets the kernel pick.
        ca: for an ``https`` upstream, the CA its certificate comes from (the session's test
            CA): the proxy trusts it upstream and, where it opens TLS, signs with it, unless the
            profile intercepts TLS with a CA of its own (see :attr:`client_trust`).
        upstream_ca: without ``ca``, a PEM file of the CAs to trust upstream besides the
            system's (a developer's own server, its certificate from a CA of its own);
            ``None`` trusts the system's only. The proxy then presents a CA made up for it,
            which :attr:`client_trust` holds.
    """

    def __init__(
        self,
        profile: Profile,
        upstream: str,
        *,
        time_scale: float = 1.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        ca: TestCA | None = None,
        upstream_ca: str | Path | None = None,
    ) -> None:
        if profile.kind is Kind.FORWARD and profile.faults:
            raise UsageError(f"profile {profile.name!r}: a forward proxy takes no faults")
        if (
            upstream.startswith("https://")
            and profile.tls == PASS_THROUGH
            and profile.faults
            and profile.fault_scope is Scope.WEBSOCKET
        ):
            # The relay passes TLS through whole: it cannot tell the socket from the page.
            raise UsageError(
                f"profile {profile.name!r}: faults with fault_scope = "
                f'"{Scope.WEBSOCKET.value}" cannot reach inside TLS that the proxy passes '
                f'through, and {upstream} is https; give fault_scope = "{Scope.ALL.value}" '
                "(every connection, the page's too) or an http:// upstream"
            )
        self.profile = profile
        self.upstream = upstream
        self.time_scale = time_scale
        self.seed = seed
        self.host = host
        self.port = port
        self.ca = ca
        self.upstream_ca = upstream_ca
        self._presented: TestCA | None = None
        self.edge: Any = None  # MitmProxy, imported when needed (mitmproxy is slow to import)
        self.relay: Any = None  # Relay
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Where clients connect: the page URL for a reverse proxy, the proxy URL for a forward."""
        if self._url is None:
            raise RuntimeError(f"proxy {self.profile.name!r} is not running")
        return self._url

    @property
    def forward(self) -> bool:
        """Whether clients use this proxy as an explicit (forward) proxy."""
        return self.profile.kind is Kind.FORWARD

    @property
    def records(self) -> list[ProxyRecord]:
        """What the mitmproxy edge did, one record per request (empty without an edge)."""
        return self.edge.records if self.edge is not None else []

    @property
    def connections(self) -> list[Any]:
        """What the relay did, one :class:`~pytest_wsharness.relay.records.ConnectionRecord`
        per client connection (empty without a relay)."""
        return self.relay.records if self.relay is not None else []

    @property
    def presented_ca(self) -> TestCA | None:
        """The CA whose certificates the proxy presents when it opens the clients' TLS (the
        site's, or its own for a profile that intercepts); ``None`` when it opens none."""
        return self._presented

    @property
    def client_trust(self) -> tuple[str, ...]:
        """CA certificates (PEM) a client must trust besides the server's to pass this proxy:
        the CA a TLS-intercepting profile presents; empty for every other profile."""
        presented = self._presented
        if presented is None or presented is self.ca:
            return ()
        return (presented.pem,)

    def route(self, server_url: str) -> tuple[str, str | None]:
        """Return ``(page URL, forward proxy URL)`` for a client of ``server_url``."""
        return (server_url, self.url) if self.forward else (self.url, None)

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the parts, innermost first, and wait until each listens."""
        if self._url is not None:
            raise RuntimeError(f"proxy {self.profile.name!r} was already started")
        target = self.upstream
        try:
            if self.profile.behaviours or self.forward:
                from .mitm import MitmProxy

                outermost = self.forward
                self.edge = MitmProxy(
                    self.profile,
                    target,
                    time_scale=self.time_scale,
                    host=self.host if outermost else "127.0.0.1",
                    port=self.port if outermost else 0,
                    ca=self.ca,
                    upstream_ca=self.upstream_ca,
                )
                self.edge.start(timeout)
                target = self.edge.url
            if not self.forward:
                from ..relay.relay import Relay

                tls = None
                if self.upstream.startswith("https://") and self.profile.tls != PASS_THROUGH:
                    tls = self._tls_termination(behind_edge=self.edge is not None)
                faults = [(f.use, f.params) for f in self.profile.faults]
                self.relay = Relay(
                    target,
                    faults,
                    time_scale=self.time_scale,
                    seed=self.seed,
                    name=self.profile.name,
                    websocket_only=self.profile.fault_scope is Scope.WEBSOCKET,
                    host=self.host,
                    port=self.port,
                    tls=tls,
                )
                self.relay.start(timeout)
                target = self.relay.url
        except BaseException:
            self.stop()
            raise
        if not self.forward and self.upstream.startswith("https://"):
            # TLS passes through the proxy to the server: clients speak https to it.
            target = "https://" + target.removeprefix("http://")
        self._url = target

    def _tls_termination(self, behind_edge: bool) -> Any:
        """How the relay opens the clients' TLS: with the site's CA, as a load balancer holding
        the site's certificate does, or with a CA of its own for a profile that intercepts."""
        from ..relay.accept import TlsTermination
        from ..runtime.tls import TestCA

        note = ""
        if self.profile.tls == INTERCEPT:
            self._presented = TestCA(label="intercepting proxy CA")
            note = "opened TLS with its own CA"
        else:
            self._presented = self.ca or TestCA(label="proxy CA")
        upstream = None  # mitmproxy, the next hop, speaks TLS to the server
        if not behind_edge:
            if self.ca is not None:
                upstream = self.ca.client_context()
            else:
                upstream = ssl.create_default_context()
                if self.upstream_ca is not None:
                    # Besides the system's: create_default_context(cafile=...) loads it alone.
                    upstream.load_verify_locations(cafile=self.upstream_ca)
        return TlsTermination(self._presented.issue().server_context(), upstream, note)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the parts, outermost first; idempotent."""
        errors = []
        for part in (self.relay, self.edge):
            if part is not None:
                try:
                    part.stop(timeout)
                except Exception as error:  # the other part must still stop
                    errors.append(error)
        # The parts' loops are gone: collect their garbage now, in this thread.
        collect_garbage()
        if errors:
            raise errors[0]

    def check(self) -> None:
        """Re-raise an error either part had in its thread."""
        for part in (self.edge, self.relay):
            if part is not None:
                part.check()

    # Control during a test: the relay's, when the profile has one.

    def cut_all(self, how: str = "fin") -> int:
        """Cut every connection now (``fin``, ``rst`` or ``close``); return how many."""
        return int(self._relay("cut_all").cut_all(how))

    def add_fault(self, use: str, **params: Any) -> int:
        """Start a fault on live and new connections; return its id for :meth:`remove_fault`."""
        return int(self._relay("add_fault").add_fault(use, **params))

    def remove_fault(self, fault_id: int) -> None:
        """Lift one fault."""
        self._relay("remove_fault").remove_fault(fault_id)

    def clear_faults(self) -> None:
        """Lift every fault, the profile's own included."""
        self._relay("clear_faults").clear_faults()

    def _relay(self, what: str) -> Any:
        if self.relay is None:
            raise UsageError(
                f"{what}() needs a relay, and profile {self.profile.name!r} is a forward proxy"
            )
        return self.relay
