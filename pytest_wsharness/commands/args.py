"""What several sub-commands parse: numbers of seconds and time scales, where to listen, and
extra profile folders."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..runtime import timescale
from ..runtime.listen import BEYOND_LOOPBACK_FLAG


def positive_number(value: str) -> float:
    """Parse a time scale or a timeout: a finite number > 0."""
    return _positive(value, "number")


def seconds(value: str) -> float:
    """Parse a duration: a finite number of seconds > 0."""
    return _positive(value, "number of seconds")


def _positive(value: str, noun: str) -> float:
    try:
        return timescale.positive(value, noun)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_listen_arguments(parser: Any, exposes: str) -> None:
    """Add ``--listen`` and ``--listen-beyond-loopback`` to an argparse ``parser``; ``exposes``
    says what the second one opens to the network (for its help)."""
    parser.add_argument(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where to listen, a loopback address (default 127.0.0.1:0, a free port; IPv6: "
        "[::1]:0)",
    )
    parser.add_argument(
        BEYOND_LOOPBACK_FLAG,
        action="store_true",
        help="DANGER: let --listen take an address other machines can reach (0.0.0.0, a LAN "
        f"address). This exposes {exposes} to the network: only for a phone or a VM on a "
        "network you trust",
    )


def add_profiles_dir(parser: argparse.ArgumentParser) -> None:
    """Add ``--profiles-dir DIR`` (repeatable)."""
    parser.add_argument(
        "--profiles-dir",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also load the *.toml profiles in DIR (repeatable)",
    )
