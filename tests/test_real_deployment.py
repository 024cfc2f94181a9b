"""Against a real deployment: the proxies in front of a server the harness does not run.

The "real deployment" is a simulated CMS started here, on its own loop thread, as a team's dev
instance would run in a process of its own; the harness is told only its URL, and makes it push
updates through its HTTP test hook, as a team's trigger would through the CMS's API. Acceptance
tests run the plugin with ``pytester``; the rest test the parts without pytest.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
import urllib.request
from collections.abc import Callable

import aiohttp
import pytest

from pytest_wsharness.client.view import UiView
from pytest_wsharness.errors import NoUpdateTrigger, TriggerFailed, UsageError
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.protocol import Topic
from pytest_wsharness.runtime.redact import redact_text
from pytest_wsharness.runtime.urls import check_url
from pytest_wsharness.scenario.explain import NOT_OBSERVED, explain, server_clause
from pytest_wsharness.scenario.updates import (
    CallbackUpdates,
    MissingTrigger,
    SimulatedUpdates,
    source_for,
)
from pytest_wsharness.server import SimulatedCMS
from pytest_wsharness.server.cms import NOTIFICATION_HOOK
from pytest_wsharness.upstream.deployment import RealDeployment
from pytest_wsharness.upstream.eligibility import left_out_reason, server_changes, skip_reason

CATALOGUE = Catalogue()
SERVER_CHANGING = ["no-websocket-feature", "server-restart", "tls-intercepting", "two-backends"]
LEFT_OUT = sorted([*SERVER_CHANGING, "transparent-wss"])
OPTION = "--wsharness-upstream / wsharness_upstream"
FORM = "an http:// or https:// URL with a host, e.g. http://localhost:5000"
DEADLINE = 5.0


# The team's conftest: its trigger creates a notification through the server's HTTP API.
TRIGGER_CONFTEST = """
    import json
    import urllib.request

    import pytest

    DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @pytest.fixture
    def cms_trigger_update(wsharness_upstream):
        \"\"\"Create an unread notification through the team server's API.\"\"\"
        def trigger(marker):
            body = json.dumps({"marker": marker}).encode()
            request = urllib.request.Request(
                wsharness_upstream + "/wsharness/notifications", data=body, method="POST",
                headers={"Content-Type": "application/json"},
            )
            with DIRECT.open(request, timeout=10) as answer:
                assert answer.status == 201
        return trigger
"""


@pytest.fixture
def team(team_server: Callable[..., SimulatedCMS]) -> SimulatedCMS:
    """The team's dev instance: a CMS the harness does not run, on a loop of its own."""
    return team_server()


def _module(inner: pytest.Pytester, source: str) -> None:
    inner.makepyfile(test_inner=textwrap.dedent(source))


def _endpoint_statuses(team: SimulatedCMS) -> list[int]:
    return [r.status for r in team.requests if r.path == team.routes.endpoint]


# The option, end to end.


def test_option_puts_the_proxies_in_front_of_that_server(
    inner: pytest.Pytester, team: SimulatedCMS
) -> None:
    inner.makeconftest(textwrap.dedent(TRIGGER_CONFTEST))
    _module(
        inner,
        """
    import pytest
    from pytest_wsharness.assertions import assert_expected_outcome
    from pytest_wsharness.upstream.deployment import RealDeployment

    @pytest.mark.wsharness_profiles("compliant", "header-stripping", "idle-timeout-2s")
    def test_outcome(cms_client, cms_server, cms_proxy):
        assert isinstance(cms_server, RealDeployment)
        assert cms_server.requests is None
        observation = assert_expected_outcome(cms_client, cms_server, cms_proxy)
        assert observation.after_refresh
    """,
    )
    result = inner.runpytest("-v", "--wsharness-upstream", team.url)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"wsharness: time scale 0.01, profiles: *, upstream: {team.url}"])
    # The team's server saw the upgrades the compliant proxies passed, the plain GET the
    # stripping one left, and one trigger call per scenario.
    assert 101 in _endpoint_statuses(team)
    assert 200 in _endpoint_statuses(team)
    hooks = [r for r in team.requests if r.path == NOTIFICATION_HOOK]
    assert [r.method for r in hooks] == ["POST"] * 3
    assert team.content.unread == 3


def test_ini_names_the_upstream(
    pytester: pytest.Pytester, write_ini: Callable[..., None], team: SimulatedCMS
) -> None:
    write_ini(f"wsharness_upstream = {team.url}/")
    _module(
        pytester,
        """
    def test_server(cms_server, wsharness_upstream):
        assert cms_server.url == wsharness_upstream.rstrip("/")
        assert cms_server.requests is None
    """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"wsharness: * upstream: {team.url}"])
    assert team.requests == []  # the fixture alone sends nothing


def test_profiles_that_change_the_server_are_skipped_with_the_reason(
    inner: pytest.Pytester,
) -> None:
    # Nothing listens there: a skipped test must not even connect.
    url = "http://127.0.0.1:9"
    _module(
        inner,
        f"""
    import pytest

    @pytest.mark.wsharness_profiles(*{SERVER_CHANGING!r})
    def test_outcome(cms_client, cms_server, cms_proxy):
        raise AssertionError("must not run")

    @pytest.mark.parametrize("websocket_enabled", [False])
    def test_disabled(cms_server):
        raise AssertionError("must not run")

    def test_factory(proxy_factory):
        proxy_factory("server-restart")
        raise AssertionError("must not run")
    """,
    )
    result = inner.runpytest("-rs", "--wsharness-upstream", url)
    result.assert_outcomes(skipped=6)
    cannot = f"which the harness cannot do to a real deployment ({url})"
    table = "[[]server]"  # fnmatch: "[server]" would be a character class
    result.stdout.fnmatch_lines_random(
        [
            f"SKIPPED * profile 'no-websocket-feature' needs the server changed ({table} "
            "websocket_feature = false: the server must answer upgrades as a plain page), "
            f"{cannot}",
            f"SKIPPED * profile 'server-restart' needs the server changed ({table} restart_after"
            f" = 1000, down_for = 10000: the harness must restart the server), {cannot}",
            f"SKIPPED * profile 'tls-intercepting' needs the server changed ({table} tls = true:"
            f" the harness must serve https with its test CA), {cannot}",
            f"SKIPPED * profile 'two-backends' needs the server changed ({table} backends = 2: "
            f"the harness must run a second backend), {cannot}",
            "SKIPPED * websocket_enabled=False: the harness cannot switch WebSocketEnabled off "
            f"on the real deployment at {url}; its page reports the server's own setting",
        ]
    )


def test_without_an_override_a_test_that_needs_an_update_says_what_to_do(
    inner: pytest.Pytester, team: SimulatedCMS
) -> None:
    _module(
        inner,
        """
    import pytest
    from pytest_wsharness.assertions import assert_updates_delivered

    pytestmark = pytest.mark.wsharness_profiles("compliant")

    def test_needs_an_update(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)

    def test_needs_none(cms_client):
        assert cms_client.settle() == "connected"
    """,
    )
    result = inner.runpytest("--wsharness-upstream", team.url)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"E *NoUpdateTrigger: no update trigger for the real deployment at {team.url}: "
            "this test needs that server to push an update*override the cms_trigger_update "
            "fixture in your conftest.py*",
            "E * @pytest.fixture",
            "E * def cms_trigger_update():",
            "E * def trigger(marker):*",
            "E * my_cms_api.create_notification(subject=marker)*",
        ]
    )
    assert team.content.unread == 0


def test_a_failing_trigger_fails_the_test_naming_it(
    inner: pytest.Pytester, team: SimulatedCMS
) -> None:
    inner.makeconftest(
        textwrap.dedent(
            """
        import pytest

        @pytest.fixture
        def cms_trigger_update():
            def trigger(marker):
                raise RuntimeError("our API said 401")
            return trigger
        """
        )
    )
    _module(
        inner,
        """
    import pytest
    from pytest_wsharness.assertions import assert_fell_back

    @pytest.mark.wsharness_profiles("firewall")
    def test_outcome(cms_client, cms_server, cms_proxy):
        assert_fell_back(cms_client, cms_server, proxy=cms_proxy)
    """,
    )
    result = inner.runpytest("--wsharness-upstream", team.url)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *TriggerFailed: update trigger failed: cms_trigger_update: raised "
            "RuntimeError('our API said 401')"
        ]
    )


def test_an_override_is_used_against_the_simulated_cms_too(inner: pytest.Pytester) -> None:
    # Looked up when the assertion needs it: an override may use cms_server without a cycle.
    inner.makeconftest(
        textwrap.dedent(
            """
        import pytest
        from pytest_wsharness.protocol import Topic

        CALLS = []

        @pytest.fixture
        def cms_trigger_update(cms_server):
            def trigger(marker):
                CALLS.append(marker)
                cms_server.publish(Topic.NOTIFICATION, {"id": marker, "action": 1})
            return trigger
        """
        )
    )
    _module(
        inner,
        """
    import pytest
    from conftest import CALLS
    from pytest_wsharness.assertions import assert_updates_delivered

    @pytest.mark.wsharness_profiles("compliant")
    def test_live(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
        assert len(CALLS) == 1 and CALLS[0].startswith("wsharness-")
        assert cms_server.content.unread == 1 and cms_server.content.projects == {}
    """,
    )
    result = inner.runpytest()
    result.assert_outcomes(passed=1)


def test_failures_say_the_server_was_not_observed(
    inner: pytest.Pytester, team: SimulatedCMS
) -> None:
    inner.makeconftest(textwrap.dedent(TRIGGER_CONFTEST))
    _module(
        inner,
        """
    import pytest
    from pytest_wsharness.assertions import assert_updates_delivered

    @pytest.mark.wsharness_profiles("header-stripping")
    def test_live(cms_client, cms_server, cms_proxy):
        assert_updates_delivered(cms_client, cms_server, proxy=cms_proxy)
    """,
    )
    result = inner.runpytest("--wsharness-upstream", team.url)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *OutcomeError: expected updates delivered, but:",
            "E *proxy did: * header-stripping removed Connection, Upgrade, forwarded the request",
            f"E *server did: * {NOT_OBSERVED.removeprefix('server ')}",
            "E *client saw: * handshake failed (HTTP 200)*",
            "E *diagnosis: * The upgrade headers were stripped on the way*",
        ]
    )


# The parts, without pytest.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://localhost:5000", "http://localhost:5000"),
        ("https://cms.example.test/", "https://cms.example.test"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_check_url_accepts_a_server(value: str, expected: str) -> None:
    assert check_url(value, "--upstream") == expected


def test_check_url_takes_a_path_where_asked() -> None:
    hook = "http://127.0.0.1:5000/wsharness/notifications"
    assert check_url(hook, "--trigger-url", path=True) == hook
    with pytest.raises(UsageError, match=r"^--trigger-url must be an http:// or https:// URL"):
        check_url("mailto:x@y", "--trigger-url", path=True)


def test_exactly_the_server_changing_profiles_are_left_out() -> None:
    left_out = [p.name for p in CATALOGUE if left_out_reason(p) is not None]
    assert left_out == LEFT_OUT
    assert server_changes(CATALOGUE.get("compliant")) == []
    assert skip_reason(CATALOGUE.get("compliant"), True, "http://h") is None
    assert skip_reason(None, True, "http://h") is None


def test_server_clause_without_records_is_honest() -> None:
    assert server_clause(None, "/x") == NOT_OBSERVED
    text = explain(client="client saw no socket event", requests=None, endpoint="/x")
    assert text == f"{NOT_OBSERVED}; client saw no socket event"


def test_a_real_deployment_cannot_publish_and_needs_a_trigger() -> None:
    deployment = RealDeployment("http://127.0.0.1:9/")
    assert (deployment.url, deployment.upstream) == ("http://127.0.0.1:9", "http://127.0.0.1:9")
    assert deployment.requests is None
    assert deployment.every_request == []
    with pytest.raises(UsageError, match="cms_trigger_update"):
        deployment.publish(Topic.NOTIFICATION, {"id": 1, "action": 1})
    with pytest.raises(NoUpdateTrigger):
        deployment.update_source()
    with pytest.raises(UsageError, match="must be an http:// or https:// URL"):
        RealDeployment("127.0.0.1:9")


def _view(unread: int = 0) -> UiView:
    view = UiView()
    view.load(unread, [{"id": 7, "name": "Spring"}], [])
    return view


def test_callback_updates_see_the_badge_or_the_marker() -> None:
    updates = CallbackUpdates(lambda marker: None)
    assert updates.server is None
    view = _view(unread=2)
    assert not updates.shows_live(view, "m-1", 2)
    view.unread = 3
    assert updates.shows_live(view, "m-1", 2)  # a real server may push only {id, action}
    view = _view(unread=2)
    view.apply(str(Topic.PROJECT_ITEM), {"id": 9, "action": 1, "name": "about m-1"})
    assert updates.shows_live(view, "m-1", 2)
    view = _view(unread=2)
    view.projects[8] = {"id": 8, "name": "Project m-1"}  # re-fetched after its push
    assert updates.shows_after_refresh(view, "m-1", 2)
    assert not updates.shows_after_refresh(_view(unread=2), "m-1", 2)


def test_simulated_updates_need_their_own_project() -> None:
    view = _view(unread=3)
    updates = SimulatedUpdates(SimulatedCMS())
    assert source_for(updates) is updates
    assert not updates.shows_live(view, "m-1", 2)  # a badge alone is someone else's update
    view.projects["m-1"] = {"id": "m-1"}
    assert updates.shows_live(view, "m-1", 2)


def test_a_missing_trigger_is_refused_before_the_scenario() -> None:
    with pytest.raises(NoUpdateTrigger, match="http://h:1"):
        CallbackUpdates(MissingTrigger("http://h:1"))


@pytest.mark.asyncio
async def test_plain_triggers_run_off_the_loop_and_async_ones_on_it() -> None:
    seen: dict[str, int] = {}

    def plain(marker: str) -> None:
        seen[marker] = threading.get_ident()

    async def coroutine(marker: str) -> None:
        seen[marker] = threading.get_ident()

    class Caller:
        async def __call__(self, marker: str) -> None:
            seen[marker] = threading.get_ident()

    for trigger, marker in ((plain, "plain"), (coroutine, "async"), (Caller(), "object")):
        await CallbackUpdates(trigger).trigger(marker)
    here = threading.get_ident()
    assert seen["plain"] != here
    assert seen["async"] == here
    assert seen["object"] == here


@pytest.mark.asyncio
async def test_a_trigger_that_raises_or_hangs_fails_clearly() -> None:
    def boom(marker: str) -> None:
        raise ValueError("no such user")

    with pytest.raises(TriggerFailed) as failed:
        await CallbackUpdates(boom, name="our trigger").trigger("m")
    assert (
        str(failed.value) == "update trigger failed: our trigger: raised ValueError('no such user')"
    )
    assert isinstance(failed.value.__cause__, ValueError)

    async def hang(marker: str) -> None:
        await asyncio.Event().wait()

    with pytest.raises(TriggerFailed, match=r"cms_trigger_update: no answer within 0\.05s$"):
        await CallbackUpdates(hang, timeout=0.05).trigger("m")


@pytest.mark.asyncio
async def test_the_notification_hook_stores_and_pushes_the_marked_update() -> None:
    timeout = aiohttp.ClientTimeout(total=DEADLINE)
    async with (
        SimulatedCMS() as cms,
        aiohttp.ClientSession(trust_env=False, timeout=timeout) as session,
    ):
        async with session.post(cms.url + NOTIFICATION_HOOK, json={"marker": "m-1"}) as answer:
            assert answer.status == 201
            assert await answer.json() == {"marker": "m-1", "sent": 0}
        assert cms.content.unread == 1
        assert cms.content.notifications[0]["subject"] == "m-1"
        assert cms.content.projects["m-1"]["name"] == "Project m-1"
        async with session.post(cms.url + NOTIFICATION_HOOK, data="nope") as answer:
            assert answer.status == 400
            assert '{"marker": "<text>"}' in await answer.text()
    assert [r.status for r in cms.requests] == [201, 400]


def test_the_hook_over_plain_http_as_a_team_trigger_calls_it(team: SimulatedCMS) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        team.url + NOTIFICATION_HOOK, data=json.dumps({"marker": "m-2"}).encode(), method="POST"
    )
    with opener.open(request, timeout=DEADLINE) as answer:
        assert answer.status == 201
    assert team.content.unread == 1


def test_redact_text_hides_secret_headers_in_free_text() -> None:
    text = (
        "> Authorization: Bearer s3cret\n< Set-Cookie: EPi=abc; Path=/\n"
        '{"Cookie": "x=y"} -H "Proxy-Authorization: Basic zz" ok'
    )
    assert redact_text(text) == (
        "> Authorization: <redacted>\n< Set-Cookie: <redacted>\n"
        '{"Cookie": "<redacted>"} -H "Proxy-Authorization: <redacted>" ok'
    )
