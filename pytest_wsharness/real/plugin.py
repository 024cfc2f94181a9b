"""pytest fixtures for real proxies (entry point ``wsharness-real``): hooks and fixtures only.

The software is looked for when a fixture is first used: a test that needs a missing binary
skips, naming Debian's package, unless ``WSHARNESS_REQUIRE_REAL_PROXIES=1`` (set in CI), which
makes it fail instead. A config that cannot run at the test's time scale (its idle cut, scaled,
would be too short) skips, saying which time scale works: a real proxy is never judged at a
time scale it does not follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from ..errors import MissingPart, TimeScaleUnsupported, UnknownChoiceError, UsageError
from ..require import skip_or_fail

# The engine is imported by the fixtures that use it: see the same note in ../plugin.py.
if TYPE_CHECKING:
    from ..profiles import Catalogue
    from ..sync import SyncCMS
    from .configs import RealCatalogue
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
    running one.

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
    """
    from .local import BACKENDS, runner

    started: list[LocalProxy] = []

    def make(name: str, upstream: str | None = None, backend: str = "auto") -> LocalProxy:
        try:
            config = wsharness_real_catalogue.get(name)
            if backend not in BACKENDS:
                raise UnknownChoiceError("real proxy backend", backend, BACKENDS)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        try:
            proxy = runner(backend)(
                config,
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
    errors: list[BaseException] = []
    for proxy in reversed(started):
        try:
            proxy.check()
        except Exception as error:
            errors.append(error)
        proxy.stop()
    if errors:
        raise errors[0]
