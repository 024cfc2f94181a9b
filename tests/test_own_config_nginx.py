"""A team's own nginx config (real/adapt/nginx.py): rewritten to run on 127.0.0.1 in front of
the harness's upstream, refused where it cannot be, and held to the profile it behaves like."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from own_config import assert_idle_cut, side_by_side, write
from real_software import assert_held_to_its_profile, diagnose_through, installed

from pytest_wsharness.diagnose.probe import Limits
from pytest_wsharness.errors import ConfigRefused, UnknownChoiceError, UsageError
from pytest_wsharness.real.adapt import detect, load_own
from pytest_wsharness.real.local import LocalProxy
from pytest_wsharness.runtime.sync import SyncClient, SyncCMS

# Debian's nginx.conf as a customer edits it: an http-to-https redirect, a TLS site, an
# upstream pool, and no WebSocket headers (nginx then drops Upgrade and Connection).
CUSTOMER = """\
user www-data;
worker_processes auto;
pid /run/nginx.pid;
include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections 768;
}

http {
    include /etc/nginx/mime.types;
    access_log /var/log/nginx/access.log;
    error_log /var/log/nginx/error.log;

    upstream cms_backend {
        server 10.0.4.21:8080;
        server 10.0.4.22:8080 backup;
    }

    server {
        listen 80;
        listen [::]:80;
        server_name cms.example.com;
        return 301 https://$host$request_uri;
    }

    server {
        listen 443 ssl http2;
        server_name cms.example.com;
        ssl_certificate /etc/ssl/certs/cms.pem;
        ssl_certificate_key /etc/ssl/private/cms.key;

        location / {
            proxy_pass http://cms_backend;
            proxy_set_header Host $host;
            proxy_read_timeout 90s;
        }
    }
}
"""
# A sites-enabled file, set up as nginx's documentation says for WebSocket.
WEBSOCKET_SITE = """\
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
server {
    server_name cms.example.com;
    location / {
        proxy_pass http://cms.internal:8080/;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout %s;
    }
}
"""


def _adapted(tmp_path: Path, text: str, name: str = "nginx.conf") -> tuple[str, list[str]]:
    own = load_own(write(tmp_path, name, text))
    return own.config.config, [change.describe() for change in own.changes]


def test_a_customer_config_listens_on_loopback_and_reaches_only_the_upstream(
    tmp_path: Path,
) -> None:
    text, changes = _adapted(tmp_path, CUSTOMER)
    assert re.findall(r"listen [^;]*;", text) == ["listen 127.0.0.1:@PORT@;"]
    assert "10.0.4" not in text
    assert "cms_backend;" not in text
    assert "proxy_pass @UPSTREAM@;" in text
    assert "server @UPSTREAM_HOSTPORT@;" in text
    assert not re.search(r"/var/log|/run/|ssl_|return 301", text)
    assert "daemon off;" in text
    assert "error_log @WORKDIR@/error.log" in text
    assert "include /etc/nginx/modules-enabled/*.conf;" in text  # Debian's own modules
    assert "proxy_read_timeout @TIMEOUT:90@;" in text
    assert "line 20: server { ... -> left out (only redirects; another server proxies)" in changes
    assert (
        "line 28: listen 443 ssl http2; -> listen 127.0.0.1:@PORT@; (on the harness's port; "
        "TLS: served as plain http)" in changes
    )
    assert "line 17: server 10.0.4.22:8080 backup; -> left out (one upstream: the harness's)" in (
        changes
    )


def test_a_file_of_server_blocks_is_wrapped_in_an_http_block(tmp_path: Path) -> None:
    text, changes = _adapted(tmp_path, WEBSOCKET_SITE % "60s", "cms.site")
    assert text.startswith("daemon off;")
    assert "events { worker_connections 64; }\nhttp {" in text
    assert text.endswith("}\n")
    # No listen: nginx would take port 80; it gets the harness's.
    assert "listen 127.0.0.1:@PORT@;" in text
    assert "proxy_pass @UPSTREAM@/;" in text  # the URI part is kept
    assert any(change.startswith("added an http block") for change in changes)


@pytest.mark.parametrize(
    ("written", "placeholder"),
    [
        ("2s", "@SCALED:2@"),
        ("1500ms", "@SCALED:1.5@"),
        ("90", "@TIMEOUT:90@"),
        ("1m", "@TIMEOUT:60@"),
    ],
)
def test_socket_timeouts_follow_the_time_scale_by_their_place_among_the_heartbeats(
    tmp_path: Path, written: str, placeholder: str
) -> None:
    text, _ = _adapted(tmp_path, WEBSOCKET_SITE % written)
    assert f"proxy_read_timeout {placeholder};" in text


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("include /etc/nginx/conf.d/*.conf;", "paste what it includes in its place"),
        ("location /x { proxy_pass http://$backend; }", "cannot tell where it leads"),
        ("location /php { fastcgi_pass unix:/run/php.sock; }", "something other than the CMS"),
        ("listen 80 proxy_protocol;", "PROXY header no client sends"),
        ("location /y { proxy_pass http://a:1 }", "no ';' before '}'"),
    ],
)
def test_what_cannot_be_run_is_refused_naming_the_line(tmp_path: Path, line: str, why: str) -> None:
    text = (
        f"server {{\n    server_name x;\n    {line}\n"
        "    location / { proxy_pass http://a:1; }\n}\n"
    )
    with pytest.raises(ConfigRefused, match=re.escape(why)) as refused:
        load_own(write(tmp_path, "nginx.conf", text))
    assert refused.value.line == 3
    assert str(refused.value).startswith(f"{tmp_path / 'nginx.conf'}, line 3: ")


def test_an_unclosed_block_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigRefused, match="is never closed"):
        load_own(write(tmp_path, "nginx.conf", "http {\n  server {\n"))


def test_a_file_with_placeholders_runs_as_written(tmp_path: Path) -> None:
    text = "daemon off; events {} http { server { listen 127.0.0.1:@PORT@; } }"
    own = load_own(write(tmp_path, "mine.conf", text), software="nginx")
    assert own.config.config == text
    assert own.changes == []
    with pytest.raises(ConfigRefused, match=r"write the cut itself as @SCALED:N@"):
        load_own(write(tmp_path, "idle.conf", text + " @IDLE_TIMEOUT@"), software="nginx")


@pytest.mark.parametrize(
    ("name", "text", "software"),
    [
        ("Caddyfile", "", "caddy"),
        ("haproxy.cfg", "", "haproxy"),
        ("site.conf", "server { listen 80; }", "nginx"),
        ("site.conf", "<VirtualHost *:80>\n</VirtualHost>", "apache"),
        ("proxy.conf", "http_port 3128\n", "squid"),
        ("lb.conf", "frontend web\n    bind :80\n", "haproxy"),
    ],
)
def test_the_software_is_told_from_the_name_or_the_text(
    name: str, text: str, software: str
) -> None:
    assert detect(Path(name), text) == software


def test_a_file_nothing_tells_asks_for_the_software(tmp_path: Path) -> None:
    path = write(tmp_path, "proxy.txt", "hello\n")
    with pytest.raises(UsageError, match=r"give it \(--software.*one of nginx, haproxy, apache"):
        load_own(path)
    with pytest.raises(UnknownChoiceError, match="valid choices: apache, caddy, haproxy"):
        load_own(path, software="iis")
    with pytest.raises(UsageError, match="cannot read the proxy config"):
        load_own(tmp_path / "missing.conf")


# With the real nginx.


def test_a_customer_config_that_strips_the_headers_is_held_to_header_stripping(
    tmp_path: Path,
    real_proxy: Callable[..., LocalProxy],
    cms_server: SyncCMS,
    cms_client_factory: Callable[..., SyncClient],
) -> None:
    installed("nginx")
    path = write(tmp_path, "nginx.conf", CUSTOMER)
    proxy = real_proxy(config=path, models="header-stripping", backend="local")
    assert proxy.profile.name == "header-stripping"
    assert proxy.changes
    found = asyncio.run(diagnose_through(proxy, cms_server.url, Limits(answer=2.0, heartbeat=2.0)))
    assert found.findings[-1].code == "stripped", found.to_text()
    assert_held_to_its_profile(proxy, cms_server, cms_client_factory)


def test_a_websocket_aware_site_behaves_like_compliant(tmp_path: Path) -> None:
    real, simulated, _ = side_by_side(
        write(tmp_path, "cms.site", WEBSOCKET_SITE % "60s"), "compliant"
    )
    assert real.status == 101
    assert not real.differences(simulated)


@pytest.mark.parametrize("time_scale", [1.0, 0.5])
def test_a_short_read_timeout_cuts_like_idle_timeout_2s_at_its_time_scale(
    tmp_path: Path, time_scale: float
) -> None:
    path = write(tmp_path, "cms.site", WEBSOCKET_SITE % "2s")
    assert_idle_cut(path, "idle-timeout-2s", idle=2.0, time_scale=time_scale)


def test_real_proxy_with_a_config_needs_the_profile_it_models(
    tmp_path: Path, real_proxy: Callable[..., LocalProxy]
) -> None:
    path = write(tmp_path, "nginx.conf", CUSTOMER)
    with pytest.raises(pytest.UsageError, match=r"needs models=PROFILE"):
        real_proxy(config=path)
    with pytest.raises(pytest.UsageError, match=r"by name, or config=PATH \(your own\), not both"):
        real_proxy("nginx-websocket", config=path, models="compliant")
    with pytest.raises(pytest.UsageError, match="unknown proxy profile 'nginx'"):
        real_proxy(config=path, models="nginx")
