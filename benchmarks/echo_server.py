"""The echo server of the ``path`` group: a WebSocket server that sends every message back.

``wire.py`` serves it on its own event loop (the clients' loop) and also runs this file as a
process of its own, as a real CMS is, which prints ``http://127.0.0.1:PORT`` once it listens
and serves until its standard input closes (the benchmark ended, or died).
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    async with serve(echo, "127.0.0.1", 0, compression=None, max_queue=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"http://127.0.0.1:{port}", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes it


if __name__ == "__main__":
    asyncio.run(main())
