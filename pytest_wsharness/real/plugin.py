"""pytest fixtures for real proxies (entry point ``wsharness-real``): hooks and fixtures only.

The software is looked for when a fixture is first used: a test that needs a missing binary
skips, naming Debian's package, unless ``WSHARNESS_REQUIRE_REAL_PROXIES=1`` (set in CI), which
makes it fail instead. A config that cannot run at the test's time scale (its idle cut, scaled,
would be too short) skips, saying which time scale works: a real proxy is never judged at a
time scale it does not follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import MissingPart, TimeScaleUnsupported, UnknownChoiceError, UsageError
from ..runtime.require import skip_or_fail

# The engine is imported by the fixtures that use it: see the same note in ../plugin.py.
if TYPE_CHECKING:
    from ..profiles import Catalogue
    from ..runtime.sync import SyncCMS
    from .configs import RealCatalogue, RealConfig
    from .local import LocalProxy

REQUIRE_ENV = "WSHARNESS_REQUIRE_REAL_PROXIES"


@pytest.fixture(scope="session")
def wsharness_real_catalogue() -> RealCatalogue:
    """Every real proxy config of ``proxies/real/``."""
    from .configs import RealCatalogue

    return RealCatalogue()


@pytest.fixture
def real_proxy(
    cms_server: SyncCMS,
    wsharness_real_catalogue: RealCatalogue,
    wsharness_catalogue: Catalogue,
    wsharness_time_scale: float,
) -> Iterator[Callable[..., LocalProxy]]:
    """Start real proxies: ``real_proxy(name, upstream=None, backend="auto")`` returns a
    running one; ``real_proxy(config=path, models=PROFILE)`` runs your own config file.

    ``name`` is a config of ``proxies/real/`` (``nginx-no-upgrade``...), run on a port of
    127.0.0.1 the kernel picked: in a Docker container (host networking; images from
    ``proxies/real/docker/``) when an engine answers, else as a local process from the
    installed binary; ``backend="docker"`` or ``"local"`` chooses. ``upstream`` defaults to
    ``cms_server``. Its ``profile`` is the simulated profile the config claims to behave like,
    so ``assert_expected_outcome(client, cms_server, proxy)`` holds it to the same outcome.
    Its idle cut is scaled by ``wsharness_time_scale``, as the client's heartbeat is; a config
    whose scaled cut would be too short or cannot be written skips the test, naming the
    smallest time scale that works. Every proxy is stopped after the test, its private folder
    removed.

    ``config`` is a team's own nginx, HAProxy, Apache, Caddy or Squid config (``software=``
    when its name and text do not tell), rewritten to listen on 127.0.0.1 and reach only the
    upstream (see :mod:`pytest_wsharness.real.adapt`; what was rewritten is in the proxy's
    ``changes``); ``models`` names the profile it should behave like, which the assertions
    hold it to.
    """
    from ..scenario.rig import stop_all
    from .backends import BACKENDS, runner

    started: list[LocalProxy] = []

    def make(
        name: str | None = None,
        upstream: str | None = None,
        backend: str = "auto",
        *,
        config: str | Path | None = None,
        software: str | None = None,
        models: str | None = None,
    ) -> LocalProxy:
        try:
            chosen = _config(wsharness_real_catalogue, name, config, software, models)
            if backend not in BACKENDS:
                raise UnknownChoiceError("real proxy backend", backend, BACKENDS)
            wsharness_catalogue.get(chosen.models)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        try:
            proxy = runner(backend)(
                chosen,
                upstream or cms_server.upstream,
                wsharness_catalogue,
                time_scale=wsharness_time_scale,
            )
            proxy.start()
        except TimeScaleUnsupported as unsupported:
            pytest.skip(str(unsupported))
        except MissingPart as missing:
            skip_or_fail(missing, REQUIRE_ENV)
        started.append(proxy)
        return proxy

    yield make
    stop_all(started)


def _config(
    catalogue: RealCatalogue,
    name: str | None,
    path: str | Path | None,
    software: str | None,
    models: str | None,
) -> RealConfig:
    """The config ``real_proxy`` was asked for (a team's own carries what was rewritten).

    Raises:
        UsageError: neither or both of ``name`` and ``config``, ``software`` or ``models``
            without ``config``, ``config`` without ``models``, or what reading it raises.
    """
    if (name is None) == (path is None):
        raise UsageError(
            "real_proxy takes a config of proxies/real/ by name, or config=PATH (your own), "
            f"not both; got name={name!r}, config={path!r}"
        )
    if path is None:
        if software is not None or models is not None:
            raise UsageError("real_proxy: software= and models= go with config=PATH")
        assert name is not None
        return catalogue.get(name)
    if models is None:
        raise UsageError(
            f"real_proxy(config={str(path)!r}) needs models=PROFILE: the profile it should "
            "behave like, which assert_expected_outcome holds it to (wsharness diagnose against "
            "it tells which one it behaves like)"
        )
    from .adapt import load_own

    return load_own(path, software, models).config
