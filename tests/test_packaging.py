"""Packaging promises: the plugin loads without mitmproxy, the profiles ship with the code, and the
sdist and wheel an index gets carry the LICENSE that pyproject's ``license`` names (issue 13)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

import pytest_wsharness
from pytest_wsharness.profiles import builtin_dir

PACKAGE = Path(pytest_wsharness.__file__).resolve().parent
ROOT = Path(__file__).resolve().parent.parent
CHECKOUT_PROXIES = ROOT / "proxies"


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


def test_the_license_file_is_the_license_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    lines = (ROOT / "LICENSE").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "MIT License"
    assert lines[2] == "Copyright (c) 2026 The pytest-wsharness authors"
    # PEP 639: with a license expression, a "License ::" classifier is deprecated (and ambiguous).
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, and the wheel built from it, as ``python -m build`` makes them for an index.

    Without isolation, so that no download is needed: the test env has build and hatchling.
    """
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"python -m build failed:\n{done.stdout}\n{done.stderr}"
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def assert_the_catalogue(shipped: dict[str, bytes]) -> None:
    """Every file of the checkout's proxies/ (profiles, real configs, Dockerfiles), and no other,
    shipped with the same bytes; names compared first, so that a failure lists names, not bytes."""
    files = (p for p in CHECKOUT_PROXIES.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    source = {p.relative_to(ROOT).as_posix(): p.read_bytes() for p in files}
    assert sorted(shipped) == sorted(source)
    assert [name for name in sorted(source) if shipped[name] != source[name]] == []


def test_the_sdist_carries_the_license_and_the_catalogue(artifacts: dict[str, Path]) -> None:
    with tarfile.open(artifacts["sdist"]) as sdist:
        # Names below the sdist's one top folder (pytest_wsharness-<version>/).
        files = {
            m.name.split("/", 1)[1]: extracted.read()
            for m in sdist.getmembers()
            if (extracted := sdist.extractfile(m)) is not None
        }
    assert files.get("LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert_the_catalogue({n: data for n, data in files.items() if n.startswith("proxies/")})


def test_the_wheel_carries_the_license_and_the_catalogue(artifacts: dict[str, Path]) -> None:
    with zipfile.ZipFile(artifacts["wheel"]) as wheel:
        names = set(wheel.namelist())
        (dist_info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        assert wheel.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        metadata = wheel.read(f"{dist_info}/METADATA").decode().split("\n\n")[0].splitlines()
        # The catalogue at the top of the checkout is pytest_wsharness/proxies/ in the wheel.
        shipped = {
            n.removeprefix("pytest_wsharness/"): wheel.read(n)
            for n in names
            if n.startswith("pytest_wsharness/proxies/") and not n.endswith("/")
        }
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
    assert_the_catalogue(shipped)
