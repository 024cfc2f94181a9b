"""Run a team's own proxy config (real/adapt) with the real software, beside the simulated
profile it should behave like, and compare what a client sees of one handshake through each."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from real_software import installed

from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.real.adapt import OwnConfig, load_own
from pytest_wsharness.real.fidelity import HandshakeSeen, observe_handshake
from pytest_wsharness.real.local import LocalProxy
from pytest_wsharness.runtime import lag
from pytest_wsharness.server import SimulatedCMS


def write(folder: Path, name: str, text: str) -> Path:
    """``text`` as the file ``folder/name``."""
    path = folder / name
    path.write_text(text)
    return path


def side_by_side(
    path: Path, models: str, *, idle: float | None = None, time_scale: float = 1.0
) -> tuple[HandshakeSeen, HandshakeSeen, OwnConfig]:
    """The handshake through the config at ``path`` run by the real software (a local
    process), and through the simulated profile ``models``; ``idle`` (seconds at time scale 1)
    watches an opened socket for an idle cut."""
    own = load_own(path, models=models)
    installed(own.config.software)
    return (*asyncio.run(_observe(own, idle, time_scale)), own)


def assert_idle_cut(
    path: Path, models: str, *, idle: float, time_scale: float, tolerance: float = 0.2
) -> HandshakeSeen:
    """Hold the config at ``path`` to ``models``, an idle cut of ``idle`` seconds at time scale
    1: through the real software and the simulated profile alike, an open socket left silent
    is cut without a Close frame after ``idle`` times ``time_scale``. Returns what the real
    software did.

    At time scale 1 the cut must come within ``tolerance`` of ``idle``; at another scale, what
    is asked is that it follows the scale: nearer the scaled time than the unscaled one. Both
    windows grow by the harness's own worst lag meanwhile, since a cut a stalled harness saw
    late is not the proxy's doing (issue 7). The real software's own stalls are not seen: the
    window at time scale 1 (400 ms for a 2 s cut) is what leaves room for them.
    """
    started = time.monotonic()
    real, simulated, _ = side_by_side(path, models, idle=idle, time_scale=time_scale)
    late = lag.METER.worst(started)
    expected = idle * time_scale
    window = max(tolerance * expected, abs(idle - expected) / 2) + late.seconds
    assert not real.differences(simulated, tolerance=1.0), real.differences(simulated)
    for name, seen in (("the real software", real), (models, simulated)):
        assert seen.close_code == 1006, (name, seen)
        assert seen.idle_cut_after is not None, (name, seen)
        assert abs(seen.idle_cut_after - expected) <= window, (
            f"{name} cut after {seen.idle_cut_after:.2f}s, not {expected:.2f}s +/- "
            f"{window:.2f}s (the harness's worst lag meanwhile: {late})"
        )
    return real


async def _observe(
    own: OwnConfig, idle: float | None, time_scale: float
) -> tuple[HandshakeSeen, HandshakeSeen]:
    wait = None if idle is None else idle * time_scale
    # The test's own loop is watched too: it is the one that times the cut.
    watch = lag.start_watch("test", time_scale)
    try:
        return await _observe_both(own, wait, time_scale)
    finally:
        watch.cancel()


async def _observe_both(
    own: OwnConfig, wait: float | None, time_scale: float
) -> tuple[HandshakeSeen, HandshakeSeen]:
    async with SimulatedCMS() as cms:
        async with LocalProxy(own.config, cms.url, time_scale=time_scale) as real:
            seen_real = await observe_handshake(real.url, cms, idle=wait, forward=real.forward)
            real.check()
        async with ProfileProxy(real.profile, cms.url, time_scale=time_scale) as simulated:
            seen_simulated = await observe_handshake(
                simulated.url, cms, idle=wait, forward=real.forward
            )
    return seen_real, seen_simulated
