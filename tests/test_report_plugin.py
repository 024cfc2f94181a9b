"""The run's reports through pytester: a table of scenarios at the end, a JSON file, and the
profile and verdict as JUnit XML properties."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

TESTS = """
    import pytest
    from pytest_wsharness.assertions import assert_expected_outcome, assert_updates_delivered

    @pytest.mark.wsharness_profiles("compliant", "firewall")
    def test_outcome(cms_client, cms_server, cms_proxy):
        assert_expected_outcome(cms_client, cms_server, cms_proxy)

    @pytest.mark.wsharness_profiles("header-stripping")
    def test_wants_too_much(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)

    def test_no_scenario():
        pass
"""


@pytest.fixture
def inner(inner: pytest.Pytester) -> pytest.Pytester:
    """The conftest's pytester directory, with :data:`TESTS` as its test module."""
    inner.makepyfile(test_inner=textwrap.dedent(TESTS))
    return inner


def test_the_run_ends_with_what_went_wrong_and_a_count_of_the_rest(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*wsharness scenarios*",
            "? 2 scenario(s) as expected: 1 delivered, 1 fell back correctly",
            "   verdict*profile*websocket*driver",
            "? *WRONG, expected delivered*header-stripping*enabled*model",
            "    test_wants_too_much[[]header-stripping[]]",
        ]
    )
    # Ours only: in CI pytest's own short summary prints failure messages whole.
    summary = result.stdout.str().split("wsharness scenarios")[1].split("short test summary")[0]
    # A passing scenario is counted, not listed; every line fits the terminal.
    assert "test_outcome[compliant]" not in summary
    assert max(map(len, summary.splitlines())) <= 100


def test_with_v_every_scenario_is_listed(inner: pytest.Pytester) -> None:
    result = inner.runpytest("-p", "no:cacheprovider", "-v")
    result.stdout.fnmatch_lines(
        [
            "*wsharness scenarios*",
            "? *delivered*compliant*enabled*model",
            "    test_outcome[[]compliant[]]",
            "? *fell back correctly*firewall*enabled*model",
            "    test_outcome[[]firewall[]]",
            "? *WRONG, expected delivered*header-stripping*",
        ]
    )


def test_json_report_and_junit_properties(inner: pytest.Pytester) -> None:
    json_path = inner.path / "scenarios.json"
    xml_path = inner.path / "junit.xml"
    inner.runpytest(
        "-p", "no:cacheprovider", f"--wsharness-report-json={json_path}", f"--junitxml={xml_path}"
    )
    data = json.loads(json_path.read_text())
    assert [(d["profile"], d["verdict"], d["outcome"]) for d in data] == [
        ("compliant", "delivered", "passed"),
        ("firewall", "fell back correctly", "passed"),
        ("header-stripping", "WRONG", "failed"),
    ]
    assert data[2]["problems"] == ["should have got the update live"]
    assert "noconnection" in data[2]["ui"]
    cases = {c.get("name"): c for c in ET.parse(xml_path).getroot().iter("testcase")}
    props = {
        p.get("name"): p.get("value") for p in cases["test_outcome[firewall]"].iter("property")
    }
    assert props["wsharness_profile"] == "firewall"
    assert props["wsharness_verdict"] == "fell back correctly"
    assert not list(cases["test_no_scenario"].iter("property"))
