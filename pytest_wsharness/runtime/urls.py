"""Every URL a user gives the harness, read one way.

    url = parse_url("http://localhost", "--upstream")
    url.port          # 80: the scheme's, as a browser reads it
    url.authority     # 'localhost:80'

``--upstream`` (``wsharness matrix`` and ``proxy``), ``--wsharness-upstream``, a
:class:`~pytest_wsharness.upstream.deployment.RealDeployment`, ``--trigger-url``, the relay's
upstream and ``wsharness diagnose``'s URLs all go through :func:`parse_url`, so that they accept the
same forms and refuse the rest with the same message: the option, the value (its password redacted),
the form wanted and what is wrong with it.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ..errors import UsageError

# What a browser connects to when a URL names no port.
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
WEB = ("http", "https")
SERVER_FORM = "an http:// or https:// URL with a host, e.g. http://localhost:5000"
WEB_FORM = "an http:// or https:// URL with a host"
BAD_PORT = "; the port must be a number from 1 to 65535 (none: 80 for http, 443 for https)"
PORT_ZERO = "; port 0 is not a port a server listens on: give the server's port (1-65535)"
NO_CREDENTIALS = "; leave credentials out of it (they would show in every message)"
NO_PATH = "; no path: the proxies forward the CMS's own paths (/EPiServer/...)"
# Characters a host name or an address may hold (an IPv6 one has colons; a zone a percent).
_HOST_PUNCTUATION = frozenset("-._:%")


@dataclass(frozen=True)
class Url:
    """A URL given by the user, checked.

    Attributes:
        text: the URL as given, without a trailing slash when it names no path.
        scheme: ``http``, ``https``, ``ws`` or ``wss``.
        host: the host name or address (an IPv6 address without its brackets).
        port: the port given, else the scheme's (:data:`DEFAULT_PORTS`).
        path: the path and query as given; ``""`` for none.
    """

    text: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def tls(self) -> bool:
        """The scheme speaks TLS (``https``, ``wss``)."""
        return self.scheme in ("https", "wss")

    @property
    def authority(self) -> str:
        """``host:port`` as a ``Host`` header or a ``CONNECT`` names it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """``scheme://host:port``, the port always written."""
        return f"{self.scheme}://{self.authority}"


def parse_url(
    value: str,
    option: str,
    *,
    schemes: Collection[str] = WEB,
    form: str = SERVER_FORM,
    path: bool = False,
) -> Url:
    """Read ``value``, a ``scheme://host[:port]`` URL (with a path if ``path``).

    Args:
        value: the URL given.
        option: how the user gave it, for the message, e.g. ``"--upstream"``.
        schemes: the schemes accepted. It defaults to ``http`` and ``https``.
        form: the form wanted, for the message.
        path: whether a path and a query may follow the host (a trigger URL or a WebSocket
            endpoint: yes; a server the proxies front: no, they forward the CMS's own paths).

    Returns:
        The URL, its port the scheme's when it names none.

    Raises:
        UsageError: another scheme, no host, a port that is not 1-65535, credentials, or a
            path where none may be; the message names ``option``, the value (its password
            redacted), ``form`` and what is wrong.
    """
    parts = urlsplit(value.strip())
    shown = _redacted(value, parts)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        raise UsageError(f"{option} must be {form}, got {shown!r}{BAD_PORT}") from None
    host = parts.hostname or ""
    if parts.scheme not in schemes or not host:
        raise UsageError(f"{option} must be {form}, got {shown!r}")
    if not all(c.isalnum() or c in _HOST_PUNCTUATION for c in host):
        raise UsageError(f"{option} must be {form}, got {shown!r}; {host!r} is not a host name")
    if port == 0:
        raise UsageError(f"{option} must be {form}, got {shown!r}{PORT_ZERO}")
    if parts.username is not None or parts.password is not None:
        raise UsageError(f"{option} must be {form}, got {shown!r}{NO_CREDENTIALS}")
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    if not path and (parts.path not in ("", "/") or parts.query or parts.fragment):
        raise UsageError(f"{option} must be {form}, got {shown!r}{NO_PATH}")
    text = value.strip()
    if not path or rest in ("", "/"):
        text, rest = text.rstrip("/"), ""
    return Url(text, parts.scheme, host, port or DEFAULT_PORTS[parts.scheme], rest)


def check_url(value: str, option: str, *, path: bool = False) -> str:
    """Return ``value`` if it is an ``http(s)://host[:port]`` URL (with a path if ``path``),
    without a trailing slash when it names no path; see :func:`parse_url`.

    Raises:
        UsageError: anything else; the message names the option, the value and the form.
    """
    return parse_url(value, option, form=WEB_FORM if path else SERVER_FORM, path=path).text


def _redacted(value: str, parts: SplitResult) -> str:
    try:
        password = parts.password
    except ValueError:
        return value
    return value.replace(f":{password}@", ":<redacted>@") if password else value
