"""The one module that embeds mitmproxy.

mitmproxy promises no stable embedding API, so everything that touches its master, its options
or its connection handlers lives here, and tox tests the pinned range (11.0 on Python 3.11, 12.x
on 3.12+). The master runs on its own event loop in a thread, with an explicit addon list,
listening on 127.0.0.1 port 0; readiness comes from the ``running`` hook.

mitmproxy keeps its master and options in module globals (``mitmproxy.ctx``), read by its own
addons at run time; several proxies in one process (the matrix, a chain of proxies) would read each
other's. :func:`_per_thread_context` makes those globals per thread, each proxy owning its thread.
It does so when the first proxy starts, not at import: an addon file importing this module under
a plain ``mitmdump -s`` (``reset_upgrade.py``) must leave mitmdump's own globals readable.

Teardown order matters: ``master.shutdown()`` alone does not free the port (mitmproxy #6245,
#6829), so each proxy server is stopped first, then the master is shut down, then the thread is
joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
import types
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import certifi

# mitmproxy's dependencies (ldap3, passlib) warn on import; a suite run with
# filterwarnings=error must not fail for a warning that is not its own.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import mitmproxy.ctx
    from mitmproxy import ctx, http
    from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig
    from mitmproxy.master import Master
    from mitmproxy.options import Options

from ..addons.recorder import Recorder
from ..addons.refuse_targets import RefuseOtherTargets
from ..addons.tls_passthrough import PassTlsThrough
from ..profiles import Kind, Profile
from ..profiles.behaviours import BEHAVIOURS
from ..runtime import lag
from ..runtime.engine import LoopEngine
from ..runtime.listen import url_host
from ..runtime.urls import parse_url
from .records import ProxyRecord, RecordSink

if TYPE_CHECKING:
    from ..runtime.tls import TestCA

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class _PerThreadContext(types.ModuleType):
    """``mitmproxy.ctx`` with ``master``, ``options`` and ``log`` held per thread.

    A thread that set none reads the module's own globals, those a master made before the swap
    (a ``mitmdump`` whose script started a proxy of ours): the swap must not hide them (issue 13).
    """

    _local = threading.local()

    def _get(self, name: str) -> Any:
        try:
            return getattr(self._local, name)
        except AttributeError:
            pass
        try:
            return vars(self)[name]
        except KeyError:
            raise AttributeError(
                f"no mitmproxy {name} on thread {threading.current_thread().name}"
            ) from None

    master = property(
        lambda self: self._get("master"), lambda self, v: setattr(self._local, "master", v)
    )
    options = property(
        lambda self: self._get("options"), lambda self, v: setattr(self._local, "options", v)
    )
    log = property(lambda self: self._get("log"), lambda self, v: setattr(self._local, "log", v))


def _per_thread_context() -> None:
    """Make ``mitmproxy.ctx`` per thread; idempotent. Called as a proxy starts, never at import
    (issue 13: swapped at import, it hid from mitmdump the master it had set)."""
    if not isinstance(mitmproxy.ctx, _PerThreadContext):
        mitmproxy.ctx.__class__ = _PerThreadContext


def reset_client(flow: http.HTTPFlow) -> None:
    """Reset the client's TCP connection of ``flow`` (RST, not FIN) and kill the flow.

    mitmproxy has no API for an abortive close, and killing a flow half-closes (FIN) first, so
    this finds the client transport through the proxyserver addon, sets ``SO_LINGER`` to zero and
    aborts it before the flow is killed.
    """
    server = ctx.master.addons.get("proxyserver")
    handler = server.connections.get(flow.client_conn.id) if server else None
    io = handler.transports.get(flow.client_conn) if handler else None
    if io is not None and io.writer is not None and not io.writer.transport.is_closing():
        sock = io.writer.get_extra_info("socket")
        # OSError: the client went away meanwhile; there is nothing left to reset.
        with contextlib.suppress(OSError):
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        io.writer.transport.abort()
    flow.kill()


class _Ready:
    """Signals the starting thread once the master's servers listen."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.port: int | None = None

    def running(self) -> None:
        addrs = ctx.master.addons.get("proxyserver").listen_addrs()
        self.port = addrs[0][1] if addrs else None
        self.event.set()


class _ThreadErrors(logging.Handler):
    """Collects the errors mitmproxy logs from one proxy thread (addon errors are only logged)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread_id: int | None = None
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread_id:
            return
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])
        else:
            self.errors.append(RuntimeError(record.getMessage()))


class MitmProxy(LoopEngine):
    """mitmproxy running one profile's behaviour addons.

    A reverse proxy in front of ``upstream``, or, for a profile of kind ``forward``, an explicit
    proxy that clients reach with ``CONNECT`` (``upstream`` is then only where they go).
    Usable as a context manager (sync or async) or with :meth:`start` and :meth:`stop`.

    Args:
        profile: the profile whose behaviours to run.
        upstream: the server to forward to, ``http://127.0.0.1:PORT``.
        sink: where the proxy records what it did; a new one by default.
        host: the address to listen on; loopback only.
        time_scale: multiplies the durations of the behaviours. It defaults to 1.
        port: the port to listen on; 0 (the default) lets the kernel pick.
        ca: for an ``https`` upstream, the CA the server's certificate comes from. The proxy
            trusts it upstream and, to clients that speak TLS to it, presents certificates it
            signs (:attr:`presented_ca`). ``None`` trusts the system's CAs upstream and presents
            a CA made up for this proxy.
        upstream_ca: without ``ca``, a PEM file of the CAs to trust upstream (a developer's
            own server with a certificate of its own) besides those mitmproxy trusts by
            default (certifi's bundle); ``None`` trusts those only.
    """

    def __init__(
        self,
        profile: Profile,
        upstream: str,
        *,
        sink: RecordSink | None = None,
        host: str = "127.0.0.1",
        time_scale: float = 1.0,
        port: int = 0,
        ca: TestCA | None = None,
        upstream_ca: str | Path | None = None,
    ) -> None:
        self.profile = profile
        self.ca = ca
        self.upstream_ca = upstream_ca
        self.presented_ca: TestCA | None = None
        self.time_scale = time_scale
        self.port = port
        self.upstream = upstream.rstrip("/")
        self.sink = sink or RecordSink()
        self.host = host
        self._init_loop_engine()
        self._ready_addon = _Ready(self._ready)
        # What mitmproxy logs as an error on this proxy's thread; the thread's own are _errors.
        self._logged = _ThreadErrors()
        self._master: Master | None = None

    @property
    def url(self) -> str:
        """The proxy's base URL, ``http://127.0.0.1:PORT``."""
        if self._ready_addon.port is None:
            raise RuntimeError(f"proxy {self.profile.name!r} is not running")
        return f"http://{url_host(self.host)}:{self._ready_addon.port}"

    @property
    def records(self) -> list[ProxyRecord]:
        """What the proxy did so far, one record per request."""
        return self.sink.snapshot()

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the proxy thread and wait until it listens (see
        :meth:`~pytest_wsharness.runtime.engine.LoopEngine.start`)."""
        super().start(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop listening, close the connections, and join the thread; idempotent."""
        super().stop(timeout)

    def _what(self) -> str:
        return f"proxy {self.profile.name!r}"

    def _crash_name(self) -> str:
        return self.profile.name

    def _thread_name(self) -> str:
        return f"wsharness-proxy-{self.profile.name}"

    def _thread_errors(self) -> list[BaseException]:
        return [*self._logged.errors, *self._errors]

    def _before_thread(self) -> None:
        _per_thread_context()
        logging.getLogger("mitmproxy").addHandler(self._logged)

    def _request_stop(self, timeout: float) -> None:
        loop, master = self._loop, self._master
        if loop is not None and master is not None and not loop.is_closed():
            # RuntimeError: the loop ended between the check and the call; nothing to stop.
            with contextlib.suppress(RuntimeError):
                stopping = asyncio.run_coroutine_threadsafe(self._stop_servers(master), loop)
                stopping.result(timeout)
            master.shutdown()

    def _after_stop(self) -> None:
        logging.getLogger("mitmproxy").removeHandler(self._logged)

    async def _main(self) -> None:
        self._logged.thread_id = threading.get_ident()
        self._loop = asyncio.get_running_loop()
        # Cancelled with the loop's other tasks when it winds down.
        lag.start_watch("mitmproxy", self.time_scale)
        options = Options(
            mode=[_tcp_only(self._mode())],
            # Frames are relayed, not kept: mitmproxy would otherwise store every message (#6620).
            websocket=True,
        )
        master = Master(options, event_loop=self._loop, with_termlog=False)
        behaviours = self.profile.build_addons(self.time_scale)
        confdir = None
        try:
            tls = []
            if self.profile.kind is Kind.REVERSE and self.upstream.startswith("https://"):
                from ..runtime.tls import key_folder  # cryptography: only for TLS upstreams

                # The presented CA's private key goes there: 0700, removed even after SIGKILL.
                confdir = key_folder()
                self._terminate_tls(options, confdir)
                tls.append(tlsconfig.TlsConfig())
            master.addons.add(
                core.Core(),
                proxyserver.Proxyserver(),
                next_layer.NextLayer(),
                *tls,
                Recorder(self.profile.name, self.sink),
                *behaviours,
                # After the behaviours, so that its answer is the one a refused target gets.
                *self._forward_addons(),
                self._ready_addon,
            )
            self._master = master
            await master.run()
        finally:
            if confdir is not None:
                from ..runtime.tls import remove_key_folder

                remove_key_folder(confdir)

    def _terminate_tls(self, options: Options, confdir: Path) -> None:
        """Set mitmproxy up to speak TLS to the upstream, and to open the TLS of clients that
        send it (in a profile's proxy the relay in front opens it, and sends plain HTTP)."""
        from ..runtime.tls import TestCA  # cryptography: only for TLS upstreams

        self.presented_ca = self.ca or TestCA(label="proxy CA")
        self.presented_ca.write_signing_store(confdir)
        options.update(confdir=str(confdir))
        if self.ca is not None:
            upstream_ca = confdir / "upstream-ca.pem"
            upstream_ca.write_text(self.ca.pem)
            options.update(ssl_verify_upstream_trusted_ca=str(upstream_ca))
        elif self.upstream_ca is not None:
            # mitmproxy trusts the file it is given instead of its default bundle: hand it
            # both, so that the team's CA adds to what a real proxy would trust.
            bundle = confdir / "upstream-ca.pem"
            bundle.write_bytes(
                Path(certifi.where()).read_bytes() + b"\n" + Path(self.upstream_ca).read_bytes()
            )
            options.update(ssl_verify_upstream_trusted_ca=str(bundle))

    def _forward_addons(self) -> list[object]:
        """What an explicit proxy adds: it reaches its upstream only (no open relay), and
        tunnels what clients send through CONNECT without opening TLS."""
        if self.profile.kind is not Kind.FORWARD:
            return []
        upstream = parse_url(self.upstream, "upstream")
        host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
        ports = {
            port
            for behaviour in self.profile.behaviours
            for port in BEHAVIOURS[behaviour.use].ports_reached(behaviour.params)
        }
        allowed = [upstream.authority, *(f"{host}:{port}" for port in sorted(ports))]
        return [RefuseOtherTargets(allowed), PassTlsThrough()]

    def _mode(self) -> str:
        if self.profile.kind is Kind.FORWARD:
            return f"regular@{self.host}:{self.port}"
        return f"reverse:{self.upstream}@{self.host}:{self.port}"

    @staticmethod
    async def _stop_servers(master: Master) -> None:
        server = master.addons.get("proxyserver")
        await server.servers.update([])
        # Close live connections as a stopping proxy does (FIN), and let their handlers end:
        # cancelled mid-stream, they make asyncio log spurious errors at loop shutdown.
        handlers = []
        for connection in list(server.connections.values()):
            for io in list(connection.transports.values()):
                if io.writer is not None:
                    io.writer.close()
                if io.handler is not None:
                    handlers.append(io.handler)
        if handlers:
            await asyncio.wait(handlers, timeout=STOP_TIMEOUT / 2)


def _tcp_only(spec: str) -> str:
    """Return ``spec``, its mode set to listen on TCP only.

    A reverse proxy to an ``https`` upstream also listens on UDP for HTTP/3, which starts
    mitmproxy_rs's tokio runtime. Its threads crash the interpreter now and then as it exits
    (mitmproxy/mitmproxy#7409; measured here: exit status -11 in 3 of 100 runs on busy cores
    with mitmproxy 11, 7 of 100 with 12). The CMS UI speaks HTTP/1.1 and its socket needs TCP.
    mitmproxy has no option for it; ``ProxyMode.parse`` is cached, so the mode its proxyserver
    parses from this spec is the one changed here.
    """
    from mitmproxy.proxy.mode_specs import ProxyMode

    mode = ProxyMode.parse(spec)
    if mode.transport_protocol == "both":
        # A frozen dataclass: its field setter refuses, the attribute itself is plain.
        object.__setattr__(mode, "transport_protocol", "tcp")
    return spec
