"""The package's face: every public name imports from ``pytest_wsharness`` itself, as the same
object as in its module, and importing the package imports none of the engine."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import pytest_wsharness


@pytest.mark.parametrize("name", sorted(pytest_wsharness.PUBLIC))
def test_a_public_name_is_its_module_s(name: str) -> None:
    module = importlib.import_module(pytest_wsharness.PUBLIC[name])
    assert getattr(pytest_wsharness, name) is getattr(module, name)
    assert name in dir(pytest_wsharness)


def test_all_names_the_public_names() -> None:
    assert set(pytest_wsharness.__all__) == {"__version__", *pytest_wsharness.PUBLIC}


def test_an_unknown_name_says_so() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'CmsClinet'"):
        _ = pytest_wsharness.CmsClinet  # type: ignore[attr-defined]


def test_importing_the_package_imports_no_engine() -> None:
    code = (
        "import sys, pytest_wsharness; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('aiohttp', 'websockets', 'mitmproxy', 'cryptography')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
