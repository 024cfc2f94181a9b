"""One way to set a scenario up: the server under test, the proxy in front of it, and what a
client must trust to load the page through that proxy.

The plugin's fixtures, the browser plugin, ``wsharness matrix`` and scripts without pytest all
build their scenarios here, so that trust is chosen in one place. What differs between the
simulated CMS (:class:`SimulatedSite`) and a team's own server
(:class:`~pytest_wsharness.upstream.deployment.RealDeployment`) is behind the methods both offer
(:class:`~pytest_wsharness.upstream.deployment.ServerUnderTest`), never in a type check here::

    async with SimulatedSite(ServerSetup()) as site, proxy_in_front(site, profile) as proxy:
        page, forward = proxy.route(site.url)
        async with CmsClient(page, proxy=forward, ssl=site.client_tls(proxy)) as client:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from ..server.cms import SimulatedCMS
from .observe import ServerSetup
from .updates import SimulatedUpdates, UpdateSource

if TYPE_CHECKING:
    from ..profiles import Profile
    from ..protocol import Routes
    from ..proxy.base import Proxy
    from ..runtime.tls import TestCA
    from ..server.records import RequestRecord
    from ..upstream.deployment import ServerUnderTest

STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class SiteTrust:
    """What proxies and clients trust to reach a simulated site.

    Attributes:
        tls: whether the site speaks TLS.
        ca: the test CA its certificates (and any ``https`` upstream's a test names) come
            from, asked for only when needed (making one costs an import of cryptography);
            ``None`` when no test CA is at hand.
    """

    tls: bool = False
    ca: Callable[[], TestCA] | None = None

    def test_ca(self) -> TestCA:
        """The test CA.

        Raises:
            UsageError: none is at hand.
        """
        if self.ca is None:
            from ..errors import UsageError

            raise UsageError("an https server of the harness needs a test CA")
        return self.ca()

    def proxy_trust(self, target: str) -> tuple[TestCA | None, Path | None]:
        """``(ca, upstream_ca)`` for a proxy in front of ``target``: the test CA for an
        ``https`` one (the proxy trusts it and signs with it where it opens TLS)."""
        return (self.test_ca() if target.startswith("https://") else None), None

    def client_tls(self, proxy: Proxy) -> ssl.SSLContext | None:
        """The TLS context of the Python client through ``proxy``: the test CA and the one the
        proxy presents when it opens TLS with its own; ``None`` for plain http."""
        if not self.tls:
            return None
        return self.test_ca().client_context(also_trust=proxy.client_trust)

    def browser_trust(self, proxy: Proxy) -> list[TestCA]:
        """The test CAs Chromium accepts through ``proxy`` (see
        :func:`~pytest_wsharness.browser.trust.trust_for`)."""
        if not self.tls:
            return []
        from ..browser.trust import trust_for

        return trust_for(self.test_ca(), proxy)


class HarnessServer:
    """What a server the harness runs offers a scenario beyond its requests (the rest of a
    :class:`~pytest_wsharness.upstream.deployment.ServerUnderTest`): the trust of its
    :class:`SiteTrust`, and no reason to leave a test out. Shared by :class:`SimulatedSite`
    and its sync handle, :class:`~pytest_wsharness.runtime.sync.SyncCMS`."""

    trust: SiteTrust

    def proxy_trust(self, target: str) -> tuple[TestCA | None, Path | None]:
        """See :meth:`SiteTrust.proxy_trust`."""
        return self.trust.proxy_trust(target)

    def client_tls(self, proxy: Proxy) -> ssl.SSLContext | None:
        """See :meth:`SiteTrust.client_tls`."""
        return self.trust.client_tls(proxy)

    def browser_trust(self, proxy: Proxy) -> list[TestCA]:
        """See :meth:`SiteTrust.browser_trust`."""
        return self.trust.browser_trust(proxy)

    def explain_untrusted(self, proxy: Proxy) -> AbstractContextManager[None]:
        """Nothing to explain: the harness made the site's certificate."""
        return contextlib.nullcontext()

    def left_out_reason(self, profile: Profile) -> None:
        """``None``: every profile can run against the simulated CMS."""
        return None

    def skip_reason(self, profile: Profile | None, websocket_enabled: bool) -> None:
        """``None``: every test can run against the simulated CMS."""
        return None

    def browser_skip_reason(self, profile: Profile) -> None:
        """``None``: Chromium can run every profile against the simulated CMS."""
        return None

    def check_reachable(self, option: str) -> None:
        """Nothing to check: the harness started it."""


class SimulatedSite(HarnessServer):
    """The simulated CMS of a scenario, started and stopped as an async context manager: one
    server, or several backends of one site sharing its content, as a profile's ``[server]``
    table says (:class:`~pytest_wsharness.scenario.observe.ServerSetup`).

    It offers what every server under test offers
    (:class:`~pytest_wsharness.upstream.deployment.ServerUnderTest`), trust included.

    Args:
        setup: how the server is set up.
        websocket_enabled: the CMS's ``WebSocketEnabled``.
        ca: the test CA (or what makes it, asked for when the site speaks TLS or a proxy in
            front of it must trust an ``https`` upstream).
    """

    def __init__(
        self,
        setup: ServerSetup | None = None,
        websocket_enabled: bool = True,
        ca: TestCA | Callable[[], TestCA] | None = None,
    ) -> None:
        self.setup = setup or ServerSetup()
        self.websocket_enabled = websocket_enabled
        given = ca
        provider = given if callable(given) or given is None else (lambda: given)
        self.trust = SiteTrust(self.setup.tls, provider)
        self.servers: list[SimulatedCMS] = []

    async def __aenter__(self) -> Self:
        kwargs = self.setup.server_kwargs(self.trust.test_ca() if self.setup.tls else None)
        try:
            first = SimulatedCMS(websocket_enabled=self.websocket_enabled, **kwargs)
            self.servers.append(await first.__aenter__())
            for _ in range(self.setup.backends - 1):
                other = SimulatedCMS(
                    websocket_enabled=self.websocket_enabled, content=first.content, **kwargs
                )
                self.servers.append(await other.__aenter__())
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop every server, last first, each even when another's stop raised."""
        errors: list[BaseException] = []
        while self.servers:
            server = self.servers.pop()
            try:
                await server.__aexit__(None, None, None)
            except Exception as failure:
                errors.append(failure)
        if errors:
            raise errors[0]

    @property
    def server(self) -> SimulatedCMS:
        """The first server: the one updates are published on."""
        return self.servers[0]

    @property
    def others(self) -> list[SimulatedCMS]:
        """The site's other backends, if any."""
        return self.servers[1:]

    @property
    def backends(self) -> list[SimulatedCMS]:
        """Every backend of a site of several; empty for one server."""
        return list(self.servers) if len(self.servers) > 1 else []

    @property
    def url(self) -> str:
        """Where the page is served from, without a proxy: the first server."""
        return self.server.url

    @property
    def upstream(self) -> str:
        """What a proxy forwards to: every backend, comma-separated."""
        return ",".join(server.url for server in self.servers)

    @property
    def routes(self) -> Routes:
        """The paths the server answers on."""
        return self.server.routes

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request the first server received."""
        return list(self.server.requests)

    @property
    def every_request(self) -> list[RequestRecord]:
        """Every request every backend received."""
        return [record for server in self.servers for record in server.requests]

    @property
    def scenario_restart(self) -> tuple[float, float] | None:
        """The restart the profile calls for, if any."""
        return self.setup.restart

    def update_source(self) -> UpdateSource:
        """Updates published on the first server (and stored on every backend)."""
        return SimulatedUpdates(self.server, self.backends)


def proxy_for(
    server: ServerUnderTest, profile: Profile, time_scale: float, upstream: str | None = None
) -> Proxy:
    """Start a proxy running ``profile`` in front of ``server`` (or of ``upstream``, another
    hop), trusting what ``server`` says a proxy in front of it must trust; return it,
    listening. Blocks while it starts (see :func:`~pytest_wsharness.proxy.base.start_proxy`).
    """
    from ..proxy.base import start_proxy

    target = upstream or server.upstream
    ca, upstream_ca = server.proxy_trust(target)
    return start_proxy(profile, target, time_scale=time_scale, ca=ca, upstream_ca=upstream_ca)


@contextlib.asynccontextmanager
async def proxy_in_front(
    server: ServerUnderTest, profile: Profile, time_scale: float = 1.0
) -> AsyncIterator[Proxy]:
    """:func:`proxy_for` from async code: the proxy starts and stops in a worker thread (it
    runs threads of its own), and an error its thread had is raised as the block ends."""
    proxy = await asyncio.to_thread(proxy_for, server, profile, time_scale)
    try:
        yield proxy
    finally:
        await asyncio.to_thread(stop_all, [proxy])


class Stoppable(Protocol):
    """A running part: a proxy, simulated or real."""

    def stop(self) -> None: ...

    def check(self) -> None: ...


def stop_all(parts: Sequence[Stoppable]) -> None:
    """Stop ``parts``, last first, each even when another's stop raised; then raise what one
    of them failed with, the first one.

    Each is checked before its stop (a real proxy that died says so then; stopped, it is
    silent) and after it (a simulated proxy's thread may fail as it stops).

    Raises:
        Exception: the first error a part's check or stop raised.
    """
    errors: list[BaseException] = []

    def keep(step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as error:  # the others must still be stopped
            if not any(error is seen for seen in errors):
                errors.append(error)

    for part in reversed(parts):
        keep(part.check)
        keep(part.stop)
    for part in parts:
        keep(part.check)
    if errors:
        raise errors[0]
