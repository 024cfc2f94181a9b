"""A team's own proxy config (``wsharness proxy --real --config FILE``,
``real_proxy(config=path)``), rewritten to run on 127.0.0.1 in front of the harness's upstream.

A support engineer reproduces a customer's setup with the customer's file as it is: the
adapter of its software (one small class per software, beside this module) rewrites what ties
it to the customer's machines and leaves every other directive as written:

* where it listens: every listening address becomes 127.0.0.1 and the port the harness picked;
  TLS on the listener is dropped (served as plain http: TLS does not change what a proxy does
  to the upgrade headers), and a server that only redirects http to https is left out;
* where it forwards: every upstream address becomes the harness's upstream, so that the proxy
  reaches nothing else (never an open relay);
* where it writes: pid, logs, temp and cache files go to a private folder;
* its timeouts that can end an open socket follow the time scale
  (:func:`~pytest_wsharness.real.adapt.common.timeout`).

What cannot be rewritten faithfully or safely (an ``include`` of other files, an upstream named
by a variable, a relay to another proxy or host) is refused with
:class:`~pytest_wsharness.errors.ConfigRefused`, naming the line and what to write instead.
A file already written with the harness's placeholders (``@PORT@``, ``@UPSTREAM@``..., see
:mod:`~pytest_wsharness.real.configs`) runs as written, and so does a ``.toml`` file in the
format of ``proxies/real/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ...errors import ConfigRefused, UnknownChoiceError, UsageError
from ..configs import RealConfig, load_real
from .common import Adapted, Change, has_placeholders

__all__ = ["SOFTWARE", "Change", "OwnConfig", "detect", "load_own"]

SOFTWARE = ("nginx", "haproxy", "apache", "caddy", "squid")
# What a file's name says, then what its text says, in that order (the first that matches).
NAMES = (
    ("caddy", re.compile(r"caddy", re.I)),
    ("haproxy", re.compile(r"haproxy|\.cfg$", re.I)),
    ("squid", re.compile(r"squid", re.I)),
    ("nginx", re.compile(r"nginx", re.I)),
    ("apache", re.compile(r"apache|httpd|vhost", re.I)),
)
TEXTS = (
    ("apache", re.compile(r"^\s*(<VirtualHost|ProxyPass\s|LoadModule\s)", re.M | re.I)),
    ("squid", re.compile(r"^\s*(http_port|http_access)\s", re.M)),
    ("haproxy", re.compile(r"^\s*(frontend|backend|defaults)\b[^{\n]*$", re.M)),
    ("nginx", re.compile(r"\b(proxy_pass|server_name|listen)\b[^;{}\n]*;")),
    ("caddy", re.compile(r"^\s*reverse_proxy\b", re.M)),
)
# The profile a config is run as when the user names none: only its kind (reverse or forward
# proxy) is used then, to tell clients how to reach it.
UNMODELLED = {"squid": "forward-proxy"}


class Adapter(Protocol):
    """Rewrites one software's config (see the module's docstring for what)."""

    def adapt(self, text: str, source: str) -> Adapted:
        """``text`` with the harness's placeholders, and the changes made.

        Raises:
            ConfigRefused: something in it cannot be rewritten; the message names the line.
        """
        ...


@dataclass(frozen=True)
class OwnConfig:
    """A team's own config, ready to run.

    Attributes:
        config: the config, with placeholders, as the real proxies of ``proxies/real/`` are.
        modelled: whether the user named the profile it should behave like (``models``).
    """

    config: RealConfig
    modelled: bool

    @property
    def changes(self) -> list[Change]:
        """What the harness rewrote or left out, line by line (the config's)."""
        return list(self.config.changes)


def adapter(software: str) -> Adapter:
    """The adapter of ``software``.

    Raises:
        UnknownChoiceError: not one of :data:`SOFTWARE`.
    """
    if software not in SOFTWARE:
        raise UnknownChoiceError("software of --config", software, SOFTWARE)
    from importlib import import_module

    module = import_module(f"{__name__}.{software}")
    adapter: Adapter = module.ADAPTER
    return adapter


def detect(path: Path, text: str) -> str:
    """The software ``path`` is a config of, from its name, else from its text.

    Raises:
        UsageError: neither tells; the message asks for ``--software`` and lists the choices.
    """
    for software, pattern in NAMES:
        if pattern.search(path.name):
            return software
    for software, pattern in TEXTS:
        if pattern.search(text):
            return software
    raise UsageError(
        f"cannot tell which software {path} is a config of; give it "
        f"(--software, or software= in real_proxy): one of {', '.join(SOFTWARE)}"
    )


def load_own(path: str | Path, software: str | None = None, models: str | None = None) -> OwnConfig:
    """Read a team's own config and make it runnable by the harness.

    Args:
        path: the file: the software's own config, or a ``.toml`` in the format of
            ``proxies/real/``.
        software: which software it is for; guessed from the name and the text when ``None``.
        models: the simulated profile it should behave like (its expected outcome), checked
            by the caller against the catalogue.

    Raises:
        UsageError: the file cannot be read, or its software cannot be told.
        UnknownChoiceError: ``software`` is not one of :data:`SOFTWARE`.
        ConfigRefused: something in it cannot be run (see the module's docstring).
        ProfileError: a ``.toml`` file that is malformed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the proxy config {path}: {error}") from None
    if path.suffix == ".toml":
        config = load_real(path)
        if models:
            config = replace(config, models=models)
        return OwnConfig(config, True)
    if software is not None and software not in SOFTWARE:
        raise UnknownChoiceError("software of --config", software, SOFTWARE)
    software = software or detect(path, text)
    if "@IDLE_TIMEOUT@" in text:
        raise ConfigRefused(
            str(path), 0, "@IDLE_TIMEOUT@", "write the cut itself as @SCALED:N@ (N in seconds)"
        )
    if has_placeholders(text):
        adapted = Adapted(text, [])
    else:
        adapted = adapter(software).adapt(text, str(path))
    config = RealConfig(
        name=path.name,
        software=software,
        models=models or UNMODELLED.get(software, "compliant"),
        summary=f"your {software} config {path}",
        config=adapted.text,
        idle_timeout=None,
        path=path,
        changes=tuple(adapted.changes),
    )
    return OwnConfig(config, bool(models))
