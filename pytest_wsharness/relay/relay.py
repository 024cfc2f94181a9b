"""The relay: a TCP relay on its own thread that puts faults into live connections.

mitmproxy cannot close, reset or silence a live WebSocket from a hook, nor see ping/pong (mitmproxy
#4711, #4773, #8045), so faults after the handshake happen here. A :class:`Relay` listens on
127.0.0.1 port 0; each client connection gets its own connection to the upstream and a
:class:`~pytest_wsharness.relay.tunnel.Tunnel` deciding what crosses. Like
:class:`~pytest_wsharness.proxy.mitm.MitmProxy`, it runs its own event loop on a thread of its
own, and errors on that thread are re-raised in the test by :meth:`Relay.check`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from ..protocol.handshake import asks_to_upgrade
from ..runtime import lag
from ..runtime.engine import LoopEngine
from ..runtime.listen import family, url_host
from ..runtime.timescale import check as check_time_scale
from .accept import (
    TLS_HANDSHAKE,
    TlsTermination,
    accept_tls,
    address,
    note,
    peer_of,
    read_head,
    tls_reason,
)
from .control import FaultControl
from .fault_base import Context
from .faults import FaultSpec
from .frames import Head
from .link import Link
from .records import ConnectionRecord
from .tunnel import Tunnel

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
logger = logging.getLogger(__name__)
STOP_GRACE = 2.0  # how long connections get to close at stop before they are aborted

T = TypeVar("T")


class Relay(LoopEngine, FaultControl):
    """A TCP relay in front of ``upstream`` that applies faults to the connections crossing it.

    Usable as a context manager (sync or async) or with :meth:`start` and :meth:`stop`. The
    control methods (:meth:`cut_all`, :meth:`add_fault`, :meth:`remove_fault`,
    :meth:`clear_faults`) may be called from any thread while it runs; each returns once the
    change took effect on the relay's loop.

    Args:
        upstream: the server to connect to, ``http://127.0.0.1:PORT`` (a path is ignored);
            several, comma-separated, are balanced round robin without affinity.
        faults: ``(name, params)`` pairs, names from
            :data:`~pytest_wsharness.relay.faults.FAULTS`, applied in order to every connection.
        time_scale: multiplies every duration of every fault (0.01 makes a 60 s idle timeout
            0.6 s). It defaults to 1.
        seed: seeds each connection's random draws (toxicity, percent, jitter):
            ``random.Random(f"{seed}:{connection_index}")``.
        name: names the relay in its thread's name (``wsharness-relay-<name>``) and in errors.
        host: the address to listen on; loopback only.
        port: the port to listen on; 0 (the default) lets the kernel pick.
        websocket_only: apply the faults only to connections whose first request asks for a
            WebSocket; the others (the page's REST calls) pass untouched. It defaults to
            ``False``: every connection.
        tls: open the clients' TLS (:class:`TlsTermination`); ``None`` (the default) passes
            TLS through whole, faults then acting on every encrypted connection.

    Raises:
        UsageError: a bad ``upstream`` or ``time_scale``.
        UnknownChoiceError: a fault name that is not a fault.
        FaultError: a fault parameter that is unknown, missing or out of range; the message
            names the fault, the parameter and the valid values.
    """

    def __init__(
        self,
        upstream: str,
        faults: Sequence[tuple[str, Mapping[str, Any]]] = (),
        *,
        time_scale: float = 1.0,
        seed: int = 0,
        name: str = "relay",
        host: str = "127.0.0.1",
        websocket_only: bool = False,
        port: int = 0,
        tls: TlsTermination | None = None,
    ) -> None:
        check_time_scale(time_scale)
        self.upstream = upstream
        # Several upstreams: a balancer without affinity, each new connection to the next one.
        upstreams = [u.strip() for u in upstream.split(",")]
        self._targets = [address(u) for u in upstreams]
        self.time_scale = float(time_scale)
        self.seed = seed
        self.name = name
        self.host = host
        self.websocket_only = websocket_only
        self.listen_port = port
        self.tls = tls
        self._ids = itertools.count()
        self._specs: list[FaultSpec] = [
            self._spec(use, params, f"faults[{i}].{use}") for i, (use, params) in enumerate(faults)
        ]
        self._records: list[ConnectionRecord] = []
        self._links: set[Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reading: set[asyncio.Task[Any]] = set()  # connections whose head is awaited
        self._writers: set[asyncio.StreamWriter] = set()  # every end, aborted at the very end
        self._accepted_sockets: list[socket.socket] = []
        self._opening: set[asyncio.Task[None]] = set()
        self._init_loop_engine()
        self._stopping: asyncio.Event | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port the relay listens on."""
        if self._port is None:
            raise RuntimeError(f"relay {self.name!r} is not running")
        return self._port

    @property
    def url(self) -> str:
        """The relay's base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def records(self) -> list[ConnectionRecord]:
        """A snapshot of what the relay did, one record per client connection, in order."""
        return self._call(lambda: [r.copy() for r in self._records])

    @property
    def connections(self) -> int:
        """How many client connections are open now."""
        return len(self._links)

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the relay's thread and wait until it listens (see
        :meth:`~pytest_wsharness.runtime.engine.LoopEngine.start`)."""
        super().start(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop listening, close every connection, and join the thread; idempotent.

        Open connections are closed with a FIN to both ends (a hung one too), as when a proxy
        stops.

        Raises:
            HarnessTimeout: the thread did not end within ``timeout`` seconds.
        """
        super().stop(timeout)

    def _what(self) -> str:
        return f"relay {self.name!r}"

    def _crash_name(self) -> str:
        return f"relay {self.name}"

    def _thread_name(self) -> str:
        return f"wsharness-relay-{self.name}"

    def _request_stop(self, timeout: float) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            # RuntimeError: the loop ended between the check and the call; nothing to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: self._loop_error(context))
        self._stopping = asyncio.Event()
        # Our own accept loop, not asyncio.start_server: a connection that asyncio accepts as
        # its server closes can be left with neither a handler nor a close (Python 3.11), so
        # every accepted socket is held here from the first moment, and closed at the end.
        # Protocol TCP, not 0: asyncio turns Nagle off only on sockets of that protocol, and
        # accepted sockets inherit it. With Nagle, a small frame waited ~40 ms for a delayed ACK.
        listener = socket.socket(family(self.host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.listen_port))
        listener.listen(128)
        listener.setblocking(False)
        self._port = listener.getsockname()[1]
        accepting = loop.create_task(self._accept_loop(listener))
        watching = lag.start_watch("relay", self.time_scale)
        self._loop = loop
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            try:
                # Both never end on their own: left in the wait below, they held every stop
                # for its whole grace (2 s).
                watching.cancel()
                accepting.cancel()
                await asyncio.gather(watching, accepting, return_exceptions=True)
                listener.close()
                await self._close_links()
                rest = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
                if rest:
                    _, pending = await asyncio.wait(rest, timeout=STOP_GRACE)
                    if pending:
                        names = sorted(task.get_name() for task in pending)
                        logger.warning(
                            "relay %r: %d task(s) still running after the %.0f s stop grace, "
                            "cancelled: %s",
                            self.name,
                            len(pending),
                            STOP_GRACE,
                            ", ".join(names),
                        )
            finally:
                # A transport closed with bytes still buffered keeps its socket until they
                # drain, which will not happen once the loop ends: drop what is left, now.
                for writer in list(self._writers):
                    writer.transport.abort()
                for conn in self._accepted_sockets:
                    conn.close()  # a no-op for those their transport closed
                self._writers.clear()
                self._accepted_sockets.clear()

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(listener)
            self._accepted_sockets.append(conn)
            task = loop.create_task(self._open(conn))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket) -> None:
        if self._stopping is None or self._stopping.is_set():
            conn.close()
            return
        if self.tls is None:
            reader, writer = await asyncio.open_connection(sock=conn)
        else:
            try:
                reader, writer = await accept_tls(conn, self.tls.server)
            except (OSError, TimeoutError) as error:  # ssl.SSLError is an OSError
                client = peer_of(conn)
                conn.close()
                record = ConnectionRecord(len(self._records), client)
                record.end(f"client TLS handshake failed: {tls_reason(error)}")
                self._records.append(record)
                return
        self._writers.add(writer)
        await self._accept(reader, writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(self._records)
        peer = writer.get_extra_info("peername") or ("?", 0)  # None: the client left already
        record = ConnectionRecord(index, f"{peer[0]}:{peer[1]}")
        record.tls = self.tls.note if self.tls is not None else ""
        self._records.append(record)
        if self._stopping is None or self._stopping.is_set():
            record.end("relay stopped")
            writer.close()
            return
        head = b""
        if self.websocket_only:
            # Judge the connection by its first request: faults are for the realtime socket,
            # and the page's own requests must still load.
            reading = asyncio.current_task()
            assert reading is not None
            self._reading.add(reading)
            try:
                head = await read_head(reader)
            except asyncio.CancelledError:
                # The relay stopped before the client said anything: nothing to relay.
                record.end("relay stopped")
                writer.close()
                return
            finally:
                self._reading.discard(reading)
            if head[:1] == bytes([TLS_HANDSHAKE]):
                # Encrypted: the relay cannot tell the socket from the page; faults apply.
                record.asked_to_upgrade = None
                record.encrypted = True
            else:
                record.asked_to_upgrade = asks_to_upgrade(Head(head).header)
        else:
            record.asked_to_upgrade = None
        now = asyncio.get_running_loop().time()
        # The events' times count from here (see _note); asyncio's clock is time.monotonic().
        record.started = now
        rng = random.Random(f"{self.seed}:{index}")
        ctx = Context(now, rng, self.time_scale, lambda at, text: note(record, now, at, text))
        specs = self._specs if record.asked_to_upgrade is not False else []
        tunnel = Tunnel(record, ctx, [(s.id, s.build()) for s in specs], now)
        if head[:1] == bytes([TLS_HANDSHAKE]):
            tunnel.opaque()
        link = Link(
            tunnel,
            reader,
            writer,
            self._targets[index % len(self._targets)],
            self._errors.append,
            head,
            self._writers.add,
            self.tls.upstream if self.tls is not None else None,
        )
        task = asyncio.current_task()
        assert task is not None
        self._links.add(link)
        self._tasks.add(task)
        try:
            await link.run()
        except asyncio.CancelledError:
            # The relay cancels a link still connecting upstream when it stops; any other
            # cancellation is not ours to swallow.
            if self._stopping is None or not self._stopping.is_set():
                raise
        finally:
            self._links.discard(link)
            self._tasks.discard(task)

    async def _close_links(self) -> None:
        reading = set(self._reading)
        for task in reading:
            task.cancel()
        if reading:
            await asyncio.wait(reading, timeout=STOP_GRACE)
        for link in list(self._links):
            link.shutdown()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
        for link in list(self._links):
            link.abort()  # an end that reads nothing keeps a closing transport open
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
        # One more turn of the loop: closed transports release their sockets in callbacks.
        await asyncio.sleep(0)

    def _loop_error(self, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, ConnectionError):
            # A peer's reset left on a stream's waiter that a cancelled pump no longer reads
            # ("Future exception was never retrieved"): the relay's daily bread, not a bug.
            return
        self._errors.append(error or RuntimeError(context.get("message", "relay loop error")))
