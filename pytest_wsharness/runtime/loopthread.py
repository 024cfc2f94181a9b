"""An asyncio event loop on a thread of its own, so that sync tests can drive async parts."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from ..errors import HarnessTimeout

T = TypeVar("T")

JOIN_TIMEOUT = 10.0


class LoopThread:
    """Runs coroutines on a private event loop in a daemon thread.

    Args:
        name: the thread's name, shown in leak reports.
    """

    def __init__(self, name: str = "wsharness-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._exits: list[AbstractAsyncContextManager[Any]] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the coroutines run on."""
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        """The thread the loop runs on."""
        return self._thread

    def own_sockets(self) -> set[int]:
        """The file descriptors of the loop's own sockets: the pair a selector loop wakes
        itself with (CPython's ``_ssock`` and ``_csock``); none for other loops."""
        pair = (getattr(self._loop, "_ssock", None), getattr(self._loop, "_csock", None))
        return {s.fileno() for s in pair if s is not None and s.fileno() != -1}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None, what: str = "") -> T:
        """Run ``coro`` on the loop and return its result in the calling thread.

        Args:
            coro: the coroutine.
            timeout: seconds to wait; ``None`` waits as long as the coroutine runs.
            what: what is awaited, for the timeout message.

        Raises:
            HarnessTimeout: the coroutine did not finish in time; it is cancelled. A timeout
                the coroutine raised itself (an inner wait that expired) comes out as it was
                raised: it names the wait that expired, not this outer one.
        """
        __tracebackhide__ = True  # a test's failure shows its own line, not this hand-over
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.done():
                raise  # the coroutine's own, naming its own wait
            future.cancel()
            raise HarnessTimeout(
                what or getattr(coro, "__name__", "a coroutine"), timeout or 0
            ) from None

    def enter(self, manager: AbstractAsyncContextManager[T], timeout: float | None = None) -> T:
        """Enter an async context manager on the loop; :meth:`close` exits it."""
        value = self.run(manager.__aenter__(), timeout, what=f"{type(manager).__name__} to start")
        self._exits.append(manager)
        return value

    def close(self) -> None:
        """Exit the entered managers (last first), cancel the rest, stop and join; idempotent."""
        if self._loop.is_closed():
            return
        errors: list[BaseException] = []
        while self._exits:
            manager = self._exits.pop()
            try:
                self.run(
                    manager.__aexit__(None, None, None),
                    JOIN_TIMEOUT,
                    f"{type(manager).__name__} to stop",
                )
            except Exception as error:
                errors.append(error)
        self.run(self._cancel_rest(), JOIN_TIMEOUT, "remaining tasks to end")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(JOIN_TIMEOUT)
        if self._thread.is_alive():
            raise HarnessTimeout(f"thread {self._thread.name} to end", JOIN_TIMEOUT)
        self._loop.close()
        collect_garbage()
        if errors:
            raise errors[0]

    async def _cancel_rest(self) -> None:
        await wind_down()


async def on_loop(loop: asyncio.AbstractEventLoop | None, coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on ``loop``: here when it is the running loop (or ``None``), else on
    that loop's thread, whose objects it uses. Cancelling the caller cancels it there.

    A shared browser's client runs on the browser's loop, and the test's simulated CMS on the
    test's: a scenario publishes and restarts through this.

    Raises:
        RuntimeError: ``loop`` is closed.
    """
    if loop is None or loop is asyncio.get_running_loop():
        return await coro
    try:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:
        coro.close()  # never to run: no "never awaited" warning at some later collection
        raise
    return await asyncio.wrap_future(future)


# Every this many collections, one walks the whole heap again (see collect_garbage).
FULL_EVERY = 64
_since_full = FULL_EVERY


def collect_garbage() -> None:
    """Collect what closed event loops left, now, in the caller's thread.

    Left to chance, a finalizer (a socket's ResourceWarning) can run in another thread while
    this one builds an AST, and CPython 3.11 then fails that ``ast.parse`` with "AST
    constructor recursion depth mismatch" (its depth counter is not per thread: gh-106905).
    A full collection walks the whole heap, some 100,000 objects with pytest and mitmproxy
    loaded: ~40 ms, twice a test. So each collection freezes what survives it, and the next
    walks only what was made since (one test's objects: under 1 ms). Frozen objects are never
    collected, so a cycle that was alive at one collection and dropped later would stay: every
    ``FULL_EVERY`` collections the heap is unfrozen and walked whole, which bounds that wait.
    (Freezing once and never again made each walk cover everything made since the first one:
    25 ms a test after 150 tests.)
    """
    global _since_full
    if _since_full >= FULL_EVERY:
        gc.unfreeze()
        _since_full = 0
    gc.collect()
    gc.freeze()
    _since_full += 1


async def wind_down() -> None:
    """Cancel every other task of the running loop, then give the loop a few more turns.

    A transport closed by that cancellation (a connection a server was still accepting when it
    stopped) releases its socket in a callback of a later turn; a loop closed before those turns
    leaves the socket open. Run this last, before the loop closes.
    """
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    _close_transports(asyncio.get_running_loop())
    for _ in range(3):
        await asyncio.sleep(0)
    await asyncio.get_running_loop().shutdown_asyncgens()


def _close_transports(loop: asyncio.AbstractEventLoop) -> None:
    """Close every transport a cancelled handler left open on ``loop``.

    A handler cancelled mid-way (mitmproxy's, for a server connection it opened after a
    ``Connection: close`` answer) can skip closing its stream; once the loop is closed, that
    writer's finalizer warns "loop is closed" at some later garbage collection, in whichever test
    runs then. Selector loops keep their live transports in ``_transports``; other loops have none
    to close here.
    """
    transports = getattr(loop, "_transports", None)
    for transport in list(transports.values()) if transports is not None else ():
        if not transport.is_closing():
            transport.close()


def run_to_the_end(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on a new event loop, as ``asyncio.run`` does, but end with :func:`wind_down`.

    ``asyncio.run`` closes the loop as soon as the cancelled leftovers finish. The engines'
    threads (proxy, relay) run their loops with this instead.
    """
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(wind_down())
        finally:
            loop.close()
