"""What a diagnosis is made of, pure data: where the endpoint is (``Target``), how long each
step may take (``Limits``) and what one look at it saw (``Probe``). The probe fills them in over
a socket; the classifier (:mod:`.findings`) reads them without any I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol import DEFAULT_ENDPOINT
from ..runtime.urls import parse_url

SCHEMES = ("ws", "wss", "http", "https")
TARGET_FORM = "ws://host[:port]/path, wss://..., or a site as http://host[:port] or https://..."

Header = tuple[str, str]


@dataclass(frozen=True)
class Target:
    """Where the realtime endpoint is.

    Attributes:
        host: the host name or address.
        port: the TCP port.
        tls: ``wss://`` (or an ``https://`` site).
        path: the endpoint's path, with its query.
    """

    host: str
    port: int
    tls: bool
    path: str

    @classmethod
    def parse(cls, url: str, endpoint: str | None = None, *, what: str = "URL") -> Target:
        """Read a site or endpoint URL.

        A ``ws://`` or ``wss://`` URL names the endpoint itself (the CMS's default path when it
        has none); an ``http(s)://`` URL names the site, whose endpoint is ``endpoint`` (default
        :data:`~pytest_wsharness.protocol.DEFAULT_ENDPOINT`). Without a port, the scheme's.

        Raises:
            UsageError: not one of those forms, port 0 or credentials in it (give secrets with
                ``--header``); the message names ``what`` and the valid forms.
        """
        given = parse_url(url, what, schemes=SCHEMES, form=TARGET_FORM, path=True)
        path = given.path if given.scheme.startswith("ws") else ""
        return cls(given.host, given.port, given.tls, path or endpoint or DEFAULT_ENDPOINT)

    @property
    def authority(self) -> str:
        """``host:port`` as the Host header and CONNECT name it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The endpoint's ``ws(s)://`` URL."""
        return f"{'wss' if self.tls else 'ws'}://{self.authority}{self.path}"


@dataclass(frozen=True)
class Limits:
    """How long each step may take, in seconds.

    Attributes:
        answer: for the TCP connect, a CONNECT answer, TLS, and the upgrade's answer.
        heartbeat: for the echo of the CMS heartbeat once open (the CMS gives up after two
            unanswered 3 s heartbeats).
        idle: keep the open socket silent this long and see whether a hop cuts it; ``None``
            skips the watch.
    """

    answer: float = 10.0
    heartbeat: float = 6.0
    idle: float | None = None


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Probe:
    """What one attempt saw, step by step; a step not reached keeps its default.

    Attributes:
        url: the endpoint's URL.
        proxy: the explicit forward proxy it went through (``host:port``), or ``""``.
        error: why no HTTP answer came: ``refused``, ``reset``, ``closed`` (a FIN),
            ``timeout``, ``not HTTP: '<its first line>'``, or another error's text, said once
            (``no such host``, ``wrong version number``); ``""`` when an answer came.
        error_step: the step that failed: ``connect``, ``proxy``, ``tls`` or ``upgrade``.
        waited: seconds from the start to the answer, or to giving up.
        connect_status: the forward proxy's answer to ``CONNECT``.
        connect_443_status: with a refused ``CONNECT``, the proxy's answer to one for port 443
            of the same host: anything but a refusal says the proxy only limits ports.
        tls_issuer: the common name of the issuer of the site's certificate.
        tls_untrusted: why the certificate failed verification, or ``""``.
        status: the upgrade's HTTP status.
        reason: its reason phrase.
        headers: the answer's headers, secrets redacted.
        accept_ok: with a 101, ``Sec-WebSocket-Accept`` matched the key.
        upgrade_ok: with a 101, ``Upgrade: websocket`` and ``Connection: upgrade`` came back.
        heartbeat_rtt: seconds until the heartbeat echo came back; ``None`` when it did not.
        ended: how an open socket ended while watched: ``close 1001``, ``closed`` (a FIN
            without a Close frame), ``reset``; ``""`` if it stayed open.
        ended_after: seconds from the open (or from the start of the idle watch, with
            ``in_idle``) to that end.
        in_idle: it ended during the idle watch.
        idle_silent: after the idle watch the socket looked open but the heartbeat went
            unanswered: something stopped forwarding without closing.
        lag: how late, at worst, an event loop of this process woke up while the probe ran
            (:mod:`pytest_wsharness.runtime.lag`), in seconds: a wait that expired may have expired
            because this machine was busy, not because the path dropped the answer.
    """

    url: str
    proxy: str = ""
    error: str = ""
    error_step: str = ""
    waited: float = 0.0
    connect_status: int | None = None
    connect_443_status: int | None = None
    tls_issuer: str = ""
    tls_untrusted: str = ""
    status: int | None = None
    reason: str = ""
    headers: tuple[Header, ...] = field(default=())
    accept_ok: bool | None = None
    upgrade_ok: bool | None = None
    heartbeat_rtt: float | None = None
    ended: str = ""
    ended_after: float | None = None
    in_idle: bool = False
    idle_silent: bool = False
    lag: float = 0.0

    def header(self, name: str) -> str | None:
        """The first value of the answer's header ``name``, or ``None``."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def opened(self) -> bool:
        """The upgrade succeeded by the letter of RFC 6455."""
        return self.status == 101 and bool(self.accept_ok) and bool(self.upgrade_ok)
