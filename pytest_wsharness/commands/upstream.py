"""``wsharness matrix --upstream URL``: the options that put the proxies in front of a CMS a
team runs, and reading them into a :class:`~pytest_wsharness.upstream.deployment.RealDeployment`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..profiles import Profile
from ..upstream.deployment import RealDeployment
from .args import positive_number

UPSTREAM_HELP = UPSTREAM_HELP = """\
Put the proxies in front of a CMS you run (a dev instance, http://localhost:5000) instead of
the simulated one. The harness cannot publish on it, so a trigger makes it push each
scenario's update: an unread notification (the badge rises), or a saved project whose fields
carry the marker, for the user the page loads as. Each profile runs once, with the server's
own WebSocketEnabled, one scenario at a time; a profile that changes the server (its [server]
table: no WebSocket feature, TLS, a restart, two backends) is left out, with a line saying so.
A trigger that fails stops the run (exit 1), as does a page that does not load (a refused
certificate: give its CA with --upstream-ca)."""
NO_TRIGGER = (
    "--upstream needs a trigger, to make your CMS push each scenario's update: --trigger "
    "COMMAND (run with the marker as its last argument and in WSHARNESS_MARKER) or "
    '--trigger-url URL (POSTed {"marker": "..."} as JSON)'
)


def add_upstream_options(matrix: argparse.ArgumentParser) -> None:
    from ..scenario.updates import TRIGGER_TIMEOUT

    real = matrix.add_argument_group("against your own CMS", UPSTREAM_HELP)
    real.add_argument(
        "--upstream",
        metavar="URL",
        help="your CMS, http(s)://host[:port]; needs --trigger or --trigger-url",
    )
    how = real.add_mutually_exclusive_group()
    how.add_argument(
        "--trigger",
        metavar="COMMAND",
        help="run COMMAND, split as a shell would but run without one, with the marker as its "
        "last argument and in $WSHARNESS_MARKER; exit status 0 means the update was made, e.g. "
        "--trigger './make-notification --user editor'",
    )
    how.add_argument(
        "--trigger-url",
        metavar="URL",
        help='POST {"marker": "..."} as JSON to URL; a 2xx answer means the update was made '
        "(the simulated CMS answers on /wsharness/notifications)",
    )
    real.add_argument(
        "--trigger-timeout",
        type=positive_number,
        default=None,
        metavar="S",
        help=f"seconds a trigger may take before it counts as failed (default {TRIGGER_TIMEOUT:g})",
    )
    real.add_argument(
        "--upstream-ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="a PEM file of CAs to trust, besides the system's, for an https --upstream whose "
        "certificate your own CA issued (self-signed or internal); an https --trigger-url "
        "trusts them too",
    )


def real_deployment(
    args: argparse.Namespace, chosen: list[Profile]
) -> tuple[RealDeployment | None, list[Profile], list[tuple[str, str]]]:
    """Read ``--upstream`` and its trigger: the deployment, the profiles that can run against
    it and those left out with the reason.

    Raises:
        UsageError: a bad URL or command, a trigger without ``--upstream`` or the reverse, an
            ``--upstream-ca`` that is not a PEM file of CAs or comes without an ``https``
            ``--upstream``, or no profile left to run.
        UpstreamUnreachable: ``--upstream`` does not answer HTTP when asked directly.
    """
    from ..runtime.urls import check_url, parse_url
    from ..upstream.certificates import check_upstream_ca
    from ..upstream.eligibility import browser_left_out_reason, left_out_reason
    from ..upstream.reachable import check_reachable

    trigger_given = args.trigger is not None or args.trigger_url is not None
    ca_options = {"option": "--upstream-ca", "upstream_option": "--upstream"}
    if args.upstream is None:
        check_upstream_ca(args.upstream_ca, None, **ca_options)  # refused when given
        for option, value in (
            ("--trigger", args.trigger),
            ("--trigger-url", args.trigger_url),
            ("--trigger-timeout", args.trigger_timeout),
        ):
            if value is not None:
                raise UsageError(
                    f"{option} needs --upstream URL: against the simulated CMS the harness "
                    "publishes the updates itself"
                )
        return None, chosen, []
    from ..scenario.updates import TRIGGER_TIMEOUT
    from ..upstream.triggers import CommandTrigger, UrlTrigger, parse_command

    upstream = parse_url(args.upstream, "--upstream")
    url = upstream.text
    ca = check_upstream_ca(args.upstream_ca, url, **ca_options)
    if not trigger_given:
        raise UsageError(NO_TRIGGER)
    timeout = args.trigger_timeout or TRIGGER_TIMEOUT
    trigger: CommandTrigger | UrlTrigger
    if args.trigger is not None:
        trigger = CommandTrigger(parse_command(args.trigger), timeout)
    else:
        trigger_url = check_url(args.trigger_url, "--trigger-url", path=True)
        trigger = UrlTrigger(trigger_url, timeout, ca_file=ca)

    def why_not(profile: Profile) -> str | None:
        reason = left_out_reason(profile)
        if reason is None and args.browser:
            reason = browser_left_out_reason(profile, url)
        return reason

    left_out = [(p.name, why) for p in chosen if (why := why_not(p)) is not None]
    runnable = [p for p in chosen if why_not(p) is None]
    if not runnable:
        reasons = "; ".join(f"{name} {why}" for name, why in left_out)
        raise UsageError(f"no profile left to run against {url}: {reasons}")
    deployment = RealDeployment(url, trigger, upstream_ca=ca, ca_option="--upstream-ca")
    # Last, once everything else is known good: the only check that sends traffic.
    check_reachable(upstream, "--upstream", path=deployment.routes.settings)
    return deployment, runnable, left_out
