"""Real proxy software in tests: skip where it is missing, diagnose through a running one, and
hold it to its profile.

A test that calls :func:`installed` (directly, or through ``own_config``'s helpers) or uses the
``real_proxy`` fixture is marked ``real_proxy`` by ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pytest_wsharness.assertions import assert_expected_outcome
from pytest_wsharness.diagnose.records import Limits
from pytest_wsharness.diagnose.report import Diagnosis, diagnose
from pytest_wsharness.errors import MissingPart
from pytest_wsharness.real.local import find_binary
from pytest_wsharness.real.plugin import REQUIRE_ENV
from pytest_wsharness.runtime.require import skip_or_fail

if TYPE_CHECKING:
    from pytest_wsharness.real.local import LocalProxy
    from pytest_wsharness.runtime.sync import SyncClient, SyncCMS


def installed(software: str) -> None:
    """Skip (fail in CI, which sets ``WSHARNESS_REQUIRE_REAL_PROXIES=1``) when ``software`` is
    not installed."""
    try:
        find_binary(software)
    except MissingPart as missing:
        skip_or_fail(missing, REQUIRE_ENV)


def assert_held_to_its_profile(
    proxy: LocalProxy, cms_server: SyncCMS, cms_client_factory: Callable[..., SyncClient]
) -> None:
    """The edit UI of ``cms_server`` loaded through ``proxy`` (set as the browser's proxy when
    it is a forward one) does what the profile the proxy models calls for."""
    page, forward = proxy.route(cms_server.url)
    assert_expected_outcome(cms_client_factory(page, proxy=forward), cms_server, proxy)


async def diagnose_through(proxy: LocalProxy, server_url: str, limits: Limits) -> Diagnosis:
    """``wsharness diagnose`` of ``server_url`` through ``proxy`` (as the browser's proxy when
    it is a forward one, else at its own URL), the server asked directly too."""
    if proxy.forward:
        return await diagnose(server_url, proxy=proxy.url, direct=server_url, limits=limits)
    return await diagnose(proxy.url, direct=server_url, limits=limits)
