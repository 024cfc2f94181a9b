"""Exceptions raised by pytest-wsharness.

Each exception says whose fault a failure is, as h11's LocalProtocolError and
RemoteProtocolError do: it belongs to one of three families, each a class to ``except`` on.
Each also inherits the builtin its meaning matches, so ``except ValueError`` and
``pytest.raises(TimeoutError)`` work too.

* WsHarnessError: everything pytest-wsharness raises.
    * UsageError (ValueError): you. The harness was misused or misconfigured (a test, a fixture
      override, an option, a profile or config file); change what the message names.
        * UnknownChoiceError: a name that is not one of the valid choices.
        * ProfileError: a proxy profile file is malformed.
            * FaultError: a fault given to a relay in code (not in a profile file) is malformed.
        * NoUpdateTrigger: a scenario needs an update from a real deployment, and nothing
          says how to make it push one (the ``cms_trigger_update`` fixture is not overridden).
        * TimeScaleUnsupported: a real proxy config cannot run at the time scale asked for
          (its idle cut, scaled, is too short or cannot be written); the fixture skips on it.
        * ConfigRefused: a team's own proxy config holds something the harness cannot run
          safely or faithfully (an include, an address it cannot rewrite, a relay elsewhere).
    * SystemUnderTestError: the system under test. The CMS (its server, its edit UI) or a real
      deployment, seen through the proxies, misbehaved or failed while the harness ran as asked.
        * OutcomeError (AssertionError): it did not behave as asserted; the message says what
          each hop saw. The one verdict on a behaviour; the others stop before one.
        * PageLoadError (ConnectionError): the edit UI's page load failed through the hops (a
          proxy's refusal, an HTTP error, no answer).
            * UntrustedCertificate: it failed because the proxy or the client refused the
              server's TLS certificate (a real deployment's own CA, not given to the harness).
        * UpstreamUnreachable (ConnectionError): the real deployment given as the upstream does
          not answer HTTP when asked directly (refused, no such host, not HTTP, no answer).
        * TriggerFailed (RuntimeError): the team's update trigger (a command, a URL, a fixture)
          failed to make a real deployment push an update: the deployment's side, not the
          proxy's or the UI's.
    * HarnessFailure: the harness itself. Its own parts or its machine could not run or judge
      the scenario; no verdict about the system under test.
        * HarnessTimeout (TimeoutError): an awaited event did not happen before its deadline.
          Most such waits are the harness's own (a thread to start or end, a proxy to listen);
          a wait on the UI may have expired through the system's doing, and its message says
          what the client saw.
        * Inconclusive (RuntimeError): the harness itself ran too late to judge a scenario (its
          event loops or the page's timers lagged more than the scenario's timings allow). The
          plugin re-runs such a test at a larger time scale.
        * MissingPart (RuntimeError): a system part a feature needs (Chromium, Playwright) is not
          installed; tests skip on it with its message.
        * ProxyCrashed (RuntimeError): a proxy the harness runs failed (its thread raised, a real
          proxy's process exited while starting, its image did not build); re-raised in the
          test.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence


class WsHarnessError(Exception):
    """Base class of every exception raised by pytest-wsharness.

    Each one is also in one family, which says whose fault it is: :class:`UsageError` (the
    caller's), :class:`SystemUnderTestError` (the system's) or :class:`HarnessFailure` (the
    harness's own).
    """


# You: the harness was misused or misconfigured.


class UsageError(WsHarnessError, ValueError):
    """The harness was misused or misconfigured: the fault is its caller's.

    A test, a fixture override, an option, a profile file or a proxy config asked for something
    the harness cannot do; the message names it and, where there is a fixed set, the valid
    choices. Raised before anything starts wherever the input allows it.
    """


class UnknownChoiceError(UsageError):
    """A name that is not one of the valid choices.

    Args:
        what: what the name names, e.g. ``"proxy profile"``.
        value: the name that was given.
        choices: every valid name.
    """

    def __init__(self, what: str, value: object, choices: Iterable[str]) -> None:
        self.what = what
        self.value = value
        self.choices = sorted(choices)
        super().__init__(what, value, self.choices)

    def __str__(self) -> str:
        return f"unknown {self.what} {self.value!r}; valid choices: {', '.join(self.choices)}"


class ProfileError(UsageError):
    """A proxy profile file is malformed.

    Args:
        path: the profile file.
        key: the key at fault (dotted for nested keys).
        problem: what is wrong, including the valid values where there is a fixed set.
    """

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        super().__init__(path, key, problem)

    def __str__(self) -> str:
        return f"bad proxy profile {self.path}: {self.key}: {self.problem}"


class FaultError(ProfileError):
    """A fault given to a relay in code (not in a profile file) is malformed.

    Args:
        path: the relay, e.g. ``relay 'edge'``.
        key: the fault and parameter at fault, e.g. ``latency.jitter``.
        problem: what is wrong, including the valid values where there is a fixed set.
    """

    def __str__(self) -> str:
        return f"{self.path}: bad fault {self.key}: {self.problem}"


NO_TRIGGER_EXAMPLE = """\
    @pytest.fixture
    def cms_trigger_update():
        def trigger(marker):  # called once per scenario, in a thread of its own
            my_cms_api.create_notification(subject=marker)  # your server's own API
        return trigger"""


class NoUpdateTrigger(UsageError):
    """A scenario needs a real deployment to push an update, and nothing says how.

    The harness publishes on the simulated CMS itself; on a server it does not run, the team's
    ``cms_trigger_update`` fixture (or the command's ``--trigger``) makes the server push one.

    Args:
        url: the real deployment.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(url)

    def __str__(self) -> str:
        return (
            f"no update trigger for the real deployment at {self.url}: this test needs that "
            "server to push an update, which the harness cannot publish on a server it does not "
            "run; override the cms_trigger_update fixture in your conftest.py with one that "
            "makes your server create an unread notification (or save a project) carrying the "
            f"marker it is given, e.g.\n\n{NO_TRIGGER_EXAMPLE}"
        )


class TimeScaleUnsupported(UsageError):
    """A real proxy config cannot run at a time scale: its idle cut, scaled, is too short for a
    real proxy or cannot be written in the software's notation.

    Args:
        config: the real config's name.
        idle_timeout: its idle cut at time scale 1, in seconds.
        time_scale: the time scale asked for.
        problem: what is wrong with the scaled cut.
        smallest: the smallest time scale that works.
    """

    def __init__(
        self, config: str, idle_timeout: float, time_scale: float, problem: str, smallest: float
    ) -> None:
        self.config = config
        self.idle_timeout = idle_timeout
        self.time_scale = time_scale
        self.problem = problem
        self.smallest = smallest
        super().__init__(config, idle_timeout, time_scale, problem, smallest)

    def __str__(self) -> str:
        scaled = self.idle_timeout * self.time_scale
        shown = f"{scaled * 1000:.3g} ms" if scaled < 1 else f"{scaled:.3g} s"
        return (
            f"real proxy config {self.config} cannot run at time scale {self.time_scale:g}: its "
            f"idle cut, {self.idle_timeout:g} s x {self.time_scale:g} = {shown}, {self.problem}; "
            f"the smallest time scale that works is {self.smallest:.3g}"
        )


class ConfigRefused(UsageError):
    """A team's own proxy config (``--config FILE``) holds something the harness cannot rewrite
    to run on 127.0.0.1 in front of its upstream only.

    Args:
        source: the file.
        line: the line of the directive, 1-based; 0 for the file as a whole.
        directive: the directive as written (or what is missing).
        why: why it cannot be run, and what to write instead.
    """

    def __init__(self, source: str, line: int, directive: str, why: str) -> None:
        self.source = source
        self.line = line
        self.directive = directive
        self.why = why
        super().__init__(source, line, directive, why)

    def __str__(self) -> str:
        where = f"{self.source}, line {self.line}" if self.line else self.source
        return f"{where}: {self.directive!r} cannot be run by the harness: {self.why}"


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


# The harness itself: its own parts and the machine it runs on.


class HarnessFailure(WsHarnessError):
    """The harness itself could not run or judge a scenario: no verdict about the system.

    Its own parts failed or ran too late (a proxy or relay thread, a real proxy's process, its
    event loops, a browser's timers), or a part it needs is not installed. The message says
    which; a larger time scale, a quieter machine or the missing part is the usual remedy.
    """


class HarnessTimeout(HarnessFailure, TimeoutError):
    """An awaited event did not happen before its deadline.

    A harness failure: most waits that raise it are the harness's own (a proxy, relay or event
    loop thread to start, listen or end; a control call; another worker's image build). A wait
    on the UI raises it too (a client's ``wait_for``, a first connect to settle, a browser page
    to load), and there the system may be why: ``seen`` says what the client saw. A scenario
    whose wait expired while the harness lagged raises :class:`Inconclusive` instead; a verdict
    about the system is an :class:`OutcomeError`, never this.

    Args:
        waiting_for: what was awaited.
        timeout: the deadline in seconds.
        seen: what was seen instead, for the message.
    """

    def __init__(self, waiting_for: str, timeout: float, seen: str = "") -> None:
        self.waiting_for = waiting_for
        self.timeout = timeout
        self.seen = seen
        super().__init__(waiting_for, timeout, seen)

    def __str__(self) -> str:
        text = f"timed out after {self.timeout:.3g}s waiting for {self.waiting_for}"
        return f"{text}; seen: {self.seen}" if self.seen else text


class Inconclusive(HarnessFailure, RuntimeError):
    """The harness ran too late to judge a scenario: not a verdict about the proxy.

    Args:
        what: what was being judged, e.g. ``the UI to behave as behind compliant``.
        lag: how late the harness ran at worst, e.g. ``180 ms (client and server)``.
        limit: the lag in seconds above which the outcome could have changed.
        time_scale: the scenario's time scale.
        seen: what came out meanwhile (the would-be verdict, or the wait that expired).
    """

    def __init__(self, what: str, lag: str, limit: float, time_scale: float, seen: str) -> None:
        self.what = what
        self.lag = lag
        self.limit = limit
        self.time_scale = time_scale
        self.seen = seen
        super().__init__(what, lag, limit, time_scale, seen)

    def __str__(self) -> str:
        return (
            f"inconclusive: {self.what}: the harness itself ran {self.lag} late at time scale "
            f"{self.time_scale:g}, where {self.limit * 1000:.0f} ms could change the outcome; "
            f"this says nothing about the proxy (a slow or busy machine; a larger "
            f"--wsharness-time-scale makes room); seen meanwhile: {self.seen}"
        )


class MissingPart(HarnessFailure, RuntimeError):
    """A system part a feature needs is not installed.

    Args:
        part: the part, e.g. ``"Chromium"``.
        how: what was looked for, and how to install it.
    """

    def __init__(self, part: str, how: str) -> None:
        self.part = part
        self.how = how
        super().__init__(part, how)

    def __str__(self) -> str:
        return f"missing {self.part}: {self.how}"


class ProxyCrashed(HarnessFailure, RuntimeError):
    """The proxy's thread raised; the original exception is the ``__cause__``.

    Args:
        profile: the profile the proxy ran.
        error: the exception raised in the proxy thread.
    """

    def __init__(self, profile: str, error: BaseException) -> None:
        self.profile = profile
        self.error = error
        super().__init__(profile, error)

    def __str__(self) -> str:
        return f"proxy {self.profile!r} failed in its thread: {self.error!r}"
