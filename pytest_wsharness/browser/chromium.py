"""Finding and starting the system's Chromium for Playwright.

Playwright cannot download its own browsers here, so the harness drives Debian's ``chromium``
package (``/usr/bin/chromium``), or whatever ``WSHARNESS_CHROMIUM`` names.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import MissingPart

ENV = "WSHARNESS_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# Headless, as root in CI, and quiet: without the background-networking flags Chromium calls
# Google's hosts at every start, and no host but the loopback is ever a target of this harness.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)


def find_chromium() -> Path:
    """Return the Chromium to run.

    Raises:
        MissingPart: ``WSHARNESS_CHROMIUM`` names no executable file, or no Chromium is on
            ``PATH``; the message says how to install one.
    """
    named = os.environ.get(ENV)
    if named:
        path = Path(named)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MissingPart("Chromium", f"{ENV}={named!r} is not an executable file")
        return path
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise MissingPart(
        "Chromium",
        f"none of {', '.join(CANDIDATES)} is on PATH; install Debian's chromium package "
        f"(apt-get install chromium) or set {ENV}",
    )


def find_playwright() -> None:
    """Check that Playwright's Python package is installed.

    Raises:
        MissingPart: it is not; the message names the extra that installs it.
    """
    try:
        import playwright  # noqa: F401
    except ImportError:
        raise MissingPart(
            "Playwright", "pip install 'pytest-wsharness[browser]' installs it"
        ) from None


def find_browser() -> Path:
    """Check Playwright and return the Chromium to run: what a browser client needs.

    Raises:
        MissingPart: either is missing.
    """
    find_playwright()
    return find_chromium()
