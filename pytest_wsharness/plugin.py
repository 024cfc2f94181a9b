"""The pytest plugin: options, markers and fixtures only; the engine does the work.

Importing this module must not import mitmproxy (0.3-0.5 s): the proxy engine is imported by the
proxy fixtures, when a test first asks for one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .errors import UsageError
from .runtime import timescale
from .runtime.redact import install_log_redaction
from .runtime.rerun import RerunInconclusive, scale_factor
from .runtime.urls import check_url

# Only what a run that uses none of our fixtures needs is imported here: the engine (aiohttp,
# websockets, mitmproxy, the profile catalogue) is imported by the fixtures and hooks that use
# it, so that installing the plugin costs such a run next to nothing (issue 11).
if TYPE_CHECKING:
    from ssl import SSLContext

    from .client.driver import CmsClient
    from .profiles import Catalogue
    from .proxy.base import Proxy
    from .runtime.loopthread import LoopThread
    from .runtime.sync import SyncClient, SyncCMS
    from .runtime.tls import TestCA
    from .scenario.observe import ServerSetup
    from .scenario.updates import UpdateTrigger
    from .upstream.deployment import RealDeployment, ServerUnderTest

MARKER = "wsharness_profiles"
MARKER_HELP = (
    f"{MARKER}(*names): run the test once per proxy profile named, through the wsharness_profile "
    "fixture; --wsharness-profile narrows the set"
)
SCALE_MARKER = "wsharness_time_scale"
SCALE_MARKER_HELP = (
    f"{SCALE_MARKER}(factor): this test's time scale, instead of --wsharness-time-scale; an "
    "inconclusive run is re-run at 4 and 16 times it"
)
TIME_SCALE_OPTIONS = "--wsharness-time-scale / wsharness_time_scale"

UPSTREAM_OPTION = "--wsharness-upstream / wsharness_upstream"
UPSTREAM_CA_OPTION = "--wsharness-upstream-ca / wsharness_upstream_ca"

_catalogue_key = pytest.StashKey["Catalogue"]()
_time_scale_key = pytest.StashKey[float]()
_upstream_key = pytest.StashKey["str | None"]()
_upstream_ca_key = pytest.StashKey["Path | None"]()
# Per real deployment URL: why it did not answer when asked directly, or None.
_unreachable_key = pytest.StashKey["dict[str, str | None]"]()


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
        help="multiply every CMS timing (3 s heartbeat, 5 s x n^2 reconnect, the simulated "
        "proxies' timeouts) by F; ini: wsharness_time_scale (default 0.1, or 1 with "
        "--wsharness-upstream, whose own proxies keep their real timeouts)",
    )
    group.addoption(
        "--wsharness-profiles-dir",
        action="append",
        default=None,
        metavar="DIR",
        help="also load the *.toml proxy profiles in DIR (repeatable); ini: wsharness_profiles_dir",
    )
    group.addoption(
        "--wsharness-upstream",
        default=None,
        metavar="URL",
        help="put the proxies in front of your own CMS at URL (http(s)://host[:port], e.g. a "
        "dev instance) instead of the simulated one; updates come from your cms_trigger_update "
        "fixture, and profiles that change the server are skipped; ini: wsharness_upstream",
    )
    group.addoption(
        "--wsharness-upstream-ca",
        default=None,
        metavar="FILE",
        help="a PEM file of CAs to trust, besides the system's, for an https "
        "--wsharness-upstream whose certificate your own CA issued (self-signed or internal); "
        "write --wsharness-upstream-ca=FILE, as pytest takes a path after a space for a test "
        "path when it looks for its ini file; ini: wsharness_upstream_ca (relative to it)",
    )
    parser.addini("wsharness_profiles", "proxy profiles for tests without a marker", type="args")
    parser.addini("wsharness_time_scale", "multiplier of every CMS timing (default 0.1)")
    parser.addini("wsharness_profiles_dir", "folders of extra proxy profiles", type="paths")
    parser.addini("wsharness_upstream", "URL of your own CMS to test instead of the simulated one")
    parser.addini("wsharness_upstream_ca", "PEM file of CAs to trust for an https upstream")


PYOPENSSL_OBJECTS_DEPRECATION = (
    r"ignore:Passing pyOpenSSL \w+ objects is deprecated:DeprecationWarning"
)


def pytest_configure(config: pytest.Config) -> None:
    # First: every record from now on, the libraries' too, at any level and in any output
    # (terminal, live log, log file, JUnit XML), carries no credential (issue 10).
    config.add_cleanup(install_log_redaction())
    config.addinivalue_line("markers", MARKER_HELP)
    config.addinivalue_line("markers", SCALE_MARKER_HELP)
    config.pluginmanager.register(RerunInconclusive(), "wsharness-rerun")
    # mitmproxy 11 (the last for Python 3.11) hands pyOpenSSL X509 and PKey objects to
    # pyOpenSSL 24.3, which deprecates that, whenever a proxy opens TLS. Raised inside the
    # proxy's thread by a suite that makes warnings errors, it would fail the proxy, for
    # nothing the suite did.
    config.addinivalue_line("filterwarnings", PYOPENSSL_OBJECTS_DEPRECATION)
    if _profiles_dirs(config) or _selected(config) or config.getini("wsharness_profiles"):
        # Named profiles or folders are checked now: a typo is a usage error before any test.
        _catalogue(config)
    upstream = config.getoption("--wsharness-upstream") or config.getini("wsharness_upstream")
    given_ca = _upstream_ca(config)
    try:
        checked = check_url(upstream, UPSTREAM_OPTION) if upstream else None
        ca = None
        if given_ca is not None:
            from .upstream.deployment import check_upstream_ca

            ca = check_upstream_ca(
                given_ca, checked, option=UPSTREAM_CA_OPTION, upstream_option=UPSTREAM_OPTION
            )
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_upstream_key] = checked
    config.stash[_upstream_ca_key] = ca
    raw = config.getoption("--wsharness-time-scale") or config.getini("wsharness_time_scale")
    if raw:
        config.stash[_time_scale_key] = _time_scale(raw)
    else:
        config.stash[_time_scale_key] = timescale.default(real_deployment=checked is not None)


def _profiles_dirs(config: pytest.Config) -> list[Path]:
    dirs = [Path(d) for d in config.getoption("--wsharness-profiles-dir") or []]
    return dirs + list(config.getini("wsharness_profiles_dir"))


def _catalogue(config: pytest.Config) -> Catalogue:
    """The profile catalogue, loaded on first use; the names the options and ini give are
    checked against it."""
    if _catalogue_key not in config.stash:
        from .profiles import Catalogue

        try:
            catalogue = Catalogue(_profiles_dirs(config))
            # The ini names too: a typo there must be a usage error, not a traceback.
            for name in [*_selected(config), *config.getini("wsharness_profiles")]:
                catalogue.get(name)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        config.stash[_catalogue_key] = catalogue
    return config.stash[_catalogue_key]


def _time_scale(raw: object) -> float:
    try:
        return timescale.positive(raw)
    except UsageError as error:
        raise pytest.UsageError(f"{TIME_SCALE_OPTIONS} {error}") from None


def _check_reachable(config: pytest.Config, deployment: ServerUnderTest) -> None:
    """Fail the test, without a traceback, when ``deployment`` does not answer HTTP directly.

    Through a proxy such a server fails the page load naming the proxy's own port. Asked
    once a session per URL.
    """
    __tracebackhide__ = True
    unreachable = config.stash.setdefault(_unreachable_key, {})
    if deployment.url not in unreachable:
        from .errors import UpstreamUnreachable

        try:
            deployment.check_reachable(UPSTREAM_OPTION)
        except UpstreamUnreachable as error:
            unreachable[deployment.url] = str(error)
        else:
            unreachable[deployment.url] = None
    why = unreachable[deployment.url]
    if why is not None:
        pytest.fail(why, pytrace=False)


def _upstream_ca(config: pytest.Config) -> Path | None:
    """The CA file given, made absolute: an option's from where pytest was run, an ini
    value's from the ini file's folder (as pytest's ``paths`` ini values are)."""
    given: str | None = config.getoption("--wsharness-upstream-ca")
    if given:
        return config.invocation_params.dir / given
    ini: str = config.getini("wsharness_upstream_ca")
    if ini:
        return (config.inipath.parent if config.inipath else config.rootpath) / ini
    return None


def pytest_report_header(config: pytest.Config) -> str:
    profiles = _selected(config) or list(config.getini("wsharness_profiles")) or ["all"]
    upstream, ca = config.stash[_upstream_key], config.stash[_upstream_ca_key]
    return (
        f"wsharness: time scale {config.stash[_time_scale_key]:g}, profiles: {', '.join(profiles)}"
        + (f", upstream: {upstream}" if upstream else "")
        + (f" (also trusting {ca})" if ca else "")
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wsharness_profile" not in metafunc.fixturenames:
        return
    config = metafunc.config
    catalogue = _catalogue(config)
    chosen = _selected(config)
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is not None:
        if not marker.args:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER}() names no profile; give "
                f"one or more, e.g. @pytest.mark.{MARKER}('compliant', 'header-stripping')"
            )
        try:
            for name in marker.args:
                catalogue.get(name)
        except UsageError as error:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: {error}") from None
        names = [n for n in marker.args if not chosen or n in chosen]
        if not names:
            # Without this, pytest's "got empty parameter set" and a [NOTSET] test id.
            reason = (
                f"--wsharness-profile asked for {', '.join(chosen)}; this test's "
                f"@pytest.mark.{MARKER} allows only {', '.join(marker.args)}"
            )
            skip = pytest.param(None, marks=pytest.mark.skip(reason=reason), id="not-selected")
            metafunc.parametrize("wsharness_profile", [skip])
            return
    else:
        names = chosen or list(config.getini("wsharness_profiles")) or catalogue.names()
        for name in names:
            catalogue.get(name)
    metafunc.parametrize("wsharness_profile", names)


def _selected(config: pytest.Config) -> list[str]:
    return list(config.getoption("--wsharness-profile") or [])


@pytest.fixture
def wsharness_time_scale(request: pytest.FixtureRequest) -> float:
    """The factor that scales every CMS timing in this test: the client's (3 s heartbeat,
    5 s x n^2 reconnect) and the proxies' (the profiles' durations, real proxies' timeouts).

    From the test's ``@pytest.mark.wsharness_time_scale(F)``, else ``--wsharness-time-scale``,
    else the ``wsharness_time_scale`` ini value, else 0.1 (1 with ``--wsharness-upstream``:
    your own proxies keep their real timeouts, so the client keeps its real timings). When a
    run of the test was inconclusive (the harness lagged more than the timings allow), the
    test runs again with this 4, then 16 times larger. Prefer the marker to overriding this
    fixture: an override keeps its value on a re-run.
    """
    marker = request.node.get_closest_marker(SCALE_MARKER)
    if marker is None:
        base = request.config.stash[_time_scale_key]
    else:
        base = _time_scale(marker.args[0] if marker.args else None)
    return base * scale_factor(request.node)


@pytest.fixture(scope="session")
def wsharness_catalogue(pytestconfig: pytest.Config) -> Catalogue:
    """Every proxy profile: the built-in ``proxies/`` plus the folders the options name."""
    return _catalogue(pytestconfig)


@pytest.fixture(scope="session")
def wsharness_ca() -> TestCA:
    """A test certificate authority for HTTPS and WSS, generated once per session in memory.

    ``wsharness_ca.issue()`` gives a certificate for 127.0.0.1 and localhost whose
    ``server_context()`` goes to ``SimulatedCMS(ssl=...)``; ``wsharness_ca.client_context()``
    trusts it, for ``CmsClient(ssl=...)``; ``wsharness_ca.write(folder)`` writes its PEM for
    tools that need a file. No network, and nothing on disk unless written.
    """
    # Imported here: cryptography is not needed by runs that use no TLS.
    from .runtime.tls import TestCA

    return TestCA()


@pytest.fixture
def websocket_enabled() -> bool:
    """The CMS's ``UIOptions.WebSocketEnabled`` for this test; ``True``.

    Override per test with ``@pytest.mark.parametrize("websocket_enabled", [False])``.
    """
    return True


# What the first test that uses a fixture imports at once, on the main thread, before any of its
# scenario runs. Imported piecemeal instead, a module's first import can fall inside a scenario
# on a proxy's or a loop's thread, and compiling it holds the GIL long enough to read as lag
# (a py313 browser test came out inconclusive: 192 ms on the mitmproxy thread at scale 0.16).
ENGINE = (
    "pytest_wsharness.assertions",
    "pytest_wsharness.scenario.observe",
    "pytest_wsharness.runtime.sync",
    "pytest_wsharness.upstream.deployment",
    "pytest_wsharness.profiles",
    "pytest_wsharness.client.driver",
    "pytest_wsharness.server.cms",
)
# mitmproxy is left out: a run without proxy fixtures must not pay for it. The proxy fixtures
# import it (through proxy.chain) on the main thread as they start a proxy, before a scenario.


@pytest.fixture(scope="session")
def _wsharness_engine() -> None:
    """Import the engine (:data:`ENGINE`; not mitmproxy) once, when the session's first fixture
    of ours is set up."""
    import importlib

    for name in ENGINE:
        importlib.import_module(name)


@pytest.fixture
def wsharness_loop(_wsharness_engine: None) -> Iterator[LoopThread]:
    """The event-loop thread that runs this test's server and clients; closed after the test."""
    from .runtime.loopthread import LoopThread

    loop = LoopThread(name="wsharness-loop")
    yield loop
    loop.close()


@pytest.fixture
def wsharness_server_setup(
    request: pytest.FixtureRequest, wsharness_catalogue: Catalogue, wsharness_time_scale: float
) -> ServerSetup:
    """How ``cms_server`` is set up: the ``[server]`` table of the test's profile, if it has one
    (no WebSocket feature, TLS, a restart...), else the defaults."""
    from .scenario.observe import ServerSetup

    profile = None
    if "wsharness_profile" in request.fixturenames:
        profile = wsharness_catalogue.get(request.getfixturevalue("wsharness_profile"))
    return ServerSetup.of(profile, wsharness_time_scale)


@pytest.fixture(scope="session")
def wsharness_upstream(pytestconfig: pytest.Config) -> str | None:
    """The URL of your own CMS (a dev instance) that the proxies go in front of, or ``None``
    for the simulated CMS.

    From ``--wsharness-upstream``, else the ``wsharness_upstream`` ini value, else ``None``.
    Override it in a ``conftest.py`` to point a folder of tests at a server one of your
    fixtures starts (``examples/real_deployment/`` does).
    """
    return pytestconfig.stash[_upstream_key]


@pytest.fixture(scope="session")
def wsharness_upstream_ca(pytestconfig: pytest.Config) -> Path | None:
    """A PEM file of CAs the proxies and the client trust, besides the system's, for an
    ``https`` ``wsharness_upstream`` whose certificate your own CA issued (self-signed or
    internal); ``None`` trusts the system's only.

    From ``--wsharness-upstream-ca``, else the ``wsharness_upstream_ca`` ini value (relative
    to the ini file), else ``None``. Override it next to ``wsharness_upstream`` for a server
    one of your fixtures starts with a certificate of its own.
    """
    return pytestconfig.stash[_upstream_ca_key]


@pytest.fixture
def cms_trigger_update(
    request: pytest.FixtureRequest, wsharness_upstream: str | None
) -> UpdateTrigger:
    """Make the server under test push one update: returns ``trigger(marker)``.

    Override this fixture in your ``conftest.py`` to test your own CMS
    (``--wsharness-upstream``). The contract:

    * the assertions call ``trigger(marker)`` once per scenario, after the page loaded and its
      socket settled, with a marker no other update carries (``wsharness-<run>-<n>``);
    * it makes the server push an update that the edit UI shows, to the user the page loads
      as: an unread notification (the badge rises), and/or a saved project whose fields carry
      the marker (the UI re-fetches it). Putting the marker in the notification's subject or
      the project's name lets you find what a run created;
    * it returns once the server was asked; the push itself is waited for by the assertion.
      A plain function runs in a thread of its own, so it may block, up to 30 s (bound its
      own I/O); an ``async def`` one is awaited on the simulated CMS's event loop (the
      clients' too, but for a browser, whose loop is the session's), or on the clients' in
      front of a real deployment. What it raises fails the test as a ``TriggerFailed``, its
      cause attached.

    The UI then counts as showing the update when its badge rose or an item it received
    carries the marker. Against the simulated CMS the default (an async callable) publishes a
    notification and a project whose id is the marker. Against a real deployment there is no
    default: a test that needs an update fails with ``NoUpdateTrigger``, which shows an
    override such as::

        @pytest.fixture
        def cms_trigger_update():
            def trigger(marker):
                my_cms_api.create_notification(subject=marker)  # your server's own API
            return trigger
    """
    from .scenario.updates import MissingTrigger, SimulatedUpdates

    if wsharness_upstream is None:
        server = request.getfixturevalue("cms_server")
        return SimulatedUpdates(server.engine, server.backends)
    return MissingTrigger(wsharness_upstream)


@pytest.fixture
def cms_server(
    request: pytest.FixtureRequest,
    wsharness_loop: LoopThread,
    websocket_enabled: bool,
    wsharness_server_setup: ServerSetup,
    wsharness_upstream: str | None,
    wsharness_upstream_ca: Path | None,
    wsharness_catalogue: Catalogue,
) -> SyncCMS | RealDeployment:
    """A simulated CMS realtime server on 127.0.0.1, started for this test.

    Its settings report ``websocket_enabled``; ``publish(topic, data)`` pushes to every client
    and updates what a page load reads. In a profile-parametrized test it is set up as the
    profile's ``[server]`` table says (``wsharness_server_setup``); TLS uses ``wsharness_ca``.

    With ``wsharness_upstream`` (``--wsharness-upstream URL``) it starts nothing and is a
    :class:`~pytest_wsharness.upstream.deployment.RealDeployment` of that URL instead: the proxies
    go in front of it, the assertions get updates from ``cms_trigger_update``, and its ``requests``
    are ``None`` (not observed), so failures explain what the proxy and the client saw; an ``https``
    one is trusted through the system's CAs and ``wsharness_upstream_ca``. A test whose profile
    changes the server (``[server]`` websocket_feature, tls, a restart, two backends), or that asks
    for ``websocket_enabled=False``, is skipped with the reason.
    """
    from .runtime.sync import SyncCMS
    from .scenario.rig import STARTUP_TIMEOUT, SimulatedSite
    from .upstream.deployment import RealDeployment, skip_reason

    def find_trigger() -> UpdateTrigger:
        # Looked up when an assertion first needs an update, so that an override may itself
        # depend on cms_server.
        trigger: UpdateTrigger = request.getfixturevalue("cms_trigger_update")
        return trigger

    if wsharness_upstream is not None:
        profile = None
        if "wsharness_profile" in request.fixturenames:
            profile = wsharness_catalogue.get(request.getfixturevalue("wsharness_profile"))
        reason = skip_reason(profile, websocket_enabled, wsharness_upstream)
        if reason is not None:
            pytest.skip(reason)
        try:
            return RealDeployment(
                wsharness_upstream,
                find_trigger=find_trigger,
                upstream_ca=wsharness_upstream_ca,
                ca_option=UPSTREAM_CA_OPTION,
            )
        except UsageError as error:  # an override gave a bad URL or CA file
            raise pytest.UsageError(str(error)) from None
    site = SimulatedSite(
        wsharness_server_setup,
        websocket_enabled,
        ca=lambda: request.getfixturevalue("wsharness_ca"),
    )
    wsharness_loop.enter(site, STARTUP_TIMEOUT)
    return SyncCMS(
        wsharness_loop,
        site.server,
        site.scenario_restart,
        site.others,
        find_trigger=find_trigger,
        trust=site.trust,
    )


@pytest.fixture
def proxy_factory(
    request: pytest.FixtureRequest,
    cms_server: SyncCMS | RealDeployment,
    wsharness_catalogue: Catalogue,
    wsharness_time_scale: float,
) -> Iterator[Callable[..., Proxy]]:
    """Start proxies: ``proxy_factory(profile, upstream=None)`` returns a running proxy.

    ``upstream`` defaults to the test's ``cms_server``; the profile's durations are scaled by
    ``wsharness_time_scale``. An ``https`` upstream is trusted through ``wsharness_ca``, which
    also signs what the proxy presents when it opens TLS (a TLS-intercepting profile presents
    its own CA: ``proxy.client_trust``). In front of a real deployment
    (``wsharness_upstream``) an ``https`` server is trusted through the system's CAs and
    ``wsharness_upstream_ca``, and the proxy presents a CA of its own; a profile that changes
    the server skips the test. Every proxy is stopped after the test, last first, and an error
    its thread had is raised there. A proxy can be changed while it runs: ``cut_all()``,
    ``add_fault(use, **params)``, ``remove_fault(id)``, ``clear_faults()``.
    """
    from .scenario.rig import proxy_for, stop_all

    started: list[Proxy] = []

    def make(profile: str, upstream: str | None = None) -> Proxy:
        try:
            chosen = wsharness_catalogue.get(profile)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        if upstream is None and (reason := cms_server.skip_reason(chosen, True)):
            pytest.skip(reason)
        proxy = proxy_for(cms_server, chosen, wsharness_time_scale, upstream)
        started.append(proxy)
        return proxy

    yield make
    stop_all(started)


@pytest.fixture
def wsharness_profile(request: pytest.FixtureRequest) -> str:
    """The proxy profile this run of the test uses (tests asking for it run once per profile)."""
    return str(request.param)


@pytest.fixture
def cms_proxy(proxy_factory: Callable[..., Proxy], wsharness_profile: str) -> Proxy:
    """A proxy running ``wsharness_profile`` in front of ``cms_server``."""
    return proxy_factory(wsharness_profile)


@pytest.fixture
def cms_client_headers() -> dict[str, str]:
    """Headers the Python client sends with every request and the WebSocket handshake: none.

    Override it where the edit UI needs a login, e.g. in front of a real deployment: log in
    through the server's API and return ``{"Cookie": "..."}`` (or an ``Authorization``
    header). The values of Authorization, Cookie and Proxy-Authorization never appear in a
    record, a failure message or a report.
    """
    return {}


@pytest.fixture
def cms_client_factory(
    wsharness_loop: LoopThread, wsharness_time_scale: float, cms_client_headers: dict[str, str]
) -> Iterator[Callable[..., SyncClient]]:
    """Load the CMS edit UI: ``cms_client_factory(url, proxy=None, ssl=None, headers=None)``
    returns a loaded client.

    ``url`` is where the UI is served from (a proxy's or the server's URL); ``proxy`` an
    explicit (forward) proxy the browser is set to use; ``ssl`` the context that trusts an
    ``https`` server; ``headers`` what to send with every request (default
    ``cms_client_headers``). The client reads the settings, the badge and the projects, then
    runs the realtime client at the test's time scale. Clients are unloaded after the test.
    """
    from .client.driver import CmsClient
    from .runtime.sync import SyncClient

    loaded: list[CmsClient] = []

    def make(
        url: str,
        proxy: str | None = None,
        ssl: SSLContext | None = None,
        headers: dict[str, str] | None = None,
    ) -> SyncClient:
        sent = cms_client_headers if headers is None else headers
        client = CmsClient(url, time_scale=wsharness_time_scale, proxy=proxy, ssl=ssl, headers=sent)
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
    cms_server: SyncCMS | RealDeployment,
    cms_proxy: Proxy,
    cms_client_factory: Callable[..., SyncClient],
) -> SyncClient:
    """The CMS edit UI loaded through ``cms_proxy`` (as its page, or as the browser's proxy
    for a forward profile), trusting ``wsharness_ca`` when the server speaks TLS, and the CA
    a TLS-intercepting proxy presents, as a machine its company manages does. In front of
    an ``https`` real deployment it trusts the system's CAs, ``wsharness_upstream_ca`` and
    the proxy's; a page that fails to load because the server's certificate was refused
    raises ``UntrustedCertificate``, which says so."""
    page, forward = cms_proxy.route(cms_server.url)
    _check_reachable(request.config, cms_server)
    # Through a real deployment's proxy, a refused certificate reaches the client as a
    # disconnect or a 502: say what it was.
    with cms_server.explain_untrusted(cms_proxy):
        return cms_client_factory(page, proxy=forward, ssl=cms_server.client_tls(cms_proxy))
