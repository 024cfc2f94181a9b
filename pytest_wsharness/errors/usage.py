"""You: the harness was misused or misconfigured (see :mod:`pytest_wsharness.errors`)."""

from __future__ import annotations

from collections.abc import Iterable

from .base import WsHarnessError

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
