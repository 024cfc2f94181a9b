"""Against a real ``https`` deployment whose certificate comes from a CA of its own.

The "team's dev instance" is a simulated CMS serving https with a certificate from a
:class:`~pytest_wsharness.runtime.tls.TestCA` made here, which the system does not trust, as a
self-signed or internal CA is not; ``--wsharness-upstream-ca`` hands its PEM file to the
proxies and the client. Acceptance tests run the plugin with ``pytester``, over real sockets on
127.0.0.1; the rest test the parts without pytest.
"""

from __future__ import annotations

import ssl
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_wsharness.errors import PageLoadError, UntrustedCertificate, UsageError
from pytest_wsharness.runtime.tls import TestCA
from pytest_wsharness.server import SimulatedCMS
from pytest_wsharness.server.cms import NOTIFICATION_HOOK
from pytest_wsharness.upstream.certificates import (
    CA_FILE_FORM,
    check_ca_file,
    check_upstream_ca,
    verify_failure,
)
from pytest_wsharness.upstream.deployment import RealDeployment

CA_OPTION = "--wsharness-upstream-ca / wsharness_upstream_ca"
UPSTREAM_OPTION = "--wsharness-upstream / wsharness_upstream"
NOT_TRUSTED = "unable to get local issuer certificate"


# The team's conftest: its trigger creates a notification through the server's HTTPS API,
# trusting the server's CA as the proxies do.
TRIGGER = """
    import json
    import ssl
    import urllib.request

    import pytest


    @pytest.fixture
    def cms_trigger_update(wsharness_upstream, wsharness_upstream_ca):
        \"\"\"Create an unread notification through the team server's API.\"\"\"
        tls = ssl.create_default_context(cafile=wsharness_upstream_ca)
        # No proxy from the environment: the server is on loopback.
        direct = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=tls)
        )

        def trigger(marker):
            request = urllib.request.Request(
                wsharness_upstream + "/wsharness/notifications",
                data=json.dumps({"marker": marker}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with direct.open(request, timeout=10) as answer:
                assert answer.status == 201, answer.status

        return trigger
"""

# The same fixtures as examples/real_deployment/conftest.py, for an https server: the server
# is started here, and the two upstream fixtures are overridden instead of given as options.
SERVER_CONFTEST = (
    TRIGGER
    + """

    from pytest_wsharness.runtime.loopthread import LoopThread
    from pytest_wsharness.server import SimulatedCMS
    from pytest_wsharness.runtime.tls import TestCA


    @pytest.fixture
    def team_cms(tmp_path):
        \"\"\"The team's https dev instance, with a certificate from a CA of its own: its URL
        and the CA's PEM file.\"\"\"
        ca = TestCA()
        loop = LoopThread(name="wsharness-team-cms")
        try:
            cms = loop.enter(SimulatedCMS(ssl=ca.issue().server_context()), 30.0)
            yield cms.url, ca.write(tmp_path)
        finally:
            loop.close()


    @pytest.fixture
    def wsharness_upstream(team_cms):
        return team_cms[0]


    @pytest.fixture
    def wsharness_upstream_ca(team_cms):
        return team_cms[1]
"""
)

OUTCOMES = """
    import pytest
    from pytest_wsharness.assertions import assert_fell_back, assert_updates_delivered


    @pytest.mark.wsharness_profiles("compliant")
    def test_delivered(cms_client, cms_server, cms_proxy):
        assert cms_server.url.startswith("https://")
        assert cms_server.upstream_ca is not None
        observation = assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
        assert observation.live


    @pytest.mark.wsharness_profiles("header-stripping")
    def test_falls_back(cms_client, cms_server, cms_proxy):
        assert_fell_back(cms_client, cms_server, proxy=cms_proxy)
"""


@dataclass
class Team:
    """The team's https server and the PEM file of the CA its certificate comes from."""

    cms: SimulatedCMS
    ca_file: Path


@pytest.fixture
def team(team_server: Callable[..., SimulatedCMS], tmp_path: Path) -> Team:
    """The team's dev instance over https, on a loop of its own, as its own process would be."""
    ca = TestCA()
    return Team(team_server(ssl=ca.issue().server_context()), ca.write(tmp_path / "team-ca"))


def _hooks(team: Team) -> list[int]:
    return [r.status for r in team.cms.requests if r.path == NOTIFICATION_HOOK]


# The option, end to end.


def test_with_the_servers_ca_the_proxies_and_the_client_trust_it(
    inner: pytest.Pytester, team: Team
) -> None:
    inner.makeconftest(textwrap.dedent(TRIGGER))
    inner.makepyfile(test_inner=textwrap.dedent(OUTCOMES))
    url = team.cms.url
    # "=": a path after a space would count as a test path when pytest looks for its ini.
    result = inner.runpytest(
        "-v", "--wsharness-upstream", url, f"--wsharness-upstream-ca={team.ca_file}"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"wsharness: * upstream: {url} (also trusting {team.ca_file})"])
    # The relay (compliant) and mitmproxy (header-stripping) both spoke TLS to the server: it
    # saw the upgrade one passed and the plain GET the other left, and one trigger call each.
    endpoint = [r.status for r in team.cms.requests if r.path == team.cms.routes.endpoint]
    assert 101 in endpoint
    assert 200 in endpoint
    assert _hooks(team) == [201, 201]
    assert team.cms.content.unread == 2


def test_without_it_the_failure_says_the_certificate_is_not_trusted(
    inner: pytest.Pytester, team: Team
) -> None:
    inner.makeconftest(textwrap.dedent(TRIGGER))
    inner.makepyfile(test_inner=textwrap.dedent(OUTCOMES))
    url = team.cms.url
    result = inner.runpytest("--wsharness-upstream", url)
    result.assert_outcomes(errors=2)
    said = (
        f"E *UntrustedCertificate: the certificate of {url} is not trusted: the proxy refused "
        f"it ({NOT_TRUSTED}), so the page could not load (GET https://127.0.0.1:*"
        "/EPiServer/Shell/settings: {}); if a CA of your own issued it (self-signed or "
        f"internal), give its PEM file with {CA_OPTION}"
    )
    # The relay drops the client (a disconnect or a reset, as the timing falls); mitmproxy
    # answers 502: neither says why on its own.
    result.stdout.fnmatch_lines([said.format("*"), said.format("HTTP 502")])
    # No handshake through a proxy completed: only the harness's own look, directly and
    # without verifying, at whether the server is there reached it, once.
    assert [r.path for r in team.cms.requests] == [team.cms.routes.settings]


def test_a_ca_that_did_not_issue_the_certificate_is_named(
    inner: pytest.Pytester, team: Team, tmp_path: Path
) -> None:
    other = TestCA().write(tmp_path / "other")
    inner.makepyfile(
        test_inner=textwrap.dedent(
            """
        import pytest

        @pytest.mark.wsharness_profiles("compliant")
        def test_loads(cms_client):
            pass
        """
        )
    )
    result = inner.runpytest(
        "--wsharness-upstream", team.cms.url, f"--wsharness-upstream-ca={other}"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"E *UntrustedCertificate: *; none of the CAs in {other} ({CA_OPTION}) issued it"]
    )


def test_fixtures_may_start_the_server_and_name_its_ca(inner: pytest.Pytester) -> None:
    inner.makeconftest(textwrap.dedent(SERVER_CONFTEST))
    inner.makepyfile(
        test_inner=textwrap.dedent(
            """
        import pytest
        from pytest_wsharness.assertions import assert_updates_delivered

        @pytest.mark.wsharness_profiles("compliant")
        def test_delivered(cms_client, cms_server, cms_proxy, team_cms):
            assert (cms_server.url, cms_server.upstream_ca) == team_cms
            assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
        """
        )
    )
    result = inner.runpytest()
    result.assert_outcomes(passed=1)


def test_the_ini_value_is_relative_to_the_ini_file(
    pytester: pytest.Pytester, write_ini: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens there: the test only reads the fixtures.
    write_ini("wsharness_upstream = https://127.0.0.1:9", "wsharness_upstream_ca = certs/ca.pem")
    ca_file = TestCA().write(pytester.path / "certs").rename(pytester.path / "certs" / "ca.pem")
    pytester.makepyfile(
        test_inner=f"""
def test_ca(cms_server, wsharness_upstream_ca):
    assert str(wsharness_upstream_ca) == {str(ca_file)!r}
    assert cms_server.upstream_ca == wsharness_upstream_ca
"""
    )
    # Run from elsewhere: the value is the ini file's, not the working folder's.
    (pytester.path / "sub").mkdir()
    monkeypatch.chdir(pytester.path / "sub")
    result = pytester.runpytest(str(pytester.path))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["wsharness: * upstream: https://127.0.0.1:9 (also trusting *)"])


@pytest.mark.parametrize(
    ("upstream", "ca", "message"),
    [
        (
            "https://127.0.0.1:9",
            "missing.pem",
            f"{CA_OPTION} must be {CA_FILE_FORM}, got '{{dir}}/missing.pem': no such file",
        ),
        (
            "https://127.0.0.1:9",
            "notes.pem",
            f"{CA_OPTION} must be {CA_FILE_FORM}, got '{{dir}}/notes.pem': it holds no PEM "
            "certificate (-----BEGIN CERTIFICATE-----)",
        ),
        (
            "https://127.0.0.1:9",
            "certs",
            f"{CA_OPTION} must be {CA_FILE_FORM}, got '{{dir}}/certs': it is a folder",
        ),
        (
            None,
            "ca.pem",
            f"{CA_OPTION} needs an https:// {UPSTREAM_OPTION}, the server whose certificate its "
            "CAs are to verify; none was given",
        ),
        (
            "http://127.0.0.1:9",
            "ca.pem",
            f"{CA_OPTION} needs an https:// {UPSTREAM_OPTION}, the server whose certificate its "
            "CAs are to verify; got 'http://127.0.0.1:9'",
        ),
    ],
)
def test_a_bad_ca_option_is_a_usage_error(
    inner: pytest.Pytester, upstream: str | None, ca: str, message: str
) -> None:
    TestCA().write(inner.path).rename(inner.path / "ca.pem")
    (inner.path / "notes.pem").write_text("not a certificate\n", encoding="utf-8")
    (inner.path / "certs").mkdir()
    inner.makepyfile(test_inner="def test_nothing():\n    pass\n")
    args = [f"--wsharness-upstream-ca={ca}"]
    if upstream is not None:
        args += ["--wsharness-upstream", upstream]
    result = inner.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message.format(dir=inner.path) in result.stderr.str()


def test_a_bad_ini_ca_is_a_usage_error_too(
    inner: pytest.Pytester,
    write_ini: Callable[..., None],
) -> None:
    write_ini("wsharness_upstream_ca = nope.pem")
    inner.makepyfile(test_inner="def test_nothing():\n    pass\n")
    result = inner.runpytest("--wsharness-upstream", "https://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*{CA_OPTION} must be {CA_FILE_FORM}, got '{inner.path}/nope.pem': no such file*"]
    )


# The parts, without pytest.


def test_check_ca_file_accepts_a_pem_of_cas_and_refuses_the_rest(tmp_path: Path) -> None:
    ca = TestCA()
    good = ca.write(tmp_path)
    assert check_ca_file(good, "--upstream-ca") == good
    assert check_ca_file(str(good), "--upstream-ca") == good
    der = tmp_path / "ca.cer"
    der.write_bytes(ssl.PEM_cert_to_DER_cert(ca.pem))
    key = tmp_path / "key.pem"
    key.write_text(ca.issue().key_pem)
    cut = tmp_path / "cut.pem"
    cut.write_text(ca.pem[:120] + "\n-----END CERTIFICATE-----\n")
    for path, why in [
        (der, "it holds no PEM certificate"),
        (key, "it holds no PEM certificate"),
        (cut, "its PEM does not parse: "),
        (tmp_path, "it is a folder"),
        (tmp_path / "none.pem", "no such file"),
    ]:
        with pytest.raises(UsageError) as refused:
            check_ca_file(path, "--upstream-ca")
        assert str(refused.value).startswith(
            f"--upstream-ca must be {CA_FILE_FORM}, got {str(path)!r}: {why}"
        )


def test_check_upstream_ca_needs_an_https_upstream(tmp_path: Path) -> None:
    good = TestCA().write(tmp_path)
    options = {"option": "--upstream-ca", "upstream_option": "--upstream"}
    assert check_upstream_ca(None, None, **options) is None
    assert check_upstream_ca(good, "https://cms.test", **options) == good
    with pytest.raises(UsageError, match=r"; got 'http://cms\.test'$"):
        check_upstream_ca(good, "http://cms.test", **options)
    with pytest.raises(UsageError, match=r"needs an https:// --upstream, .*; none was given$"):
        check_upstream_ca(good, None, **options)
    with pytest.raises(UsageError, match="needs an https:// URL"):
        RealDeployment("http://cms.test", upstream_ca=good)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        # A relay record: the repr of what the upstream connection raised.
        (
            "upstream unreachable: SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED]"
            " certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)')",
            NOT_TRUSTED,
        ),
        # mitmproxy's error on a flow.
        ("Certificate verify failed: self-signed certificate", "self-signed certificate"),
        # What the client says when it verifies the server itself.
        ("TLS certificate verify failed: certificate has expired", "certificate has expired"),
        (
            'upstream unreachable: SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]'
            " certificate verify failed: Hostname mismatch, certificate is not valid for "
            "'cms.test'. (_ssl.c:1006)\")",
            "Hostname mismatch, certificate is not valid for 'cms.test'.",
        ),
        ("upstream unreachable: ConnectionRefusedError(111, 'Connect call failed')", None),
        ("HTTP 502", None),
    ],
)
def test_verify_failure_finds_what_verification_said(text: str, why: str | None) -> None:
    assert verify_failure(text) == why


class _Proxy:
    """What RealDeployment.untrusted reads of a proxy: its records."""

    def __init__(self, ended: str | None = None, error: str | None = None) -> None:
        self.connections = [type("Connection", (), {"ended": ended})()]
        self.records = [type("Record", (), {"error": error})()]
        self.client_trust = ()


def test_untrusted_says_who_refused_and_what_to_do(tmp_path: Path) -> None:
    deployment = RealDeployment("https://cms.test", ca_option="--upstream-ca")
    failed = PageLoadError("https://127.0.0.1:1/EPiServer/Shell/settings", "HTTP 502")
    proxy = _Proxy(error=f"Certificate verify failed: {NOT_TRUSTED}")
    untrusted = deployment.untrusted(failed, proxy)
    assert untrusted is not None
    assert (untrusted.verified_by, untrusted.verify_message) == ("the proxy", NOT_TRUSTED)
    assert untrusted.hint.endswith("give its PEM file with --upstream-ca")
    # A tunnel: the client verified the server, and said so in its reason.
    tunnelled = PageLoadError(failed.url, "TLS certificate verify failed: certificate has expired")
    untrusted = deployment.untrusted(tunnelled, _Proxy())
    assert untrusted is not None
    assert (untrusted.verified_by, untrusted.hint) == ("the client", "")  # no CA cures it
    assert deployment.untrusted(failed, _Proxy(ended="client closed")) is None
    # Over http there is no certificate to blame.
    assert RealDeployment("http://cms.test").untrusted(failed, proxy) is None
    with pytest.raises(UntrustedCertificate) as raised, deployment.explain_untrusted(proxy):
        raise failed
    assert raised.value.reason == failed.reason
    with pytest.raises(PageLoadError) as kept, deployment.explain_untrusted(_Proxy()):
        raise failed
    assert kept.value is failed


def test_client_tls_trusts_the_ca_file_and_the_proxys(tmp_path: Path) -> None:
    server_ca, proxy_ca = TestCA(), TestCA()
    deployment = RealDeployment("https://cms.test", upstream_ca=server_ca.write(tmp_path))
    proxy = _Proxy()
    proxy.client_trust = (proxy_ca.pem,)
    context = deployment.client_tls(proxy)
    assert context is not None
    names = {
        dict(rdn[0] for rdn in cert["subject"]).get("commonName") for cert in context.get_ca_certs()
    }
    assert {server_ca.name, proxy_ca.name} <= names


# Chromium in front of the https deployment.

BROWSER_OUTCOMES = """
    import pytest
    from pytest_wsharness.assertions import assert_fell_back, assert_updates_delivered


    @pytest.mark.wsharness_profiles("compliant")
    def test_delivered(cms_browser, cms_server, cms_proxy):
        assert_updates_delivered(cms_browser, cms_server, proxy=cms_proxy)


    @pytest.mark.wsharness_profiles("header-stripping")
    def test_falls_back(cms_browser, cms_server, cms_proxy):
        assert_fell_back(cms_browser, cms_server, proxy=cms_proxy)


    @pytest.mark.wsharness_profiles("forward-proxy")
    def test_tunnelled(cms_browser):
        pass
"""


def test_chromium_trusts_the_proxy_in_front_of_an_https_deployment(
    inner: pytest.Pytester, team: Team, chromium: Path
) -> None:
    inner.makeconftest(textwrap.dedent(TRIGGER))
    inner.makepyfile(test_inner=textwrap.dedent(BROWSER_OUTCOMES))
    result = inner.runpytest(
        "-rs",
        "--wsharness-time-scale=0.1",
        "--wsharness-upstream",
        team.cms.url,
        f"--wsharness-upstream-ca={team.ca_file}",
    )
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED * profile 'forward-proxy' is a forward proxy: Chromium would tunnel to the "
         "https server itself*"]
    )  # fmt: skip
    assert _hooks(team) == [201, 201]
