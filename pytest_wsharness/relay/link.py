"""One client connection's I/O: two pumps, two ordered outboxes and a timer around a Tunnel.

The pumps only read and hand bytes to the :class:`~pytest_wsharness.relay.tunnel.Tunnel`; what it
returns is written at once when it is due and nothing waits before it (the fast path: a read, a
write, a drain), else queued in order. Closing mirrors what proxies do on the wire: a FIN is
``write_eof``, a reset is ``SO_LINGER`` 0 then abort, and after its own FIN the relay keeps reading
until each end closes (a lingering close, as nginx does) so unread bytes do not turn the close
into a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from .actions import Action, End, Finish, Send
from .fault_base import DOWN, UP, Direction
from .tunnel import Tunnel

CHUNK = 64 * 1024
HIGH_WATER = 1024 * 1024  # queued bytes (delayed or held back) before a pump stops reading
CONNECT_TIMEOUT = 10.0
FLUSH_TIMEOUT = 5.0
LINGER = 2.0  # after the relay's FIN, how long each end has to close before it is closed anyway
MIN_TIMER = 0.001

Counter = Callable[[int, int], None]


class Outbox:
    """The writes to one end of a connection, in order, each not before its time.

    Args:
        writer: the end's stream.
        count: called with the bytes and frames of each write, for the record.
    """

    def __init__(self, writer: asyncio.StreamWriter, count: Counter) -> None:
        self.writer = writer
        self._count = count
        self._queue: deque[Send | Finish] = deque()
        self._queued = 0
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None
        self.shut = False  # FIN sent, closed, or the end is gone: nothing more is written

    def put(self, item: Send | Finish, now: float) -> None:
        """Write ``item`` now if it is due and nothing waits before it, else queue it."""
        if not self._queue and item.at <= now:
            self._do(item)
            return
        self._queue.append(item)
        if isinstance(item, Send):
            self._queued += len(item.data)
            if self._queued > HIGH_WATER:
                self._room.clear()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def room(self) -> None:
        """Wait until the end takes more (backpressure for the pump feeding this outbox)."""
        if self._queue:
            await self._room.wait()
        else:
            await self._drain()

    async def flushed(self, timeout: float | None) -> None:
        """Wait until every queued write is done (at most ``timeout`` seconds)."""
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout)

    def send_fin(self) -> None:
        """Discard what is queued and half-close now (FIN)."""
        self.clear()
        self._do(Finish(DOWN, 0.0))

    def clear(self) -> None:
        """Discard what is queued."""
        self._queue.clear()
        self._queued = 0
        self._room.set()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def close(self) -> None:
        """Discard what is queued and close (FIN, once buffered bytes are sent)."""
        self.clear()
        self.shut = True
        self.writer.close()

    def reset(self) -> None:
        """Discard everything and reset the connection (RST)."""
        self.clear()
        self.shut = True
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            # The socket may already be closed; there is nothing left to reset then.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def abort(self) -> None:
        """Close at once, discarding buffered bytes."""
        self.clear()
        self.shut = True
        self.writer.transport.abort()

    def _do(self, item: Send | Finish) -> None:
        if self.shut or self.writer.transport.is_closing():
            return
        if isinstance(item, Send):
            self.writer.write(item.data)
            self._count(len(item.data), item.frames)
            return
        self.shut = True
        if self.writer.can_write_eof():
            # OSError (ENOTCONN): the end went away first; there is nobody to send a FIN to.
            with contextlib.suppress(OSError):
                self.writer.write_eof()
        else:
            # TLS has no half-close: a TLS-terminating proxy closes the whole connection.
            self.writer.close()

    async def _drain(self) -> None:
        try:
            await self.writer.drain()
        except ConnectionError:
            self.shut = True  # the end is gone; its own pump will see it

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                item = self._queue[0]
                wait = item.at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                self._queue.popleft()
                if isinstance(item, Send):
                    self._queued -= len(item.data)
                self._do(item)
                await self._drain()
                if self._queued <= HIGH_WATER // 2:
                    self._room.set()
        finally:
            if self._task is asyncio.current_task():
                self._task = None
            self._room.set()


class Link:
    """Relays one client connection to the upstream through its tunnel.

    Args:
        tunnel: the connection's tunnel.
        reader: the client's stream, read side.
        writer: the client's stream, write side.
        upstream: the ``(host, port)`` to connect to.
        on_error: called with an unexpected exception (a bug), for ``Relay.check``.
        head: bytes already read from the client (its request head), relayed first.
        track: called with the upstream stream once connected, so the relay can release it.
        upstream_tls: speak TLS to the upstream with this context; ``None``: plain TCP.
    """

    def __init__(
        self,
        tunnel: Tunnel,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: tuple[str, int],
        on_error: Callable[[BaseException], None],
        head: bytes = b"",
        track: Callable[[asyncio.StreamWriter], None] = lambda _: None,
        upstream_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.tunnel = tunnel
        self._upstream_tls = upstream_tls
        self.record = tunnel.record
        self._upstream = upstream
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._readers: dict[Direction, asyncio.StreamReader] = {UP: reader}
        self._out: dict[Direction, Outbox] = {DOWN: Outbox(writer, self._counter(DOWN))}
        self._pumps: list[asyncio.Task[None]] = []
        self._ending: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._head = head
        self._track = track
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Relay until both ends are done, or the tunnel ends the connection."""
        self.task = asyncio.current_task()
        try:
            self._apply(self.tunnel.open(self._loop.time()))
            if self.tunnel.ended or not await self._connect():
                return
            if self._head:
                self._apply(self.tunnel.receive(UP, self._head, self._loop.time()))
            self._pumps = [self._loop.create_task(self._pump(d)) for d in (UP, DOWN)]
            await asyncio.wait(self._pumps)
            if self._ending is not None:
                await self._ending
            for out in self._out.values():
                await out.flushed(None)  # forwarded FINs, possibly delayed (slow_close)
        except Exception as error:
            self._failed(error)
        finally:
            await self._close()

    def apply(self, actions: list[Action]) -> None:
        """Carry out what the tunnel decided outside a read (a control call from the relay)."""
        try:
            self._apply(actions)
        except Exception as error:
            self._failed(error)

    def shutdown(self) -> None:
        """The relay stops: close both ends (FIN), unless they are closed already."""
        self.tunnel.stop()
        for out in self._out.values():
            out.close()
        if UP not in self._out and self.task is not None:
            self.task.cancel()  # still connecting upstream

    def abort(self, why: str = "relay stopped") -> None:
        """Close both ends at once and stop relaying."""
        self.tunnel.stop(why)
        for out in self._out.values():
            out.abort()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def _failed(self, error: Exception) -> None:
        self._on_error(error)
        self.abort(f"relay error: {error!r}")

    async def _connect(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*self._upstream, **self._tls_kwargs()), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as error:
            self.tunnel.fail(self._loop.time(), f"upstream unreachable: {error!r}")
            return False
        self._track(writer)
        self._readers[DOWN] = reader
        self._out[UP] = Outbox(writer, self._counter(UP))
        if self.tunnel.ended:  # the relay stopped while connecting
            self._out[UP].close()
            return False
        return True

    def _tls_kwargs(self) -> dict[str, Any]:
        if self._upstream_tls is None:
            return {}
        return {"ssl": self._upstream_tls, "server_hostname": self._upstream[0]}

    async def _pump(self, direction: Direction) -> None:
        reader, out = self._readers[direction], self._out[direction]
        reset = False
        try:
            while data := await reader.read(CHUNK):
                self._apply(self.tunnel.receive(direction, data, self._loop.time()))
                await out.room()
        except ConnectionError:
            reset = True
        except ssl.SSLError:
            # The TLS session ended untidily (data after our close_notify, a truncated record):
            # for this end it ended all the same.
            pass
        except Exception as error:
            self._failed(error)
            return
        self._apply(self.tunnel.receive_eof(direction, self._loop.time(), reset))
        if self.tunnel.hung:
            # Nothing reaches the other end, but the end that gave up is released.
            self._out[DOWN if direction == UP else UP].close()

    def _apply(self, actions: list[Action]) -> None:
        now = self._loop.time()
        for action in actions:
            if isinstance(action, End):
                self._end(action)
            elif action.direction in self._out:
                self._out[action.direction].put(action, now)
        self._schedule()

    def _end(self, end: End) -> None:
        if end.how == "rst":
            for out in self._out.values():
                out.reset()
        elif end.how == "hang":
            for out in self._out.values():
                out.clear()
        elif self._ending is None:
            self._ending = self._loop.create_task(self._finish(end.flush))

    async def _finish(self, flush: bool) -> None:
        outs = list(self._out.values())
        if flush:
            for out in outs:
                await out.flushed(FLUSH_TIMEOUT)
        for out in outs:
            out.send_fin()
        # Lingering close: each end reads the FIN and closes; until then its bytes are read (and
        # dropped), so that closing does not find unread bytes and send a reset instead.
        pumps = [p for p in self._pumps if not p.done()]
        if pumps:
            await asyncio.wait(pumps, timeout=LINGER)
        for out in outs:
            out.close()

    def _schedule(self) -> None:
        when = self.tunnel.deadline()
        if when is None or self._closed:
            return
        # A due deadline is polled again no sooner than MIN_TIMER: a fault that keeps a past
        # deadline cannot make the loop spin.
        when = max(when, self._loop.time() + MIN_TIMER)
        if self._timer is not None:
            if self._timer.when() <= when:
                return  # it fires first, and the tick schedules the next one
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.apply(self.tunnel.tick(self._loop.time()))

    def _counter(self, direction: Direction) -> Callable[[int, int], None]:
        record = self.record

        def count(size: int, frames: int) -> None:
            if direction == UP:
                record.bytes_up += size
                record.frames_up += frames
            else:
                record.bytes_down += size
                record.frames_down += frames

        return count

    async def _close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = [t for t in (*self._pumps, self._ending) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        for out in self._out.values():
            out.close()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
