"""A team's own ``nginx.conf`` (or a ``sites-enabled`` file of ``server`` blocks) made runnable.

Rewritten: every ``listen`` (one per ``server`` block, on 127.0.0.1:@PORT@, ``default_server``
kept, TLS and other socket options dropped; a block without one gets one); every
``proxy_pass`` (to ``@UPSTREAM@``, its URI kept) and every ``server`` of an ``upstream`` block
(the first, to ``@UPSTREAM_HOSTPORT@``); ``proxy_read_timeout`` and ``proxy_send_timeout``
(the idle timeouts of an upgraded connection; see
:func:`~pytest_wsharness.real.adapt.common.timeout`); ``include`` of the files Debian's nginx
installs in ``/etc/nginx`` (``mime.types``, ``proxy_params``...), to that path; ``include
/etc/nginx/modules-enabled/*.conf`` (the modules installed here) is kept as Debian writes it.

Left out: ``daemon``, ``pid``, ``user``, ``master_process``, ``lock_file``,
``working_directory``, ``error_log``, ``access_log`` and the ``*_temp_path`` (the harness writes
its own, into its private folder); ``ssl_*``, ``http2`` and ``proxy_ssl_*`` (served as plain
http, and the harness's upstream is plain http); ``resolver``; a ``server`` block that only
redirects (``return 30x``) when another one proxies (the usual http-to-https redirect).

Refused: any other ``include``; ``proxy_pass`` to a variable; ``fastcgi_pass``, ``uwsgi_pass``,
``scgi_pass``, ``grpc_pass`` and ``memcached_pass`` (they reach something other than the CMS);
``listen ... proxy_protocol`` (it expects a load balancer's PROXY header no client sends).

A file with no ``http`` block (``server``, ``upstream`` and ``map`` blocks only) is wrapped in
one, with an ``events`` block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...errors import ConfigRefused
from .common import Adapted, Edits, duration, timeout

TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<comment>\#[^\n]*)|(?P<quoted>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')"""
    r"""|(?P<punct>[{};])|(?P<word>(?:\\.|[^\s{};"'\\])+)""",
    re.S,
)
# The files Debian's nginx package installs in /etc/nginx, which sites include by name.
DEBIAN = (
    *("mime.types", "proxy_params", "fastcgi_params", "fastcgi.conf", "scgi_params"),
    *("uwsgi_params", "koi-utf", "koi-win", "win-utf"),
)
MODULES = "/etc/nginx/modules-enabled/*.conf"
OWN_FILES = ("daemon", "pid", "user", "master_process", "lock_file", "working_directory")
LOGS = ("error_log", "access_log")
ELSEWHERE = ("fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass")
TLS = re.compile(r"^(ssl_\w+|http2|http3|quic_\w+|proxy_ssl_\w+)$")
SOCKET_TIMEOUTS = ("proxy_read_timeout", "proxy_send_timeout")
URL = re.compile(
    r"^(?P<scheme>https?)://(?P<host>\[[^\]]+\]|[^/:]+)(?::(?P<port>\d+))?(?P<uri>/.*)?$"
)
HEAD = """daemon off;
pid @WORKDIR@/nginx.pid;
error_log @WORKDIR@/error.log info;
"""
HTTP_HEAD = """
    access_log @WORKDIR@/access.log;
    client_body_temp_path @WORKDIR@/body;
    proxy_temp_path @WORKDIR@/proxy;
    fastcgi_temp_path @WORKDIR@/fastcgi;
    uwsgi_temp_path @WORKDIR@/uwsgi;
    scgi_temp_path @WORKDIR@/scgi;
"""
EVENTS = "events { worker_connections 64; }\n"


@dataclass
class Directive:
    """One directive: its words, where it starts and ends in the text, and its block's."""

    name: str
    args: list[str]
    start: int
    end: int
    block: list[Directive] | None = None
    open_brace: int = 0  # just after "{", for a block
    parents: tuple[str, ...] = ()

    def walk(self) -> list[Directive]:
        """This directive and every one inside it, in order."""
        found = [self]
        for child in self.block or []:
            found += child.walk()
        return found

    @property
    def text(self) -> str:
        return " ".join([self.name, *self.args])


@dataclass
class _Parser:
    text: str
    source: str
    tokens: list[tuple[str, str, int]] = field(default_factory=list)
    at: int = 0

    def parse(self) -> list[Directive]:
        for match in TOKEN.finditer(self.text):
            kind = match.lastgroup or ""
            if kind not in ("space", "comment"):
                self.tokens.append((kind, match[0], match.start()))
        found = self._block(())
        if self.at < len(self.tokens):
            raise self._error(self.tokens[self.at][2], "'}' closes no block")
        return found

    def _block(self, parents: tuple[str, ...]) -> list[Directive]:
        found: list[Directive] = []
        while self.at < len(self.tokens):  # bounded: every turn consumes a token
            kind, value, start = self.tokens[self.at]
            if value == "}" and kind == "punct":
                return found
            words: list[str] = []
            while self.at < len(self.tokens) and self.tokens[self.at][0] != "punct":
                words.append(_unquote(self.tokens[self.at][1]))
                self.at += 1
            if self.at == len(self.tokens) or not words:
                raise self._error(start, "a directive with no ';' or '{' after it")
            _, punct, offset = self.tokens[self.at]
            self.at += 1
            directive = Directive(words[0], words[1:], start, offset + 1, parents=parents)
            if punct == "{":
                directive.open_brace = offset + 1
                directive.block = self._block((*parents, words[0]))
                if self.at == len(self.tokens):
                    raise self._error(start, f"'{words[0]} {{' is never closed")
                directive.end = self.tokens[self.at][2] + 1
                self.at += 1
            elif punct == "}":
                raise self._error(start, "a directive with no ';' before '}'")
            found.append(directive)
        return found

    def _error(self, offset: int, why: str) -> ConfigRefused:
        line = self.text.count("\n", 0, offset) + 1
        return ConfigRefused(self.source, line, self.text[offset : offset + 40].split("\n")[0], why)


def _unquote(word: str) -> str:
    return word[1:-1] if word[:1] in "\"'" and word[-1:] == word[:1] else word


class NginxConfig:
    """Rewrites an nginx config (see the module's docstring)."""

    def adapt(self, text: str, source: str) -> Adapted:
        tree = _Parser(text, source).parse()
        every = [d for top in tree for d in top.walk()]
        edits = Edits(text, source)
        servers = [d for d in every if d.name == "server" and d.block is not None]
        proxying = [s for s in servers if _proxies(s)]
        left_out = [s for s in servers if proxying and s not in proxying and _redirects(s)]
        for server in left_out:
            edits.replace(server.start, server.end, "", "only redirects; another server proxies")
        kept = [d for d in every if not any(s.start <= d.start < s.end for s in left_out)]
        for directive in kept:
            self._rewrite(directive, edits)
        for server in servers:
            if server not in left_out:
                self._listen(server, edits)
        upstreams = [d for d in every if d.name == "upstream" and d.block is not None]
        for upstream in upstreams:
            self._upstream(upstream, edits)
        http = next((d for d in tree if d.name == "http" and d.block is not None), None)
        if http is not None:
            edits.add(0, HEAD, "daemon off, and the pid file and error log in its folder")
            edits.add(http.open_brace, HTTP_HEAD, "the access log and temp files in its folder")
            if not any(d.name == "events" and not d.parents for d in tree):
                edits.add(0, EVENTS, "an events block (nginx needs one)")
        else:
            edits.add(
                0,
                HEAD + EVENTS + "http {" + HTTP_HEAD,
                "an http block around the file's blocks, with daemon off, and the pid file, "
                "logs and temp files in its folder",
            )
            edits.add(len(text), "\n}\n", "")
        return edits.apply()

    def _rewrite(self, d: Directive, edits: Edits) -> None:
        if d.name in ("daemon", "master_process"):
            edits.replace(d.start, d.end, "", "the harness runs nginx in the foreground")
        elif d.name == "user":
            edits.replace(d.start, d.end, "", "nginx runs as whoever runs the harness")
        elif d.name in OWN_FILES or d.name in LOGS or d.name.endswith("_temp_path"):
            edits.replace(d.start, d.end, "", "its files go to the harness's folder")
        elif TLS.match(d.name):
            edits.replace(d.start, d.end, "", "TLS: served as plain http")
        elif d.name == "resolver":
            edits.replace(d.start, d.end, "", "the upstream is an address, nothing to resolve")
        elif d.name == "include":
            self._include(d, edits)
        elif d.name in ELSEWHERE:
            raise edits.refuse(
                d.start, d.text, "it reaches something other than the CMS; leave its location out"
            )
        elif d.name == "proxy_pass":
            self._proxy_pass(d, edits)
        elif d.name in SOCKET_TIMEOUTS and len(d.args) == 1:
            seconds = duration(d.args[0], "s")
            if seconds is None:
                raise edits.refuse(d.start, d.text, "not a duration nginx writes (60s, 500ms, 1m)")
            edits.replace(d.start, d.end, f"{d.name} {timeout(seconds)};", "follows the time scale")

    def _include(self, d: Directive, edits: Edits) -> None:
        name = d.args[0].rsplit("/", 1)[-1] if d.args else ""
        if name in DEBIAN and "*" not in d.args[0]:
            edits.replace(d.start, d.end, f"include /etc/nginx/{name};", "Debian's own file")
            return
        if d.args == [MODULES]:
            return  # the dynamic modules installed here, as Debian's own nginx.conf loads them
        raise edits.refuse(
            d.start,
            d.text,
            "the harness runs one file: paste what it includes in its place "
            f"(allowed: {MODULES} and Debian's {', '.join(DEBIAN)})",
        )

    def _proxy_pass(self, d: Directive, edits: Edits) -> None:
        target = d.args[0] if d.args else ""
        match = URL.match(target)
        if "$" in target or match is None:
            raise edits.refuse(
                d.start,
                d.text,
                "the harness cannot tell where it leads; write proxy_pass http://HOST:PORT "
                "(or @UPSTREAM@) there",
            )
        new = f"proxy_pass @UPSTREAM@{match['uri'] or ''};"
        edits.replace(d.start, d.end, new, "to the harness's upstream")

    def _listen(self, server: Directive, edits: Edits) -> None:
        listens = [d for d in server.block or [] if d.name == "listen"]
        for d in listens:
            if "proxy_protocol" in d.args:
                raise edits.refuse(
                    d.start, d.text, "it waits for a load balancer's PROXY header no client sends"
                )
        default = any(a in ("default_server", "default") for d in listens for a in d.args)
        new = "listen 127.0.0.1:@PORT@" + (" default_server" if default else "") + ";"
        if not listens:
            edits.add(server.open_brace, f"\n        {new}", f"{new} (else it would listen on 80)")
            return
        why = "on the harness's port" + (
            "; TLS: served as plain http" if any(a == "ssl" for a in listens[0].args) else ""
        )
        edits.replace(listens[0].start, listens[0].end, new, why)
        for d in listens[1:]:
            edits.replace(d.start, d.end, "", "one address: the harness's port")

    def _upstream(self, upstream: Directive, edits: Edits) -> None:
        members = [d for d in upstream.block or [] if d.name == "server"]
        for index, d in enumerate(members):
            if index == 0:
                edits.replace(
                    d.start, d.end, "server @UPSTREAM_HOSTPORT@;", "the harness's upstream"
                )
            else:
                edits.replace(d.start, d.end, "", "one upstream: the harness's")


def _proxies(server: Directive) -> bool:
    return any(d.name == "proxy_pass" for d in server.walk())


def _redirects(server: Directive) -> bool:
    return any(
        d.name in ("return", "rewrite") and any(a.startswith("https://") for a in d.args)
        for d in server.walk()
    )


ADAPTER = NginxConfig()
