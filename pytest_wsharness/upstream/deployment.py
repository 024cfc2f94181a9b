"""A real deployment as the server under test: the team's own CMS (a dev instance, say), in
front of which the proxies go instead of the simulated CMS.

    deployment = RealDeployment("http://localhost:5000", trigger=make_notification)
    proxy = start_proxy(profile, deployment.upstream)
    ... observe(client, deployment.update_source(), ...)

The harness runs no part of that server, so three things change:

* updates: it cannot publish; a trigger of the team's makes the server push one
  (:mod:`.updates`);
* records: it sees no request the server received (``requests`` is ``None``), so explanations
  rest on what the proxy and the client saw, and say the server was not observed;
* profiles: a profile whose ``[server]`` table changes the server (no WebSocket feature, TLS
  with the test CA, a restart, a second backend) cannot run:
  :func:`~pytest_wsharness.upstream.eligibility.left_out_reason` says why.

An ``https`` server is trusted through the system's CAs plus, for a certificate from the team's
own CA (self-signed or internal), a PEM file of it (``upstream_ca``,
:func:`~pytest_wsharness.upstream.certificates.check_ca_file`); a page that fails to load on
the certificate says so (:class:`~pytest_wsharness.errors.UntrustedCertificate`).

Pytest-free; the plugin and the ``wsharness matrix --upstream`` command use it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import PageLoadError, UntrustedCertificate, UsageError
from ..profiles import Profile
from ..protocol import Routes, Topic
from ..proxy.base import Proxy
from ..runtime.urls import parse_url
from ..scenario.updates import MissingTrigger, UpdateSource, UpdateTrigger, source_for
from ..server.records import RequestRecord
from .certificates import _UNKNOWN_ISSUER, check_upstream_ca, verify_failure
from .eligibility import browser_left_out_reason, left_out_reason, skip_reason
from .reachable import check_reachable

if TYPE_CHECKING:
    from ..runtime.tls import TestCA


class ServerUnderTest(Protocol):
    """What the assertions need from the server a test runs against: the simulated CMS
    (:class:`~pytest_wsharness.runtime.sync.SyncCMS`) or a :class:`RealDeployment`."""

    @property
    def url(self) -> str:
        """Where the page is served from, without a proxy."""
        ...

    @property
    def routes(self) -> Routes:
        """The paths the server answers on."""
        ...

    @property
    def requests(self) -> Sequence[RequestRecord] | None:
        """Every request the server received; ``None`` when they are not observed."""
        ...

    @property
    def every_request(self) -> Sequence[RequestRecord]:
        """Every request every backend received; empty when they are not observed."""
        ...

    @property
    def scenario_restart(self) -> tuple[float, float] | None:
        """``(after, down_for)``: the restart the test's scenario calls for, if any."""
        ...

    @property
    def upstream(self) -> str:
        """What a proxy in front of it forwards to."""
        ...

    @property
    def backends(self) -> Sequence[Any]:
        """The backends of a site of several the harness runs; empty otherwise."""
        ...

    def update_source(self) -> UpdateSource:
        """Where the scenario's update comes from."""
        ...

    def proxy_trust(self, target: str) -> tuple[TestCA | None, Path | None]:
        """``(ca, upstream_ca)``: what a proxy in front of ``target`` (this server, or another
        hop a test names) trusts (see :func:`~pytest_wsharness.proxy.base.start_proxy`)."""
        ...

    def client_tls(self, proxy: Proxy) -> ssl.SSLContext | None:
        """What the Python client trusts to load the page through ``proxy``."""
        ...

    def browser_trust(self, proxy: Proxy) -> list[TestCA]:
        """The test CAs Chromium accepts to load the page through ``proxy``."""
        ...

    def explain_untrusted(self, proxy: Proxy) -> AbstractContextManager[None]:
        """Within it, a page load refused on the server's certificate says so."""
        ...

    def left_out_reason(self, profile: Profile) -> str | None:
        """Why ``profile`` cannot run against this server; ``None`` when it can."""
        ...

    def skip_reason(self, profile: Profile | None, websocket_enabled: bool) -> str | None:
        """Why a test (of ``profile``, asking for ``websocket_enabled``) cannot run against
        this server; ``None`` when it can."""
        ...

    def browser_skip_reason(self, profile: Profile) -> str | None:
        """Why Chromium cannot run ``profile`` against this server; ``None`` when it can."""
        ...

    def check_reachable(self, option: str) -> None:
        """Raise :class:`~pytest_wsharness.errors.UpstreamUnreachable` when the server does
        not answer when asked directly (``option`` names how the user gave it)."""
        ...


class RealDeployment:
    """A CMS the team runs, as the server under test: the harness only knows its URL.

    Args:
        url: the server, ``http(s)://host[:port]`` (see
            :func:`~pytest_wsharness.runtime.urls.parse_url`).
        trigger: makes the server push an update carrying the marker it is given (the contract
            of :class:`~pytest_wsharness.scenario.updates.CallbackUpdates`). ``None``, the default,
            means none was given: a scenario then raises
            :class:`~pytest_wsharness.errors.NoUpdateTrigger`.
        find_trigger: instead of ``trigger``, called for it when a scenario first needs it
            (the plugin looks up the ``cms_trigger_update`` fixture then).
        upstream_ca: for an ``https`` server, a PEM file of the CAs to trust besides the
            system's: its own CA, when a self-signed or internal one issued its certificate.
            The proxies (:attr:`upstream_ca`) and the client (:meth:`client_tls`) trust it.
            ``None``, the default, trusts the system's CAs only.
        ca_option: how the user gives ``upstream_ca``, for messages (the plugin says
            ``--wsharness-upstream-ca``, the command ``--upstream-ca``).

    Raises:
        UsageError: ``url`` is not an ``http(s)://host[:port]`` URL, or ``upstream_ca`` is
            given for an ``http`` one or is not a PEM file of CAs.
    """

    scenario_restart: tuple[float, float] | None = None

    def __init__(
        self,
        url: str,
        trigger: UpdateTrigger | None = None,
        *,
        find_trigger: Callable[[], UpdateTrigger] | None = None,
        upstream_ca: str | Path | None = None,
        ca_option: str = "RealDeployment(upstream_ca=...)",
    ) -> None:
        self._parsed = parse_url(url, "the real deployment's URL")
        self.url = self._parsed.text
        self.ca_option = ca_option
        self.upstream_ca = check_upstream_ca(
            upstream_ca, self.url, option=ca_option, upstream_option="URL"
        )
        # The CMS's own paths, which the client reads the page and the endpoint on.
        self.routes = Routes()
        self._trigger = trigger
        self._find_trigger = find_trigger

    @property
    def upstream(self) -> str:
        """What a proxy forwards to: the server itself, its port written (the scheme's when
        :attr:`url` names none), as a real proxy's config needs it."""
        return self._parsed.origin

    def check_reachable(self, option: str, timeout: float | None = None) -> None:
        """Ask the server for the page's first read directly, without a proxy.

        Args:
            option: how the user gave the server, for the message.
            timeout: seconds each step may take. It defaults to
                :data:`~pytest_wsharness.upstream.reachable.ANSWER_TIMEOUT`.

        Raises:
            UpstreamUnreachable: it refused, does not resolve, answered something that is not
                HTTP or nothing within ``timeout`` (see
                :mod:`~pytest_wsharness.upstream.reachable`).
        """
        check_reachable(self._parsed, option, path=self.routes.settings, timeout=timeout)

    @property
    def requests(self) -> None:
        """``None``: the requests a real deployment received are not observed."""
        return None

    @property
    def every_request(self) -> list[RequestRecord]:
        """Empty: the requests a real deployment received are not observed."""
        return []

    @property
    def backends(self) -> list[Any]:
        """Empty: the harness runs no backend of a real deployment."""
        return []

    @property
    def websocket_enabled(self) -> None:
        """``None``: the server's own ``WebSocketEnabled``, which its page reports."""
        return None

    def update_source(self) -> UpdateSource:
        """A :class:`~pytest_wsharness.scenario.updates.CallbackUpdates` on the trigger.

        Raises:
            NoUpdateTrigger: there is none; the message says how to give one.
        """
        trigger = self._trigger
        if trigger is None and self._find_trigger is not None:
            trigger = self._find_trigger()
        return source_for(trigger if trigger is not None else MissingTrigger(self.url))

    def publish(self, topic: Topic | str, data: Any) -> int:
        """Not available: the harness cannot publish on a server it does not run.

        Raises:
            UsageError: always; the message says to use the trigger instead.
        """
        raise UsageError(
            f"publish() needs the simulated CMS; the real deployment at {self.url} pushes its "
            "own updates: make it push one through your cms_trigger_update fixture"
        )

    def proxy_trust(self, target: str) -> tuple[None, Path | None]:
        """``(None, upstream_ca)``: a proxy trusts the system's CAs and :attr:`upstream_ca`,
        and presents a CA of its own where it opens the clients' TLS (a real deployment's
        certificate is none of the test CA's business)."""
        return None, self.upstream_ca

    def browser_trust(self, proxy: Proxy) -> list[TestCA]:
        """The CA ``proxy`` presents, if it opens TLS: Chromium never meets the deployment's
        own CA through a reverse proxy."""
        from ..browser.trust import trust_for

        return trust_for(None, proxy)

    def left_out_reason(self, profile: Profile) -> str | None:
        """See :func:`left_out_reason`."""
        return left_out_reason(profile)

    def skip_reason(self, profile: Profile | None, websocket_enabled: bool) -> str | None:
        """See :func:`skip_reason`."""
        return skip_reason(profile, websocket_enabled, self.url)

    def browser_skip_reason(self, profile: Profile) -> str | None:
        """See :func:`browser_left_out_reason`; the sentence names the profile."""
        reason = browser_left_out_reason(profile, self.url)
        return None if reason is None else f"profile {profile.name!r} {reason}"

    def client_tls(self, proxy: Proxy) -> ssl.SSLContext | None:
        """The TLS context of a client of an ``https`` deployment through ``proxy``: the
        system's CAs and ``upstream_ca``, which must trust the server (a forward proxy's
        client sees its certificate), plus the CA the proxy presents when it opens the
        clients' TLS; ``None`` for ``http``."""
        if not self.url.startswith("https://"):
            return None
        context = ssl.create_default_context()
        if self.upstream_ca is not None:
            # Besides the system's: create_default_context(cafile=...) would load it alone.
            context.load_verify_locations(cafile=self.upstream_ca)
        for pem in proxy.client_trust:
            context.load_verify_locations(cadata=pem)
        return context

    def untrusted(self, error: PageLoadError, proxy: Proxy) -> UntrustedCertificate | None:
        """Say whether a page load through ``proxy`` failed on the server's certificate.

        Returns:
            An :class:`~pytest_wsharness.errors.UntrustedCertificate` that says who refused
            the certificate, why and, for an issuer nobody knows, to give its CA
            (:attr:`ca_option`); ``None`` when the failure was something else.
        """
        if isinstance(error, UntrustedCertificate) or not self.url.startswith("https://"):
            return None
        # The proxy verifies the server wherever it opens the clients' TLS; its records say
        # so, while its client only sees a disconnect or a 502.
        said = [c.ended for c in proxy.connections] + [r.error for r in proxy.records]
        verified_by = "the proxy"
        why = next((w for text in said if text and (w := verify_failure(text))), None)
        if why is None:  # a tunnel (a forward proxy): the client verified the server itself
            verified_by, why = "the client", verify_failure(error.reason)
        if why is None:
            return None
        hint = ""
        if any(word in why.lower() for word in _UNKNOWN_ISSUER):
            if self.upstream_ca is None:
                hint = (
                    "if a CA of your own issued it (self-signed or internal), give its PEM "
                    f"file with {self.ca_option}"
                )
            else:
                hint = f"none of the CAs in {self.upstream_ca} ({self.ca_option}) issued it"
        return UntrustedCertificate(
            error.url,
            error.reason,
            server=self.url,
            verified_by=verified_by,
            verify_message=why,
            hint=hint,
        )

    def explain_untrusted(self, proxy: Proxy) -> AbstractContextManager[None]:
        """Within it, a page load through ``proxy`` that fails on the server's certificate
        raises :class:`~pytest_wsharness.errors.UntrustedCertificate` (see :meth:`untrusted`)
        instead of what the client saw (``Server disconnected``, ``HTTP 502``)."""
        return _ExplainUntrusted(self, proxy)

    def __repr__(self) -> str:
        return f"RealDeployment({self.url!r})"


class _ExplainUntrusted:
    """What :meth:`RealDeployment.explain_untrusted` returns: a class, not a generator, so
    that pytest can hide its frame and a failure points at the test's own line."""

    def __init__(self, deployment: RealDeployment, proxy: Proxy) -> None:
        self.deployment = deployment
        self.proxy = proxy

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: object, error: BaseException | None, traceback: object
    ) -> Literal[False]:
        __tracebackhide__ = True
        if isinstance(error, PageLoadError):
            untrusted = self.deployment.untrusted(error, self.proxy)
            if untrusted is not None:
                # Its message quotes what the client saw: the chained traceback adds only noise.
                raise untrusted from None
        return False
