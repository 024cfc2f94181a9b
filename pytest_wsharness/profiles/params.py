"""Declared parameters of behaviours and faults, checked once when a profile is loaded.

Each behaviour (a mitmproxy addon) and each fault (a relay stage) declares its parameters as
:class:`Param` values; :func:`check_params` turns a TOML table into keyword arguments or raises a
:class:`~pytest_wsharness.errors.ProfileError` naming the file, the key and the valid values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProfileError

REQUIRED: Any = object()

# How a schema type reads in an error message, in TOML's words.
TOML_TYPES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, bounds or choices, and a line of help.

    A ``float`` parameter also takes a TOML integer. ``default=REQUIRED`` makes it mandatory.
    """

    type: type
    default: Any = REQUIRED
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    help: str = ""

    def check(self, value: Any) -> str | None:
        """Return what is wrong with ``value``, or ``None`` when it is valid."""
        wanted = (int, float) if self.type is float else self.type
        if (isinstance(value, bool) and self.type is not bool) or not isinstance(value, wanted):
            return f"must be {TOML_TYPES[self.type]}, got {value!r}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be finite, got {value!r}"
        number = float(value) if isinstance(value, int | float) else None
        if number is not None and self.low is not None and number < self.low:
            return f"must be >= {self.low:g}, got {value!r}"
        if number is not None and self.high is not None and number > self.high:
            return f"must be <= {self.high:g}, got {value!r}"
        if self.choices and value not in self.choices:
            return f"{value!r}; valid values: {', '.join(str(c) for c in self.choices)}"
        return None


def check_params(
    where: str, key: str, what: str, spec: Mapping[str, Param], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate ``given`` against ``spec`` and fill in defaults.

    Args:
        where: the profile file, for the message.
        key: the table's key, e.g. ``faults[0]``.
        what: the behaviour or fault name, for the message.
        spec: the declared parameters.
        given: the table's values, ``use`` removed.

    Raises:
        ProfileError: an unknown or missing parameter, or a bad value.
    """
    for name in given:
        if name not in spec:
            valid = ", ".join(spec) or "none"
            raise ProfileError(
                where, f"{key}.{name}", f"unknown parameter of {what}; valid: {valid}"
            )
    params: dict[str, Any] = {}
    for name, param in spec.items():
        if name not in given:
            if param.default is REQUIRED:
                raise ProfileError(where, f"{key}.{name}", f"is required by {what}")
            params[name] = param.default
            continue
        problem = param.check(given[name])
        if problem:
            raise ProfileError(where, f"{key}.{name}", problem)
        params[name] = float(given[name]) if param.type is float else given[name]
    return params
