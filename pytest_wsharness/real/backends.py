"""Where a real proxy runs: in Docker, or as a local process."""

from __future__ import annotations

from ..errors import MissingPart, UnknownChoiceError
from .local import LocalProxy

BACKENDS = ("auto", "docker", "local")


def runner(backend: str) -> type[LocalProxy]:
    """The class that runs real proxies on ``backend``: ``"docker"``, ``"local"``, or
    ``"auto"`` (Docker when an engine answers, else a local process).

    Raises:
        UnknownChoiceError: not one of :data:`BACKENDS`.
        MissingPart: ``"docker"`` and no engine answers.
    """
    if backend not in BACKENDS:
        raise UnknownChoiceError("real proxy backend", backend, BACKENDS)
    if backend == "local":
        return LocalProxy
    from .docker import DockerProxy, engine

    try:
        engine().close()
    except MissingPart:
        if backend == "docker":
            raise
        return LocalProxy
    return DockerProxy
