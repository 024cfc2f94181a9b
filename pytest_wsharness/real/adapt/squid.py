"""A team's own ``squid.conf`` made runnable: Squid as the clients' explicit (forward) proxy.

Rewritten: the first forward ``http_port`` (to ``127.0.0.1:@PORT@``, its options kept but the
TLS ones: ``ssl-bump``, ``cert=``, ``tls-*``...); ``pid_filename``, ``cache_log``,
``coredump_dir`` and the first ``access_log`` that logs (to ``stdio:``), into ``@WORKDIR@``;
``read_timeout`` and ``client_lifetime`` (they can end an open CONNECT tunnel; see
:func:`~pytest_wsharness.real.adapt.common.timeout`); ``shutdown_lifetime`` (0 seconds, so that
the harness stops it at once). ``connect_timeout``, ``request_timeout`` and the others stay.

Added: the harness's lock, before the first ``http_access`` line: any request to another host
than the upstream's, or to another port than the upstream's and 443, is denied (never an open
relay). The file's own rules then decide only among requests to the upstream: its
``SSL_ports``, ``Safe_ports`` and ``CONNECT`` rules apply, as they would to the CMS. Port 443
of that host stays in reach, as in ``proxies/real/squid-connect-443.toml``, so that ``wsharness
diagnose`` tells "CONNECT only to 443" from "CONNECT refused". Also whichever of
``http_port``, ``pid_filename``, ``cache_log``, ``coredump_dir``, ``access_log`` and
``shutdown_lifetime`` the file lacks (Squid's defaults write in ``/var``), and Squid's default
``read_timeout`` (15 minutes) when it has none, written so that it follows the time scale.

Left out: other ``http_port`` lines (``intercept`` and ``tproxy`` ones among them: transparent
interception cannot be reproduced on loopback), ``https_port``, ``ftp_port``, ``icp_port``,
``htcp_port``, ``snmp_port``, the ``*_incoming_address`` and ``*_outgoing_address``;
``cache_dir`` (no disk cache: Squid caches in memory), ``cache_store_log``, other
``access_log`` lines, ``logfile_rotate``, ``netdb_filename``, ``cache_effective_user`` and
``_group``, ``chroot``; ``workers`` and ``cpu_affinity_map`` (``squid -N`` runs one process);
Squid's own files and helpers (``error_directory``, ``mime_table``, ``logfile_daemon``,
``pinger_program``...: those installed here are used); ``dns_nameservers``; TLS directives
(``ssl_bump``, ``sslcrtd_program``, ``sslproxy_*``, ``tls_outgoing_options``...); ``wccp*``
and ``announce_*``; ``include /etc/squid/conf.d/*.conf``, the line Debian's own squid.conf has:
the package puts only ``logfile_rotate 0`` there, and the files there on the harness's machine
are not the customer's (their own are to be pasted in its place).

Refused: any other ``include``; ``cache_peer``, ``cache_peer_access``, ``cache_peer_domain``
and ``never_direct`` (a parent proxy or an origin server); ``url_rewrite_program``,
``store_id_program``, ``external_acl_type``, ``auth_param``, ``icap_*``, ``ecap_*`` and
``adaptation_*`` (programs and services of the customer's machine); ACL values read from a
file (``"/path"``); an ``http_port`` in ``accel`` mode (a reverse proxy) or with
``require-proxy-header``, or only ``intercept``/``tproxy`` ones.

The harness's client comes from 127.0.0.1: rules that allow ``localnet`` but not ``localhost``
(Debian's and Squid's own defaults allow it) deny it, as they would such a client there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .common import Adapted, Edits, timeout

# Words; `\` at the end of a line continues it; `#` opens a comment where a word would start.
TOKEN = re.compile(
    r"(?P<newline>\n)|(?P<space>[ \t\r]+|\\\r?\n)|(?P<comment>#[^\n]*)"
    r'|(?P<word>(?:"(?:\\.|[^"\\\n])*"|\\(?!\r?\n).|[^\s\\"])+)'
)
LOCK = """acl wsharness_upstream_host dst @UPSTREAM_HOST@
acl wsharness_upstream_port port @UPSTREAM_PORT@ 443
http_access deny !wsharness_upstream_host
http_access deny !wsharness_upstream_port
"""
FOLDER = "the harness keeps its own, in its folder"
# directive: (what it becomes, what the line added when the file has none is)
OWN = {
    "pid_filename": ("pid_filename @WORKDIR@/squid.pid", "a pid file in the harness's folder"),
    "cache_log": ("cache_log @WORKDIR@/cache.log", "the cache log in the harness's folder"),
    "coredump_dir": ("coredump_dir @WORKDIR@", "core dumps in the harness's folder"),
    "shutdown_lifetime": ("shutdown_lifetime 0 seconds", "a fast stop (Squid waits 30 s else)"),
}
# Squid's default, written so that it grows with time scales above 1 (as proxies/real/ do).
READ_TIMEOUT = "read_timeout @TIMEOUT:900@"
ACCESS_LOG = "access_log stdio:@WORKDIR@/access.log"
DEBIAN_CONF_D = "/etc/squid/conf.d/*.conf"
LEFT_OUT = {
    **dict.fromkeys(
        ("https_port", "ftp_port", "icp_port", "htcp_port", "snmp_port"),
        "another listener: the harness's port is the one http_port",
    ),
    **dict.fromkeys(
        (
            *("cache_store_log", "cache_swap_log", "logfile_rotate", "netdb_filename"),
            *("cache_effective_user", "cache_effective_group", "chroot"),
        ),
        FOLDER,
    ),
    "cache_dir": "no disk cache: Squid caches in memory here",
    **dict.fromkeys(("workers", "cpu_affinity_map"), "squid -N runs one process"),
    **dict.fromkeys(
        (
            *("error_directory", "err_page_stylesheet", "icon_directory", "mime_table"),
            *("logfile_daemon", "pinger_program", "unlinkd_program", "diskd_program"),
        ),
        "a file of your machine: Squid's own, as installed here, is used",
    ),
    "dns_nameservers": "the upstream is an address, nothing to resolve",
}
TLS = "TLS: served as plain http"
LEFT_OUT_PATTERNS = (
    (re.compile(r"^\w+_(incoming|outgoing)_address$"), "an address of your machine"),
    (re.compile(r"^(ssl_\w+|sslcrtd_\w+|sslproxy_\w+|sslpassword_program|tls_\w+)$"), TLS),
    (re.compile(r"^(wccp\w*|announce_\w+)$"), "it reaches your routers or other hosts"),
)
HELPERS = "a program or service of your machine the harness does not have: leave it out"
PEER = (
    "it sends requests to another proxy or server, where the harness's Squid goes straight to "
    "its upstream: leave out cache_peer, cache_peer_access and never_direct"
)
REFUSED = {
    **dict.fromkeys(("cache_peer", "cache_peer_access", "cache_peer_domain", "never_direct"), PEER),
    **dict.fromkeys(("url_rewrite_program", "redirect_program", "store_id_program"), HELPERS),
    "external_acl_type": HELPERS + ", and its external ACLs",
    "auth_param": HELPERS + ", and its proxy_auth ACLs",
}
REFUSED_PREFIXES = ("icap_", "ecap_", "adaptation_")
TLS_OPTION = re.compile(
    r"^(ssl|tls-|cert=|key=|cafile=|capath=|crlfile=|dhparams=|options=|cipher=|clientca="
    r"|version=|generate-host-certificates|dynamic_cert_mem_cache_size=)"
)
INTERCEPT = {"intercept", "tproxy", "transparent"}
SOCKET_TIMEOUTS = ("read_timeout", "client_lifetime")
SQUID_TIME = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(?:\s+([a-z]+?)s?)?$")
UNITS = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}
UNITS |= {"week": 7 * 86400, "fortnight": 14 * 86400, "month": 30 * 86400, "year": 365 * 86400}


@dataclass(frozen=True)
class Directive:
    """One directive: its words, and where it starts and ends in the text (no comment)."""

    name: str
    args: list[str]
    start: int
    end: int

    @property
    def text(self) -> str:
        return " ".join([self.name, *self.args])


def parse(text: str) -> list[Directive]:
    """The directives of ``text``, in order (``if``/``else``/``endif`` among them)."""
    found: list[Directive] = []
    words: list[re.Match[str]] = []
    for match in (*TOKEN.finditer(text), None):
        if match is not None and match.lastgroup == "word":
            words.append(match)
        elif (match is None or match.lastgroup == "newline") and words:
            names = [word[0] for word in words]
            found.append(Directive(names[0], names[1:], words[0].start(), words[-1].end()))
            words = []
    return found


class SquidConfig:
    """Rewrites a Squid config (see the module's docstring)."""

    def adapt(self, text: str, source: str) -> Adapted:
        directives = parse(text)
        edits = Edits(text, source)
        quoted_values = False  # Squid reads "quoted" ACL values from a file, unless told
        for d in directives:
            if d.name == "configuration_includes_quoted_values":
                quoted_values = d.args[:1] == ["on"]
            self._rewrite(d, edits, quoted_values)
        self._listen([d for d in directives if d.name == "http_port"], edits)
        self._logs([d for d in directives if d.name == "access_log"], edits)
        names = {d.name for d in directives}
        for name, (line, what) in OWN.items():
            if name not in names:
                edits.add(0, line + "\n", what)
        if "read_timeout" not in names:
            edits.add(0, READ_TIMEOUT + "\n", READ_TIMEOUT + " (Squid's 15 minutes, scaled)")
        rules = [d for d in directives if d.name == "http_access"]
        lock = "the harness's lock: only its upstream's host (and port, or 443), never a relay"
        if rules:
            edits.add(text.rfind("\n", 0, rules[0].start) + 1, LOCK, lock)
        else:  # Squid denies every request then: so it does after the lock
            tail = "" if text.endswith("\n") or not text else "\n"
            edits.add(len(text), tail + LOCK + "http_access deny all\n", lock + "; deny all")
        return edits.apply()

    def _rewrite(self, d: Directive, edits: Edits, quoted_values: bool) -> None:
        if d.name in OWN:
            why = "the harness stops it at once" if d.name == "shutdown_lifetime" else FOLDER
            edits.replace(d.start, d.end, OWN[d.name][0], why)
        elif d.name in LEFT_OUT:
            edits.replace(d.start, d.end, "", LEFT_OUT[d.name])
        elif d.name == "include" and d.args == [DEBIAN_CONF_D]:
            edits.replace(d.start, d.end, "", "Debian's conf.d: paste your own files from it here")
        elif d.name == "include":
            why = "the harness runs one file: paste what it includes in its place"
            raise edits.refuse(
                d.start, d.text, f"{why} (only Debian's {DEBIAN_CONF_D} is left out)"
            )
        elif d.name in REFUSED or d.name.startswith(REFUSED_PREFIXES):
            raise edits.refuse(d.start, d.text, REFUSED.get(d.name, HELPERS))
        elif d.name == "acl" and any(
            (a.startswith('"') and not quoted_values) or a.startswith("parameters(") for a in d.args
        ):
            why = "values read from a file the harness does not have: write them on the line"
            raise edits.refuse(d.start, d.text, why)
        elif d.name in SOCKET_TIMEOUTS:
            seconds = squid_time(" ".join(d.args))
            if seconds is None:
                why = "not a duration Squid writes (15 minutes, 60 seconds)"
                raise edits.refuse(d.start, d.text, why)
            edits.replace(d.start, d.end, f"{d.name} {timeout(seconds)}", "follows the time scale")
        else:
            for pattern, why in LEFT_OUT_PATTERNS:
                if pattern.match(d.name):
                    edits.replace(d.start, d.end, "", why)
                    return

    def _listen(self, ports: list[Directive], edits: Edits) -> None:
        for d in ports:
            if "accel" in d.args[1:]:
                why = "a reverse proxy (accel): the harness runs Squid as your clients' explicit"
                raise edits.refuse(d.start, d.text, why + " proxy; drop accel and its cache_peer")
            if "require-proxy-header" in d.args[1:]:
                why = "it waits for a load balancer's PROXY header no client sends"
                raise edits.refuse(d.start, d.text, why)
        forward = [d for d in ports if not INTERCEPT & set(d.args[1:])]
        intercepting = "transparent interception cannot be reproduced on loopback"
        if not ports:
            edits.add(0, "http_port 127.0.0.1:@PORT@\n", "http_port 127.0.0.1:@PORT@")
            return
        if not forward:
            why = f"{intercepting}: write a plain http_port PORT (your clients' explicit proxy)"
            raise edits.refuse(ports[0].start, ports[0].text, why)
        kept = forward[0]
        options = [a for a in kept.args[1:] if not TLS_OPTION.match(a)]
        why = "on the harness's port" + ("" if options == kept.args[1:] else f"; {TLS}")
        edits.replace(kept.start, kept.end, " ".join(["http_port 127.0.0.1:@PORT@", *options]), why)
        for d in ports:
            if d is not kept:
                why = "one address: the harness's port" if d in forward else intercepting
                edits.replace(d.start, d.end, "", why)

    def _logs(self, logs: list[Directive], edits: Edits) -> None:
        if not logs:
            edits.add(0, ACCESS_LOG + "\n", "the access log in the harness's folder")
        writing = [d for d in logs if d.args[:1] != ["none"]]
        for index, d in enumerate(writing):
            if index == 0:  # its format and ACLs kept
                edits.replace(d.start, d.end, " ".join([ACCESS_LOG, *d.args[1:]]), FOLDER)
            else:
                edits.replace(d.start, d.end, "", "one access log, in the harness's folder")


def squid_time(text: str) -> float | None:
    """Seconds in a Squid duration (``15 minutes``, ``2 seconds``; ``60``: seconds); ``None``
    when it is not one."""
    match = SQUID_TIME.match(text)
    if match is None or (match[2] is not None and match[2] not in UNITS):
        return None
    return float(match[1]) * UNITS[match[2] or "second"]


ADAPTER = SquidConfig()
