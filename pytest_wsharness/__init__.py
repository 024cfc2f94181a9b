"""pytest-wsharness: prove that CMS realtime updates survive the proxies in between.

The public API, importable from here as well as from the modules the docs show::

    from pytest_wsharness import CmsClient, ProfileProxy, SimulatedCMS, assert_expected_outcome

Each name is imported on first use (PEP 562), so that ``import pytest_wsharness`` costs nothing
of aiohttp, websockets or mitmproxy: the plugin is loaded into every pytest run of a project
that installs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module it lives in
PUBLIC = {
    "assert_expected_outcome": "pytest_wsharness.assertions",
    "assert_fell_back": "pytest_wsharness.assertions",
    "assert_updates_delivered": "pytest_wsharness.assertions",
    "CmsClient": "pytest_wsharness.client.driver",
    "Dialog": "pytest_wsharness.client.machine",
    "State": "pytest_wsharness.client.machine",
    "Observation": "pytest_wsharness.verdict",
    "Verdict": "pytest_wsharness.verdict",
    "Catalogue": "pytest_wsharness.profiles",
    "ProfileProxy": "pytest_wsharness.proxy.chain",
    "SimulatedCMS": "pytest_wsharness.server",
    "RealDeployment": "pytest_wsharness.upstream.deployment",
    "SimulatedSite": "pytest_wsharness.scenario.rig",
    "run_row": "pytest_wsharness.scenario.matrix",
    "run_matrix": "pytest_wsharness.scenario.matrix",
}

# Written out, for the tools that read it without running it; a test holds it to PUBLIC.
__all__ = [
    "Catalogue",
    "CmsClient",
    "Dialog",
    "Observation",
    "ProfileProxy",
    "RealDeployment",
    "SimulatedCMS",
    "SimulatedSite",
    "State",
    "Verdict",
    "__version__",
    "assert_expected_outcome",
    "assert_fell_back",
    "assert_updates_delivered",
    "run_matrix",
    "run_row",
]

if TYPE_CHECKING:
    from .assertions import assert_expected_outcome, assert_fell_back, assert_updates_delivered
    from .client.driver import CmsClient
    from .client.machine import Dialog, State
    from .profiles import Catalogue
    from .proxy.chain import ProfileProxy
    from .scenario.matrix import run_matrix, run_row
    from .scenario.rig import SimulatedSite
    from .server import SimulatedCMS
    from .upstream.deployment import RealDeployment
    from .verdict import Observation, Verdict


def __getattr__(name: str) -> Any:
    module = PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_wsharness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup finds it here
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *PUBLIC])
