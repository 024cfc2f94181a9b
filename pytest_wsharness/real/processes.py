"""The processes of a real proxy run locally: whether it listens yet, a port for it, its
private folder handed to the user it drops to, and its process group ended whole."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ..errors import HarnessTimeout, MissingPart


def give(folder: Path, user: str) -> None:
    """Hand ``folder`` (and what is in it) to ``user``, who writes its logs there."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise MissingPart(f"user {user!r}", "the package that runs as it creates it") from None
    for path in (folder, *folder.iterdir()):
        os.chown(path, entry.pw_uid, entry.pw_gid)


def probe(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as client:
        client.settimeout(1.0)
        return client.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    # The kernel picks; the proxy binds it a moment later (nginx and HAProxy take no fd).
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        return int(holder.getsockname()[1])


def _group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``, from ``/proc``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended while listing
        # Fields after the command (which may hold spaces), from ")": state, ppid, pgrp.
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(int(entry))
    return members


def wait_for_group_to_end(pgid: int, timeout: float) -> None:
    """Wait until every process of group ``pgid`` has ended, up to ``timeout`` seconds.

    A killed worker whose master is gone is no child of ours to ``wait()`` for: a pidfd
    becomes readable when it ends.

    Raises:
        HarnessTimeout: a process of the group still runs after ``timeout``.
    """
    import select

    deadline = time.monotonic() + timeout
    for pid in _group_members(pgid):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)
        if not ready:
            raise HarnessTimeout(f"process {pid} of process group {pgid} to end", timeout)
