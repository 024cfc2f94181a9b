"""A team's own HAProxy config (real/adapt/haproxy.py): rewritten to run on 127.0.0.1 in front
of the harness's upstream, refused where it cannot be, and held to the profile it behaves like."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from own_config import assert_idle_cut, side_by_side, write

from pytest_wsharness.errors import ConfigRefused
from pytest_wsharness.real.adapt import load_own

# Debian's haproxy.cfg as a customer extends it: a stats page, an http-to-https redirect, a TLS
# frontend with a WAF rule against WebSocket upgrades, and a pool of two TLS backends.
CUSTOMER = """\
global
\tlog /dev/log\tlocal0
\tlog /dev/log\tlocal1 notice
\tchroot /var/lib/haproxy
\tstats socket /run/haproxy/admin.sock mode 660 level admin
\tstats timeout 30s
\tuser haproxy
\tgroup haproxy
\tdaemon

\t# Default SSL material locations
\tca-base /etc/ssl/certs
\tcrt-base /etc/ssl/private
\tssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

defaults
\tlog\tglobal
\tmode\thttp
\toption\thttplog
\ttimeout connect 5000
\ttimeout client  50000
\ttimeout server  50000
\terrorfile 403 /etc/haproxy/errors/403.http
\terrorfile 503 /etc/haproxy/errors/503.http

listen stats
    bind :8404
    stats enable
    stats uri /stats

frontend http-in
    bind *:80
    bind :::80 v6only
    http-request redirect scheme https code 301 unless { ssl_fc }

frontend https-in
    bind *:443 ssl crt /etc/haproxy/certs/cms.pem alpn h2,http/1.1
    http-request redirect scheme https unless { ssl_fc }
    http-request deny deny_status 403 if { req.hdr(upgrade) -i websocket }
    default_backend cms

backend cms
    option httpchk GET /healthz
    default-server inter 3s fall 3 rise 2 check
    server cms1 10.0.4.21:8443 check ssl verify required ca-file /etc/ssl/certs/ca.pem
    server cms2 10.0.4.22:8443 check ssl verify none backup
"""
# Set up for WebSocket as HAProxy's documentation says: a backend of its own for upgrades, with
# a long timeout tunnel; %s takes the timeouts of the defaults section.
WEBSOCKET = """\
global
    log 10.0.0.5:514 local0
defaults
    mode http
    log global
    timeout connect 5s
%s
frontend web
    bind :80
    acl is_websocket hdr(Upgrade) -i WebSocket
    use_backend ws if is_websocket
    default_backend cms
backend cms
    server cms cms.internal:8080
backend ws
    server ws1 ws1.internal:8080 resolvers dns check
    server ws2 ws2.internal:8080 resolvers dns check
resolvers dns
    nameserver ns1 10.0.0.2:53
"""
LONG = "    timeout client 30s\n    timeout server 30s\n    timeout tunnel 1h\n"


def _adapted(tmp_path: Path, text: str) -> tuple[str, list[str]]:
    own = load_own(write(tmp_path, "haproxy.cfg", text))
    return own.config.config, [change.describe() for change in own.changes]


def test_a_customer_config_listens_on_loopback_and_reaches_only_the_upstream(
    tmp_path: Path,
) -> None:
    text, changes = _adapted(tmp_path, CUSTOMER)
    assert re.findall(r"^\s*bind .*$", text, re.M) == ["    bind 127.0.0.1:@PORT@"]
    assert re.findall(r"^\s*server .*$", text, re.M) == ["    server cms1 @UPSTREAM_HOSTPORT@"]
    assert "default-server inter 3s fall 3 rise 2\n" in text
    # It writes nowhere: the only files it names are the error pages Debian installs.
    assert re.findall(r"\s(/\S+)", text) == [
        "/etc/haproxy/errors/403.http",
        "/etc/haproxy/errors/503.http",
        "/healthz",  # a URL
    ]
    assert not re.search(r"10\.0\.4|chroot|daemon|user |group |ssl|stats socket|/dev/log", text)
    assert re.findall(r"^\s*log\s.*$", text, re.M) == [
        "\tlog stderr format raw local0 info",
        "\tlog\tglobal",
    ]
    assert "stats timeout 30s" in text  # nothing in it ties the file to the customer's machine
    assert "timeout connect 5000\n" in text
    assert "timeout client @TIMEOUT:50@\n" in text
    assert "http-request deny deny_status 403 if { req.hdr(upgrade) -i websocket }" in text
    assert "redirect" not in text
    assert changes == [
        "line 2: log /dev/log local0 -> log stderr format raw local0 info (logs to the "
        "harness's output)",
        "line 3: log /dev/log local1 notice -> left out (logs to the harness's output)",
        "line 4: chroot /var/lib/haproxy -> left out (the harness runs it, in its folder)",
        "line 5: stats socket /run/haproxy/admin.sock mode 660 level admin -> left out (the "
        "harness runs it, in its folder)",
        "line 7: user haproxy -> left out (the harness runs it, in its folder)",
        "line 8: group haproxy -> left out (the harness runs it, in its folder)",
        "line 9: daemon -> left out (the harness runs it, in its folder)",
        "line 12: ca-base /etc/ssl/certs -> left out (TLS: served as plain http)",
        "line 13: crt-base /etc/ssl/private -> left out (TLS: served as plain http)",
        "line 14: ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets -> left out "
        "(TLS: served as plain http)",
        "line 21: timeout client 50000 -> timeout client @TIMEOUT:50@ (follows the time scale)",
        "line 22: timeout server 50000 -> timeout server @TIMEOUT:50@ (follows the time scale)",
        "line 26: listen stats ... -> left out (a stats page: the harness listens on one port)",
        "line 31: frontend http-in ... -> left out (only redirects to https; another frontend "
        "proxies)",
        "line 37: bind *:443 ssl crt /etc/haproxy/certs/cms.pem alpn h2,http/1.1 -> bind "
        "127.0.0.1:@PORT@ (on the harness's port; TLS: served as plain http)",
        "line 38: http-request redirect scheme https unless { ssl_fc } -> left out (TLS: "
        "served as plain http; it redirects plain-http requests only)",
        "line 44: default-server inter 3s fall 3 rise 2 check -> default-server inter 3s fall "
        "3 rise 2 (its options; left out check: no health check)",
        "line 45: server cms1 10.0.4.21:8443 check ssl verify required ca-file "
        "/etc/ssl/certs/ca.pem -> server cms1 @UPSTREAM_HOSTPORT@ (the harness's upstream; "
        "left out check: no health check; left out ssl verify ca-file: plain http)",
        "line 46: server cms2 10.0.4.22:8443 check ssl verify none backup -> left out (one "
        "upstream: the harness's)",
    ]


def test_every_backend_reaches_the_upstream_and_nothing_is_resolved(tmp_path: Path) -> None:
    text, changes = _adapted(tmp_path, WEBSOCKET % LONG)
    assert re.findall(r"^\s*server .*$", text, re.M) == [
        "    server cms @UPSTREAM_HOSTPORT@",
        "    server ws1 @UPSTREAM_HOSTPORT@",
    ]
    assert not re.search(r"internal|resolvers|nameserver|10\.0\.0", text)
    assert "timeout tunnel @TIMEOUT:3600@\n" in text
    assert "line 21: resolvers dns ... -> left out (the upstream is an address, nothing to " in (
        " ".join(changes)
    )
    assert (
        "line 2: log 10.0.0.5:514 local0 -> log stderr format raw local0 info (logs to the "
        "harness's output)" in changes
    )


@pytest.mark.parametrize(
    ("written", "placeholder"),
    [
        ("tunnel 2s", "tunnel @SCALED:2@"),
        ("client 1500", "client @SCALED:1.5@"),  # HAProxy's default unit is the millisecond
        ("server 2500ms", "server @SCALED:2.5@"),
        ("client-fin 1s", "client-fin @SCALED:1@"),
        ("server-fin 30s", "server-fin @TIMEOUT:30@"),
        ("tunnel 1h", "tunnel @TIMEOUT:3600@"),
        ("client 1m", "client @TIMEOUT:60@"),
        ("connect 2s", "connect 2s"),
        ("http-request 2s", "http-request 2s"),
        ("http-keep-alive 1s", "http-keep-alive 1s"),
        ("queue 500", "queue 500"),
    ],
)
def test_timeouts_that_end_an_open_socket_follow_the_time_scale(
    tmp_path: Path, written: str, placeholder: str
) -> None:
    text, _ = _adapted(tmp_path, WEBSOCKET % f"    timeout {written}")
    assert f"    timeout {placeholder}\n" in text


def test_a_frontend_that_proxies_keeps_its_place_and_loses_its_other_listeners(
    tmp_path: Path,
) -> None:
    text = (
        "frontend web\n    bind :80\n    bind :8080\n    log 10.0.0.5:514 local0\n"
        "    default_backend cms\nfrontend metrics\n    bind :8405\n"
        "    http-request use-service prometheus-exporter\nbackend cms\n"
        "    default-server check ssl\n    server cms 10.0.0.1:80\n"
    )
    adapted, changes = _adapted(tmp_path, text)
    assert adapted == (
        "frontend web\n    bind 127.0.0.1:@PORT@\n    log global\n    default_backend cms\n"
        "backend cms\n    server cms @UPSTREAM_HOSTPORT@\n"
    )
    assert "line 3: bind :8080 -> left out (one address: the harness's port)" in changes
    assert "line 6: frontend metrics ... -> left out (serves no backend; another frontend " in (
        " ".join(changes)
    )


def test_a_file_that_only_redirects_runs_as_the_redirect_it_is(tmp_path: Path) -> None:
    text = "frontend http-in\n    bind :80\n    redirect scheme https code 301\n"
    adapted, _ = _adapted(tmp_path, text)
    assert (
        adapted
        == "frontend http-in\n    bind 127.0.0.1:@PORT@\n    redirect scheme https code 301\n"
    )


# The line refused is line 3 of this listen section.
LISTEN = "listen cms\n    bind :80\n    {}\n    server cms 10.0.0.1:8080\n"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("server-template cms 3 _cms._tcp.consul resolvers dns", "servers from DNS answers"),
        ("server cms0 10.0.0.1:80 socks4 10.0.0.9:1080", "through a SOCKS proxy"),
        ("option http_proxy", "connects where the request or the client says"),
        ("bind :81 accept-proxy", "a load balancer's header"),
        ("http-request do-resolve(txn.ip,dns,ipv4) hdr(host)", "resolvers section"),
        ("filter spoe engine waf config /etc/haproxy/spoe.conf", "other than the CMS"),
        ("acl blocked src -f /etc/haproxy/blocklist.lst", "without /etc/haproxy/blocklist.lst"),
        ("use_backend %[req.hdr(host),lower,map(/etc/haproxy/hosts.map,cms)]", "hosts.map"),
        ("errorfile 503 /srv/errors/503.http", "without /srv/errors/503.http"),
        ("http-request return status 503 file /srv/maintenance.html", "/srv/maintenance.html"),
        ("timeout tunnel forever", "not a duration"),
    ],
)
def test_what_cannot_be_run_is_refused_naming_the_line(tmp_path: Path, line: str, why: str) -> None:
    with pytest.raises(ConfigRefused, match=re.escape(why)) as refused:
        load_own(write(tmp_path, "haproxy.cfg", LISTEN.format(line)))
    assert refused.value.line == 3
    assert str(refused.value).startswith(f"{tmp_path / 'haproxy.cfg'}, line 3: {line!r}")


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        (
            "frontend web\n    bind :80\n    default_backend cms\n"
            "frontend api\n    bind :81\n    use_backend cms\nbackend cms\n",
            4,
            "more than one frontend listens (frontend web, frontend api); the harness runs one",
        ),
        ("global\n    lua-load /etc/haproxy/auth.lua\n" + LISTEN.format(""), 2, "Lua"),
        ("peers lb\n    peer lb1 10.0.0.1:1024\n" + LISTEN.format(""), 1, "other hosts"),
        ("backend cms\n    server cms 10.0.0.1:80\n", 0, "no frontend or listen section binds"),
    ],
)
def test_what_cannot_be_run_in_the_whole_file_is_refused(
    tmp_path: Path, text: str, line: int, why: str
) -> None:
    with pytest.raises(ConfigRefused, match=re.escape(why)) as refused:
        load_own(write(tmp_path, "haproxy.cfg", text))
    assert refused.value.line == line


# With the real HAProxy.


def test_a_customer_config_that_denies_upgrades_is_held_to_firewall(tmp_path: Path) -> None:
    # Debian's own 403 page is left out here: see the next test.
    text = CUSTOMER.replace("\terrorfile 403 /etc/haproxy/errors/403.http\n", "")
    real, simulated, own = side_by_side(write(tmp_path, "haproxy.cfg", text), "firewall")
    assert real.status == 403
    assert real.backend_saw_upgrade is None
    assert not real.differences(simulated)
    assert own.changes


@pytest.mark.xfail(
    strict=True,
    reason="Debian's error pages (/etc/haproxy/errors/*.http) answer HTTP/1.0, which the "
    "harness's client (websockets) refuses as an invalid message; a browser sees the 403",
)
def test_a_denial_with_debian_s_error_page_is_held_to_firewall(tmp_path: Path) -> None:
    real, simulated, _ = side_by_side(write(tmp_path, "haproxy.cfg", CUSTOMER), "firewall")
    assert not real.differences(simulated)


def test_a_websocket_aware_config_behaves_like_compliant(tmp_path: Path) -> None:
    real, simulated, _ = side_by_side(write(tmp_path, "haproxy.cfg", WEBSOCKET % LONG), "compliant")
    assert real.status == 101
    assert real.backend_saw_upgrade is True
    assert not real.differences(simulated)


@pytest.mark.parametrize("time_scale", [1.0, 0.5])
@pytest.mark.parametrize(
    "timeouts",
    [
        # No timeout tunnel: HAProxy cuts an idle tunnel after timeout client / server.
        "    timeout client 2s\n    timeout server 2s\n",
        "    timeout client 30s\n    timeout server 30s\n    timeout tunnel 2000\n",
    ],
    ids=["client-server", "tunnel"],
)
def test_a_short_timeout_cuts_like_idle_timeout_2s_at_its_time_scale(
    tmp_path: Path, timeouts: str, time_scale: float
) -> None:
    path = write(tmp_path, "haproxy.cfg", WEBSOCKET % timeouts)
    assert_idle_cut(path, "idle-timeout-2s", idle=2.0, time_scale=time_scale)
