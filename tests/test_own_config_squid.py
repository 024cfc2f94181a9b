"""A team's own squid.conf (real/adapt/squid.py): rewritten to run on 127.0.0.1 as an explicit
proxy that reaches only the harness's upstream, refused where it cannot be, and held to the
profile it behaves like."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from own_config import side_by_side, write
from real_software import assert_held_to_its_profile, diagnose_through, installed

from pytest_wsharness.diagnose.probe import Limits
from pytest_wsharness.errors import ConfigRefused
from pytest_wsharness.profiles import Catalogue
from pytest_wsharness.proxy.chain import ProfileProxy
from pytest_wsharness.real.adapt import load_own
from pytest_wsharness.real.adapt.squid import parse
from pytest_wsharness.real.fidelity import HandshakeSeen, observe_handshake
from pytest_wsharness.real.local import LocalProxy, find_binary
from pytest_wsharness.runtime.sync import SyncClient, SyncCMS
from pytest_wsharness.server import SimulatedCMS

# Debian's /etc/squid/squid.conf without its comments: CONNECT only to SSL_ports (443), and
# the include of conf.d that Debian's file has.
DEBIAN = """\
# Debian's squid.conf, its long comments cut
acl localnet src 10.0.0.0/8\t\t# RFC 1918 local private network (LAN)
acl localnet src 172.16.0.0/12\t\t# RFC 1918 local private network (LAN)
acl localnet src 192.168.0.0/16\t\t# RFC 1918 local private network (LAN)
acl localnet src fc00::/7       \t# RFC 4193 local private network range
acl SSL_ports port 443
acl Safe_ports port 80\t\t# http
acl Safe_ports port 21\t\t# ftp
acl Safe_ports port 443\t\t# https
acl Safe_ports port 1025-65535\t# unregistered ports
acl Safe_ports port 280\t\t# http-mgmt
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow localhost manager
http_access deny manager
include /etc/squid/conf.d/*.conf
http_access allow localhost
http_access deny all
http_port 3128
coredump_dir /var/spool/squid
refresh_pattern ^ftp:\t\t1440\t20%\t10080
refresh_pattern -i (/cgi-bin/|\\?) 0\t0%\t0
refresh_pattern .\t\t0\t20%\t4320
"""
# The same, with CONNECT allowed to every safe port: the CMS's (above 1024) among them.
WEBSOCKET = DEBIAN.replace("deny CONNECT !SSL_ports", "deny CONNECT !Safe_ports")
# A corporate proxy: its own addresses, TLS bumping, logs, a disk cache, an interception port.
CUSTOMER = """\
# corporate proxy
http_port 10.20.0.5:3128 ssl-bump cert=/etc/squid/bump.pem generate-host-certificates=on
http_port 3129 intercept
https_port 3130 tls-cert=/etc/squid/proxy.pem
visible_hostname proxy.corp.example
pid_filename /run/squid.pid
cache_effective_user proxy
cache_dir ufs /var/spool/squid 10000 16 256
cache_mem 512 MB
access_log daemon:/var/log/squid/access.log squid
access_log tcp://logs.corp.example:5140 squid
cache_log /var/log/squid/cache.log
logfile_rotate 10
dns_nameservers 10.20.0.2 10.20.0.3
tcp_outgoing_address 10.20.0.5
sslcrtd_program /usr/lib/squid/security_file_certgen -s /var/lib/squid/ssl_db -M 4MB
ssl_bump peek all
ssl_bump splice all
connect_timeout 30 seconds
read_timeout 15 minutes
client_lifetime 1 day
shutdown_lifetime 10 seconds
acl localnet src 10.20.0.0/16
acl SSL_ports port 443 8443
acl Safe_ports port 80 443 8443 \\
    1025-65535
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow localnet
http_access allow localhost
http_access deny all
"""
# The harness's lock, as proxies/real/squid-connect-443.toml writes it: only the upstream's host,
# on its port or 443 (written out here, so that a change to the adapter's is seen).
LOCK = """acl wsharness_upstream_host dst @UPSTREAM_HOST@
acl wsharness_upstream_port port @UPSTREAM_PORT@ 443
http_access deny !wsharness_upstream_host
http_access deny !wsharness_upstream_port
"""
LIMITS = Limits(answer=2.0, heartbeat=2.0)
IO_TIMEOUT = 5.0


def _adapted(tmp_path: Path, text: str, name: str = "squid.conf") -> tuple[str, list[str]]:
    own = load_own(write(tmp_path, name, text))
    assert own.config.software == "squid"
    return own.config.config, [change.describe() for change in own.changes]


def _lines(text: str) -> list[str]:
    return [d.text for d in parse(text)]


def test_debian_s_own_config_listens_on_loopback_and_reaches_only_the_upstream(
    tmp_path: Path,
) -> None:
    text, changes = _adapted(tmp_path, DEBIAN)
    lines = _lines(text)
    assert [line for line in lines if line.startswith("http_port")] == [
        "http_port 127.0.0.1:@PORT@"
    ]
    assert not re.search("/var/|include", text)
    for written in ("pid_filename", "cache_log", "access_log", "coredump_dir"):
        [line] = [line for line in lines if line.startswith(written)]
        assert "@WORKDIR@" in line
    assert "shutdown_lifetime 0 seconds" in lines
    assert "read_timeout @TIMEOUT:900@" in lines  # Squid's default, to follow the time scale
    # The lock comes first: the file's own rules then decide among requests to the upstream.
    assert f"{LOCK}http_access deny !Safe_ports\n" in text
    assert lines.index("http_access deny !wsharness_upstream_port") < lines.index(
        "http_access deny CONNECT !SSL_ports"
    )
    assert changes[:3] == [
        "line 16: include /etc/squid/conf.d/*.conf -> left out (Debian's conf.d: paste your "
        "own files from it here)",
        "line 19: http_port 3128 -> http_port 127.0.0.1:@PORT@ (on the harness's port)",
        "line 20: coredump_dir /var/spool/squid -> coredump_dir @WORKDIR@ (the harness keeps "
        "its own, in its folder)",
    ]
    assert "added a fast stop (Squid waits 30 s else)" in changes
    assert any(change.startswith("added the harness's lock") for change in changes)


def test_a_corporate_config_loses_its_machines_but_keeps_its_rules(tmp_path: Path) -> None:
    text, changes = _adapted(tmp_path, CUSTOMER)
    lines = _lines(text)
    assert [line for line in lines if re.match(r"\w+_port ", line)] == [
        "http_port 127.0.0.1:@PORT@"
    ]
    assert not re.search(r"10\.20\.0\.[235]\b|/var/|/run/|/etc/|:5140|ssl|tls|cache_dir", text)
    assert [line for line in lines if line.startswith("access_log")] == [
        "access_log stdio:@WORKDIR@/access.log squid"  # its log format kept
    ]
    for kept in ("connect_timeout 30 seconds", "cache_mem 512 MB", "http_access allow localnet"):
        assert kept in lines
    assert "read_timeout @TIMEOUT:900@" in lines
    assert "client_lifetime @TIMEOUT:86400@" in lines
    assert "shutdown_lifetime 0 seconds" in lines
    assert f"{LOCK}http_access deny !Safe_ports\n" in text
    for change in (
        "line 2: http_port 10.20.0.5:3128 ssl-bump cert=/etc/squid/bump.pem "
        "generate-host-certificates=on -> http_port 127.0.0.1:@PORT@ (on the harness's port; "
        "TLS: served as plain http)",
        "line 3: http_port 3129 intercept -> left out (transparent interception cannot be "
        "reproduced on loopback)",
        "line 4: https_port 3130 tls-cert=/etc/squid/proxy.pem -> left out (another listener: "
        "the harness's port is the one http_port)",
        "line 8: cache_dir ufs /var/spool/squid 10000 16 256 -> left out (no disk cache: Squid "
        "caches in memory here)",
        "line 11: access_log tcp://logs.corp.example:5140 squid -> left out (one access log, in "
        "the harness's folder)",
        "line 15: tcp_outgoing_address 10.20.0.5 -> left out (an address of your machine)",
        "line 17: ssl_bump peek all -> left out (TLS: served as plain http)",
        "line 20: read_timeout 15 minutes -> read_timeout @TIMEOUT:900@ (follows the time scale)",
    ):
        assert change in changes
    assert [change for change in changes if change.startswith("added")] == [
        "added core dumps in the harness's folder",  # the only one it lacked
        "added the harness's lock: only its upstream's host (and port, or 443), never a relay",
    ]


def test_a_continued_line_is_one_directive_and_comments_are_not_arguments() -> None:
    [acl, port] = parse("acl Safe_ports port 80 \\\n  443 # https\n\nhttp_port 3128 # main\n")
    assert acl.args == ["Safe_ports", "port", "80", "443"]
    assert port.text == "http_port 3128"


def test_a_config_without_rules_still_denies_everything_after_the_lock(tmp_path: Path) -> None:
    text, _ = _adapted(tmp_path, "http_port 3128")  # Squid denies all when nothing allows
    assert text.endswith(f"http_port 127.0.0.1:@PORT@\n{LOCK}http_access deny all\n")


def test_a_config_without_a_port_gets_the_harness_s(tmp_path: Path) -> None:
    text, changes = _adapted(tmp_path, "http_access allow localhost\n")
    assert text.startswith("http_port 127.0.0.1:@PORT@\n")
    assert "added http_port 127.0.0.1:@PORT@" in changes


@pytest.mark.parametrize(
    ("written", "placeholder"),
    [
        ("read_timeout 2 seconds", "read_timeout @SCALED:2@"),
        ("read_timeout 1500 milliseconds", "read_timeout @SCALED:1.5@"),
        ("read_timeout 15 minutes", "read_timeout @TIMEOUT:900@"),
        ("read_timeout 90", "read_timeout @TIMEOUT:90@"),  # no unit: seconds
        ("client_lifetime 2 hours", "client_lifetime @TIMEOUT:7200@"),
        ("connect_timeout 1 second", "connect_timeout 1 second"),  # it ends no open socket
        ("request_timeout 5 minutes", "request_timeout 5 minutes"),
    ],
)
def test_socket_timeouts_follow_the_time_scale_by_their_place_among_the_heartbeats(
    tmp_path: Path, written: str, placeholder: str
) -> None:
    text, _ = _adapted(tmp_path, f"http_port 3128\n{written}\nhttp_access allow localhost\n")
    assert placeholder in _lines(text)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("include /etc/squid/extra.conf", "paste what it includes in its place"),
        ("cache_peer parent.corp.example parent 3128 0 no-query", "another proxy or server"),
        ("never_direct allow all", "leave out cache_peer, cache_peer_access and never_direct"),
        ("url_rewrite_program /usr/local/bin/rewrite.pl", "a program or service of your machine"),
        ("icap_service av reqmod_precache icap://127.0.0.1:1344/av", "the harness does not have"),
        ("auth_param basic program /usr/lib/squid/basic_ncsa_auth /etc/pw", "proxy_auth ACLs"),
        ("external_acl_type groups %LOGIN /usr/lib/squid/ext_ldap", "its external ACLs"),
        ('acl blocked dstdomain "/etc/squid/blocked.txt"', "write them on the line"),
        ("http_port 80 accel defaultsite=cms.example.com", "a reverse proxy (accel)"),
        ("http_port 3129 require-proxy-header", "PROXY header no client sends"),
        ("read_timeout soon", "not a duration Squid writes"),
    ],
)
def test_what_cannot_be_run_is_refused_naming_the_line(tmp_path: Path, line: str, why: str) -> None:
    path = write(tmp_path, "squid.conf", f"http_port 3128\n# ours\n{line}\nhttp_access deny all\n")
    with pytest.raises(ConfigRefused, match=re.escape(why)) as refused:
        load_own(path)
    assert refused.value.line == 3
    assert str(refused.value).startswith(f"{path}, line 3: {line!r} cannot be run by the harness")


def test_interception_alone_is_refused_and_quoted_values_may_be_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigRefused, match="write a plain http_port PORT") as refused:
        load_own(write(tmp_path, "squid.conf", "http_port 3129 tproxy\n"))
    assert refused.value.line == 1
    quoted = 'configuration_includes_quoted_values on\nacl cms dstdomain "cms.example.com"\n'
    text, _ = _adapted(tmp_path, quoted)
    assert 'acl cms dstdomain "cms.example.com"' in text


def test_the_installed_squid_conf_is_adapted(tmp_path: Path) -> None:
    installed_conf = Path("/etc/squid/squid.conf")
    if not installed_conf.exists():
        pytest.skip("no /etc/squid/squid.conf: install Debian's squid package")
    text, _ = _adapted(tmp_path, installed_conf.read_text())
    lines = _lines(text)
    assert [line for line in lines if re.match(r"\w+_port ", line)] == [
        "http_port 127.0.0.1:@PORT@"
    ]
    assert not [line for line in lines if "/var/" in line or line.startswith("include")]
    first_rule = next(line for line in lines if line.startswith("http_access"))
    assert first_rule == "http_access deny !wsharness_upstream_host"


# With the real Squid.


@pytest.mark.parametrize("text", [CUSTOMER, DEBIAN])
def test_squid_accepts_the_adapted_config(tmp_path: Path, text: str) -> None:
    installed("squid")
    own = load_own(write(tmp_path, "squid.conf", text))
    rendered = own.config.render(port=3128, upstream="http://127.0.0.1:8080", workdir=tmp_path)
    config = write(tmp_path, "rendered.conf", rendered)
    done = subprocess.run(
        [find_binary("squid"), "-k", "parse", "-f", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ERROR" not in done.stderr, done.stderr[-2000:]


def test_debian_s_connect_rule_is_held_to_forward_connect_443(tmp_path: Path) -> None:
    real, simulated, own = side_by_side(
        write(tmp_path, "squid.conf", DEBIAN), "forward-connect-443"
    )
    assert own.config.models == "forward-connect-443"
    assert real.status == 403
    assert not real.differences(simulated)


def test_diagnose_finds_debian_s_connect_rule(
    tmp_path: Path,
    real_proxy: Callable[..., LocalProxy],
    cms_server: SyncCMS,
    cms_client_factory: Callable[..., SyncClient],
) -> None:
    installed("squid")
    path = write(tmp_path, "squid.conf", DEBIAN)
    proxy = real_proxy(config=path, models="forward-connect-443", backend="local")
    assert proxy.forward
    found = asyncio.run(diagnose_through(proxy, cms_server.url, LIMITS))
    assert found.findings[-1].code == "connect-443", found.to_text()
    assert_held_to_its_profile(proxy, cms_server, cms_client_factory)


def test_connect_to_the_cms_port_is_held_to_forward_proxy(tmp_path: Path) -> None:
    real, simulated, _ = side_by_side(write(tmp_path, "squid.conf", WEBSOCKET), "forward-proxy")
    assert real.status == 101
    assert real.backend_saw_upgrade is True
    assert not real.differences(simulated)


async def _idle_side_by_side(path: Path) -> tuple[HandshakeSeen, HandshakeSeen]:
    # side_by_side() would reach Squid as the profile is reached: idle-timeout-2s is a reverse
    # proxy, Squid an explicit one. The same comparison, each reached its own way.
    own = load_own(path, models="forward-proxy")
    async with SimulatedCMS() as cms:
        async with LocalProxy(own.config, cms.url) as real:
            seen_real = await observe_handshake(real.url, cms, idle=2.0, forward=True)
            real.check()
        async with ProfileProxy(Catalogue().get("idle-timeout-2s"), cms.url) as simulated:
            seen_simulated = await observe_handshake(simulated.url, cms, idle=2.0)
    return seen_real, seen_simulated


def test_a_short_read_timeout_cuts_like_idle_timeout_2s_within_squid_s_clock(
    tmp_path: Path,
) -> None:
    # Squid keeps time in whole seconds and checks its timeouts about once a second: its cut
    # of 2 s comes up to a second later, 2.2 to 3 s after the open here (depending on where in
    # Squid's second the socket opened). So it is held to the profile with that much slack,
    # and not at time scale 0.5 either: its 1 s cut then comes anywhere from 0.7 to 2.7 s.
    installed("squid")
    path = write(tmp_path, "squid.conf", WEBSOCKET + "read_timeout 2 seconds\n")
    real, simulated = asyncio.run(_idle_side_by_side(path))
    assert real.close_code == 1006
    assert not simulated.differences(real, tolerance=0.75)
    assert real.idle_cut_after is not None
    assert 1.0 <= real.idle_cut_after <= 3.5


def _ask(port: int, request: str) -> bytes:
    """The status line (and what came with it) of Squid's answer to ``request``."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as client:
        client.sendall(request.encode())
        answer = b""
        while b"\r\n" not in answer:  # bounded: each recv waits IO_TIMEOUT at most
            chunk = client.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


def test_an_open_relay_as_written_still_reaches_only_the_upstream(tmp_path: Path) -> None:
    installed("squid")
    path = write(tmp_path, "squid.conf", "http_port 3128\nhttp_access allow all\n")
    own = load_own(path, models="forward-proxy")

    async def run(bystander: str) -> list[bytes]:
        async with SimulatedCMS() as cms, LocalProxy(own.config, cms.url) as real:
            port = int(real.url.rsplit(":", 1)[1])
            upstream = cms.url.split("://", 1)[1]
            requests = (
                f"CONNECT {bystander} HTTP/1.1\r\nHost: {bystander}\r\n\r\n",
                f"GET http://{bystander}/ HTTP/1.1\r\nHost: {bystander}\r\n\r\n",
                f"GET http://{upstream}/EPiServer/Shell/edit HTTP/1.1\r\nHost: {upstream}"
                "\r\nConnection: close\r\n\r\n",
            )
            return [await asyncio.to_thread(_ask, port, r) for r in requests]

    with socket.create_server(("127.0.0.1", 0)) as listener:  # never accepts: counts in backlog
        listener.setblocking(False)
        authority = f"127.0.0.1:{listener.getsockname()[1]}"
        connect, get, upstream = asyncio.run(run(authority))
        with pytest.raises(BlockingIOError):
            listener.accept()[0].close()  # nobody came
    assert connect.startswith(b"HTTP/1.1 403"), connect
    assert get.startswith(b"HTTP/1.1 403"), get
    assert upstream.startswith(b"HTTP/1.1 200"), upstream
