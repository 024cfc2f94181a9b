"""A team's own Apache config (real/adapt/apache.py): rewritten to run on 127.0.0.1 in front of
the harness's upstream, refused where it cannot be, and held to the profile it behaves like."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from own_config import assert_idle_cut, side_by_side, write
from real_software import assert_held_to_its_profile, diagnose_through, installed

from pytest_wsharness.diagnose.probe import Limits
from pytest_wsharness.errors import ConfigRefused
from pytest_wsharness.real.adapt import load_own
from pytest_wsharness.real.local import LocalProxy, find_binary
from pytest_wsharness.runtime.sync import SyncClient, SyncCMS

# A sites-enabled file as certbot leaves it: an http-to-https redirect, a TLS site in front of
# a balancer of two backends, and no upgrade=websocket (mod_proxy_http then drops Upgrade and
# Connection, as hop-by-hop headers).
CUSTOMER = """\
# /etc/apache2/sites-enabled/cms.conf
<VirtualHost *:80>
    ServerName cms.example.com
    RewriteEngine on
    RewriteCond %{SERVER_NAME} =cms.example.com
    RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]
</VirtualHost>

<VirtualHost *:443>
    ServerName cms.example.com
    SSLEngine on
    SSLCertificateFile /etc/letsencrypt/live/cms.example.com/fullchain.pem
    SSLCertificateKeyFile /etc/letsencrypt/live/cms.example.com/privkey.pem
    Include /etc/letsencrypt/options-ssl-apache.conf
    SSLProxyEngine on

    ProxyPreserveHost On
    ProxyRequests Off
    RequestHeader set X-Forwarded-Proto "https"
    <Proxy "balancer://cms">
        BalancerMember "https://10.0.4.21:8443" timeout=90
        BalancerMember "https://10.0.4.22:8443"
    </Proxy>
    ProxyPass "/" "balancer://cms/"
    ProxyPassReverse "/" "balancer://cms/"

    ErrorLog ${APACHE_LOG_DIR}/cms_error.log
    CustomLog ${APACHE_LOG_DIR}/cms_access.log combined
</VirtualHost>
"""
# Apache 2.4.47+ as its documentation says for WebSocket: mod_proxy_http passes the upgrade.
WEBSOCKET_SITE = """\
<VirtualHost *:80>
    ServerName cms.example.com
    Timeout %s
    ProxyPreserveHost On
    ProxyPass / http://cms.internal:8080/ upgrade=websocket
    ProxyPassReverse / http://cms.internal:8080/
</VirtualHost>
"""
# The older recipe still found everywhere: a ws:// RewriteRule for mod_proxy_wstunnel.
WSTUNNEL_SITE = """\
<VirtualHost *:8080>
    ServerName cms.example.com
    RewriteEngine On
    RewriteCond %{HTTP:Upgrade} =websocket [NC]
    RewriteRule /(.*) ws://cms.internal:8080/$1 [P,L]
    RewriteCond %{HTTP:Upgrade} !=websocket [NC]
    RewriteRule /(.*) http://cms.internal:8080/$1 [P,L]
    ProxyPassReverse / http://cms.internal:8080/
</VirtualHost>
"""
# Debian's apache2.conf, comments taken out, with the site pasted in place of its include.
DEBIAN = """\
DefaultRuntimeDir ${APACHE_RUN_DIR}
PidFile ${APACHE_PID_FILE}
Timeout 300
KeepAlive On
User ${APACHE_RUN_USER}
Group ${APACHE_RUN_GROUP}
ErrorLog ${APACHE_LOG_DIR}/error.log
LogLevel warn
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
Include ports.conf
<Directory />
\tOptions FollowSymLinks
\tAllowOverride None
\tRequire all denied
</Directory>
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined
IncludeOptional conf-enabled/*.conf
<IfModule mod_ssl.c>
<VirtualHost _default_:443>
\tLogLevel info ssl:warn
\tProxyPass /ws/ ws://10.0.4.21:8080/ws/ \\
\t\ttimeout=2
\tProxyPass / http://10.0.4.21:8080/
\tCustomLog "|/usr/bin/rotatelogs /var/log/apache2/cms.%Y-%m-%d 86400" combined
</VirtualHost>
</IfModule>
"""
# A Red Hat httpd.conf: its own modules (prefork), paths relative to its ServerRoot.
HTTPD = """\
ServerRoot "/etc/httpd"
Listen 80
Listen 10.0.0.5:8443 https
LoadModule mpm_prefork_module modules/mod_mpm_prefork.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule proxy_module modules/mod_proxy.so
User apache
ErrorLog "logs/error_log"
Mutex file:/run/httpd default
<IfModule proxy_module>
    Listen 8081
</IfModule>
ProxyPass / "http://[fd00::21]:8080/"
"""


def _adapted(tmp_path: Path, text: str, name: str = "cms.conf") -> tuple[str, list[str]]:
    own = load_own(write(tmp_path, name, text))
    assert own.config.software == "apache"
    return own.config.config, [change.describe() for change in own.changes]


def _directives(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*({name}\b.*)$", text, re.M | re.I)


def test_a_customer_site_listens_on_loopback_reaches_the_upstream_and_writes_in_its_folder(
    tmp_path: Path,
) -> None:
    text, changes = _adapted(tmp_path, CUSTOMER)
    assert _directives(text, "Listen") == ["Listen 127.0.0.1:@PORT@"]
    assert _directives(text, "<VirtualHost") == ["<VirtualHost *:@PORT@>"]
    members = _directives(text, "BalancerMember")
    assert members == ['BalancerMember "@UPSTREAM@" timeout=@TIMEOUT:90@']
    assert re.findall(r"\w+://[^\s\"]*", text) == ["balancer://cms"] + ["balancer://cms/"] * 2
    assert not re.search(r"10\.0\.4|SSL|letsencrypt|/var/log|APACHE_LOG_DIR|https://", text)
    for name in ("ErrorLog", "CustomLog", "PidFile"):
        assert all("@WORKDIR@/" in line for line in _directives(text, name)), name
    assert _directives(text, "CustomLog") == ['CustomLog "@WORKDIR@/access.log" combined']
    assert text.startswith('ServerRoot "@WORKDIR@"\nPidFile "@WORKDIR@/apache.pid"\n')
    assert "Timeout @TIMEOUT:60@\n" in text  # Apache's default, to grow with the time scale
    assert (
        "line 2: <VirtualHost *:80> ... -> left out (only redirects to https; another one proxies)"
        in changes
    )
    assert "line 9: <VirtualHost *:443> -> <VirtualHost *:@PORT@> (on the harness's port)" in (
        changes
    )
    assert "line 11: SSLEngine on -> left out (TLS: served as plain http)" in changes
    assert (
        "line 14: Include /etc/letsencrypt/options-ssl-apache.conf -> left out "
        "(TLS: served as plain http)" in changes
    )
    assert 'line 22: BalancerMember "https://10.0.4.22:8443" -> left out (one upstream: ' in (
        "\n".join(changes)
    )
    assert (
        "line 27: ErrorLog ${APACHE_LOG_DIR}/cms_error.log -> "
        'ErrorLog "@WORKDIR@/error.log" (in the harness\'s folder)' in changes
    )
    assert changes[-2].startswith("added ServerRoot, PidFile, ErrorLog, DefaultRuntimeDir, User, ")
    assert changes[-1] == (
        "added Debian's modules mpm_event, authz_core, proxy, proxy_http, ssl (for SSLEngine, "
        "line 11), headers (for RequestHeader, line 19), proxy_balancer (for balancer://cms, "
        "line 20), slotmem_shm (for balancer://cms, line 20), lbmethod_byrequests (for "
        "balancer://cms, line 20)"
    )


def test_a_status_page_on_a_second_port_is_left_out(tmp_path: Path) -> None:
    status = (
        "<VirtualHost 127.0.0.1:8081>\n    <Location /server-status>\n"
        "        SetHandler server-status\n    </Location>\n</VirtualHost>\n"
    )
    text, changes = _adapted(tmp_path, status + WEBSOCKET_SITE % "60")
    assert "server-status" not in text
    assert _directives(text, "<VirtualHost") == ["<VirtualHost *:@PORT@>"]
    assert changes[0] == (
        "line 1: <VirtualHost 127.0.0.1:8081> ... -> left out "
        "(it proxies nothing; another one proxies)"
    )


def test_a_redirect_only_site_is_kept_when_nothing_proxies(tmp_path: Path) -> None:
    site = "<VirtualHost *:80>\n    Redirect permanent / https://cms.example.com/\n</VirtualHost>\n"
    text, _ = _adapted(tmp_path, site)
    assert "Redirect permanent / https://cms.example.com/" in text
    assert "LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so\n" in text


def test_the_old_websocket_recipe_gets_mod_rewrite_and_mod_proxy_wstunnel(tmp_path: Path) -> None:
    text, changes = _adapted(tmp_path, WSTUNNEL_SITE)
    assert _directives(text, "RewriteRule") == [
        "RewriteRule /(.*) ws://@UPSTREAM_HOSTPORT@/$1 [P,L]",
        "RewriteRule /(.*) @UPSTREAM@/$1 [P,L]",
    ]
    assert "ProxyPassReverse / @UPSTREAM@/" in text
    assert "rewrite (for RewriteEngine, line 3), proxy_wstunnel (for ws://" in changes[-1]
    assert "LoadModule proxy_wstunnel_module /usr/lib/apache2/modules/mod_proxy_wstunnel.so" in text


def test_a_whole_debian_apache2_conf_loses_the_includes_the_harness_does_itself(
    tmp_path: Path,
) -> None:
    text, changes = _adapted(tmp_path, DEBIAN, "apache2.conf")
    assert "Include" not in text
    assert "${" not in text
    assert _directives(text, "Listen") == ["Listen 127.0.0.1:@PORT@"]
    assert 'DefaultRuntimeDir "@WORKDIR@"' in text
    assert "User www-data\nGroup www-data" in text
    assert "Timeout @TIMEOUT:300@" in text
    # A directive continued on the next line keeps its own line number.
    assert "ProxyPass /ws/ ws://@UPSTREAM_HOSTPORT@/ws/ \\\n\t\ttimeout=@SCALED:2@" in text
    assert "ProxyPass / @UPSTREAM@/" in text
    assert 'CustomLog "@WORKDIR@/access.log" combined' in text  # no piped logger either
    assert (
        "line 9: IncludeOptional mods-enabled/*.load -> left out "
        "(the harness loads the modules the file needs)" in changes
    )
    assert "line 11: Include ports.conf -> left out (the harness listens on its port)" in changes
    assert (
        "line 22: ProxyPass /ws/ ws://10.0.4.21:8080/ws/ \\ ... -> ProxyPass /ws/ "
        "ws://@UPSTREAM_HOSTPORT@/ws/ \\ timeout=@SCALED:2@ (to the harness's upstream)" in changes
    )
    # <IfModule mod_ssl.c> and "LogLevel ssl:warn" need mod_ssl, which Debian ships.
    assert "ssl (for IfModule, line 19)" in changes[-1]
    assert changes[-2] == "added ServerRoot, ServerName, Listen, Mutex (the harness's)"


def test_a_config_with_its_own_modules_keeps_its_mpm_and_gets_the_others_first(
    tmp_path: Path,
) -> None:
    text, changes = _adapted(tmp_path, HTTPD, "httpd.conf")
    assert _directives(text, "LoadModule") == [
        "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so",
        # mod_proxy_http needs mod_proxy's symbols: loaded after it, both at the top.
        "LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so",
        "LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so",
        "LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so",
    ]
    assert _directives(text, "Listen") == ["Listen 127.0.0.1:@PORT@"]
    assert _directives(text, "Mutex") == ["Mutex posixsem default"]
    assert 'ProxyPass / "@UPSTREAM@/"' in text
    assert "line 3: Listen 10.0.0.5:8443 https -> left out (one address: the harness's port)" in (
        changes
    )
    assert "line 6: LoadModule proxy_module modules/mod_proxy.so -> left out (loaded first" in (
        "\n".join(changes)
    )
    assert "line 11: Listen 8081 -> left out (one address: the harness's port)" in changes
    assert 'line 1: ServerRoot "/etc/httpd" -> ServerRoot "@WORKDIR@"' in changes[0]
    assert changes[-1] == "added Debian's modules authz_core, proxy, proxy_http"


def test_a_tls_listener_is_served_as_plain_http(tmp_path: Path) -> None:
    _, changes = _adapted(tmp_path, "Listen 443 https\n" + WEBSOCKET_SITE % "60")
    assert changes[0] == (
        "line 1: Listen 443 https -> Listen 127.0.0.1:@PORT@ "
        "(on the harness's port; TLS: served as plain http)"
    )


@pytest.mark.parametrize(
    ("written", "rewritten"),
    [
        ("Timeout 2", "Timeout @SCALED:2@"),
        ("Timeout 300", "Timeout @TIMEOUT:300@"),
        ("Timeout 1500ms", "Timeout @SCALED:1.5@"),
        ("ProxyTimeout 1", "ProxyTimeout @SCALED:1@"),
        ("ProxyWebsocketIdleTimeout 120", "ProxyWebsocketIdleTimeout @TIMEOUT:120@"),
        # The connect timeout bounds the handshake: it stays as written.
        (
            "ProxyPass /api http://b:8080/api timeout=2 connectiontimeout=5",
            "ProxyPass /api @UPSTREAM@/api timeout=@SCALED:2@ connectiontimeout=5",
        ),
        ('ProxySet "balancer://x" timeout=90', 'ProxySet "balancer://x" timeout=@TIMEOUT:90@'),
    ],
)
def test_timeouts_that_can_end_an_open_socket_follow_the_time_scale(
    tmp_path: Path, written: str, rewritten: str
) -> None:
    text, changes = _adapted(tmp_path, WEBSOCKET_SITE.replace("Timeout %s", written))
    assert rewritten in text
    assert f"line 3: {written} -> {rewritten} " in "\n".join(changes)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("Include /etc/apache2/cms-common.conf", "paste what it includes in its place"),
        ("IncludeOptional sites-enabled/*.conf", "paste what it includes in its place"),
        ("ProxyPass /php/ fcgi://127.0.0.1:9000/var/www/", "something other than the CMS"),
        ('ProxyPass /app "unix:/run/cms.sock|http://localhost/"', "something other than the CMS"),
        ("ProxyPass /x http://${BACKEND}:8080/", "cannot tell where it leads"),
        ("ProxyPassMatch ^/(\\w+)/ http://$1.internal:8080/", "cannot tell where it leads"),
        ("RewriteRule ^/(.*) http://%{HTTP_HOST}:8080/$1 [P,L]", "cannot tell where it leads"),
        ('SetHandler "proxy:http://10.0.4.9:8080/"', "something other than the CMS"),
        ("ProxyRequests On", "it relays to other hosts"),
        ("ProxyRemote * http://proxy.corp:3128", "it relays to other hosts"),
        ("Timeout forever", "not a number of seconds"),
        ("</Location>", "it closes no section"),
    ],
)
def test_what_cannot_be_run_is_refused_naming_the_line(tmp_path: Path, line: str, why: str) -> None:
    text = f"<VirtualHost *:80>\n    ServerName x\n    {line}\n    ProxyPass / http://a:1/\n"
    with pytest.raises(ConfigRefused, match=re.escape(why)) as refused:
        load_own(write(tmp_path, "cms.conf", text + "</VirtualHost>\n"))
    assert refused.value.line == 3
    assert refused.value.directive == line.strip()
    assert str(refused.value).startswith(f"{tmp_path / 'cms.conf'}, line 3: ")


def test_an_unclosed_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigRefused, match="never closed") as refused:
        load_own(write(tmp_path, "cms.conf", "# site\n<VirtualHost *:80>\n  <Location />\n"))
    assert refused.value.line == 3


def test_a_refused_directive_in_a_redirect_left_out_is_not_refused(tmp_path: Path) -> None:
    site = CUSTOMER.replace("    RewriteEngine on", "    Include /etc/apache2/redirects.conf", 1)
    text, _ = _adapted(tmp_path, site)
    assert "redirects.conf" not in text


# With the real apache2.


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("cms.conf", CUSTOMER),
        ("apache2.conf", DEBIAN),
        ("httpd.conf", HTTPD),
        ("cms.conf", WEBSOCKET_SITE % "60"),
        # The file's own LoadModule last, with no newline after it.
        ("cms.conf", WSTUNNEL_SITE + "LoadModule headers_module modules/mod_headers.so"),
    ],
)
def test_apache_itself_finds_the_rewritten_config_valid(
    tmp_path: Path, name: str, text: str
) -> None:
    installed("apache")
    own = load_own(write(tmp_path, name, text))
    rendered = own.config.render(port=8, upstream="http://127.0.0.1:9", workdir=tmp_path)
    path = write(tmp_path, "apache.conf", rendered)
    checked = subprocess.run(
        [find_binary("apache"), "-t", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_customer_site_without_upgrade_websocket_is_held_to_header_stripping(
    tmp_path: Path,
    real_proxy: Callable[..., LocalProxy],
    cms_server: SyncCMS,
    cms_client_factory: Callable[..., SyncClient],
) -> None:
    installed("apache")
    path = write(tmp_path, "cms.conf", CUSTOMER)
    real, simulated, _ = side_by_side(path, "header-stripping")
    assert real.backend_saw_upgrade is False
    assert not real.differences(simulated)
    proxy = real_proxy(config=path, models="header-stripping", backend="local")
    found = asyncio.run(diagnose_through(proxy, cms_server.url, Limits(answer=2.0, heartbeat=2.0)))
    assert found.findings[-1].code == "stripped", found.to_text()
    assert_held_to_its_profile(proxy, cms_server, cms_client_factory)


@pytest.mark.parametrize("site", [WEBSOCKET_SITE % "60", WSTUNNEL_SITE])
def test_a_websocket_aware_site_behaves_like_compliant(tmp_path: Path, site: str) -> None:
    real, simulated, _ = side_by_side(write(tmp_path, "cms.conf", site), "compliant")
    assert real.status == 101
    assert real.backend_saw_upgrade is True
    assert not real.differences(simulated)


# Apache cuts a tunnel idle for the longer of Timeout and the backend's timeout: Timeout 2.
@pytest.mark.parametrize("time_scale", [1.0, 0.5])
def test_a_short_timeout_cuts_like_idle_timeout_2s_at_its_time_scale(
    tmp_path: Path, time_scale: float
) -> None:
    path = write(tmp_path, "cms.conf", WEBSOCKET_SITE % "2")
    assert_idle_cut(path, "idle-timeout-2s", idle=2.0, time_scale=time_scale)
