"""What every engine that runs on a thread of its own offers: sync and async ``with``."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import weakref
from types import TracebackType
from typing import Self

EXIT_TIMEOUT = 5.0


class ThreadedEngine:
    """Context-manager support for an engine with blocking :meth:`start` and :meth:`stop`.

    ``with engine:`` starts and stops it in the calling thread; ``async with engine:`` does it
    in a worker thread, so the caller's event loop keeps running meanwhile.
    """

    def start(self, timeout: float = 10.0) -> None:
        """Start, and return once ready."""
        raise NotImplementedError

    def _stop_at_exit(self) -> None:
        """Have the interpreter stop this engine at exit if nobody else did (a script that
        never reached its ``stop``): a local proxy runs in a session of its own and would
        outlive us, and a proxy thread would be cut mid-connection instead of closing it."""
        _LEFT_RUNNING.add(self)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and release everything; idempotent."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


_LEFT_RUNNING: weakref.WeakSet[ThreadedEngine] = weakref.WeakSet()


@atexit.register
def _stop_engines_left_running() -> None:
    for engine in list(_LEFT_RUNNING):
        # Best effort: the interpreter is exiting, and one engine's failure must not keep the
        # next one running.
        with contextlib.suppress(Exception):
            engine.stop(EXIT_TIMEOUT)
