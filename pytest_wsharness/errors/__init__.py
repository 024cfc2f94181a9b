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

from .base import WsHarnessError
from .harness import HarnessFailure, HarnessTimeout, Inconclusive, MissingPart, ProxyCrashed
from .system import (
    OutcomeError,
    PageLoadError,
    SystemUnderTestError,
    TriggerFailed,
    UntrustedCertificate,
    UpstreamUnreachable,
)
from .usage import (
    NO_TRIGGER_EXAMPLE,
    ConfigRefused,
    FaultError,
    NoUpdateTrigger,
    ProfileError,
    TimeScaleUnsupported,
    UnknownChoiceError,
    UsageError,
)

# In the order of the tree above: the docs list them so.
__all__ = [  # noqa: RUF022
    "WsHarnessError",
    "UsageError",
    "UnknownChoiceError",
    "ProfileError",
    "FaultError",
    "NoUpdateTrigger",
    "TimeScaleUnsupported",
    "ConfigRefused",
    "SystemUnderTestError",
    "OutcomeError",
    "PageLoadError",
    "UntrustedCertificate",
    "UpstreamUnreachable",
    "TriggerFailed",
    "HarnessFailure",
    "HarnessTimeout",
    "Inconclusive",
    "MissingPart",
    "ProxyCrashed",
    "NO_TRIGGER_EXAMPLE",
]

# Defined in the family modules, named here: the name a failure shows
# (``pytest_wsharness.errors.OutcomeError``) and the one to import and pickle by.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
