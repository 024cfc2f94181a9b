"""Update triggers for the command line: what makes a real deployment push an update when
``wsharness matrix --upstream`` cannot publish on it.

* :class:`CommandTrigger` (``--trigger COMMAND``) runs a program of the user's, without a shell,
  with the marker as its last argument and in the environment (``WSHARNESS_MARKER``);
* :class:`UrlTrigger` (``--trigger-url URL``) POSTs ``{"marker": "..."}`` as JSON to a URL
  (the simulated CMS answers on ``/wsharness/notifications``).

Both are async callables that meet :class:`~pytest_wsharness.scenario.updates.CallbackUpdates`'s
contract, each bounded by its timeout, and raise
:class:`~pytest_wsharness.errors.TriggerFailed` with what went wrong, secret headers redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import ssl
from pathlib import Path

import aiohttp

from ..errors import TriggerFailed, UsageError
from ..runtime.redact import redact_text
from ..scenario.updates import TRIGGER_TIMEOUT

MARKER_ENV = "WSHARNESS_MARKER"
OUTPUT_LINES = 5  # of a failed command's output, quoted in the error
COMMAND_FORM = (
    "a command line such as 'python make_notification.py --user editor' (split as a shell "
    "would, run without one; the marker is added as the last argument)"
)


def parse_command(value: str, option: str = "--trigger") -> list[str]:
    """Split a ``--trigger`` command line into its argv, and check that the program exists.

    Raises:
        UsageError: it does not split (an open quote), is empty, or names no program on the
            ``PATH``; the message names the option and the form wanted.
    """
    try:
        argv = shlex.split(value)
    except ValueError as error:
        raise UsageError(f"{option} must be {COMMAND_FORM}, got {value!r}: {error}") from None
    if not argv:
        raise UsageError(f"{option} must be {COMMAND_FORM}, got {value!r}")
    if shutil.which(argv[0]) is None:
        raise UsageError(
            f"{option}: program {argv[0]!r} not found: give its path, or one on the PATH"
        )
    return argv


class CommandTrigger:
    """Run a command to make the server push an update.

    The command gets the marker as an extra last argument and as ``WSHARNESS_MARKER``; exit
    status 0 means the server was asked. It runs in a session of its own, so that on a timeout
    the whole group (a shell script's children too) is killed.

    Args:
        argv: the program and its arguments (see :func:`parse_command`).
        timeout: seconds it may run. It defaults to 30.
    """

    def __init__(self, argv: list[str], timeout: float = TRIGGER_TIMEOUT) -> None:
        self.argv = list(argv)
        self.timeout = timeout

    @property
    def name(self) -> str:
        """The command, for messages: its program only, as its arguments may hold secrets."""
        return f"command {self.argv[0]!r}"

    async def __call__(self, marker: str) -> None:
        """Run the command with ``marker``.

        Raises:
            TriggerFailed: it could not start, exited non-zero (the message quotes the end of
                its output) or ran longer than the timeout (it was killed).
        """
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                marker,
                env={**os.environ, MARKER_ENV: marker},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            raise TriggerFailed(self.name, f"could not start: {error.strerror or error}") from None
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.timeout)
        except TimeoutError:
            await _kill(process)
            raise TriggerFailed(
                self.name, f"still running after {self.timeout:g}s, killed"
            ) from None
        except BaseException:  # cancelled: the run is over, the command must not outlive it
            await _kill(process)
            raise
        if process.returncode != 0:
            raise TriggerFailed(self.name, f"exited {process.returncode}{_tail(output)}")

    def __repr__(self) -> str:
        return f"CommandTrigger({self.argv[0]!r}, timeout={self.timeout:g})"


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the command's process group (its children too) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    # Bounded: SIGKILL cannot be ignored, the wait is for the kernel to reap it.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 10)


def _tail(output: bytes) -> str:
    """The last lines of a command's output, secrets redacted, control characters escaped."""
    text = output.decode("utf-8", "replace").strip()
    if not text:
        return " (no output)"
    lines = [redact_text(line) for line in text.splitlines()[-OUTPUT_LINES:]]
    shown = " | ".join(line.encode("unicode_escape").decode("ascii") for line in lines)
    return f": {shown}"


class UrlTrigger:
    """POST ``{"marker": "..."}`` as JSON to a URL to make the server push an update.

    Any 2xx answer means the server was asked; redirects are not followed. Proxy variables of
    the environment are not read: the URL is reached directly.

    Args:
        url: where to POST, ``http(s)://host[:port]/path``.
        timeout: seconds the request may take. It defaults to 30.
        ca_file: for an ``https`` URL, a PEM file of CAs to trust besides the system's (the
            team's own CA, as for ``--upstream-ca``); ``None`` trusts the system's only.
    """

    def __init__(
        self, url: str, timeout: float = TRIGGER_TIMEOUT, *, ca_file: str | Path | None = None
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.ca_file = ca_file

    @property
    def name(self) -> str:
        """The request, for messages."""
        return f"POST {self.url}"

    async def __call__(self, marker: str) -> None:
        """POST the marker.

        Raises:
            TriggerFailed: no 2xx answer (the message quotes the start of the body), no
                connection, or no answer within the timeout.
        """
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        tls: ssl.SSLContext | bool = True  # aiohttp's default: the system's CAs
        if self.ca_file is not None and self.url.startswith("https://"):
            tls = ssl.create_default_context()
            tls.load_verify_locations(cafile=self.ca_file)
        try:
            async with (
                aiohttp.ClientSession(trust_env=False, timeout=timeout) as session,
                session.post(
                    self.url, json={"marker": marker}, allow_redirects=False, ssl=tls
                ) as answer,
            ):
                if not 200 <= answer.status < 300:
                    body = redact_text((await answer.text(errors="replace")).strip())[:200]
                    shown = body.encode("unicode_escape").decode("ascii")
                    raise TriggerFailed(
                        self.name,
                        f"answered HTTP {answer.status}" + (f": {shown}" if shown else ""),
                    )
        except TimeoutError:
            raise TriggerFailed(self.name, f"no answer within {self.timeout:g}s") from None
        except aiohttp.ClientConnectorError as error:
            refused = isinstance(error.os_error, ConnectionRefusedError)
            why = "connection refused" if refused else f"could not connect: {error.os_error}"
            raise TriggerFailed(self.name, why) from None
        except aiohttp.ClientError as error:
            raise TriggerFailed(self.name, f"{type(error).__name__}: {error}") from None

    def __repr__(self) -> str:
        return f"UrlTrigger({self.url!r}, timeout={self.timeout:g})"
