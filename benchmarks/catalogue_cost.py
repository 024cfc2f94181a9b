"""The ``catalogue`` group: every profile, WebSockets on and off, at time scale 0.05, against one
``compliant`` scenario (target: the whole catalogue under a minute; no verdict when only the
first K profiles run).
"""

from __future__ import annotations

import time

from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.scenario.matrix import run_matrix, run_row
from results import Row, Table

CATALOGUE_TARGET = 60.0  # seconds
SCALE = 0.05  # the catalogue's time scale


async def bench_catalogue(table: Table, profiles: int) -> None:
    """The first ``profiles`` profiles (0: all) against one scenario."""
    catalogue = Catalogue()
    chosen = list(catalogue)[:profiles] if profiles else list(catalogue)
    start = time.perf_counter()
    await run_row(catalogue.get("compliant"), True, SCALE)
    one = time.perf_counter() - start
    start = time.perf_counter()
    rows = await run_matrix(chosen, SCALE)
    whole = time.perf_counter() - start
    name = f"catalogue, {len(rows)} scenarios"
    target = f"< {CATALOGUE_TARGET:g}s"
    if profiles:
        table.row(Row(name, one, whole, "s", f"{target} (all only)"))
    else:
        table.row(Row(name, one, whole, "s", target, whole < CATALOGUE_TARGET))
