"""A team's own CA, given for an ``https`` upstream: checked as a file TLS can load, and what
a certificate verification failure said, wherever it is quoted."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from ..errors import UsageError

CA_FILE_FORM = "a PEM file of CA certificates"
# What Python's ssl, mitmproxy and the client say when verification fails, wherever it is
# quoted (a repr in a relay record ends with "(_ssl.c:1006)')"): the reason is what follows.
_VERIFY_FAILED = re.compile(
    r"certificate verify failed: (?P<why>.+?)(?: \(_ssl\.c:\d+\))?['\"]?\)?$",
    re.IGNORECASE | re.DOTALL,
)
# OpenSSL's words for an issuer it does not know, the one failure a CA file cures.
_UNKNOWN_ISSUER = ("issuer", "self-signed", "self signed")


def check_ca_file(value: str | Path, option: str) -> Path:
    """Return ``value`` as a path if it is a PEM file of CA certificates that TLS can load.

    Args:
        value: the file given.
        option: how the user gave it, for the message, e.g. ``"--upstream-ca"``.

    Raises:
        UsageError: no such file, a folder, unreadable, or no PEM certificate in it; the
            message names the option, the value and what is wrong.
    """
    path = Path(value)
    if path.is_dir():
        why = "it is a folder"
    elif not path.exists():
        why = "no such file"
    else:
        try:
            # What the client, the relay and the trigger do with it: it must load there.
            ssl.create_default_context().load_verify_locations(cafile=path)
        except ssl.SSLError as error:
            if error.reason == "NO_CERTIFICATE_OR_CRL_FOUND":
                why = "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            else:
                text = re.sub(r" \(_ssl\.c:\d+\)$", "", error.strerror or str(error))
                why = f"its PEM does not parse: {text}"
        except OSError as error:
            why = f"it cannot be read: {error.strerror or error}"
        else:
            return path
    raise UsageError(f"{option} must be {CA_FILE_FORM}, got {str(value)!r}: {why}")


def check_upstream_ca(
    value: str | Path | None, upstream: str | None, *, option: str, upstream_option: str
) -> Path | None:
    """Check a CA file given for the upstream ``upstream`` (see :func:`check_ca_file`).

    Args:
        value: the file given, or ``None``.
        upstream: the server it is for (checked by
            :func:`~pytest_wsharness.runtime.urls.check_url`), or ``None``.
        option: how the user gave ``value``, for the message.
        upstream_option: how the user gives ``upstream``, for the message.

    Returns:
        The file's path; ``None`` when none was given.

    Raises:
        UsageError: ``upstream`` is not ``https`` (no certificate to trust) or missing, or
            the file is not a PEM file of CAs; the message names the options and the values.
    """
    if value is None:
        return None
    if upstream is None or not upstream.startswith("https://"):
        got = f"got {upstream!r}" if upstream else "none was given"
        raise UsageError(
            f"{option} needs an https:// {upstream_option}, the server whose certificate its "
            f"CAs are to verify; {got}"
        )
    return check_ca_file(value, option)


def verify_failure(text: str) -> str | None:
    """What a certificate verification said, quoted anywhere in ``text`` (a relay record, a
    mitmproxy error, the client's reason), e.g. ``unable to get local issuer certificate``;
    ``None`` when ``text`` reports no verification failure."""
    found = _VERIFY_FAILED.search(text)
    return found["why"] if found else None
