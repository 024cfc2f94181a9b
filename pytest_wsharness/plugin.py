"""The pytest plugin: hooks and the fixtures every other one builds on; the engine does the
work. The fixtures of the server under test, the proxies and the client are in
:mod:`pytest_wsharness.fixtures`, registered with this plugin; the options are read by
:mod:`pytest_wsharness.runtime.options`.

Importing this module must not import mitmproxy (0.3-0.5 s): the proxy engine is imported by the
proxy fixtures, when a test first asks for one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .errors import UsageError
from .runtime import options
from .runtime.redact import install_log_redaction
from .runtime.rerun import RerunInconclusive, scale_factor

# Only what a run that uses none of our fixtures needs is imported here: the engine (aiohttp,
# websockets, mitmproxy, the profile catalogue) is imported by the fixtures and hooks that use
# it, so that installing the plugin costs such a run next to nothing (issue 11).
if TYPE_CHECKING:
    from .profiles import Catalogue
    from .runtime.loopthread import LoopThread
    from .runtime.tls import TestCA

pytest_plugins = (
    "pytest_wsharness.fixtures.server",
    "pytest_wsharness.fixtures.proxy",
    "pytest_wsharness.fixtures.client",
)

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
PYOPENSSL_OBJECTS_DEPRECATION = (
    r"ignore:Passing pyOpenSSL \w+ objects is deprecated:DeprecationWarning"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


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
    options.read(config)


def pytest_report_header(config: pytest.Config) -> str:
    return options.report_header(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wsharness_profile" not in metafunc.fixturenames:
        return
    config = metafunc.config
    catalogue = options.catalogue(config)
    chosen = options.selected(config)
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
        base = options.time_scale(request.config)
    else:
        base = options.parse_time_scale(marker.args[0] if marker.args else None)
    return base * scale_factor(request.node)


@pytest.fixture(scope="session")
def wsharness_catalogue(pytestconfig: pytest.Config) -> Catalogue:
    """Every proxy profile: the built-in ``proxies/`` plus the folders the options name."""
    return options.catalogue(pytestconfig)


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
