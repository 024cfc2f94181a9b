"""A real proxy run in a Docker container, through the ``docker`` Python SDK.

Images are built from the Dockerfiles in ``proxies/real/docker/`` on a base image that is a
setting (``WSHARNESS_DOCKER_BASE``): users may name an official image (``debian:bookworm-slim``);
where no registry is reachable, ``scripts/docker-base`` builds ``wsharness/base:bookworm`` with
debootstrap. An image is tagged by a hash of its Dockerfile and its base, built on first use
under a file lock (pytest-xdist workers share it), and kept. Containers use host networking and
bind 127.0.0.1 on the port the harness picked; each has a unique name and a label, and is removed
(forced) when the proxy stops, a failed test included.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from ..errors import HarnessTimeout, MissingPart, ProxyCrashed
from ..profiles import Catalogue, builtin_dir
from .configs import RealConfig
from .local import SOFTWARE, STOP_TIMEOUT, LocalProxy, Software

BASE_ENV = "WSHARNESS_DOCKER_BASE"
DEFAULT_BASE = "wsharness/base:bookworm"
LABEL = "pytest-wsharness"
CONTAINER_DIR = "/wsharness"
BUILD_LOCK_TIMEOUT = 600.0


def engine() -> Any:
    """A client of the Docker engine ``DOCKER_HOST`` (or the default socket) names; the caller
    closes it.

    Raises:
        MissingPart: the ``docker`` package is missing, or no engine answers.
    """
    try:
        import docker
    except ImportError:
        raise MissingPart("the docker Python package", "pip install docker") from None
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if host.startswith("unix://") and not _answers(host.removeprefix("unix://")):
        # Checked first: the SDK leaves a socket open when its first request fails.
        raise MissingPart(
            "a Docker engine",
            f"none answers at {host}; start dockerd "
            "(dockerd --iptables=false --ip6tables=false --bridge=none) or set DOCKER_HOST",
        )
    client = None
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as error:  # docker.errors.DockerException and connection errors
        if client is not None:
            client.close()  # its connection pool holds a socket
        where = os.environ.get("DOCKER_HOST", "the default socket")
        raise MissingPart(
            "a Docker engine",
            f"none answers at {where} ({type(error).__name__}); start dockerd "
            "(dockerd --iptables=false --ip6tables=false --bridge=none) or set DOCKER_HOST",
        ) from None
    return client


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(5.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def base_image() -> str:
    """The base image the Dockerfiles start FROM."""
    return os.environ.get(BASE_ENV) or DEFAULT_BASE


def dockerfiles() -> Path:
    """The folder of the Dockerfiles."""
    return builtin_dir() / "real" / "docker"


def image_tag(software: str, base: str) -> str:
    """The tag of ``software``'s image on ``base``: a hash of both, so an edit rebuilds it."""
    package = SOFTWARE[software].package
    text = (dockerfiles() / f"{package}.Dockerfile").read_text()
    digest = hashlib.sha256(f"{base}\n{text}".encode()).hexdigest()[:12]
    return f"wsharness/{package}:{digest}"


def ensure_image(
    client: Any, software: str, base: str | None = None, *, quiet: bool = False
) -> str:
    """Return the image of ``software``, building it first if it is missing, with its steps
    said on standard error unless ``quiet``.

    Raises:
        MissingPart: the base image is missing (the message says how to get one).
        ProxyCrashed: the build failed.
    """
    import docker.errors

    base = base or base_image()
    tag = image_tag(software, base)
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get(tag)
        return tag
    try:
        client.images.get(base)
    except docker.errors.ImageNotFound:
        raise MissingPart(
            f"the Docker base image {base}",
            f"run scripts/docker-base, or set {BASE_ENV} to an image this engine has "
            "(e.g. debian:bookworm-slim)",
        ) from None
    lock_path = Path(tempfile.gettempdir()) / f"wsharness-build-{tag.replace('/', '-')}.lock"
    with open(lock_path, "w") as lock:
        _lock(lock)
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.get(tag)  # another worker built it meanwhile
            return tag
        package = SOFTWARE[software].package
        dockerfile = dockerfiles() / f"{package}.Dockerfile"
        build(client, dockerfile, tag, base, None if quiet else sys.stderr)
    return tag


def build(client: Any, dockerfile: Path, tag: str, base: str, report: TextIO | None) -> None:
    """Build ``dockerfile`` as ``tag`` on ``base`` (its ``BASE`` argument), saying each step on
    ``report`` (a build takes minutes: Debian's packages are installed in it).

    Raises:
        ProxyCrashed: the build failed; the message holds the end of its output.
    """
    package = dockerfile.name.removesuffix(".Dockerfile")
    started = time.monotonic()
    say = (lambda text: print(f"wsharness: {text}", file=report, flush=True)) if report else None
    if say:
        say(f"building the Docker image {tag} ({dockerfile.name} on {base}; first use only)")
    # The low-level call streams the build's output, which the high-level one keeps to the end.
    output: list[str] = []
    for chunk in client.api.build(
        path=str(dockerfile.parent),
        dockerfile=dockerfile.name,
        tag=tag,
        buildargs={"BASE": base},
        network_mode="host",
        rm=True,
        decode=True,
    ):
        if "error" in chunk:
            tail = "".join(output[-8:]) + str(chunk["error"])
            raise ProxyCrashed(f"{package} image", RuntimeError(f"docker build failed: {tail}"))
        text = str(chunk.get("stream", ""))
        output.append(text)
        if say and text.startswith("Step "):
            step = " ".join(text.split())
            say(f"  {package} image, {time.monotonic() - started:.0f}s: {step[:70]}")
    if say:
        say(f"built {tag} in {time.monotonic() - started:.0f}s")


class DockerProxy(LocalProxy):
    """A real proxy config running in a Docker container in front of ``upstream``.

    The same as :class:`~pytest_wsharness.real.local.LocalProxy` but for where it runs; its
    private folder is mounted in the container at ``/wsharness``.
    """

    def __init__(
        self,
        config: RealConfig,
        upstream: str,
        catalogue: Catalogue | None = None,
        *,
        port: int = 0,
        time_scale: float = 1.0,
        base: str | None = None,
    ) -> None:
        super().__init__(config, upstream, catalogue, port=port, time_scale=time_scale)
        self.base = base
        self.container: Any = None
        self._client: Any = None
        self._image = ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Remove the container (forced) and the private folder; idempotent."""
        container, self.container = self.container, None
        self._stopping = True
        if container is not None:
            with contextlib.suppress(Exception):  # removed already, or the engine is gone
                container.remove(force=True)
        client, self._client = self._client, None
        if client is not None:
            client.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _started(self) -> bool:
        return self.container is not None

    def _prerequisites(self) -> None:
        self._client = engine()
        self._image = ensure_image(self._client, self.config.software, self.base)

    def _workdir_seen(self) -> Path:
        return Path(CONTAINER_DIR)

    def _owns_workdir(self) -> bool:
        return True  # Debian's users have the same ids in the image

    def _launch(self, spec: Software) -> None:
        home = dict.fromkeys(("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"), CONTAINER_DIR)
        seen = self._workdir_seen()
        self.container = self._client.containers.run(
            self._image,
            spec.argv(spec.binary, seen / spec.config_name, seen),
            name=f"wsharness-{self.config.name}-{os.getpid()}-{secrets.token_hex(3)}",
            detach=True,
            network_mode="host",
            volumes={str(self.workdir): {"bind": CONTAINER_DIR, "mode": "rw"}},
            environment=home if spec.home else {},
            labels={LABEL: self.config.name},
        )

    def _exited(self) -> str | None:
        container = self.container
        if container is None:
            return None
        container.reload()
        if container.status in ("created", "running"):
            return None
        logs = container.logs(tail=8).decode(errors="replace").strip()
        code = container.attrs.get("State", {}).get("ExitCode")
        return f"{self.config.software} container exited with code {code}: {logs}"


def _lock(lock: Any) -> None:
    deadline = time.monotonic() + BUILD_LOCK_TIMEOUT
    waiter = threading.Event()
    while True:  # bounded by the deadline
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise HarnessTimeout("another worker's image build", BUILD_LOCK_TIMEOUT) from None
            waiter.wait(0.2)
