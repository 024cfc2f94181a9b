"""Proxy profiles: one declarative TOML file per middlebox behaviour, in ``proxies/``.

A profile names what a proxy does to the handshake as a list of behaviours, each one mitmproxy
addon class. Example (``proxies/firewall.toml``)::

    summary = "A firewall rule that refuses WebSocket upgrades with 403"
    expect = "fallback"
    models = ["WAF or corporate firewall denying Upgrade requests"]

    [[behaviours]]
    use = "deny-upgrade"
    status = 403

Loading a profile never imports mitmproxy; :meth:`Profile.build_addons` does, when a proxy starts.
"""

from __future__ import annotations

import enum
import importlib
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ProfileError, UnknownChoiceError


class Expect(enum.StrEnum):
    """What the CMS UI does behind a profile when WebSockets are enabled (REFERENCE.md 1-2).

    With ``WebSocketEnabled = false`` the answer is always: no socket, updates after a refresh.
    """

    DELIVERED = "delivered"
    """The socket opens and updates arrive live."""
    FALLBACK = "fallback"
    """The first connect fails: the noconnection modal, once, and no retry."""
    RECONNECTS = "reconnects"
    """The socket opens, is lost without a clean close, and the client retries after 5 s x n^2."""
    HOT_LOOP = "hot-loop"
    """The socket opens and is closed cleanly: the client retries at once, again and again."""
    HANGS = "hangs"
    """The connect never completes: no dialog, no update, the UI waits."""
    MISSES_UPDATES = "misses-updates"
    """The socket stays open but updates do not arrive."""


@dataclass(frozen=True)
class BehaviourType:
    """A behaviour a profile can use: its addon class and the parameters it takes."""

    target: str
    summary: str
    params: Mapping[str, type] = field(default_factory=dict)
    ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def build(self, params: Mapping[str, Any]) -> object:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)(**params)


BEHAVIOURS: dict[str, BehaviourType] = {
    "strip-upgrade-headers": BehaviourType(
        "pytest_wsharness.addons.strip_upgrade:StripUpgradeHeaders",
        "remove Connection, Upgrade and what Connection names",
    ),
    "deny-upgrade": BehaviourType(
        "pytest_wsharness.addons.deny_upgrade:DenyUpgrade",
        "answer upgrade requests from the proxy itself",
        {"status": int},
        {"status": (400, 599)},
    ),
    "reset-upgrade": BehaviourType(
        "pytest_wsharness.addons.reset_upgrade:ResetUpgrade",
        "reset the TCP connection of upgrade requests",
    ),
}

# How a schema type reads in an error message, in TOML's words.
_TOML_TYPES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}
_TOP_KEYS = {"summary": str, "expect": str, "models": list, "behaviours": list}


@dataclass(frozen=True)
class Behaviour:
    """One behaviour of a profile, with its parameters."""

    use: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> object:
        """Return a new mitmproxy addon for this behaviour (imports mitmproxy)."""
        return BEHAVIOURS[self.use].build(self.params)


@dataclass(frozen=True)
class Profile:
    """A named proxy behaviour from the catalogue."""

    name: str
    summary: str
    expect: Expect
    behaviours: tuple[Behaviour, ...] = ()
    models: tuple[str, ...] = ()
    path: Path | None = None

    def build_addons(self) -> list[object]:
        """Return new mitmproxy addons for every behaviour, in order."""
        return [behaviour.build() for behaviour in self.behaviours]


def load_profile(path: Path) -> Profile:
    """Read and validate one profile file; the profile is named after the file.

    Raises:
        ProfileError: the file is not valid TOML or breaks the schema; the message names the
            file, the key and the valid values.
    """
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(where, "(file)", f"cannot be read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(where, "(file)", f"is not valid TOML: {error}") from None
    for key, value in data.items():
        if key not in _TOP_KEYS:
            raise ProfileError(where, key, f"unknown key; valid keys: {', '.join(_TOP_KEYS)}")
        if not isinstance(value, _TOP_KEYS[key]):
            raise ProfileError(where, key, f"must be {_TOML_TYPES[_TOP_KEYS[key]]}")
    for key in ("summary", "expect"):
        if key not in data:
            raise ProfileError(where, key, "is required")
    choices = [e.value for e in Expect]
    if data["expect"] not in choices:
        raise ProfileError(
            where, "expect", f"{data['expect']!r}; valid values: {', '.join(choices)}"
        )
    models = data.get("models", [])
    if not all(isinstance(m, str) for m in models):
        raise ProfileError(where, "models", "must be a list of strings")
    return Profile(
        name=path.stem,
        summary=data["summary"],
        expect=Expect(data["expect"]),
        behaviours=tuple(_behaviour(where, i, b) for i, b in enumerate(data.get("behaviours", []))),
        models=tuple(models),
        path=path,
    )


def _behaviour(where: str, index: int, table: Any) -> Behaviour:
    key = f"behaviours[{index}]"
    if not isinstance(table, dict):
        raise ProfileError(where, key, "must be a table with a 'use' key")
    params = dict(table)
    use = params.pop("use", None)
    if use not in BEHAVIOURS:
        raise ProfileError(where, f"{key}.use", f"{use!r}; valid values: {', '.join(BEHAVIOURS)}")
    allowed = BEHAVIOURS[use].params
    for name, value in params.items():
        if name not in allowed:
            valid = ", ".join(allowed) or "none"
            raise ProfileError(
                where, f"{key}.{name}", f"unknown parameter of {use}; valid: {valid}"
            )
        if not isinstance(value, allowed[name]) or isinstance(value, bool):
            raise ProfileError(where, f"{key}.{name}", f"must be {_TOML_TYPES[allowed[name]]}")
        if isinstance(value, int) and name in BEHAVIOURS[use].ranges:
            low, high = BEHAVIOURS[use].ranges[name]
            if not low <= value <= high:
                raise ProfileError(where, f"{key}.{name}", f"{value} is out of range {low}-{high}")
    return Behaviour(use, params)


def builtin_dir() -> Path:
    """Return the folder of the built-in catalogue.

    The wheel carries ``proxies/`` inside the package; a source checkout has it beside the package.
    """
    package = Path(__file__).resolve().parent
    installed = package / "proxies"
    return installed if installed.is_dir() else package.parent / "proxies"


class Catalogue:
    """Every profile from the built-in folder and from the user's folders.

    Args:
        extra_dirs: more folders of ``*.toml`` profiles; a name already taken is an error.

    Raises:
        ProfileError: a file is malformed, or two files claim one name.
        UsageError: an extra folder does not exist.
    """

    def __init__(self, extra_dirs: Iterable[Path] = ()) -> None:
        self._profiles: dict[str, Profile] = {}
        for folder in (builtin_dir(), *extra_dirs):
            if not folder.is_dir():
                raise ProfileError(str(folder), "(folder)", "is not a folder of profile files")
            for path in sorted(folder.glob("*.toml")):
                profile = load_profile(path)
                if profile.name in self._profiles:
                    first = self._profiles[profile.name].path
                    raise ProfileError(str(path), "(name)", f"{profile.name!r} is taken by {first}")
                self._profiles[profile.name] = profile

    def get(self, name: str) -> Profile:
        """Return the profile called ``name``.

        Raises:
            UnknownChoiceError: no profile has that name; the message lists them all.
        """
        try:
            return self._profiles[name]
        except KeyError:
            raise UnknownChoiceError("proxy profile", name, self._profiles) from None

    def names(self) -> list[str]:
        """Return every profile name, sorted."""
        return sorted(self._profiles)

    def __iter__(self) -> Iterator[Profile]:
        return iter(self._profiles[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._profiles)
