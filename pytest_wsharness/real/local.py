"""A real proxy run as a local process from the installed binary (``/usr/sbin/nginx``...).

The process gets a private folder (config, pid, logs, temp files) and a port on 127.0.0.1 that
the kernel picked; it runs in the foreground in a process group of its own, so that stopping it
(SIGTERM, then SIGKILL after a grace period) also stops the workers it forked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HarnessTimeout, MissingPart, ProxyCrashed
from ..profiles import Catalogue, Kind, Profile
from ..proxy.records import ProxyRecord
from ..runtime.engine import ThreadedEngine
from .configs import RealConfig
from .processes import free_port, give, probe, wait_for_group_to_end

if TYPE_CHECKING:
    from .adapt import Change

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PROBE_INTERVAL = 0.02  # between connect probes while the process starts


@dataclass(frozen=True)
class Software:
    """How to run one proxy software in the foreground with a given config file.

    Attributes:
        binary: the executable's name.
        package: Debian's package, for the message when the binary is missing.
        command: the command line; ``{binary}``, ``{config}`` and ``{workdir}`` are filled in.
        config_name: the config file's name in the private folder.
        run_as: the user the software drops to when started as root; it is given the private
            folder, which it writes its logs into.
        home: set HOME and the XDG folders to the private folder (software that keeps state
            there).
    """

    binary: str
    package: str
    command: tuple[str, ...]
    config_name: str
    run_as: str | None = None
    home: bool = False

    def argv(self, binary: str, config: Path, workdir: Path) -> list[str]:
        values = {"binary": binary, "config": str(config), "workdir": str(workdir)}
        return [part.format(**values) for part in self.command]


SOFTWARE = {
    "nginx": Software(
        "nginx",
        "nginx",
        # -e: the error log from the start, before the config is read (not /var/log/nginx).
        ("{binary}", "-p", "{workdir}", "-c", "{config}", "-e", "{workdir}/error.log"),
        "nginx.conf",
    ),
    "haproxy": Software("haproxy", "haproxy", ("{binary}", "-db", "-f", "{config}"), "haproxy.cfg"),
    "apache": Software(
        "apache2", "apache2", ("{binary}", "-f", "{config}", "-DFOREGROUND"), "apache.conf"
    ),
    "caddy": Software(
        "caddy",
        "caddy",
        ("{binary}", "run", "--config", "{config}", "--adapter", "caddyfile"),
        "Caddyfile",
        home=True,
    ),
    "squid": Software(
        "squid", "squid", ("{binary}", "-N", "-f", "{config}"), "squid.conf", run_as="proxy"
    ),
    "tinyproxy": Software(
        "tinyproxy", "tinyproxy", ("{binary}", "-d", "-c", "{config}"), "tinyproxy.conf"
    ),
}


def find_binary(software: str) -> str:
    """The installed binary of ``software``.

    Raises:
        MissingPart: it is not installed; the message names Debian's package.
    """
    spec = SOFTWARE[software]
    for folder in (None, "/usr/sbin", "/usr/local/sbin"):
        found = shutil.which(spec.binary, path=folder)
        if found:
            return found
    raise MissingPart(spec.binary, f"install Debian's {spec.package} package")


class LocalProxy(ThreadedEngine):
    """A real proxy config running as a local process in front of ``upstream``.

    It offers what every proxy of the harness offers (:class:`~pytest_wsharness.proxy.base.Proxy`)
    so that the same assertions apply; ``profile`` is the simulated profile the config claims to
    behave like (its expected outcome). It keeps no records of its own: ``records`` and
    ``connections`` are empty, and the software's own logs are in :attr:`workdir`.

    Args:
        config: the real config.
        upstream: the server, ``http://127.0.0.1:PORT``.
        catalogue: where the simulated profile is looked up.
        port: the port to listen on, on 127.0.0.1; 0 (the default) takes one the kernel picks.
        time_scale: the clients' time scale; the config's idle cut is scaled alike (see
            :mod:`~pytest_wsharness.real.configs`). It defaults to 1.

    Raises:
        TimeScaleUnsupported: the config cannot run at ``time_scale``; raised here, before
            anything starts, so a test can skip on it.
    """

    def __init__(
        self,
        config: RealConfig,
        upstream: str,
        catalogue: Catalogue | None = None,
        *,
        port: int = 0,
        time_scale: float = 1.0,
    ) -> None:
        config.check_time_scale(time_scale)
        self.config = config
        self.upstream = upstream
        self.listen_port = port
        self.time_scale = time_scale
        self.profile: Profile = (catalogue or Catalogue()).get(config.models)
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._binary = ""
        self._port: int | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        """The proxy's base URL, ``http://127.0.0.1:PORT``."""
        if self._port is None:
            raise RuntimeError(f"real proxy {self.config.name!r} is not running")
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        """The process the proxy was started as, leader of its own session (every worker it
        forks belongs to that session); ``None`` when it is not running, or runs in a container."""
        return None if self._process is None else self._process.pid

    @property
    def changes(self) -> list[Change]:
        """What the harness rewrote in a team's own config (``real_proxy(config=...)``), line
        by line; empty for a config of ``proxies/real/``."""
        return list(self.config.changes)

    @property
    def records(self) -> list[ProxyRecord]:
        """Nothing: a real proxy's own log is in :attr:`workdir`."""
        return []

    @property
    def connections(self) -> list[Any]:
        """Nothing: a real proxy's own log is in :attr:`workdir`."""
        return []

    @property
    def presented_ca(self) -> None:
        """A real config here opens no TLS."""
        return None

    @property
    def client_trust(self) -> tuple[str, ...]:
        """Nothing to trust: no TLS."""
        return ()

    @property
    def forward(self) -> bool:
        """Whether clients use it as an explicit (forward) proxy, as its profile says."""
        return self.profile.kind is Kind.FORWARD

    def route(self, server_url: str) -> tuple[str, str | None]:
        """Return ``(page URL, forward proxy URL)`` for a client of ``server_url``."""
        return (server_url, self.url) if self.forward else (self.url, None)

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the software and wait until its port accepts connections.

        Raises:
            MissingPart: the software (or, for Docker, the engine) is missing.
            ProxyCrashed: it exited while starting; the message holds its log.
            HarnessTimeout: it did not listen within ``timeout`` seconds.
        """
        if self._started():
            raise RuntimeError(f"real proxy {self.config.name!r} was already started")
        spec = SOFTWARE[self.config.software]
        self._prerequisites()
        self._stop_at_exit()
        try:
            self._prepare(spec)
            self._launch(spec)
            self._wait_listening(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the process group and remove the private folder; idempotent."""
        process, self._process = self._process, None
        self._stopping = True
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout)
        if process is not None:
            # Workers the master forked share its group; make sure none outlives it, and that
            # each has ended before stop returns (a kill is delivered, not waited for).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            wait_for_group_to_end(process.pid, timeout)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def check(self) -> None:
        """Raise if the software stopped while it should be running.

        Raises:
            ProxyCrashed: with the exit code and the end of its log.
        """
        if self._stopping:
            return
        report = self._exited()
        if report is not None:
            raise ProxyCrashed(self.config.name, RuntimeError(report))

    # What the backends do differently: where the software runs.

    def _started(self) -> bool:
        return self._process is not None

    def _prerequisites(self) -> None:
        self._binary = find_binary(self.config.software)

    def _workdir_seen(self) -> Path:
        """The private folder as the software sees it."""
        assert self.workdir is not None
        return self.workdir

    def _owns_workdir(self) -> bool:
        """Whether to hand the private folder to the software's user (only root can)."""
        return os.geteuid() == 0

    def _launch(self, spec: Software) -> None:
        assert self.workdir is not None
        env = dict(os.environ)
        if spec.home:
            for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
                env[name] = str(self.workdir)
        seen = self._workdir_seen()
        with open(self.workdir / "output.log", "wb") as log:  # the child keeps its own copy
            self._process = subprocess.Popen(
                spec.argv(self._binary, seen / spec.config_name, seen),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )

    def _exited(self) -> str | None:
        """What the software printed as it exited, or ``None`` while it runs."""
        process = self._process
        if process is None or process.poll() is None:
            return None
        output = ""
        if self.workdir is not None:
            for name in ("output.log", "error.log"):
                path = self.workdir / name
                if path.exists():
                    output += path.read_text(errors="replace")
        tail = "\n".join(output.strip().splitlines()[-8:])
        return f"{self.config.software} exited with code {process.returncode}: {tail}"

    # Shared by both backends.

    def _prepare(self, spec: Software) -> None:
        """The private folder, the port and the rendered config."""
        self.workdir = Path(tempfile.mkdtemp(prefix=f"wsharness-{self.config.name}-"))
        self._port = self.listen_port or free_port()
        seen = self._workdir_seen()
        rendered = self.config.render(
            port=self._port, upstream=self.upstream, workdir=seen, time_scale=self.time_scale
        )
        (self.workdir / spec.config_name).write_text(rendered)
        if spec.run_as is not None and self._owns_workdir():
            give(self.workdir, spec.run_as)

    def _wait_listening(self, timeout: float) -> None:
        port = self._port
        assert port is not None
        deadline = time.monotonic() + timeout
        waiter = threading.Event()
        while time.monotonic() < deadline:  # bounded by the deadline
            report = self._exited()
            if report is not None:
                raise ProxyCrashed(self.config.name, RuntimeError(report))
            if probe(port):
                return
            waiter.wait(PROBE_INTERVAL)
        raise HarnessTimeout(f"{self.config.name} to listen on 127.0.0.1:{port}", timeout)
