"""Packaging promises: the plugin loads without mitmproxy, and the profiles ship with the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pytest_wsharness
from pytest_wsharness.profiles import builtin_dir

PACKAGE = Path(pytest_wsharness.__file__).resolve().parent
CHECKOUT_PROXIES = Path(__file__).resolve().parent.parent / "proxies"


def test_importing_the_plugin_does_not_import_mitmproxy() -> None:
    code = (
        "import sys, pytest_wsharness.plugin, pytest_wsharness.assertions; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mitmproxy'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_a_run_without_proxy_fixtures_does_not_import_mitmproxy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_server_only(cms_server, cms_client_factory):
            client = cms_client_factory(cms_server.url)
            assert client.settle() == "connected"
            assert not [m for m in sys.modules if m.split(".")[0] == "mitmproxy"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_catalogue_ships_inside_the_installed_package() -> None:
    folder = builtin_dir()
    names = sorted(p.name for p in folder.glob("*.toml"))
    assert {"compliant.toml", "firewall.toml", "header-stripping.toml"} <= set(names)
    if PACKAGE.parent / "proxies" == CHECKOUT_PROXIES:
        # A source checkout (editable install): the one folder at the top of the repository.
        assert folder == CHECKOUT_PROXIES
    else:
        # An installed wheel (as tox runs it): the copy the wheel carries, beside the code.
        assert folder == PACKAGE / "proxies"
        if CHECKOUT_PROXIES.is_dir():
            shipped = {p.name: p.read_bytes() for p in folder.glob("*.toml")}
            source = {p.name: p.read_bytes() for p in CHECKOUT_PROXIES.glob("*.toml")}
            assert shipped == source
