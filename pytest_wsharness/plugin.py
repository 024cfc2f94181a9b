"""The pytest plugin: options, markers and fixtures only; the engine does the work.

Importing this module must not import mitmproxy (0.3-0.5 s): the proxy engine is imported by the
proxy fixtures, when a test first asks for one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from ssl import SSLContext
from typing import TYPE_CHECKING

import pytest

from .client.driver import CmsClient
from .errors import UsageError
from .loopthread import LoopThread
from .profiles import Catalogue
from .proxy.base import Proxy, start_proxy
from .scenario import ServerSetup
from .server.cms import SimulatedCMS
from .sync import SyncClient, SyncCMS

if TYPE_CHECKING:
    from .tls import TestCA

MARKER = "wsharness_profiles"
MARKER_HELP = (
    f"{MARKER}(*names): run the test once per proxy profile named, through the wsharness_profile "
    "fixture; --wsharness-profile narrows the set"
)
BAD_TIME_SCALE = (
    "--wsharness-time-scale / wsharness_time_scale must be a finite number > 0, got {!r}"
)

_catalogue_key = pytest.StashKey[Catalogue]()
_time_scale_key = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsharness", "CMS realtime updates behind proxies")
    group.addoption(
        "--wsharness-profile",
        action="append",
        default=None,
        metavar="NAME",
        help="run profile-parametrized tests with this proxy profile only (repeatable); "
        "ini: wsharness_profiles",
    )
    group.addoption(
        "--wsharness-time-scale",
        default=None,
        metavar="F",
        help="multiply every CMS client timing (3 s heartbeat, 5 s x n^2 reconnect) by F; "
        "ini: wsharness_time_scale (default 1)",
    )
    group.addoption(
        "--wsharness-profiles-dir",
        action="append",
        default=None,
        metavar="DIR",
        help="also load the *.toml proxy profiles in DIR (repeatable); ini: wsharness_profiles_dir",
    )
    parser.addini("wsharness_profiles", "proxy profiles for tests without a marker", type="args")
    parser.addini("wsharness_time_scale", "multiplier of every CMS client timing", default="1")
    parser.addini("wsharness_profiles_dir", "folders of extra proxy profiles", type="paths")


PYOPENSSL_OBJECTS_DEPRECATION = (
    r"ignore:Passing pyOpenSSL \w+ objects is deprecated:DeprecationWarning"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    # mitmproxy 11 (the last for Python 3.11) hands pyOpenSSL X509 and PKey objects to
    # pyOpenSSL 24.3, which deprecates that, whenever a proxy opens TLS. Raised inside the
    # proxy's thread by a suite that makes warnings errors, it would fail the proxy, for
    # nothing the suite did.
    config.addinivalue_line("filterwarnings", PYOPENSSL_OBJECTS_DEPRECATION)
    raw = config.getoption("--wsharness-time-scale") or config.getini("wsharness_time_scale")
    try:
        scale = float(raw)
    except ValueError:
        raise pytest.UsageError(BAD_TIME_SCALE.format(raw)) from None
    if not (math.isfinite(scale) and scale > 0):
        raise pytest.UsageError(BAD_TIME_SCALE.format(raw))
    dirs = [Path(d) for d in config.getoption("--wsharness-profiles-dir") or []]
    dirs += list(config.getini("wsharness_profiles_dir"))
    try:
        catalogue = Catalogue(dirs)
        # The ini names too: a typo there must be a usage error, not a collection traceback.
        for name in [*_selected(config), *config.getini("wsharness_profiles")]:
            catalogue.get(name)
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_catalogue_key] = catalogue
    config.stash[_time_scale_key] = scale


def pytest_report_header(config: pytest.Config) -> str:
    catalogue = config.stash[_catalogue_key]
    profiles = _selected(config) or list(config.getini("wsharness_profiles")) or catalogue.names()
    return (
        f"wsharness: time scale {config.stash[_time_scale_key]:g}, profiles: {', '.join(profiles)}"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wsharness_profile" not in metafunc.fixturenames:
        return
    config = metafunc.config
    catalogue = config.stash[_catalogue_key]
    chosen = _selected(config)
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is not None:
        try:
            for name in marker.args:
                catalogue.get(name)
        except UsageError as error:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: {error}") from None
        names = [n for n in marker.args if not chosen or n in chosen]
    else:
        names = chosen or list(config.getini("wsharness_profiles")) or catalogue.names()
        for name in names:
            catalogue.get(name)
    metafunc.parametrize("wsharness_profile", names)


def _selected(config: pytest.Config) -> list[str]:
    return list(config.getoption("--wsharness-profile") or [])


@pytest.fixture(scope="session")
def wsharness_time_scale(pytestconfig: pytest.Config) -> float:
    """The factor that scales every CMS client timing in this run.

    From ``--wsharness-time-scale``, else the ``wsharness_time_scale`` ini value, else 1 (the
    CMS's real 3 s heartbeat and 5 s x n^2 reconnect).
    """
    return pytestconfig.stash[_time_scale_key]


@pytest.fixture(scope="session")
def wsharness_catalogue(pytestconfig: pytest.Config) -> Catalogue:
    """Every proxy profile: the built-in ``proxies/`` plus the folders the options name."""
    return pytestconfig.stash[_catalogue_key]


@pytest.fixture(scope="session")
def wsharness_ca() -> TestCA:
    """A test certificate authority for HTTPS and WSS, generated once per session in memory.

    ``wsharness_ca.issue()`` gives a certificate for 127.0.0.1 and localhost whose
    ``server_context()`` goes to ``SimulatedCMS(ssl=...)``; ``wsharness_ca.client_context()``
    trusts it, for ``CmsClient(ssl=...)``; ``wsharness_ca.write(folder)`` writes its PEM for
    tools that need a file. No network, and nothing on disk unless written.
    """
    # Imported here: cryptography is not needed by runs that use no TLS.
    from .tls import TestCA

    return TestCA()


@pytest.fixture
def websocket_enabled() -> bool:
    """The CMS's ``UIOptions.WebSocketEnabled`` for this test; ``True``.

    Override per test with ``@pytest.mark.parametrize("websocket_enabled", [False])``.
    """
    return True


@pytest.fixture
def wsharness_loop() -> Iterator[LoopThread]:
    """The event-loop thread that runs this test's server and clients; closed after the test."""
    loop = LoopThread(name="wsharness-loop")
    yield loop
    loop.close()


@pytest.fixture
def wsharness_server_setup(
    request: pytest.FixtureRequest, wsharness_catalogue: Catalogue, wsharness_time_scale: float
) -> ServerSetup:
    """How ``cms_server`` is set up: the ``[server]`` table of the test's profile, if it has one
    (no WebSocket feature, TLS, a restart...), else the defaults."""
    profile = None
    if "wsharness_profile" in request.fixturenames:
        profile = wsharness_catalogue.get(request.getfixturevalue("wsharness_profile"))
    return ServerSetup.of(profile, wsharness_time_scale)


@pytest.fixture
def cms_server(
    request: pytest.FixtureRequest,
    wsharness_loop: LoopThread,
    websocket_enabled: bool,
    wsharness_server_setup: ServerSetup,
) -> SyncCMS:
    """A simulated CMS realtime server on 127.0.0.1, started for this test.

    Its settings report ``websocket_enabled``; ``publish(topic, data)`` pushes to every client
    and updates what a page load reads. In a profile-parametrized test it is set up as the
    profile's ``[server]`` table says (``wsharness_server_setup``); TLS uses ``wsharness_ca``.
    """
    setup = wsharness_server_setup
    ca = request.getfixturevalue("wsharness_ca") if setup.tls else None
    kwargs = setup.server_kwargs(ca)
    engine = wsharness_loop.enter(SimulatedCMS(websocket_enabled=websocket_enabled, **kwargs), 30.0)
    others = [
        wsharness_loop.enter(
            SimulatedCMS(websocket_enabled=websocket_enabled, content=engine.content, **kwargs),
            30.0,
        )
        for _ in range(setup.backends - 1)
    ]
    return SyncCMS(wsharness_loop, engine, setup.restart, others)


@pytest.fixture
def proxy_factory(
    request: pytest.FixtureRequest,
    cms_server: SyncCMS,
    wsharness_catalogue: Catalogue,
    wsharness_time_scale: float,
) -> Iterator[Callable[..., Proxy]]:
    """Start proxies: ``proxy_factory(profile, upstream=None)`` returns a running proxy.

    ``upstream`` defaults to the test's ``cms_server``; the profile's durations are scaled by
    ``wsharness_time_scale``. An ``https`` upstream is trusted through ``wsharness_ca``, which
    also signs what the proxy presents when it opens TLS (a TLS-intercepting profile presents
    its own CA: ``proxy.client_trust``). Every proxy is stopped after the test, last first,
    and an error its thread had is raised there. A proxy can be changed while it runs:
    ``cut_all()``, ``add_fault(use, **params)``, ``remove_fault(id)``, ``clear_faults()``.
    """
    started: list[Proxy] = []

    def make(profile: str, upstream: str | None = None) -> Proxy:
        try:
            chosen = wsharness_catalogue.get(profile)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        target = upstream or cms_server.upstream
        ca = request.getfixturevalue("wsharness_ca") if target.startswith("https://") else None
        proxy = start_proxy(chosen, target, time_scale=wsharness_time_scale, ca=ca)
        started.append(proxy)
        return proxy

    yield make
    errors: list[BaseException] = []
    for proxy in reversed(started):
        try:
            proxy.stop()
        except Exception as error:  # the others must still be stopped
            errors.append(error)
    for proxy in started:
        try:
            proxy.check()
        except Exception as error:
            errors.append(error)
    if errors:
        raise errors[0]


@pytest.fixture
def wsharness_profile(request: pytest.FixtureRequest) -> str:
    """The proxy profile this run of the test uses (tests asking for it run once per profile)."""
    return str(request.param)


@pytest.fixture
def cms_proxy(proxy_factory: Callable[..., Proxy], wsharness_profile: str) -> Proxy:
    """A proxy running ``wsharness_profile`` in front of ``cms_server``."""
    return proxy_factory(wsharness_profile)


@pytest.fixture
def cms_client_factory(
    wsharness_loop: LoopThread, wsharness_time_scale: float
) -> Iterator[Callable[..., SyncClient]]:
    """Load the CMS edit UI: ``cms_client_factory(url, proxy=None, ssl=None)`` returns a
    loaded client.

    ``url`` is where the UI is served from (a proxy's or the server's URL); ``proxy`` an
    explicit (forward) proxy the browser is set to use; ``ssl`` the context that trusts an
    ``https`` server. The client reads the settings, the badge and the projects, then runs the
    realtime client at the test's time scale. Clients are unloaded after the test.
    """

    loaded: list[CmsClient] = []

    def make(url: str, proxy: str | None = None, ssl: SSLContext | None = None) -> SyncClient:
        client = CmsClient(url, time_scale=wsharness_time_scale, proxy=proxy, ssl=ssl)
        wsharness_loop.run(client.__aenter__(), 30.0, "the CMS edit UI to load")
        loaded.append(client)
        return SyncClient(wsharness_loop, client)

    yield make
    # Unloaded here, before the proxies and the server they talk to stop.
    for client in reversed(loaded):
        wsharness_loop.run(client.close(), 30.0, "the CMS edit UI to unload")


@pytest.fixture
def cms_client(
    request: pytest.FixtureRequest,
    cms_server: SyncCMS,
    cms_proxy: Proxy,
    cms_client_factory: Callable[..., SyncClient],
    wsharness_server_setup: ServerSetup,
) -> SyncClient:
    """The CMS edit UI loaded through ``cms_proxy`` (as its page, or as the browser's proxy
    for a forward profile), trusting ``wsharness_ca`` when the server speaks TLS, and the CA
    a TLS-intercepting proxy presents, as a machine its company manages does."""
    page, forward = cms_proxy.route(cms_server.url)
    tls = (
        request.getfixturevalue("wsharness_ca").client_context(also_trust=cms_proxy.client_trust)
        if wsharness_server_setup.tls
        else None
    )
    return cms_client_factory(page, proxy=forward, ssl=tls)
