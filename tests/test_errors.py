"""Every exception of pytest_wsharness.errors: its exact message, the builtin it inherits and its
family (whose fault it says a failure is)."""

from __future__ import annotations

import pytest

from pytest_wsharness.errors import (
    ConfigRefused,
    FaultError,
    HarnessFailure,
    HarnessTimeout,
    Inconclusive,
    MissingPart,
    NoUpdateTrigger,
    OutcomeError,
    PageLoadError,
    ProfileError,
    ProxyCrashed,
    SystemUnderTestError,
    TimeScaleUnsupported,
    TriggerFailed,
    UnknownChoiceError,
    UntrustedCertificate,
    UpstreamUnreachable,
    UsageError,
    WsHarnessError,
)

CASES = [
    pytest.param(WsHarnessError("plain message"), "plain message", Exception, id="base"),
    pytest.param(UsageError("bad input"), "bad input", ValueError, id="usage"),
    pytest.param(
        SystemUnderTestError("the server said no"), "the server said no", Exception, id="system"
    ),
    pytest.param(HarnessFailure("the harness broke"), "the harness broke", Exception, id="harness"),
    pytest.param(
        UnknownChoiceError("proxy profile", "nginx", ["firewall", "compliant", "buffering"]),
        "unknown proxy profile 'nginx'; valid choices: buffering, compliant, firewall",
        ValueError,
        id="unknown-choice",
    ),
    pytest.param(
        ProfileError("proxies/x.toml", "behaviours[0].status", "700 is out of range 400-599"),
        "bad proxy profile proxies/x.toml: behaviours[0].status: 700 is out of range 400-599",
        ValueError,
        id="profile",
    ),
    pytest.param(
        FaultError("relay 'edge'", "latency.jitter", "must be >= 0, got -1"),
        "relay 'edge': bad fault latency.jitter: must be >= 0, got -1",
        ValueError,
        id="fault",
    ),
    pytest.param(
        TimeScaleUnsupported("apache-short", 2.0, 0.3, "cannot be written in whole seconds", 0.5),
        "real proxy config apache-short cannot run at time scale 0.3: its idle cut, 2 s x 0.3 = "
        "600 ms, cannot be written in whole seconds; the smallest time scale that works is 0.5",
        ValueError,
        id="time-scale-unsupported",
    ),
    pytest.param(
        ConfigRefused("nginx.conf", 12, "include conf.d/*.conf", "paste what it includes"),
        "nginx.conf, line 12: 'include conf.d/*.conf' cannot be run by the harness: paste what "
        "it includes",
        ValueError,
        id="config-refused",
    ),
    pytest.param(
        HarnessTimeout("the socket to open", 2.5),
        "timed out after 2.5s waiting for the socket to open",
        TimeoutError,
        id="timeout",
    ),
    pytest.param(
        HarnessTimeout("a heartbeat echo", 0.123456, seen="HTTP 200"),
        "timed out after 0.123s waiting for a heartbeat echo; seen: HTTP 200",
        TimeoutError,
        id="timeout-seen",
    ),
    pytest.param(
        Inconclusive(
            "the UI to behave as behind compliant (delivered)",
            "180 ms (client and server)",
            0.01,
            0.03,
            "should have got the update live",
        ),
        "inconclusive: the UI to behave as behind compliant (delivered): the harness itself ran "
        "180 ms (client and server) late at time scale 0.03, where 10 ms could change the "
        "outcome; this says nothing about the proxy (a slow or busy machine; a larger "
        "--wsharness-time-scale makes room); seen meanwhile: should have got the update live",
        RuntimeError,
        id="inconclusive",
    ),
    pytest.param(
        ProxyCrashed("firewall", OSError("address in use")),
        "proxy 'firewall' failed in its thread: OSError('address in use')",
        RuntimeError,
        id="proxy-crashed",
    ),
    pytest.param(
        MissingPart("Chromium", "none of chromium is on PATH; apt-get install chromium"),
        "missing Chromium: none of chromium is on PATH; apt-get install chromium",
        RuntimeError,
        id="missing-part",
    ),
    pytest.param(
        PageLoadError("http://127.0.0.1:1/EPiServer/Shell/settings", "HTTP 502"),
        "the page could not load: GET http://127.0.0.1:1/EPiServer/Shell/settings: HTTP 502",
        ConnectionError,
        id="page-load",
    ),
    pytest.param(
        UntrustedCertificate(
            "https://127.0.0.1:1/EPiServer/Shell/settings",
            "HTTP 502",
            server="https://cms.test",
            verified_by="the proxy",
            verify_message="unable to get local issuer certificate",
            hint="give its PEM file with --upstream-ca",
        ),
        "the certificate of https://cms.test is not trusted: the proxy refused it (unable to get "
        "local issuer certificate), so the page could not load (GET "
        "https://127.0.0.1:1/EPiServer/Shell/settings: HTTP 502); give its PEM file with "
        "--upstream-ca",
        ConnectionError,
        id="untrusted-certificate",
    ),
    pytest.param(
        UntrustedCertificate(
            "https://cms.test/EPiServer/Shell/settings",
            "TLS certificate verify failed: certificate has expired",
            server="https://cms.test",
            verified_by="the client",
            verify_message="certificate has expired",
        ),
        "the certificate of https://cms.test is not trusted: the client refused it (certificate "
        "has expired), so the page could not load (GET https://cms.test/EPiServer/Shell/settings:"
        " TLS certificate verify failed: certificate has expired)",
        ConnectionError,
        id="untrusted-certificate-no-hint",
    ),
    pytest.param(
        NoUpdateTrigger("http://localhost:5000"),
        "no update trigger for the real deployment at http://localhost:5000: this test needs "
        "that server to push an update, which the harness cannot publish on a server it does "
        "not run; override the cms_trigger_update fixture in your conftest.py with one that "
        "makes your server create an unread notification (or save a project) carrying the "
        "marker it is given, e.g.\n\n"
        "    @pytest.fixture\n"
        "    def cms_trigger_update():\n"
        "        def trigger(marker):  # called once per scenario, in a thread of its own\n"
        "            my_cms_api.create_notification(subject=marker)  # your server's own API\n"
        "        return trigger",
        ValueError,
        id="no-update-trigger",
    ),
    pytest.param(
        TriggerFailed("command 'make-update'", "exited 3: no such user"),
        "update trigger failed: command 'make-update': exited 3: no such user",
        RuntimeError,
        id="trigger-failed",
    ),
    pytest.param(
        UpstreamUnreachable("--upstream", "http://cms.invalid", "no such host 'cms.invalid'"),
        "server http://cms.invalid (--upstream): no such host 'cms.invalid' (asked directly, "
        "before any proxy)",
        ConnectionError,
        id="upstream-unreachable",
    ),
    pytest.param(
        OutcomeError("delivered", "server answered 200 OK; client closed 1006"),
        "expected delivered, but server answered 200 OK; client closed 1006",
        AssertionError,
        id="outcome",
    ),
]


@pytest.mark.parametrize(("error", "message", "builtin"), CASES)
def test_message_and_builtin(error: WsHarnessError, message: str, builtin: type) -> None:
    assert str(error) == message
    assert message[0].islower()
    assert not message.endswith(".")
    assert isinstance(error, WsHarnessError)
    assert isinstance(error, builtin)


def test_every_exception_is_covered() -> None:
    import pytest_wsharness.errors as module

    defined = {
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Exception)
        and obj.__module__ == module.__name__
    }
    covered = {type(case.values[0]) for case in CASES}
    assert defined == covered


# Whose fault each exception says a failure is (issue 13): the caller's, the system's or the
# harness's own, as h11 keeps LocalProtocolError apart from RemoteProtocolError.
FAMILIES: list[type[WsHarnessError]] = [UsageError, SystemUnderTestError, HarnessFailure]

FAMILY = {
    UsageError: UsageError,
    UnknownChoiceError: UsageError,
    ProfileError: UsageError,
    FaultError: UsageError,
    NoUpdateTrigger: UsageError,
    TimeScaleUnsupported: UsageError,
    ConfigRefused: UsageError,
    SystemUnderTestError: SystemUnderTestError,
    OutcomeError: SystemUnderTestError,
    PageLoadError: SystemUnderTestError,
    UntrustedCertificate: SystemUnderTestError,
    UpstreamUnreachable: SystemUnderTestError,
    TriggerFailed: SystemUnderTestError,
    HarnessFailure: HarnessFailure,
    HarnessTimeout: HarnessFailure,
    Inconclusive: HarnessFailure,
    MissingPart: HarnessFailure,
    ProxyCrashed: HarnessFailure,
}


@pytest.mark.parametrize(("cls", "family"), FAMILY.items(), ids=lambda c: c.__name__)
def test_each_exception_is_in_one_family(cls: type, family: type) -> None:
    assert [f for f in FAMILIES if issubclass(cls, f)] == [family]


def test_every_exception_has_a_family() -> None:
    covered = {type(case.values[0]) for case in CASES}
    assert set(FAMILY) == covered - {WsHarnessError}


def test_the_families_keep_no_builtin_but_usage_errors_value_error() -> None:
    # A family adds a way to catch, never a builtin: an existing except clause catches what it
    # caught before. UsageError was a ValueError before it was a family.
    assert UsageError.__bases__ == (WsHarnessError, ValueError)
    assert SystemUnderTestError.__bases__ == (WsHarnessError,)
    assert HarnessFailure.__bases__ == (WsHarnessError,)


def test_usage_and_outcome_families_are_apart() -> None:
    assert not issubclass(ProfileError, AssertionError)
    assert not issubclass(OutcomeError, ValueError)
    assert issubclass(UnknownChoiceError, UsageError)
    assert issubclass(ProfileError, UsageError)


def test_fault_error_is_still_where_it_was_defined() -> None:
    from pytest_wsharness.relay import FaultError as from_relay
    from pytest_wsharness.relay.faults import FaultError as from_faults

    assert from_faults is from_relay is FaultError
    assert issubclass(FaultError, ProfileError)


def test_structured_attributes_are_kept() -> None:
    cause = ValueError("boom")
    crashed = ProxyCrashed("compliant", cause)
    assert (crashed.profile, crashed.error) == ("compliant", cause)
    choice = UnknownChoiceError("topic", "/x", {"b", "a"})
    assert (choice.what, choice.value, choice.choices) == ("topic", "/x", ["a", "b"])
    untrusted = UntrustedCertificate(
        "u", "r", server="s", verified_by="the client", verify_message="m", hint="h"
    )
    assert isinstance(untrusted, PageLoadError)
    assert (untrusted.url, untrusted.reason, untrusted.server) == ("u", "r", "s")
    assert (untrusted.verified_by, untrusted.verify_message, untrusted.hint) == (
        "the client",
        "m",
        "h",
    )
    timeout = HarnessTimeout("x", 1.0, "y")
    assert (timeout.waiting_for, timeout.timeout, timeout.seen) == ("x", 1.0, "y")


def test_an_outcome_with_details_reads_one_line_a_hop() -> None:
    long_path = "/tmp/" + "x" * 120 + "/failure.png"
    error = OutcomeError(
        "updates delivered",
        "one line for logs",
        [
            ("proxy did", "header-stripping removed Connection, Upgrade, forwarded the request"),
            ("diagnosis", "The upgrade headers were stripped on the way: " + "word " * 30),
            ("screenshot", long_path),
        ],
    )
    lines = str(error).splitlines()
    assert lines[0] == "expected updates delivered, but:"
    assert lines[1] == (
        "  proxy did:  header-stripping removed Connection, Upgrade, forwarded the request"
    )
    # Wrapped under its value, to the width that fits a terminal beside pytest's "E".
    assert lines[2].startswith("  diagnosis:  The upgrade headers")
    assert lines[3].startswith(" " * 14 + "word")
    assert all(len(line) <= OutcomeError.WIDTH for line in lines if "x" * 10 not in line)
    # A path is never cut in two: it is there to be copied.
    assert f"  screenshot: {long_path}" in lines
    # The one-line form is kept for logs and reports.
    assert error.explanation == "one line for logs"
