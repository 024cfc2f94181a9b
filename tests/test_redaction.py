"""No secret in any output: a suite whose client sends credentials, with a failure, a printed
record and every report, must not show one credential value anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

SECRETS = {
    "Authorization": "Bearer tok-s3cr3t-authz",
    "Cookie": "EPi:StateMarker=true; .EPiServerLogin=s3cr3t-cookie",
    "Proxy-Authorization": "Basic s3cr3t-proxy",
}


TESTS = """
    import pytest
    from pytest_wsharness.assertions import assert_updates_delivered

    @pytest.mark.wsharness_profiles("compliant")
    def test_sent_and_kept_out_of_records(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
        seen = dict(cms_server.requests[-1].headers)
        assert seen["Cookie"] == seen["Authorization"] == "<redacted>"
        print(cms_server.requests)

    @pytest.mark.wsharness_profiles("header-stripping")
    def test_fails_with_everything_said(cms_client, cms_server, cms_proxy):
        print(cms_server.requests, cms_proxy.records, cms_proxy.connections)
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
"""


@pytest.fixture
def inner(credential_suite: Callable[[dict[str, str], str], pytest.Pytester]) -> pytest.Pytester:
    return credential_suite(SECRETS, TESTS)


def test_no_credential_reaches_any_output(inner: pytest.Pytester) -> None:
    reports = inner.path / "reports"
    reports.mkdir()
    result = inner.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-rA",
        "-vv",
        "--showlocals",
        f"--junitxml={reports / 'junit.xml'}",
        f"--wsharness-report-json={reports / 'scenarios.json'}",
        f"--wsharness-report-html={reports / 'scenarios.html'}",
    )
    result.assert_outcomes(passed=1, failed=1)
    # The failure did say what happened, credentials or not.
    result.stdout.fnmatch_lines(["*header-stripping removed Connection, Upgrade*"])
    outputs = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    for path in sorted(reports.iterdir()):
        outputs[path.name] = path.read_text(encoding="utf-8")
    assert set(outputs) == {"stdout", "stderr", "junit.xml", "scenarios.json", "scenarios.html"}
    for name, text in outputs.items():
        for header, value in SECRETS.items():
            secret = value.rsplit("=", 1)[-1].split()[-1]
            assert secret not in text, f"{header}'s value shows in {name}"
