"""The floor of any asyncio proxy in Python: a TCP splice that copies bytes and does nothing else.

The ``python splice`` path of ``routes.py`` runs this file as a process of its own, beside
``wsharness proxy compliant``: what the relay costs above it is the relay's own work (parsing
the upgrade, faults, records); what the splice costs above ``direct`` is what any Python proxy
on asyncio pays here (two more process wake-ups and the event loop's transport layer), which
no change to the relay can remove. Protocols, not streams: the cheapest asyncio offers.

    python benchmarks/splice.py http://127.0.0.1:UPSTREAM_PORT

It prints ``http://127.0.0.1:PORT`` once it listens, and serves until its standard input
closes. It listens on 127.0.0.1 and connects to the one upstream it was given.
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit


class Half(asyncio.Protocol):
    """One side of a spliced connection: what it reads, its peer writes."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Half | None = None
        self.early: list[bytes] = []  # read before the peer's connection was made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def join(self, peer: Half) -> None:
        self.peer = peer
        assert peer.transport is not None
        for data in self.early:
            peer.transport.write(data)
        self.early.clear()

    def data_received(self, data: bytes) -> None:
        if self.peer is None or self.peer.transport is None:
            self.early.append(data)
        else:
            self.peer.transport.write(data)

    def eof_received(self) -> bool:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write_eof()
        return True  # keep the other direction open until the peer closes it too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # Flow control: a full write buffer on one side stops reading on the other.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


async def main(upstream: str) -> None:
    target = urlsplit(upstream)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    loop = asyncio.get_running_loop()
    connecting: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    def accepted() -> Half:
        client = Half()
        task = loop.create_task(connect(client))
        connecting.add(task)
        task.add_done_callback(connecting.discard)
        return client

    async def connect(client: Half) -> None:
        try:
            _, server = await loop.create_connection(Half, host, port)
        except OSError:
            if client.transport is not None:
                client.transport.close()
            return
        server.join(client)
        client.join(server)

    listener = await loop.create_server(accepted, "127.0.0.1", 0, backlog=1024)
    print(f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes it
    listener.close()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].startswith("http://"):
        sys.exit("usage: python benchmarks/splice.py http://127.0.0.1:UPSTREAM_PORT")
    asyncio.run(main(sys.argv[1]))
