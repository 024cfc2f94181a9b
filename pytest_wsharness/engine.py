"""What every engine that runs on a thread of its own offers: sync and async ``with``."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self


class ThreadedEngine:
    """Context-manager support for an engine with blocking :meth:`start` and :meth:`stop`.

    ``with engine:`` starts and stops it in the calling thread; ``async with engine:`` does it
    in a worker thread, so the caller's event loop keeps running meanwhile.
    """

    def start(self, timeout: float = 10.0) -> None:
        """Start, and return once ready."""
        raise NotImplementedError

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
