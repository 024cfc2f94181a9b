"""Judge what the probes saw: one finding per cause, each one sentence with its likely fix.

Pure functions over :class:`~.probe.Probe` records, so every rule is tested without a socket and
the same judgement explains a failed test (:func:`explain_failure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..scenario.explain import status_text
from .fixes import fix_lines
from .records import DEFAULT_LIMITS, Limits, Probe

# What a server answers to a GET that does not ask to upgrade: a hop that dropped the upgrade
# headers gets one of these back from a WebSocket server (REFERENCE.md section 2).
PLAIN_GET_ANSWERS = frozenset({200, 400, 426})
# A finding that rests on a wait running out is not given when the harness itself ran this
# share of that wait late: the answer may have been on its way (the same third of a schedule
# that makes a scenario's verdict inconclusive, pytest_wsharness.runtime.lag.SHARE_OF_HEARTBEAT).
LATE_SHARE = 1 / 3
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Finding:
    """One thing the diagnosis found.

    Attributes:
        code: a stable name for scripts: ``works``, ``stripped``, ``denied``...
        problem: it breaks (or threatens) realtime updates; ``False`` for a note.
        sentence: what happened, in one sentence.
        fix: the likely fix, one ``software: config line`` each.
    """

    code: str
    problem: bool
    sentence: str
    fix: tuple[str, ...] = ()

    @classmethod
    def of(cls, code: str, sentence: str, *, problem: bool = True, fix: str = "") -> Finding:
        """A finding whose fix is the one :mod:`.fixes` keeps for ``fix`` (default ``code``)."""
        return cls(code, problem, sentence, tuple(fix_lines(fix or code)))


def classify(
    through: Probe, direct: Probe | None = None, limits: Limits = DEFAULT_LIMITS
) -> list[Finding]:
    """Say what is wrong with the realtime endpoint, comparing with a direct look if given.

    Args:
        through: the probe through the middle tier (the site's URL, or a forward proxy).
        direct: the probe of the origin server itself, bypassing the middle tier.
        limits: the limits the probes ran with, for the sentences.

    Returns:
        The findings in the order the connection met them; the last is the main one. Exactly
        one finding is ``works`` when nothing is wrong.
    """
    findings = _tls(through, direct)
    main = _software_first(_main(through, direct, limits), through)
    findings.append(_unless_late(main, through, limits))
    return findings


def _unless_late(finding: Finding, p: Probe, limits: Limits) -> Finding:
    """``finding``, or an inconclusive one when it rests on a wait the harness's lag spoiled."""
    expired = _expired_wait(p, limits)
    if expired is None:
        return finding
    seconds, what = expired
    if p.lag < seconds * LATE_SHARE:
        return finding
    return Finding(
        INCONCLUSIVE,
        True,
        f"The harness itself ran {p.lag * 1000:.0f} ms late while it waited up to {seconds:g}s "
        f"for {what}, so this machine may have kept the answer from counting; run again when "
        f"it is less busy. Seen meanwhile: {finding.sentence}",
    )


def _expired_wait(p: Probe, limits: Limits) -> tuple[float, str] | None:
    """The wait whose end the main finding rests on, as ``(seconds, what)``; ``None`` if none."""
    if p.error == "timeout":
        step = {
            "connect": "the TCP connection",
            "proxy": "the answer to CONNECT",
            "tls": "the TLS handshake",
        }.get(p.error_step, "the answer to the upgrade request")
        return limits.answer, step
    if p.opened and not p.ended and p.heartbeat_rtt is None:
        return limits.heartbeat, "the heartbeat's echo"
    if p.idle_silent:
        return limits.heartbeat, "the heartbeat's echo after the idle watch"
    return None


def _software_first(finding: Finding, p: Probe) -> Finding:
    # The answer often names the hop's software (nginx and Apache put theirs in Server, Squid
    # in Via): its config line is the one to read first.
    named = f"{p.header('Server') or ''} {p.header('Via') or ''}".lower()
    first = [f for f in finding.fix if f.split(":", 1)[0].split("/")[0].lower() in named]
    if not first:
        return finding
    rest = [f for f in finding.fix if f not in first]
    return replace(finding, fix=(*first, *rest))


def _main(p: Probe, direct: Probe | None, limits: Limits) -> Finding:
    if p.error:
        return _no_answer(p, direct)
    if p.connect_status is not None and p.connect_status != 200:
        return _connect_refused(p, p.connect_status)
    if p.status is None:
        return Finding.of("unreachable", f"No HTTP answer came from {p.url}.")
    if p.status != 101:
        return _refused(p, direct)
    return _opened(p, direct, limits)


def _no_answer(p: Probe, direct: Probe | None) -> Finding:
    where = (
        f"the forward proxy {p.proxy}"
        if p.proxy and p.error_step in ("connect", "proxy")
        else p.url
    )
    if p.error_step == "connect":
        return Finding.of("unreachable", f"Could not connect to {where}: {_error(p.error)}.")
    if p.error.startswith("not HTTP: "):
        step = "the CONNECT request" if p.error_step == "proxy" else "the upgrade request"
        return Finding.of(
            "not-http",
            f"What listens at {where} does not speak HTTP: it answered "
            f"{p.error.removeprefix('not HTTP: ')} to {step}.",
        )
    upgrades = _upgrades_directly(direct)
    if p.error == "timeout":
        step = "the CONNECT request" if p.error_step == "proxy" else "the upgrade request"
        if p.error_step == "tls":
            step = "the TLS handshake"
        return Finding.of(
            "blackhole",
            f"No answer to {step} after {p.waited:.1f}s: something in the path drops it "
            f"silently{upgrades}.",
        )
    if p.error_step == "tls":
        return Finding.of("tls-failed", f"The TLS handshake with {p.url} failed: {p.error}.")
    if p.error == "reset":
        return Finding.of(
            "reset", f"The connection was reset (RST) in answer to the upgrade request{upgrades}."
        )
    return Finding.of(
        "reset",
        f"The connection was closed ({_error(p.error)}) without an answer to the upgrade "
        f"request{upgrades}.",
    )


def _connect_refused(p: Probe, refusal: int) -> Finding:
    port = p.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[-1]
    status = status_text(refusal)
    refused = f"The forward proxy {p.proxy} refused CONNECT to port {port} with {status}"
    allowed = p.connect_443_status
    if allowed is not None and allowed not in (p.connect_status, 407):
        return Finding.of(
            "connect-443",
            f"{refused} but not CONNECT to port 443: it tunnels only to 443 (Squid's SSL_ports, "
            f"tinyproxy's ConnectPort), so the socket on port {port} cannot pass.",
        )
    why = " (it wants proxy authentication)" if p.connect_status == 407 else ""
    return Finding.of("connect-refused", f"{refused}{why}.")


def _refused(p: Probe, direct: Probe | None) -> Finding:
    status = p.status
    assert status is not None
    answered = status_text(status)
    if 300 <= status < 400:
        where = p.header("Location") or "nowhere (no Location header)"
        return Finding.of(
            "redirect",
            f"The upgrade request was redirected ({answered}) to {where}: browsers do not "
            "follow redirects on a WebSocket handshake.",
        )
    if status == 505:
        return Finding.of(
            "version-downgraded",
            f"The upgrade was answered {answered}: a hop spoke HTTP/1.0 to the server, which "
            "cannot carry an upgrade (nginx does unless told proxy_http_version 1.1).",
        )
    if direct is not None and direct.opened:
        if status in PLAIN_GET_ANSWERS:
            return Finding.of(
                "stripped",
                "The upgrade headers were stripped on the way: the server upgrades when asked "
                f"directly, but through the middle tier it answered {answered}, as to a plain "
                "GET.",
            )
        return Finding.of(
            "denied",
            f"The middle tier refused the upgrade with {answered}{_by(p)}, while the server "
            "upgrades when asked directly.",
        )
    if direct is not None and direct.status == status:
        return Finding.of(
            "no-websocket-server",
            f"The server itself does not upgrade: asked directly it answers {answered} too, as "
            "IIS without the WebSocket Protocol feature or App Service with Web sockets off do.",
        )
    if status in PLAIN_GET_ANSWERS:
        both = Finding.of(
            "not-upgraded",
            f"The upgrade was answered {answered}, as a plain GET is: a hop stripped the upgrade "
            "headers or the server cannot upgrade; run again with --direct ORIGIN_URL to tell "
            "which.",
            fix="stripped",
        )
        return Finding(
            both.code, True, both.sentence, both.fix + tuple(fix_lines("no-websocket-server"))
        )
    return Finding.of("denied", f"The upgrade was refused with {answered}{_by(p)}.")


def _opened(p: Probe, direct: Probe | None, limits: Limits) -> Finding:
    if not p.accept_ok:
        return Finding.of(
            "bad-accept",
            "The 101 answer carried a wrong Sec-WebSocket-Accept: a hop rewrote the handshake, "
            "and browsers fail such a socket (1006).",
            fix="bad-handshake",
        )
    if not p.upgrade_ok:
        return Finding.of(
            "bad-upgrade-headers",
            "The 101 answer came without Upgrade: websocket and Connection: upgrade: a hop "
            "removed them from the answer, and browsers fail such a socket (1006).",
            fix="bad-handshake",
        )
    ended = _ended(p)
    if p.ended and not p.in_idle:
        return Finding.of(
            "closed-after-open",
            f"The socket opened, then {ended} {p.ended_after or 0:.2f}s later, before the "
            "heartbeat came back.",
        )
    if p.heartbeat_rtt is None:
        answers = ", while the server answers it directly" if _echoes(direct) else ""
        return Finding.of(
            "frames-held",
            f"The socket opened but the heartbeat went unanswered for {limits.heartbeat:g}s: "
            f"a hop passes the 101 and then holds the frames{answers}.",
        )
    if p.ended:
        return Finding.of(
            "idle-cut",
            f"The idle socket {ended} after {p.ended_after or 0:.1f}s of silence: a hop's idle "
            f"timeout is shorter than the {limits.idle or 0:g}s asked for (the CMS heartbeat "
            "every 3 s keeps a socket alive only through timeouts longer than that).",
        )
    if p.idle_silent:
        return Finding.of(
            "silent-drop",
            f"After {limits.idle or 0:g}s of silence the socket looked open but the heartbeat "
            "went unanswered: a hop stopped forwarding without closing (no FIN, no reset).",
        )
    via = f" through the forward proxy {p.proxy}" if p.proxy else ""
    idle = f", and it stayed open through {limits.idle:g}s of silence" if limits.idle else ""
    return Finding(
        "works",
        False,
        f"The WebSocket opened{via} in {p.waited:.2f}s{',' if idle else ' and'} the heartbeat "
        f"came back in {(p.heartbeat_rtt or 0) * 1000:.0f} ms{idle}.",
    )


def _tls(p: Probe, direct: Probe | None) -> list[Finding]:
    if not p.tls_issuer:
        return []
    own = direct.tls_issuer if direct is not None else ""
    untrusted = f"; this machine does not trust it ({p.tls_untrusted})" if p.tls_untrusted else ""
    if own and own != p.tls_issuer:
        return [
            Finding.of(
                "tls-intercepted",
                f"TLS is intercepted: through the middle tier the certificate is issued by "
                f"{p.tls_issuer}, the server's own by {own}{untrusted}.",
                problem=bool(p.tls_untrusted),
            )
        ]
    if p.tls_untrusted:
        return [
            Finding.of(
                "tls-untrusted",
                f"The certificate, issued by {p.tls_issuer}, is not trusted here "
                f"({p.tls_untrusted}): browsers refuse the socket; a TLS-inspecting proxy does "
                "this, run again with --direct ORIGIN_URL to compare issuers.",
                fix="tls-intercepted",
            )
        ]
    return []


def explain_failure(findings: Sequence[Finding]) -> tuple[str, ...]:
    """The findings for a failed test's message: each sentence, a problem's first fix after it."""
    return tuple(
        f"{f.sentence} Likely fix, {f.fix[0]}" if f.problem and f.fix else f.sentence
        for f in findings
    )


def _upgrades_directly(direct: Probe | None) -> str:
    return ", while the server upgrades when asked directly" if direct and direct.opened else ""


def _echoes(direct: Probe | None) -> bool:
    return direct is not None and direct.heartbeat_rtt is not None


def _ended(p: Probe) -> str:
    if p.ended.startswith("close "):
        return f"was closed with code {p.ended.split()[1]}"
    if p.ended == "reset":
        return "was reset (RST)"
    return "was cut without a Close frame (FIN)"


def _by(p: Probe) -> str:
    server = p.header("Server") or p.header("Via")
    return f" (answered by {server})" if server else ""


def _error(error: str) -> str:
    return {"refused": "connection refused", "closed": "a FIN", "timeout": "timed out"}.get(
        error, error
    )
