"""Proxy profiles: one declarative TOML file per middlebox behaviour, in ``proxies/``.

A profile says what a middlebox does: ``behaviours`` act on the HTTP handshake (mitmproxy addons,
:mod:`.behaviours`), ``faults`` act on the connection (the relay, :mod:`.relay.faults`), and
``[server]`` sets the simulated server for the scenario. Example::

    summary = "nginx's default proxy_read_timeout: the tunnel is cut after 60 s without data"
    expect = "delivered"
    models = ["nginx proxy_read_timeout 60s", "AWS ALB idle timeout 60 s"]

    [[faults]]
    use = "idle_timeout"
    timeout = 60000

Durations are milliseconds of CMS time (Toxiproxy's unit); the run's time scale shrinks them.
Loading a profile never imports mitmproxy; :meth:`Profile.build_addons` does, when a proxy starts.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ProfileError, UnknownChoiceError
from .behaviours import BEHAVIOURS
from .params import TOML_TYPES, Param, check_params


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


class Kind(enum.StrEnum):
    """How the client reaches the server through the proxy."""

    REVERSE = "reverse"
    """The UI is loaded from the proxy's address (reverse proxy, load balancer, transparent box)."""
    FORWARD = "forward"
    """The browser is configured to use the proxy (``CONNECT`` for WebSockets)."""


class Scope(enum.StrEnum):
    """Which connections a profile's faults act on."""

    WEBSOCKET = "websocket"
    """Only connections whose first request asks for a WebSocket: the page still loads."""
    ALL = "all"
    """Every connection, the page's own requests included."""


SERVER_PARAMS: dict[str, Param] = {
    "websocket_feature": Param(bool, True, help="false: IIS/App Service without WebSockets"),
    "plain_get_status": Param(int, 200, low=200, high=599, help="answer to a GET without upgrade"),
    "tls": Param(bool, False, help="serve https/wss with the run's test CA"),
    "restart_after": Param(float, 0.0, low=0, help="ms after the socket opens; 0: no restart"),
    "down_for": Param(float, 0.0, low=0, help="ms the restarted server stays down"),
    "backends": Param(int, 1, low=1, high=2, help="2: two backends, balanced without affinity"),
}


_TOP_KEYS: dict[str, type] = {
    "summary": str,
    "expect": str,
    "kind": str,
    "models": list,
    "behaviours": list,
    "faults": list,
    "fault_scope": str,
    "server": dict,
}


@dataclass(frozen=True)
class Behaviour:
    """One handshake behaviour of a profile, with its checked parameters."""

    use: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self, time_scale: float = 1.0) -> object:
        """Return a new mitmproxy addon for this behaviour (imports mitmproxy)."""
        return BEHAVIOURS[self.use].build(self.params, time_scale)


@dataclass(frozen=True)
class Fault:
    """One connection fault of a profile, with its checked parameters (run by the relay)."""

    use: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """A named middlebox from the catalogue."""

    name: str
    summary: str
    expect: Expect
    behaviours: tuple[Behaviour, ...] = ()
    faults: tuple[Fault, ...] = ()
    fault_scope: Scope = Scope.WEBSOCKET
    kind: Kind = Kind.REVERSE
    server: Mapping[str, Any] = field(
        default_factory=lambda: check_params("", "", "", SERVER_PARAMS, {})
    )
    models: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def tls(self) -> str:
        """What the proxy does with the clients' TLS: ``""`` (opens it with the site's
        certificate), ``"pass-through"`` or ``"intercept"`` (see ``BehaviourType.tls``)."""
        return next((t for b in self.behaviours if (t := BEHAVIOURS[b.use].tls)), "")

    def build_addons(self, time_scale: float = 1.0) -> list[object]:
        """Return new mitmproxy addons for every behaviour, in order."""
        return [behaviour.build(time_scale) for behaviour in self.behaviours]


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
            raise ProfileError(where, key, f"must be {TOML_TYPES[_TOP_KEYS[key]]}")
    for key in ("summary", "expect"):
        if key not in data:
            raise ProfileError(where, key, "is required")
    models = data.get("models", [])
    if not all(isinstance(m, str) for m in models):
        raise ProfileError(where, "models", "must be an array of strings")
    return Profile(
        name=path.stem,
        summary=data["summary"],
        expect=Expect(_choice(where, "expect", data["expect"], Expect)),
        kind=Kind(_choice(where, "kind", data.get("kind", Kind.REVERSE.value), Kind)),
        behaviours=tuple(_behaviour(where, i, t) for i, t in enumerate(data.get("behaviours", []))),
        faults=tuple(_fault(where, i, t) for i, t in enumerate(data.get("faults", []))),
        fault_scope=_scope(where, data),
        server=check_params(where, "server", "[server]", SERVER_PARAMS, data.get("server", {})),
        models=tuple(models),
        path=path,
    )


def _scope(where: str, data: Mapping[str, Any]) -> Scope:
    return Scope(
        _choice(where, "fault_scope", data.get("fault_scope", Scope.WEBSOCKET.value), Scope)
    )


def _choice(where: str, key: str, value: str, choices: type[enum.StrEnum]) -> str:
    valid = [c.value for c in choices]
    if value not in valid:
        raise ProfileError(where, key, f"{value!r}; valid values: {', '.join(valid)}")
    return value


def _table(
    where: str,
    key: str,
    table: Any,
    names: Iterable[str],
    check: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> tuple[str, dict[str, Any]]:
    """Validate one ``[[behaviours]]`` or ``[[faults]]`` table: its ``use``, then ``check``."""
    if not isinstance(table, dict):
        raise ProfileError(where, key, "must be a table with a 'use' key")
    given = dict(table)
    use = given.pop("use", None)
    valid = list(names)
    if use not in valid:
        raise ProfileError(where, f"{key}.use", f"{use!r}; valid values: {', '.join(valid)}")
    return use, check(use, given)


def _behaviour(where: str, index: int, table: Any) -> Behaviour:
    key = f"behaviours[{index}]"

    def check(use: str, given: dict[str, Any]) -> dict[str, Any]:
        return check_params(where, key, use, BEHAVIOURS[use].params, given)

    return Behaviour(*_table(where, key, table, BEHAVIOURS, check))


def _fault(where: str, index: int, table: Any) -> Fault:
    # The relay's registry: cheap to import, but only needed by profiles with faults.
    from ..relay.faults import FAULTS, check_fault

    key = f"faults[{index}]"

    def check(use: str, given: dict[str, Any]) -> dict[str, Any]:
        return check_fault(use, given, where=where, key=key)

    return Fault(*_table(where, key, table, FAULTS, check))


def builtin_dir() -> Path:
    """Return the folder of the built-in catalogue.

    The wheel carries ``proxies/`` inside the package; a source checkout has it beside the package.
    """
    package = Path(__file__).resolve().parent.parent  # pytest_wsharness/, above profiles/
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
