"""What every engine that runs on a thread of its own offers: sync and async ``with``
(:class:`ThreadedEngine`), and, for one whose work is a coroutine on its own event loop, the
thread, its readiness, its errors and calls into it (:class:`LoopEngine`)."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar

from ..errors import HarnessTimeout, ProxyCrashed
from .loopthread import run_to_the_end

T = TypeVar("T")

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


class LoopEngine(ThreadedEngine):
    """An engine whose work is one coroutine, :meth:`_main`, on an event loop of a thread of
    its own (the relay; mitmproxy's master): the thread, readiness, the errors it had and the
    calls into it from other threads are handled here, once for both.

    A subclass calls :meth:`_init_loop_engine` in its ``__init__``; its ``_main`` sets
    ``_loop`` and ``_ready`` once it listens, and ends when :meth:`_request_stop` asks it to.
    It names itself for messages in :meth:`_what` (``relay 'edge'``) and for
    :class:`~pytest_wsharness.errors.ProxyCrashed` in :meth:`_crash_name`.
    """

    CONTROL_TIMEOUT = 10.0

    def _init_loop_engine(self) -> None:
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._errors: list[BaseException] = []

    # What a subclass says or does.

    def _what(self) -> str:
        raise NotImplementedError

    def _crash_name(self) -> str:
        return self._what()

    def _thread_name(self) -> str:
        raise NotImplementedError

    async def _main(self) -> None:
        raise NotImplementedError

    def _request_stop(self, timeout: float) -> None:
        """Ask ``_main`` to end (from another thread); the thread is joined after."""
        raise NotImplementedError

    def _thread_errors(self) -> list[BaseException]:
        """What went wrong on the thread, first first."""
        return self._errors

    def _before_thread(self) -> None:
        """Called on the caller's thread just before the engine's thread starts."""

    def _after_stop(self) -> None:
        """Called once the thread was asked to stop and joined, even when that failed."""

    # The lifecycle, the same for every such engine.

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread and wait until the engine listens.

        Raises:
            ProxyCrashed: it failed to start.
            HarnessTimeout: it did not listen within ``timeout`` seconds.
        """
        if self._thread is not None:
            raise RuntimeError(f"{self._what()} was already started")
        self._thread = threading.Thread(target=self._run, name=self._thread_name(), daemon=True)
        self._before_thread()
        self._stop_at_exit()
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            self.check()
            raise HarnessTimeout(f"{self._what()} to listen", timeout)
        self.check()

    def check(self) -> None:
        """Re-raise in the caller's thread the first error the engine's thread had.

        Raises:
            ProxyCrashed: with the original error as its cause.
        """
        errors = self._thread_errors()
        if errors:
            raise ProxyCrashed(self._crash_name(), errors[0]) from errors[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the engine to stop and join its thread; idempotent.

        Raises:
            HarnessTimeout: the thread did not end within ``timeout`` seconds.
        """
        thread = self._thread
        try:
            if thread is None or not thread.is_alive():
                return
            self._request_stop(timeout)
            thread.join(timeout)
            if thread.is_alive():
                raise HarnessTimeout(f"{self._what()} thread to end", timeout)
        finally:
            self._after_stop()

    def _run(self) -> None:
        try:
            run_to_the_end(self._main())
        except BaseException as error:
            self._errors.append(error)
        finally:
            self._ready.set()

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the engine's loop and return its result; here when the loop is not
        running (nothing races then).

        Raises:
            HarnessTimeout: the loop did not run it within :attr:`CONTROL_TIMEOUT` seconds.
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return fn()  # not started, or stopped: no connection is open, nothing races
        if threading.current_thread() is thread:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as error:
                    future.set_exception(error)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop closed meanwhile: the engine stopped
            return fn()
        try:
            return future.result(self.CONTROL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise HarnessTimeout(
                f"{self._what()} to run a control call", self.CONTROL_TIMEOUT
            ) from None
