"""Every TCP connection the harness holds has Nagle's algorithm off.

A small frame (a heartbeat, an update) held back by Nagle against the peer's delayed ACK waits
~40 ms: a broadcast to ten clients through the relay had a 40 ms p99 for that alone (issue 11).
asyncio turns Nagle off only on sockets it creates with protocol TCP; a socket accepted from a
listener made with protocol 0 keeps it on.
"""

from __future__ import annotations

import os
import socket

import pytest

from pytest_wsharness.client.driver import CmsClient
from pytest_wsharness.client.machine import State
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.server import SimulatedCMS

SCALE = 0.05
WAIT = 5.0


def _tcp_connections() -> dict[str, bool]:
    """This process's connected TCP sockets: ``local -> peer`` and whether Nagle is off."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            continue  # closed while listing
        with sock:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            if sock.type != socket.SOCK_STREAM:
                continue
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                continue
            try:
                peer = sock.getpeername()
            except OSError:
                continue  # not connected
            nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            found[f"{sock.getsockname()[1]} -> {peer[1]}"] = nodelay
    return found


@pytest.mark.asyncio
@pytest.mark.parametrize("profile", ["compliant", "idle-timeout-60s"])
async def test_every_connection_of_a_scenario_sends_without_delay(profile: str) -> None:
    async with (
        SimulatedCMS() as cms,
        ProfileProxy(Catalogue().get(profile), cms.url, time_scale=SCALE) as proxy,
        CmsClient(proxy.url, time_scale=SCALE) as client,
    ):
        await client.wait_for(lambda: client.state is State.CONNECTED, WAIT, "the socket")
        connections = _tcp_connections()
    # The client's, the relay's both sides, mitmproxy's both sides and the server's.
    assert len(connections) >= 4
    assert [name for name, nodelay in connections.items() if not nodelay] == []
