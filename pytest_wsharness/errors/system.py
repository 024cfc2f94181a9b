"""The system under test: the CMS or a real deployment, seen through the proxies (see
:mod:`pytest_wsharness.errors`)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from .base import WsHarnessError

# The system under test: the CMS or a real deployment, seen through the proxies.


class SystemUnderTestError(WsHarnessError):
    """The system under test misbehaved or failed, while the harness ran as asked.

    The system is what a test judges: the CMS's server and edit UI, or a real deployment with
    the team's trigger that makes it push, seen through the proxies (a profile's simulated
    behaviour or a real proxy config). :class:`OutcomeError` is the verdict on a behaviour a test
    asserted; the others say the system failed before a behaviour could be judged (the page did
    not load, the server did not answer, the trigger failed).
    """


class OutcomeError(SystemUnderTestError, AssertionError):
    """The system under test did not do what the test asserted.

    Args:
        expected: the outcome the test asked for.
        explanation: what each hop saw, one clause per hop, on one line (for logs and reports).
        details: the same as ``(label, text)`` pairs (``("proxy did", ...)``): the message then
            lays them out one per line, aligned and wrapped, to read at a glance.
    """

    # The width the laid-out message wraps to: with pytest's "E       " before each line, it
    # fits a 100-column terminal.
    WIDTH = 90

    def __init__(
        self, expected: str, explanation: str, details: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.expected = expected
        self.explanation = explanation
        self.details = tuple(details)
        super().__init__(expected, explanation)

    def __str__(self) -> str:
        if not self.details:
            return f"expected {self.expected}, but {self.explanation}"
        width = max(len(label) for label, _ in self.details) + 2
        lines = [f"expected {self.expected}, but:"]
        for label, text in self.details:
            lead = f"  {label + ':':<{width}}"
            lines += textwrap.wrap(
                text,
                self.WIDTH,
                initial_indent=lead,
                subsequent_indent=" " * len(lead),
                break_on_hyphens=False,
                break_long_words=False,  # a path stays whole, to copy
            ) or [lead.rstrip()]
        return "\n".join(lines)


class PageLoadError(SystemUnderTestError, ConnectionError):
    """The edit UI could not load: a REST call of the page load failed.

    A browser would show an error page; there is no realtime client to judge. The system
    under test's doing: a hop refused or failed the call (a proxy's refusal, an HTTP error, no
    answer). The Python client raises :class:`Inconclusive` instead when the harness's own lag
    explains a late answer.

    Args:
        url: the URL that failed.
        reason: why, e.g. ``TLS certificate verify failed: ...``, ``proxy refused CONNECT: HTTP
            403`` or ``HTTP 502``.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(url, reason)

    def __str__(self) -> str:
        return f"the page could not load: GET {self.url}: {self.reason}"


class UntrustedCertificate(PageLoadError):
    """The page could not load because the server's TLS certificate failed verification.

    Against a real deployment this is most often a certificate from the team's own CA (a
    self-signed or internal one) that nobody told the harness to trust.

    Args:
        url: the URL that failed.
        reason: why, as the client saw it, e.g. ``HTTP 502``.
        server: the server whose certificate was refused, ``https://host[:port]``.
        verified_by: who refused it: ``"the proxy"`` (it speaks TLS to the server) or ``"the
            client"`` (it does, through a forward proxy's tunnel).
        verify_message: what the verification said, e.g. ``unable to get local issuer
            certificate``.
        hint: what to do about it, e.g. ``give its CA with --upstream-ca FILE``; empty when
            there is nothing to suggest.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        server: str,
        verified_by: str,
        verify_message: str,
        hint: str = "",
    ) -> None:
        super().__init__(url, reason)
        self.server = server
        self.verified_by = verified_by
        self.verify_message = verify_message
        self.hint = hint

    def __str__(self) -> str:
        # The cause first: "Server disconnected" or "HTTP 502" alone sends people to the proxy.
        text = (
            f"the certificate of {self.server} is not trusted: {self.verified_by} refused it "
            f"({self.verify_message}), so the page could not load (GET {self.url}: "
            f"{self.reason})"
        )
        return f"{text}; {self.hint}" if self.hint else text


class UpstreamUnreachable(SystemUnderTestError, ConnectionError):
    """The server the proxies are to front (a real deployment) did not answer HTTP when asked
    directly, so no proxy in front of it can be judged.

    Said before any proxy starts, so that the message names the server and what happened
    there, not the harness's own proxy port where the page load would fail.

    Args:
        option: how the user gave the server, e.g. ``--upstream``.
        url: the server, as given.
        what: what happened there, e.g. ``connection refused``, ``no such host 'cms.invalid'``,
            ``not HTTP: it answered 'garbage'`` or ``no answer within 10s``.
    """

    def __init__(self, option: str, url: str, what: str) -> None:
        self.option = option
        self.url = url
        self.what = what
        super().__init__(option, url, what)

    def __str__(self) -> str:
        return f"server {self.url} ({self.option}): {self.what} (asked directly, before any proxy)"


class TriggerFailed(SystemUnderTestError, RuntimeError):
    """The update trigger failed: a real deployment was not made to push an update.

    The trigger is the team's (a ``cms_trigger_update`` override, ``--trigger COMMAND``,
    ``--trigger-url URL``) and acts on the team's server, so this says the deployment's side
    failed (the trigger, or the server it asks), not the harness, the proxy or the UI; no
    scenario can be judged without it.

    Args:
        trigger: what was run, e.g. ``command 'make-update'`` or ``POST http://host/hook``.
        reason: what went wrong, e.g. ``exited 3: no such user`` or ``HTTP 500``.
    """

    def __init__(self, trigger: str, reason: str) -> None:
        self.trigger = trigger
        self.reason = reason
        super().__init__(trigger, reason)

    def __str__(self) -> str:
        return f"update trigger failed: {self.trigger}: {self.reason}"
