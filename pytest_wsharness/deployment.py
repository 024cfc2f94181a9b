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
  with the test CA, a restart, a second backend) cannot run: :func:`left_out_reason` says why.

Pytest-free; the plugin and the ``wsharness matrix --upstream`` command use it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import UsageError
from .profiles import SERVER_PARAMS, Profile
from .protocol import Routes, Topic
from .proxy.base import Proxy
from .server.records import RequestRecord
from .updates import MissingTrigger, UpdateSource, UpdateTrigger, source_for

UPSTREAM_FORM = "an http:// or https:// URL with a host, e.g. http://localhost:5000"

# What each [server] setting asks of the server, for the reason a profile is left out.
_SERVER_NEEDS = {
    "websocket_feature": "the server must answer upgrades as a plain page",
    "plain_get_status": "the server must answer a plain GET of the endpoint with that status",
    "tls": "the harness must serve https with its test CA",
    "restart_after": "the harness must restart the server",
    "down_for": "the harness must restart the server",
    "backends": "the harness must run a second backend",
}


def check_url(value: str, option: str, *, path: bool = False) -> str:
    """Return ``value`` if it is an ``http(s)://host[:port]`` URL (with a path if ``path``).

    Args:
        value: the URL given.
        option: how the user gave it, for the message, e.g. ``"--upstream"``.
        path: whether a path may follow the host (a trigger URL: yes; a server: no, the proxies
            forward the CMS's own paths).

    Raises:
        UsageError: anything else; the message names the option, the value (its password
            redacted) and the form wanted.
    """
    parts = urlsplit(value)
    shown = value.replace(f":{parts.password}@", ":<redacted>@") if parts.password else value
    form = UPSTREAM_FORM if not path else "an http:// or https:// URL with a host"
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number, or out of range
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        why = ""
    elif parts.username is not None or parts.password is not None:
        why = "; leave credentials out of it (they would show in every message)"
    elif not path and (parts.path not in ("", "/") or parts.query or parts.fragment):
        why = "; no path: the proxies forward the CMS's own paths (/EPiServer/...)"
    else:
        return value if path else value.rstrip("/")
    raise UsageError(f"{option} must be {form}, got {shown!r}{why}")


def server_changes(profile: Profile) -> list[str]:
    """Say which ``[server]`` settings of ``profile`` change the server, and what they ask.

    Returns:
        One phrase per change, e.g. ``"websocket_feature = false: the server must answer
        upgrades as a plain page"``; empty for a profile that leaves the server alone.
    """
    changed = [
        name for name, param in SERVER_PARAMS.items() if profile.server[name] != param.default
    ]
    phrases = []
    for name in changed:
        if name == "down_for" and "restart_after" in changed:
            continue  # one restart, said once
        settings = [name] if name != "restart_after" else ["restart_after", "down_for"]
        values = ", ".join(f"{key} = {_toml(profile.server[key])}" for key in settings)
        need = _SERVER_NEEDS.get(name, "the harness must change the server")
        phrases.append(f"{values}: {need}")
    return phrases


def left_out_reason(profile: Profile) -> str | None:
    """Why ``profile`` cannot run against a real deployment; ``None`` when it can."""
    changes = server_changes(profile)
    if not changes:
        return None
    return (
        f"needs the server changed ([server] {'; '.join(changes)}), which the harness cannot "
        "do to a real deployment"
    )


def skip_reason(profile: Profile | None, websocket_enabled: bool, url: str) -> str | None:
    """Why a test cannot run against the real deployment at ``url``; ``None`` when it can.

    Args:
        profile: the test's proxy profile, if it has one.
        websocket_enabled: what the test asks ``WebSocketEnabled`` to be.
        url: the real deployment.
    """
    if profile is not None:
        reason = left_out_reason(profile)
        if reason is not None:
            return f"profile {profile.name!r} {reason} ({url})"
    if not websocket_enabled:
        return (
            f"websocket_enabled=False: the harness cannot switch WebSocketEnabled off on the "
            f"real deployment at {url}; its page reports the server's own setting"
        )
    return None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class ServerUnderTest(Protocol):
    """What the assertions need from the server a test runs against: the simulated CMS
    (:class:`~pytest_wsharness.sync.SyncCMS`) or a :class:`RealDeployment`."""

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

    def update_source(self) -> UpdateSource:
        """Where the scenario's update comes from."""
        ...


class RealDeployment:
    """A CMS the team runs, as the server under test: the harness only knows its URL.

    Args:
        url: the server, ``http(s)://host[:port]`` (see :func:`check_url`).
        trigger: makes the server push an update carrying the marker it is given (the contract
            of :class:`~pytest_wsharness.updates.CallbackUpdates`). ``None``, the default,
            means none was given: a scenario then raises
            :class:`~pytest_wsharness.errors.NoUpdateTrigger`.
        find_trigger: instead of ``trigger``, called for it when a scenario first needs it
            (the plugin looks up the ``cms_trigger_update`` fixture then).

    Raises:
        UsageError: ``url`` is not an ``http(s)://host[:port]`` URL.
    """

    scenario_restart: tuple[float, float] | None = None

    def __init__(
        self,
        url: str,
        trigger: UpdateTrigger | None = None,
        *,
        find_trigger: Callable[[], UpdateTrigger] | None = None,
    ) -> None:
        self.url = check_url(url, "the real deployment's URL")
        # The CMS's own paths, which the client reads the page and the endpoint on.
        self.routes = Routes()
        self._trigger = trigger
        self._find_trigger = find_trigger

    @property
    def upstream(self) -> str:
        """What a proxy forwards to: the server itself."""
        return self.url

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
        """A :class:`~pytest_wsharness.updates.CallbackUpdates` on the trigger.

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

    def client_tls(self, proxy: Proxy) -> ssl.SSLContext | None:
        """The TLS context of a client of an ``https`` deployment through ``proxy``: the
        system's CAs, which must trust the server, plus the CA the proxy presents when it
        opens the clients' TLS; ``None`` for ``http``."""
        if not self.url.startswith("https://"):
            return None
        context = ssl.create_default_context()
        for pem in proxy.client_trust:
            context.load_verify_locations(cadata=pem)
        return context

    def __repr__(self) -> str:
        return f"RealDeployment({self.url!r})"
