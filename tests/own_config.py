"""Run a team's own proxy config (real/adapt) with the real software, beside the simulated
profile it should behave like, and compare what a client sees of one handshake through each."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pytest_wsharness.errors import MissingPart
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.real.adapt import OwnConfig, load_own
from pytest_wsharness.real.fidelity import HandshakeSeen, observe_handshake
from pytest_wsharness.real.local import LocalProxy, find_binary
from pytest_wsharness.require import skip_or_fail
from pytest_wsharness.server import SimulatedCMS

REQUIRE_ENV = "WSHARNESS_REQUIRE_REAL_PROXIES"


def write(folder: Path, name: str, text: str) -> Path:
    """``text`` as the file ``folder/name``."""
    path = folder / name
    path.write_text(text)
    return path


def installed(software: str) -> None:
    """Skip (fail in CI) when ``software`` is not installed."""
    try:
        find_binary(software)
    except MissingPart as missing:
        skip_or_fail(missing, REQUIRE_ENV)


def side_by_side(
    path: Path, models: str, *, idle: float | None = None, time_scale: float = 1.0
) -> tuple[HandshakeSeen, HandshakeSeen, OwnConfig]:
    """The handshake through the config at ``path`` run by the real software (a local
    process), and through the simulated profile ``models``; ``idle`` (seconds at time scale 1)
    watches an opened socket for an idle cut."""
    own = load_own(path, models=models)
    installed(own.config.software)
    return (*asyncio.run(_observe(own, idle, time_scale)), own)


async def _observe(
    own: OwnConfig, idle: float | None, time_scale: float
) -> tuple[HandshakeSeen, HandshakeSeen]:
    wait = None if idle is None else idle * time_scale
    async with SimulatedCMS() as cms:
        async with LocalProxy(own.config, cms.url, time_scale=time_scale) as real:
            seen_real = await observe_handshake(real.url, cms, idle=wait, forward=real.forward)
            real.check()
        async with ProfileProxy(real.profile, cms.url, time_scale=time_scale) as simulated:
            seen_simulated = await observe_handshake(
                simulated.url, cms, idle=wait, forward=real.forward
            )
    return seen_real, seen_simulated
