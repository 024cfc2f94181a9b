"""The installed ``wsharness`` command, run as a process of its own by the tests that need one
(its console script, its exit code, its signals)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

WSHARNESS = Path(sys.executable).with_name("wsharness")


@contextlib.asynccontextmanager
async def wsharness(*args: str, **options: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``wsharness ARGS``, its stdout a pipe, until the block ends; killed then if it is
    still running. ``options`` go to :func:`asyncio.create_subprocess_exec`."""
    process = await asyncio.create_subprocess_exec(
        str(WSHARNESS), *args, stdout=asyncio.subprocess.PIPE, **options
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
