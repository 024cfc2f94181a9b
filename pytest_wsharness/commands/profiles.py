"""``wsharness profiles``: the proxy profiles of the catalogue, or (``--real``) the real proxy
configs, in a table that fits the terminal."""

from __future__ import annotations

import argparse
from typing import Any

from ..profiles import Catalogue
from . import EXIT_OK
from .args import add_profiles_dir


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``profiles`` subcommand to the ``wsharness`` parser's subparsers."""
    profiles: argparse.ArgumentParser = commands.add_parser(
        "profiles",
        help="list the proxy profiles: name, what the UI should do behind it, what it does",
        description="List the proxy profiles of the catalogue (and of --profiles-dir): each "
        "one's name (for --profile, proxy PROFILE and the wsharness_profiles marker), what the "
        "edit UI should do behind it (delivered, fallback, reconnects, hot-loop, hangs, "
        "misses-updates) and what the proxy does. With --real, the real proxy configs.",
    )
    profiles.add_argument(
        "--real",
        action="store_true",
        help="list the real proxy configs of proxies/real/ instead, with the profile that "
        "models each",
    )
    add_profiles_dir(profiles)
    profiles.set_defaults(run=run)
    return profiles


def run(args: argparse.Namespace) -> int:
    """Print the table; return the exit code."""
    return _real_configs() if args.real else _profiles(Catalogue(args.profiles_dir))


def _real_configs() -> int:
    from ..real.configs import RealCatalogue
    from ..reports.columns import table

    rows = [(c.name, c.models, c.summary) for c in RealCatalogue()]
    print("\n".join(table(("config", "models profile", "what it does"), rows)))
    return EXIT_OK


def _profiles(catalogue: Catalogue) -> int:
    from ..reports.columns import table

    rows = [(p.name, p.expect.value, p.summary) for p in catalogue]
    print("\n".join(table(("profile", "the UI should", "what the proxy does"), rows)))
    return EXIT_OK
