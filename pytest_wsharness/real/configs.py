"""The real proxy configs of ``proxies/real/``: one file each, naming the software, the simulated
profile it claims to behave like, and the config text with the harness's placeholders.

Placeholders, replaced when a proxy starts: ``@PORT@`` (the port to listen on, on 127.0.0.1),
``@UPSTREAM@`` (``http://host:port``), ``@UPSTREAM_HOSTPORT@`` (``host:port``), ``@WORKDIR@``
(a private folder for pid, logs and temp files) and ``@IDLE_TIMEOUT@`` (``idle_timeout`` in the
software's own notation).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProfileError, UnknownChoiceError
from ..profiles import builtin_dir

SOFTWARE = ("nginx", "haproxy", "apache", "caddy", "squid", "tinyproxy")
KEYS = ("software", "models", "summary", "config", "idle_timeout")


@dataclass(frozen=True)
class RealConfig:
    """One real proxy config.

    Attributes:
        name: the file's name without ``.toml``.
        software: one of :data:`SOFTWARE`.
        models: the simulated profile that claims to behave the same.
        summary: one line for listings.
        config: the config text, with placeholders.
        idle_timeout: seconds, for a config that cuts idle tunnels; ``None`` otherwise.
        path: the file it came from.
    """

    name: str
    software: str
    models: str
    summary: str
    config: str
    idle_timeout: float | None
    path: Path

    def render(self, *, port: int, upstream: str, workdir: Path) -> str:
        """The config text with every placeholder filled in."""
        hostport = upstream.split("://", 1)[-1].rstrip("/")
        idle = "" if self.idle_timeout is None else f"{self.idle_timeout:g}s"
        text = self.config
        for key, value in (
            ("@PORT@", str(port)),
            ("@UPSTREAM_HOSTPORT@", hostport),
            ("@UPSTREAM@", upstream.rstrip("/")),
            ("@WORKDIR@", str(workdir)),
            ("@IDLE_TIMEOUT@", idle),
        ):
            text = text.replace(key, value)
        return text


def load_real(path: Path) -> RealConfig:
    """Read one real config file.

    Raises:
        ProfileError: not TOML, a missing or unknown key, or a bad value; the message names the
            file, the key and the valid values.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(str(path), "(file)", f"not valid TOML: {error}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ProfileError(str(path), unknown[0], f"unknown key; valid keys: {', '.join(KEYS)}")
    for key in ("software", "models", "summary", "config"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ProfileError(str(path), key, "missing, or not a non-empty string")
    if data["software"] not in SOFTWARE:
        raise ProfileError(
            str(path), "software", f"{data['software']!r}; valid values: {', '.join(SOFTWARE)}"
        )
    idle = data.get("idle_timeout")
    if idle is not None and (isinstance(idle, bool) or not isinstance(idle, int | float)):
        raise ProfileError(str(path), "idle_timeout", f"{idle!r} is not a number of seconds")
    if idle is not None and idle <= 0:
        raise ProfileError(str(path), "idle_timeout", f"{idle!r} must be > 0")
    return RealConfig(
        name=path.stem,
        software=data["software"],
        models=data["models"],
        summary=data["summary"],
        config=data["config"],
        idle_timeout=float(idle) if idle is not None else None,
        path=path,
    )


class RealCatalogue:
    """Every real config in ``proxies/real/``."""

    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or builtin_dir() / "real"
        self._configs = {p.stem: load_real(p) for p in sorted(folder.glob("*.toml"))}

    def names(self) -> list[str]:
        """The config names, sorted."""
        return sorted(self._configs)

    def get(self, name: str) -> RealConfig:
        """Return the config ``name``.

        Raises:
            UnknownChoiceError: no such config; the message lists them.
        """
        try:
            return self._configs[name]
        except KeyError:
            raise UnknownChoiceError("real proxy config", name, self._configs) from None

    def __iter__(self) -> Iterator[RealConfig]:
        return iter(self._configs[name] for name in self.names())
