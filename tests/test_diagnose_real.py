"""``diagnose`` against the real proxies of proxies/real/: the software's own misconfigurations
must get the same findings as the simulated profiles that model them.

Each config runs as a local process in front of a simulated CMS. Without the binary a test
skips, naming Debian's package; CI installs them and sets WSHARNESS_REQUIRE_REAL_PROXIES=1.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from real_software import diagnose_through, installed

from pytest_wsharness.diagnose.probe import Limits
from pytest_wsharness.diagnose.report import Diagnosis
from pytest_wsharness.real.backends import runner
from pytest_wsharness.real.configs import RealCatalogue
from pytest_wsharness.server import SimulatedCMS

REAL = RealCatalogue()
LIMITS = Limits(answer=2.0, heartbeat=2.0)

# config -> the main finding; idle-cutting configs are watched for twice their timeout
EXPECTED = {
    "nginx-websocket": "works",
    "nginx-no-upgrade": "stripped",
    "nginx-short-read-timeout": "idle-cut",
    "haproxy-websocket": "works",
    "haproxy-del-upgrade": "stripped",
    "haproxy-deny-upgrade": "denied",
    "haproxy-short-tunnel": "idle-cut",
    "apache-websocket": "works",
    "apache-no-upgrade": "stripped",
    "caddy-websocket": "works",
    "squid-websocket": "works",
    "squid-connect-443": "connect-443",
    "tinyproxy-websocket": "works",
    "tinyproxy-connect-443": "connect-443",
}


def test_every_real_config_has_an_expected_finding() -> None:
    assert set(EXPECTED) == set(REAL.names())


async def _diagnose(name: str, time_scale: float = 1.0, **server: Any) -> Diagnosis:
    config = REAL.get(name)
    idle = 2 * config.idle_timeout * time_scale if config.idle_timeout is not None else None
    limits = Limits(LIMITS.answer, LIMITS.heartbeat, idle)
    async with (
        SimulatedCMS(**server) as cms,
        runner("local")(config, cms.url, time_scale=time_scale) as real,
    ):
        found = await diagnose_through(real, cms.url, limits)
        real.check()
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_diagnose_names_the_real_misconfiguration(name: str) -> None:
    installed(REAL.get(name).software)
    found = asyncio.run(_diagnose(name))
    assert found.findings[-1].code == EXPECTED[name], found.to_text()
    assert found.ok is (EXPECTED[name] == "works"), found.to_text()


def test_nginx_speaking_http10_to_a_strict_server_is_a_version_downgrade() -> None:
    installed(REAL.get("nginx-no-upgrade").software)
    found = asyncio.run(_diagnose("nginx-no-upgrade", http10_status=505))
    main = found.findings[-1]
    assert main.code == "version-downgraded", found.to_text()
    assert any("proxy_http_version 1.1" in line for line in main.fix)


@pytest.mark.parametrize("name", ["nginx-short-read-timeout", "haproxy-short-tunnel"])
def test_a_scaled_idle_cut_is_found_at_its_scaled_time(name: str) -> None:
    # Issue 10: the real proxy's cut follows the time scale (500 ms at 0.25). Only held to the
    # scaled side of the unscaled 2 s: a stalled client measures the cut early. Not 0.1: the
    # proxy's own timers, on a loaded machine, can run 200 ms late, which no lag meter of ours
    # sees (issue 7: a -n 4 run found no cut within the 400 ms watch). An inconclusive
    # diagnosis (the harness itself ran late) is no answer: it is asked once more.
    installed(REAL.get(name).software)
    scale = 0.25
    for _ in range(2):  # bounded: one more look after an inconclusive one
        found = asyncio.run(_diagnose(name, time_scale=scale))
        if found.findings[-1].code != "inconclusive":
            break
    assert found.findings[-1].code == "idle-cut", found.to_text()
    assert found.through.ended_after is not None
    assert found.through.ended_after < (2.0 * scale + 2.0) / 2, found.to_text()


def test_an_idle_cut_says_when() -> None:
    installed(REAL.get("haproxy-short-tunnel").software)
    found = asyncio.run(_diagnose("haproxy-short-tunnel"))
    assert found.through.ended_after == pytest.approx(2.0, rel=0.2)
    assert "timeout tunnel 1h" in "\n".join(found.findings[-1].fix)
