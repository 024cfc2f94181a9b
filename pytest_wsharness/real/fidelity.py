"""What a client sees of one WebSocket handshake through a proxy, in terms that two proxies can
be compared by: the real config and the simulated profile that claims to model it.

A mismatch is a bug in the simulation: the simulated profile no longer behaves like the real
software it names.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidProxyStatus, InvalidStatus

from ..protocol import Routes
from ..server.cms import SimulatedCMS

OPEN_TIMEOUT = 5.0
IDLE_MARGIN = 3.0  # wait up to this many times the expected idle timeout for the cut


@dataclass(frozen=True)
class HandshakeSeen:
    """One WebSocket attempt through a proxy, as the client and the backend saw it.

    Attributes:
        status: the HTTP status the client got (101 when it opened), or ``None``.
        error: the client's exception type when the handshake failed, else ``""``.
        backend_saw_upgrade: the backend got the request with its Upgrade header;
            ``None`` when the request never reached it.
        close_code: how the socket ended while idle (1006: cut without a Close frame);
            ``None`` when it did not open or was not watched.
        idle_cut_after: seconds from the open to the cut, when watched for an idle timeout.
    """

    status: int | None
    error: str
    backend_saw_upgrade: bool | None
    close_code: int | None = None
    idle_cut_after: float | None = None

    def differences(self, other: HandshakeSeen, tolerance: float = 0.2) -> list[str]:
        """Say how ``other`` differs from this one; idle cuts may differ by ``tolerance``."""
        found = []
        for name in ("status", "error", "backend_saw_upgrade", "close_code"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                found.append(f"{name}: {mine!r} here, {theirs!r} there")
        mine, theirs = self.idle_cut_after, other.idle_cut_after
        if (mine is None) != (theirs is None):
            found.append(f"idle cut: {mine!r} here, {theirs!r} there")
        elif mine is not None and theirs is not None and abs(mine - theirs) > tolerance * mine:
            found.append(
                f"idle cut after {mine:.2f}s here, {theirs:.2f}s there "
                f"(more than {tolerance:.0%} apart)"
            )
        return found


async def observe_handshake(
    proxy_url: str, server: SimulatedCMS, *, idle: float | None = None, forward: bool = False
) -> HandshakeSeen:
    """Open the realtime endpoint through ``proxy_url`` and note what happened.

    Args:
        proxy_url: the proxy's base URL: a reverse proxy in front of ``server``, or with
            ``forward`` an explicit proxy the client goes through to ``server``.
        server: the backend, whose request records say what reached it.
        idle: when set, keep an opened socket silent and time how long until it is cut,
            waiting up to :data:`IDLE_MARGIN` times ``idle``.
    """
    routes: Routes = server.routes
    before = len(server.requests)
    base = server.url if forward else proxy_url
    url = base.replace("http", "ws", 1) + routes.endpoint
    status: int | None = None
    error = ""
    close_code = cut_after = None
    try:
        ws = await connect(
            url,
            proxy=proxy_url if forward else None,
            open_timeout=OPEN_TIMEOUT,
            ping_interval=None,
            close_timeout=1,
        )
    except (InvalidStatus, InvalidProxyStatus) as failure:
        status, error = failure.response.status_code, type(failure).__name__
    except (InvalidHandshake, OSError, TimeoutError, EOFError) as failure:
        error = type(failure).__name__
    else:
        status = 101
        loop = asyncio.get_running_loop()
        if idle is None:
            await ws.close()
        else:
            opened = loop.time()
            try:
                await asyncio.wait_for(ws.wait_closed(), idle * IDLE_MARGIN)
            except TimeoutError:
                await ws.close()  # never cut: the difference will say so
            else:
                cut_after = loop.time() - opened
                close_code = ws.close_code if ws.close_code is not None else 1006
    hits = [r for r in server.requests[before:] if r.path.split("?", 1)[0] == routes.endpoint]
    saw = hits[-1].asked_to_upgrade if hits else None
    return HandshakeSeen(status, error, saw, close_code, cut_after)
