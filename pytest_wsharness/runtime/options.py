"""The plugin's options and ini values, read and checked once per session, and what the
fixtures ask of them (the catalogue, the time scale, the upstream and its CA).

A bad value is a usage error when pytest configures, before any test runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import UsageError
from . import timescale
from .urls import check_url

if TYPE_CHECKING:
    from ..profiles import Catalogue
    from ..upstream.deployment import ServerUnderTest

TIME_SCALE_OPTIONS = "--wsharness-time-scale / wsharness_time_scale"
UPSTREAM_OPTION = "--wsharness-upstream / wsharness_upstream"
UPSTREAM_CA_OPTION = "--wsharness-upstream-ca / wsharness_upstream_ca"

_catalogue_key = pytest.StashKey["Catalogue"]()
_time_scale_key = pytest.StashKey[float]()
_upstream_key = pytest.StashKey["str | None"]()
_upstream_ca_key = pytest.StashKey["Path | None"]()
# Per real deployment URL: why it did not answer when asked directly, or None.
_unreachable_key = pytest.StashKey["dict[str, str | None]"]()


def add_options(parser: pytest.Parser) -> None:
    """Add the ``--wsharness-*`` options and their ini twins."""
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


def read(config: pytest.Config) -> None:
    """Read and check the options; stash what the fixtures ask for.

    Raises:
        pytest.UsageError: a profile, folder, URL, CA file or time scale that is not valid.
    """
    if _profiles_dirs(config) or selected(config) or config.getini("wsharness_profiles"):
        # Named profiles or folders are checked now: a typo is a usage error before any test.
        catalogue(config)
    upstream = config.getoption("--wsharness-upstream") or config.getini("wsharness_upstream")
    given_ca = _upstream_ca_given(config)
    try:
        checked = check_url(upstream, UPSTREAM_OPTION) if upstream else None
        ca = None
        if given_ca is not None:
            from ..upstream.certificates import check_upstream_ca

            ca = check_upstream_ca(
                given_ca, checked, option=UPSTREAM_CA_OPTION, upstream_option=UPSTREAM_OPTION
            )
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[_upstream_key] = checked
    config.stash[_upstream_ca_key] = ca
    raw = config.getoption("--wsharness-time-scale") or config.getini("wsharness_time_scale")
    if raw:
        config.stash[_time_scale_key] = parse_time_scale(raw)
    else:
        config.stash[_time_scale_key] = timescale.default(real_deployment=checked is not None)


def _profiles_dirs(config: pytest.Config) -> list[Path]:
    dirs = [Path(d) for d in config.getoption("--wsharness-profiles-dir") or []]
    return dirs + list(config.getini("wsharness_profiles_dir"))


def catalogue(config: pytest.Config) -> Catalogue:
    """The profile catalogue, loaded on first use; the names the options and ini give are
    checked against it."""
    if _catalogue_key not in config.stash:
        from ..profiles import Catalogue

        try:
            catalogue = Catalogue(_profiles_dirs(config))
            # The ini names too: a typo there must be a usage error, not a traceback.
            for name in [*selected(config), *config.getini("wsharness_profiles")]:
                catalogue.get(name)
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        config.stash[_catalogue_key] = catalogue
    return config.stash[_catalogue_key]


def parse_time_scale(raw: object) -> float:
    try:
        return timescale.positive(raw)
    except UsageError as error:
        raise pytest.UsageError(f"{TIME_SCALE_OPTIONS} {error}") from None


def check_reachable(config: pytest.Config, deployment: ServerUnderTest) -> None:
    """Fail the test, without a traceback, when ``deployment`` does not answer HTTP directly.

    Through a proxy such a server fails the page load naming the proxy's own port. Asked
    once a session per URL.
    """
    __tracebackhide__ = True
    unreachable = config.stash.setdefault(_unreachable_key, {})
    if deployment.url not in unreachable:
        from ..errors import UpstreamUnreachable

        try:
            deployment.check_reachable(UPSTREAM_OPTION)
        except UpstreamUnreachable as error:
            unreachable[deployment.url] = str(error)
        else:
            unreachable[deployment.url] = None
    why = unreachable[deployment.url]
    if why is not None:
        pytest.fail(why, pytrace=False)


def _upstream_ca_given(config: pytest.Config) -> Path | None:
    """The CA file given, made absolute: an option's from where pytest was run, an ini
    value's from the ini file's folder (as pytest's ``paths`` ini values are)."""
    given: str | None = config.getoption("--wsharness-upstream-ca")
    if given:
        return config.invocation_params.dir / given
    ini: str = config.getini("wsharness_upstream_ca")
    if ini:
        return (config.inipath.parent if config.inipath else config.rootpath) / ini
    return None


def selected(config: pytest.Config) -> list[str]:
    return list(config.getoption("--wsharness-profile") or [])


def time_scale(config: pytest.Config) -> float:
    """The session's time scale (the options', else the default)."""
    return config.stash[_time_scale_key]


def upstream(config: pytest.Config) -> str | None:
    """The team's own CMS the options name, checked; ``None`` for the simulated one."""
    return config.stash[_upstream_key]


def upstream_ca(config: pytest.Config) -> Path | None:
    """The PEM file of CAs the options name for an ``https`` upstream; ``None`` for none."""
    return config.stash[_upstream_ca_key]


def report_header(config: pytest.Config) -> str:
    """One line for pytest's header: the time scale, the profiles, the upstream."""
    profiles = selected(config) or list(config.getini("wsharness_profiles")) or ["all"]
    upstream, ca = config.stash[_upstream_key], config.stash[_upstream_ca_key]
    return (
        f"wsharness: time scale {config.stash[_time_scale_key]:g}, profiles: {', '.join(profiles)}"
        + (f", upstream: {upstream}" if upstream else "")
        + (f" (also trusting {ca})" if ca else "")
    )
