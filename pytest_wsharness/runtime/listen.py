"""Where a proxy of ours listens: loopback only, unless the user asks twice.

A proxy of the harness forwards to a CMS, often a developer's own with its login, and models
broken middleboxes; left listening on every interface, anyone on the network could use it to
reach that server (issue 10). So ``--listen`` takes a loopback address (``127.0.0.1``, any
``127.x``, ``::1``, ``localhost``) and refuses others with a usage error, unless
``--listen-beyond-loopback`` says the user means it (a phone or a VM on the LAN testing the
customer's setup). An address that is taken, or that no interface has, is a usage error too,
found by binding it once before anything starts, rather than as an ``OSError`` in a proxy's
thread.

Pure but for :func:`check_bindable`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket

from ..errors import UsageError

BEYOND_LOOPBACK_FLAG = "--listen-beyond-loopback"
LOOPBACK_NAMES = frozenset({"localhost"})
FORM = "HOST:PORT with a port from 0 to 65535 (an IPv6 address in brackets: [::1]:0)"
NOT_LOOPBACK = (
    "--listen {value!r} is not a loopback address: {exposed}; listen on 127.0.0.1 or [::1], or "
    f"add {BEYOND_LOOPBACK_FLAG} if other machines (a phone, a VM on the LAN) must reach it"
)
PROXY_EXPOSED = "the proxy would take connections from the network and forward them to the upstream"


def parse_listen(
    value: str, *, beyond_loopback: bool = False, exposed: str = PROXY_EXPOSED
) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (or ``PORT``) for ``--listen``.

    Args:
        value: the option's value; ``[::1]:0`` for an IPv6 address.
        beyond_loopback: accept an address other machines can reach (the user gave
            ``--listen-beyond-loopback``). It defaults to ``False``.
        exposed: what a refusal says would be exposed; the proxy's risk by default.

    Returns:
        The host (an IPv6 address without brackets; ``127.0.0.1`` when none is given, as in
        ``:8080``) and the port.

    Raises:
        UsageError: not ``HOST:PORT``, a port outside 0-65535, or a host that is not
            loopback without ``beyond_loopback``; the message names the value and why.
    """
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"--listen must be {FORM}, got {value!r}: put an IPv6 address in brackets")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen must be {FORM}, got {value!r}")
    host = host or "127.0.0.1"
    if not beyond_loopback and not is_loopback(host):
        raise UsageError(NOT_LOOPBACK.format(value=value, exposed=exposed))
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``; names are not resolved."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bindable(host: str, port: int) -> None:
    """Bind ``host:port`` once and let it go, so that a proxy about to listen there can.

    Port 0 checks only that the address is one of this machine's.

    Raises:
        UsageError: the port is taken, the address is no interface's, or the name does not
            resolve; the message names the address.
    """
    where = f"{url_host(host)}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise UsageError(f"--listen {where}: no such address ({error.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the proxies bind: a port in TIME_WAIT only is free for them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise UsageError(f"--listen {where}: cannot listen there: {_why(error)}") from None


def url_host(host: str) -> str:
    """``host`` as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def family(host: str) -> socket.AddressFamily:
    """The address family to listen on ``host`` with (a literal IPv6 address has colons)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _why(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "the port is already in use (another program listens on it)"
    if error.errno == errno.EADDRNOTAVAIL:
        return "no interface of this machine has that address"
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return error.strerror or str(error)
