"""The classifier, without sockets: one probe record per case, one finding each."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pytest_wsharness.diagnose.findings import classify
from pytest_wsharness.diagnose.probe import Limits, Probe, Target
from pytest_wsharness.diagnose.report import Diagnosis, printable
from pytest_wsharness.errors import UsageError

ENDPOINT = "/EPiServer/Shell/socket/endpoint"
URL = f"ws://127.0.0.1:8080{ENDPOINT}"
OPEN = Probe(URL, status=101, reason="Switching Protocols", accept_ok=True, upgrade_ok=True,
             heartbeat_rtt=0.002, waited=0.01)  # fmt: skip
DIRECT = OPEN
PLAIN = Probe(URL, status=200, reason="OK", headers=(("Server", "nginx/1.22.1"),))
LIMITS = Limits(answer=5, heartbeat=6, idle=30)

CASES: list[tuple[str, Probe, Probe | None, str, str]] = [
    ("works", OPEN, None, "works", "heartbeat came back in 2 ms"),
    ("stripped", PLAIN, DIRECT, "stripped", "answered 200 OK, as to a plain GET"),
    ("stripped 426", replace(PLAIN, status=426), DIRECT, "stripped", "426 Upgrade Required"),
    ("no direct", PLAIN, None, "not-upgraded", "run again with --direct"),
    ("server", PLAIN, PLAIN, "no-websocket-server", "asked directly it answers 200 OK too"),
    ("505", replace(PLAIN, status=505), DIRECT, "version-downgraded", "HTTP/1.0"),
    ("denied", replace(PLAIN, status=403), DIRECT, "denied", "refused the upgrade with 403"),
    ("denied alone", replace(PLAIN, status=403), None, "denied", "answered by nginx/1.22.1"),
    (
        "redirect",
        replace(PLAIN, status=302, headers=(("Location", "https://sso.example/login"),)),
        DIRECT,
        "redirect",
        "redirected (302 Found) to https://sso.example/login",
    ),
    ("reset", Probe(URL, error="reset", error_step="upgrade"), DIRECT, "reset", "reset (RST)"),
    ("fin", Probe(URL, error="closed", error_step="upgrade"), None, "reset", "closed (a FIN)"),
    (
        "blackhole",
        Probe(URL, error="timeout", error_step="upgrade", waited=10.02),
        DIRECT,
        "blackhole",
        "No answer to the upgrade request after 10.0s",
    ),
    (
        "unreachable",
        Probe(URL, error="refused", error_step="connect"),
        None,
        "unreachable",
        "connection refused",
    ),
    (
        "connect 443",
        Probe(URL, proxy="proxy:3128", connect_status=403, connect_443_status=503),
        DIRECT,
        "connect-443",
        "refused CONNECT to port 8080 with 403 Forbidden but not CONNECT to port 443",
    ),
    (
        "connect refused",
        Probe(URL, proxy="proxy:3128", connect_status=403, connect_443_status=403),
        DIRECT,
        "connect-refused",
        "refused CONNECT to port 8080",
    ),
    (
        "connect 407",
        Probe(URL, proxy="proxy:3128", connect_status=407, connect_443_status=407),
        None,
        "connect-refused",
        "wants proxy authentication",
    ),
    ("bad accept", replace(OPEN, accept_ok=False), DIRECT, "bad-accept", "Sec-WebSocket-Accept"),
    ("no headers", replace(OPEN, upgrade_ok=False), DIRECT, "bad-upgrade-headers", "Upgrade"),
    (
        "closed",
        replace(OPEN, heartbeat_rtt=None, ended="close 1001", ended_after=0.01),
        DIRECT,
        "closed-after-open",
        "closed with code 1001 0.01s later",
    ),
    (
        "held",
        replace(OPEN, heartbeat_rtt=None),
        DIRECT,
        "frames-held",
        "unanswered for 6s: a hop passes the 101 and then holds the frames, while the server",
    ),
    (
        "idle",
        replace(OPEN, ended="closed", ended_after=2.01, in_idle=True),
        DIRECT,
        "idle-cut",
        "cut without a Close frame (FIN) after 2.0s of silence",
    ),
    ("silent", replace(OPEN, idle_silent=True), DIRECT, "silent-drop", "no FIN, no reset"),
]


@pytest.mark.parametrize(
    ("through", "direct", "code", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_case_gets_its_finding(
    through: Probe, direct: Probe | None, code: str, words: str
) -> None:
    findings = classify(through, direct, LIMITS)
    assert [f.code for f in findings] == [code]
    assert words in findings[0].sentence
    assert findings[0].problem is (code != "works")


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("stripped", "nginx: in the location that proxies the CMS: proxy_http_version 1.1;"),
        ("stripped", "Apache: ProxyPass / http://backend/ upgrade=websocket"),
        ("stripped", "IIS/ARR: install the WebSocket Protocol role service"),
        ("stripped", "HAProxy: use mode http"),
        ("idle-cut", "HAProxy: timeout tunnel 1h"),
        ("no-websocket-server", "Azure App Service: Configuration > General settings > Web"),
    ],
)
def test_fixes_name_the_config_line(code: str, line: str) -> None:
    case = next(c for c in CASES if c[3] == code)
    (finding,) = classify(case[1], case[2], LIMITS)
    assert any(fix.startswith(line) for fix in finding.fix), finding.fix


def test_an_intercepted_but_trusted_certificate_is_a_note() -> None:
    through = replace(OPEN, tls_issuer="Zscaler Root CA")
    direct = replace(OPEN, tls_issuer="DigiCert Global G2 TLS RSA SHA256 2020 CA1")
    note, works = classify(through, direct)
    assert (note.code, note.problem, works.code) == ("tls-intercepted", False, "works")
    assert "issued by Zscaler Root CA, the server's own by DigiCert" in note.sentence


def test_an_untrusted_interceptor_is_a_problem() -> None:
    through = replace(OPEN, tls_issuer="Zscaler Root CA", tls_untrusted="unable to get issuer")
    (finding, _) = classify(through, replace(OPEN, tls_issuer="DigiCert"))
    assert finding.problem
    assert "does not trust it (unable to get issuer)" in finding.sentence
    (alone, _) = classify(through)
    assert alone.code == "tls-untrusted"
    assert "--direct" in alone.sentence


def test_the_same_issuer_both_ways_is_no_finding() -> None:
    same = replace(OPEN, tls_issuer="R11")
    assert [f.code for f in classify(same, same)] == ["works"]


def test_text_escapes_control_characters_and_json_keeps_secrets_out() -> None:
    through = replace(
        PLAIN,
        status=403,
        headers=(("Server", "evil\x1b[31m"), ("Set-Cookie", "<redacted>")),
    )
    found = Diagnosis(through, None, tuple(classify(through)))
    text = found.to_text()
    assert "\x1b" not in text
    assert "evil\\x1b[31m" in text
    data = json.loads(found.to_json())
    assert data["ok"] is False
    assert data["findings"][0]["code"] == "denied"
    assert printable("a\tb") == "a\\tb"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cms.example", Target("cms.example", 443, True,
                                        "/EPiServer/Shell/socket/endpoint")),
        ("http://127.0.0.1:8080/ignored", Target("127.0.0.1", 8080, False, ENDPOINT)),
        ("ws://[::1]:81/x?y=1", Target("::1", 81, False, "/x?y=1")),
        ("wss://cms.example/socket", Target("cms.example", 443, True, "/socket")),
    ],
)  # fmt: skip
def test_urls_name_the_endpoint(url: str, expected: Target) -> None:
    assert Target.parse(url) == expected


@pytest.mark.parametrize("url", ["ftp://x", "cms.example", "http://", "ws://h:99999/"])
def test_a_bad_url_names_the_valid_forms(url: str) -> None:
    with pytest.raises(UsageError, match=r"^URL must be ws://host\[:port\]/path, .*, got '"):
        Target.parse(url)


def test_the_software_named_by_the_answer_comes_first() -> None:
    apache = replace(PLAIN, headers=(("Server", "Apache/2.4.57 (Debian)"),))
    (finding,) = classify(apache, DIRECT)
    assert finding.fix[0].startswith("Apache: ")
    assert len(finding.fix) == 4


BLACKHOLE = Probe(URL, error="timeout", error_step="upgrade", waited=5.01)
SLOW_CONNECT = Probe(URL, error="timeout", error_step="connect", waited=5.01)


@pytest.mark.parametrize(
    ("probe", "seconds", "what"),
    [
        (BLACKHOLE, 5, "the answer to the upgrade request"),
        (SLOW_CONNECT, 5, "the TCP connection"),
        (replace(BLACKHOLE, error_step="tls"), 5, "the TLS handshake"),
        (replace(OPEN, heartbeat_rtt=None), 6, "the heartbeat's echo"),
        (replace(OPEN, idle_silent=True), 6, "the heartbeat's echo after the idle watch"),
    ],
    ids=["blackhole", "connect", "tls", "held", "silent"],
)
def test_a_wait_that_ran_out_while_the_harness_ran_late_is_inconclusive(
    probe: Probe, seconds: float, what: str
) -> None:
    plain = classify(probe, DIRECT, LIMITS)[-1]
    # Below a third of the wait, the machine's lag could not have run it out.
    below = classify(replace(probe, lag=seconds / 3 - 0.01), DIRECT, LIMITS)[-1]
    assert below == plain
    late = classify(replace(probe, lag=seconds / 3), DIRECT, LIMITS)[-1]
    assert late.code == "inconclusive"
    assert late.problem
    assert late.fix == ()
    assert f"ran {seconds / 3 * 1000:.0f} ms late while it waited up to {seconds:g}s" in (
        late.sentence
    )
    assert what in late.sentence
    assert late.sentence.endswith(f"Seen meanwhile: {plain.sentence}")
    diagnosis = Diagnosis(replace(probe, lag=seconds), DIRECT, (late,))
    assert diagnosis.inconclusive
    assert not diagnosis.ok
    assert diagnosis.to_dict()["inconclusive"] is True
    assert "inconclusive (inconclusive): The harness itself ran" in diagnosis.to_text()


@pytest.mark.parametrize(
    "probe",
    [
        PLAIN,  # an answer came: no wait ran out, however late the harness ran
        replace(PLAIN, status=403),
        Probe(URL, error="refused", error_step="connect"),
        replace(OPEN, ended="closed", ended_after=2.01, in_idle=True),
        OPEN,
    ],
    ids=["stripped", "denied", "refused", "idle-cut", "works"],
)
def test_a_finding_on_what_came_stands_whatever_the_lag(probe: Probe) -> None:
    assert classify(replace(probe, lag=30.0), DIRECT, LIMITS) == classify(probe, DIRECT, LIMITS)
