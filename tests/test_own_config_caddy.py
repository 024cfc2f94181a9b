"""A team's own Caddyfile (real/adapt/caddy.py): rewritten to listen on 127.0.0.1:@PORT@ only,
reach the harness's upstream only and write in @WORKDIR@ only; then run by the real Caddy beside
the simulated profile it behaves like (skips without /usr/bin/caddy, naming Debian's package)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from own_config import assert_idle_cut, side_by_side, write

from pytest_wsharness.errors import ConfigRefused
from pytest_wsharness.real.adapt import detect
from pytest_wsharness.real.adapt.caddy import ADAPTER

# As a team writes it: automatic HTTPS with an ACME account, the http-to-https redirect site,
# a snippet, logs under /var/log/caddy, two backends, and a transport that trusts their TLS.
CUSTOMER = """\
# /etc/caddy/Caddyfile
{
\temail ops@example.com
\tacme_ca https://acme-v02.api.letsencrypt.org/directory
\tadmin localhost:2019
\tservers :443 {
\t\tprotocols h1 h2
\t\tlistener_wrappers {
\t\t\thttp_redirect
\t\t\ttls
\t\t}
\t}
}

(socket_headers) {
\theader_up X-Real-IP {remote_host}
}

http://cms.example.com {
\tredir https://cms.example.com{uri} permanent
}

cms.example.com, www.cms.example.com {
\ttls /etc/ssl/cms.pem /etc/ssl/cms.key
\tencode gzip
\tlog {
\t\toutput file /var/log/caddy/cms-access.log {
\t\t\troll_size 10mb
\t\t}
\t}
\treverse_proxy /EPiServer/Shell/socket/* 10.0.0.5:8080 10.0.0.6:8080 {
\t\timport socket_headers
\t\tlb_policy round_robin
\t\thealth_uri /healthz
\t\thealth_port 9100
\t\ttransport http {
\t\t\ttls_insecure_skip_verify
\t\t\tdial_timeout 5s
\t\t\tread_timeout 2m
\t\t}
\t}
\treverse_proxy https://10.0.0.7 {
\t\tto 10.0.0.8:443
\t}
}
"""


def adapt(text: str) -> tuple[str, dict[int, str]]:
    """The adapted text, and what each changed line became (``""``: left out)."""
    adapted = ADAPTER.adapt(text, "Caddyfile")
    return adapted.text, {c.line: c.after for c in adapted.changes if c.line}


def refused(text: str) -> ConfigRefused:
    with pytest.raises(ConfigRefused) as caught:
        ADAPTER.adapt(text, "Caddyfile")
    return caught.value


def site(body: str, head: str = "") -> str:
    """A customer's site around ``body``, with a global options block ``head``."""
    return head + "cms.example.com {\n" + body + "\n}\n"


# Pure: what is rewritten, left out, refused.


def test_customer_caddyfile_listens_reaches_and_writes_only_where_the_harness_says() -> None:
    text, changed = adapt(CUSTOMER)
    assert re.findall(r"^[^\s#{}(].*", text, re.M) == ["http://127.0.0.1:@PORT@ {"]
    assert "bind 127.0.0.1\n" in text
    assert re.findall(r"reverse_proxy.*|\bto .*", text) == [
        "reverse_proxy /EPiServer/Shell/socket/* @UPSTREAM_HOSTPORT@ {",
        "reverse_proxy @UPSTREAM_HOSTPORT@ {",
    ]
    for gone in ("example.com", "10.0.0.", "/var/log", "/etc/ssl", "2019", "9100", "tls", "acme"):
        assert gone not in text
    assert "output file @WORKDIR@/cms-access.log {" in text
    for kept in ("header_up X-Real-IP {remote_host}", "import socket_headers", "roll_size 10mb"):
        assert kept in text
    assert "dial_timeout 5s" in text  # a connect timeout stays as written
    assert changed == {
        3: "",
        4: "",
        5: "admin off",
        6: "servers",
        8: "",
        19: "",
        23: "http://127.0.0.1:@PORT@",
        24: "",
        27: "output file @WORKDIR@/cms-access.log",
        31: "reverse_proxy /EPiServer/Shell/socket/* @UPSTREAM_HOSTPORT@",
        34: "",
        35: "",
        37: "",
        39: "read_timeout @TIMEOUT:120@",
        42: "reverse_proxy @UPSTREAM_HOSTPORT@",
        43: "",
    }


def test_changes_say_why() -> None:
    changes = ADAPTER.adapt(CUSTOMER, "Caddyfile").changes
    why = {c.line: c.why for c in changes if c.line}
    assert why[23] == "on the harness's port; TLS: served as plain http"
    assert why[24] == "TLS: served as plain http"
    assert why[19] == "only redirects to https; another site proxies"
    assert why[43] == "one upstream: the harness's"
    assert [c.describe() for c in changes if not c.line] == [
        "added bind 127.0.0.1 (else it would listen on every address)",
        "added auto_https off",
        "added storage file_system @WORKDIR@/data",
    ]


def test_a_file_without_global_options_gets_them_and_a_braceless_site_gets_bind() -> None:
    text, changed = adapt("cms.example.com\n\nreverse_proxy localhost:8080\n")
    assert text == (
        "{\n\tadmin off\n\tauto_https off\n\tstorage file_system @WORKDIR@/data\n}\n"
        "http://127.0.0.1:@PORT@\nbind 127.0.0.1\n\nreverse_proxy @UPSTREAM_HOSTPORT@\n"
    )
    assert changed == {1: "http://127.0.0.1:@PORT@", 3: "reverse_proxy @UPSTREAM_HOSTPORT@"}


@pytest.mark.parametrize(
    ("address", "after"),
    [
        (":80", "http://127.0.0.1:@PORT@"),
        ("https://cms.example.com", "http://127.0.0.1:@PORT@"),
        ("cms.example.com:8443, cms.example.org", "http://127.0.0.1:@PORT@"),
        (
            "cms.example.com/EPiServer/Shell/socket/*",
            "http://127.0.0.1:@PORT@/EPiServer/Shell/socket/*",
        ),
        ("{$SITE_ADDRESS}", "http://127.0.0.1:@PORT@"),
    ],
)
def test_site_addresses(address: str, after: str) -> None:
    text, changed = adapt(address + " {\n\tbind 10.0.0.1 ::1\n\treverse_proxy cms:80\n}\n")
    assert changed[1] == after
    assert changed[2] == "bind 127.0.0.1"
    assert text.count("bind") == 1


def test_admin_storage_and_listener_options_are_the_harness_own() -> None:
    head = (
        "{\n\tadmin unix//run/caddy-admin.sock\n\tauto_https disable_redirects\n"
        "\tstorage file_system {\n\t\troot /var/lib/caddy\n\t}\n\tdefault_bind 10.0.0.1\n"
        "\thttp_port 8080\n\tservers :80 {\n\t\tprotocols h1\n\t}\n\tservers :443 {\n"
        "\t\ttimeouts {\n\t\t\tidle 5m\n\t\t}\n\t}\n\tlog {\n\t\toutput net 10.0.0.9:514\n\t}\n}\n"
    )
    text, changed = adapt(site("\treverse_proxy cms:80", head))
    assert changed == {
        2: "admin off",
        3: "auto_https off",
        4: "storage file_system @WORKDIR@/data",
        7: "",
        8: "",
        9: "",
        12: "servers",
        18: "output stderr",
        21: "http://127.0.0.1:@PORT@",
        22: "reverse_proxy @UPSTREAM_HOSTPORT@",
    }
    assert "idle 5m" in text  # Caddy clears a server's deadlines on an upgraded connection
    for gone in ("10.0.0.", "/var/lib", "/run", "8080"):
        assert gone not in text


def test_snippets_of_the_same_file_are_kept_and_rewritten() -> None:
    text = "(proxy) {\n\treverse_proxy 10.0.0.5:8080\n\ttls internal\n}\n" + site("\timport proxy")
    adapted, changed = adapt(text)
    assert changed == {2: "reverse_proxy @UPSTREAM_HOSTPORT@", 3: "", 5: "http://127.0.0.1:@PORT@"}
    assert "import proxy" in adapted


def test_upstreams_written_with_to_and_an_environment_variable() -> None:
    body = "\treverse_proxy {\n\t\tto 10.0.0.5:8080 10.0.0.6:8080\n\t\tto 10.0.0.7:8080\n\t}\n"
    body += "\treverse_proxy /other/* {$BACKEND}"
    _, changed = adapt(site(body))
    assert changed[3] == "to @UPSTREAM_HOSTPORT@"
    assert changed[4] == ""
    assert changed[6] == "reverse_proxy /other/* @UPSTREAM_HOSTPORT@"


@pytest.mark.parametrize(
    ("line", "after"),
    [
        ("transport http {\n\t\t\tread_timeout 2s\n\t\t}", "read_timeout @SCALED:2@"),
        ("transport http {\n\t\t\tread_timeout 500ms\n\t\t}", "read_timeout @SCALED:0.5@"),
        ("transport http {\n\t\t\twrite_timeout 1m30s\n\t\t}", "write_timeout @TIMEOUT:90@"),
        ("stream_timeout 2.5s", "stream_timeout @SCALED:2.5@"),
        ("stream_timeout 24h", "stream_timeout @TIMEOUT:86400@"),
    ],
)
def test_timeouts_that_can_end_an_open_socket_follow_the_time_scale(line: str, after: str) -> None:
    text, changed = adapt(site("\treverse_proxy cms:80 {\n\t\t" + line + "\n\t}"))
    assert after in text
    assert after in changed.values()


@pytest.mark.parametrize(
    "line",
    [
        "transport http {\n\t\t\tdial_timeout 2s\n\t\t}",
        "transport http {\n\t\t\tread_timeout 0\n\t\t}",
        "transport http {\n\t\t\tresponse_header_timeout 1s\n\t\t}",
    ],
)
def test_other_timeouts_stay_as_written(line: str) -> None:
    text, changed = adapt(site("\treverse_proxy cms:80 {\n\t\t" + line + "\n\t}"))
    assert line in text
    assert set(changed) == {1, 2}  # the address and the upstream only


@pytest.mark.parametrize(
    ("text", "line", "directive", "why"),
    [
        ("import sites/*.caddy\n", 1, "import sites/*.caddy", "paste what it imports"),
        (site("\timport common.caddy\n\treverse_proxy cms:80"), 2, "import", "paste"),
        (site("\treverse_proxy {http.request.header.X-Backend}"), 2, "reverse_proxy", "host:port"),
        (site("\treverse_proxy {\n\t\tto {vars.backend}\n\t}"), 3, "to {vars.backend}", "host"),
        (site("\treverse_proxy {\n\t\tdynamic a cms.internal\n\t}"), 3, "dynamic a", "run time"),
        (site("\treverse_proxy cms:9000 {\n\t\ttransport fastcgi\n\t}"), 3, "transport", "http"),
        (site("\tphp_fastcgi unix//run/php/php-fpm.sock"), 2, "php_fastcgi", "PHP"),
        (site("\tforward_auth auth:9091 {\n\t\turi /api/verify\n\t}"), 2, "forward_auth", "auth"),
        (
            site(
                "\treverse_proxy cms:80 {\n\t\ttransport http {\n\t\t\tread_timeout 2\n\t\t}\n\t}"
            ),
            4,
            "read_timeout 2",
            "with a unit (2s",
        ),
        (
            "{\n\tservers {\n\t\tlistener_wrappers {\n\t\t\tproxy_protocol\n\t\t}\n\t}\n}\n"
            + site("\treverse_proxy cms:80"),
            3,
            "listener_wrappers proxy_protocol",
            "PROXY header",
        ),
        (
            site("\treverse_proxy a:80") + "b.example.com {\n\treverse_proxy b:80\n}\n",
            4,
            "b.",
            "keep the one",
        ),
        ("cms.example.com {\n\treverse_proxy cms:80\n", 1, "cms.example.com", "never closed"),
    ],
)
def test_refused_names_the_line_and_directive(
    text: str, line: int, directive: str, why: str
) -> None:
    error = refused(text)
    assert error.line == line
    assert error.directive.startswith(directive)
    assert why in error.why
    assert f"Caddyfile, line {line}: " in str(error)


def test_several_proxying_sites_are_named() -> None:
    text = site("\treverse_proxy a:80") + "b.example.com {\n\treverse_proxy b:80\n}\n"
    assert "(cms.example.com, b.example.com)" in str(refused(text))


def test_a_caddyfile_is_told_by_its_name_and_its_text() -> None:
    assert detect(Path("Caddyfile"), "") == "caddy"
    assert detect(Path("site.conf"), site("\treverse_proxy cms:80")) == "caddy"


# End to end: the real Caddy beside the simulated profile.


def test_header_up_minus_upgrade_behaves_like_header_stripping(tmp_path: Path) -> None:
    # Caddy passes upgrades on its own; a copied "header_up -Upgrade" undoes it: the CMS gets a
    # plain GET and its 200 reaches the client.
    body = "\treverse_proxy 10.0.0.5:8080 {\n\t\theader_up -Upgrade\n\t}"
    path = write(tmp_path, "Caddyfile", site("\ttls internal\n" + body))
    real, simulated, own = side_by_side(path, "header-stripping")
    assert (real.status, real.backend_saw_upgrade) == (200, False)
    assert not real.differences(simulated)
    assert own.changes


def test_a_matcher_that_refuses_upgrades_behaves_like_the_firewall(tmp_path: Path) -> None:
    body = "\t@websockets header Connection *Upgrade*\n\trespond @websockets 403\n"
    path = write(tmp_path, "Caddyfile", site(body + "\treverse_proxy 10.0.0.5:8080"))
    real, simulated, _ = side_by_side(path, "firewall")
    assert (real.status, real.backend_saw_upgrade) == (403, None)
    assert not real.differences(simulated)


def test_the_customer_caddyfile_is_compliant(tmp_path: Path) -> None:
    real, simulated, own = side_by_side(write(tmp_path, "Caddyfile", CUSTOMER), "compliant")
    assert (real.status, real.backend_saw_upgrade) == (101, True)
    assert not real.differences(simulated)
    assert own.config.software == "caddy"


@pytest.mark.parametrize("time_scale", [1.0, 0.5])
def test_a_2s_read_timeout_cuts_idle_tunnels_like_idle_timeout_2s(
    tmp_path: Path, time_scale: float
) -> None:
    body = "\treverse_proxy 10.0.0.5:8080 {\n\t\ttransport http {\n\t\t\tread_timeout 2s\n"
    path = write(tmp_path, "Caddyfile", site(body + "\t\t}\n\t}"))
    assert_idle_cut(path, "idle-timeout-2s", idle=2.0, time_scale=time_scale)
