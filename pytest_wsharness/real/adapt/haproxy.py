"""A team's own ``haproxy.cfg`` made runnable (HAProxy runs it with ``-db``, in the foreground).

Rewritten: the first ``bind`` of the one frontend (or ``listen``) that proxies, to
``bind 127.0.0.1:@PORT@`` (TLS and the other options dropped); the first ``server`` of each
backend, to ``@UPSTREAM_HOSTPORT@``, and ``default-server``, keeping their options but those
for TLS (``ssl``, ``verify``, ``ca-file``, ``sni``, ``check-ssl``...), DNS (``resolvers``...),
another hop (``send-proxy``, ``source``...) and health checks (``check``, ``track``, ``addr``,
``port``, ``agent-*``: they may reach another address, and would mark the harness's upstream,
which has no health page, down); ``timeout tunnel|client|server|client-fin|server-fin``, which
end an idle upgraded connection (HAProxy uses ``client`` and ``server`` when ``tunnel`` is
absent), to :func:`~pytest_wsharness.real.adapt.common.timeout` (a bare number is in ms); the
first global ``log``, to stderr, and a proxy's ``log`` to a target, to ``log global``.
``timeout connect|http-request|queue|check|http-keep-alive`` stay as written.

Left out: ``daemon``, ``chroot``, ``user``, ``group``, ``uid``, ``gid``, ``pidfile``,
``nbproc``, ``master-worker``, ``unix-bind``, ``stats socket``, ``server-state-file|base`` and
the other ``log`` lines; ``ca-base``, ``crt-base``, ``key-base``, ``ssl-*``; a backend's
other ``server`` lines and a frontend's other ``bind`` lines; the other listeners (a stats
page, a frontend that only redirects to https or serves no backend), and a TLS frontend's
redirect of plain-http requests (``unless { ssl_fc }``); the ``resolvers``, ``ring`` and
``crt-store`` sections.

Refused: more than one frontend that proxies (naming them), or none; ``accept-proxy``;
``server-template``, ``socks4``, ``dispatch``, ``option http_proxy|transparent``,
``do-resolve``, ``use-fcgi-app``, ``filter spoe`` (they reach elsewhere); ``lua-load`` and files
read (``-f``, ``map(...)``, ``errorfile``, ``file``) but Debian's ``/etc/haproxy/errors/``; the
``peers``, ``mailers``, ``program`` and ``log-forward`` sections.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from ...errors import ConfigRefused
from .common import Adapted, Edits, duration, timeout

TOKEN = re.compile(r"""(?P<comment>#.*)|(?P<word>(?:\\.|"(?:\\.|[^"\\])*"|'[^']*'|[^\s#"'\\])+)""")
SECTIONS = (
    *("global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist"),
    *("mailers", "program", "http-errors", "ring", "cache", "fcgi-app", "log-forward", "traces"),
    "crt-store",
)
LEFT_OUT_SECTIONS = {
    "resolvers": "the upstream is an address, nothing to resolve",
    "ring": "logs: the harness's go to stderr",
    "crt-store": "TLS: served as plain http",
}
REFUSED_SECTIONS = {
    "peers": "it shares stick tables with other hosts; leave it out, and peers on stick-table",
    "mailers": "it sends mail through other hosts; leave it out, with the email-alert lines",
    "program": "HAProxy would start another program; leave it out",
    "log-forward": "it listens on more addresses; leave it out",
}
OWN = (
    *("daemon", "chroot", "user", "group", "uid", "gid", "pidfile", "nbproc", "master-worker"),
    *("unix-bind", "server-state-file", "server-state-base"),
)
TLS_BASES = ("ca-base", "crt-base", "key-base", "issuers-chain-path")
LOG = "log stderr format raw local0 info"
SOCKET_TIMEOUTS = ("tunnel", "client", "server", "client-fin", "server-fin")
# Server options left out, by why; ":1" marks those followed by a value.
DROPPED_GROUPS = {
    "plain http": """ssl check-ssl no-check-ssl ssl-reuse no-ssl-reuse no-sslv3 no-tlsv10
    no-tlsv11 no-tlsv12 no-tlsv13 force-sslv3 force-tlsv10 force-tlsv11 force-tlsv12
    force-tlsv13 no-tls-tickets tls-tickets allow-0rtt no-ssl verify:1 verifyhost:1 ca-file:1
    crl-file:1 crt:1 sni:1 alpn:1 npn:1 ciphers:1 ciphersuites:1 curves:1 sigalgs:1
    client-sigalgs:1 ssl-min-ver:1 ssl-max-ver:1 proto:1""",
    "no health check": """check agent-check check-send-proxy check-via-socks4 check-sni:1
    check-alpn:1 check-proto:1 track:1 addr:1 port:1 agent-addr:1 agent-port:1 agent-inter:1
    agent-send:1""",
    "nothing to resolve": "resolvers:1 resolve-prefer:1 resolve-net:1 resolve-opts:1",
    "no other hop": """send-proxy send-proxy-v2 send-proxy-v2-ssl send-proxy-v2-ssl-cn
    proxy-v2-options:1 source:1 usesrc:1 interface:1 namespace:1""",
}
DROPPED = {
    word.partition(":")[0]: (int(word.partition(":")[2] or 0), why)
    for why, words in DROPPED_GROUPS.items()
    for word in words.split()
}
# Lines refused wherever they are (matched on their words), and what to write instead.
REFUSED_LINES = {
    r"^server-template ": "it makes servers from DNS answers; write one server NAME HOST:PORT",
    r"^dispatch |^option (http_proxy|transparent)\b": "it connects where the request or the "
    "client says; write a backend with one server NAME HOST:PORT",
    r"\bdo-resolve\(": "it resolves names through a resolvers section; leave it out",
    r"^use-fcgi-app |^filter spoe\b": "it reaches something other than the CMS; leave it out",
    r"^lua-(load|prepend-path)": "the harness runs one file: leave the Lua out",
    r"^bind .*\baccept-(proxy|netscaler-cip)\b": "it waits for a load balancer's header, which "
    "no client sends",
    r"^server .*\bsocks4\b": "it reaches the CMS through a SOCKS proxy; leave socks4 out",
    r"^server \S+$": "a server with no address",
}
FILE_ARGS = ("-f", "file", "lf-file", "errorfile")
MAP_FILE = re.compile(r"\bmap(?:_\w+)?\(([^,)]+)")
ERRORS = "/etc/haproxy/errors/"


@dataclass
class Line:
    """One directive: its words (unquoted, and as written) and where it starts and ends."""

    words: list[str]
    raw: list[str]
    start: int
    end: int

    @property
    def text(self) -> str:
        return " ".join(self.raw)

    def starts(self, *words: str) -> bool:
        return self.words[: len(words)] == list(words)


@dataclass
class Section:
    """A section (``global``, ``frontend web``...) and its directives."""

    head: Line
    lines: list[Line] = field(default_factory=list)

    def end(self) -> int:
        return (self.lines or [self.head])[-1].end

    def having(self, *words: str) -> list[Line]:
        return [line for line in self.lines if line.starts(*words)]


def _parse(text: str) -> list[Section]:
    sections: list[Section] = []
    at = 0
    for row in text.splitlines(keepends=True):
        words = list(itertools.takewhile(lambda m: m.lastgroup == "word", TOKEN.finditer(row)))
        if words:
            raw = [match[0] for match in words]
            plain = [re.sub(r"""\\(.)|["']""", r"\1", word) for word in raw]
            line = Line(plain, raw, at + words[0].start(), at + words[-1].end())
            if plain[0] in SECTIONS:
                sections.append(Section(line))
            elif sections:
                sections[-1].lines.append(line)
        at += len(row)
    return sections


class HaproxyConfig:
    """Rewrites an HAProxy config (see the module's docstring)."""

    def adapt(self, text: str, source: str) -> Adapted:
        edits = Edits(text, source)
        sections = _parse(text)
        left_out = self._listeners(sections, edits)
        for section in sections:
            kind, head = section.head.words[0], section.head
            if section in left_out:
                continue
            if kind in REFUSED_SECTIONS:
                raise edits.refuse(head.start, head.text, REFUSED_SECTIONS[kind])
            if kind in LEFT_OUT_SECTIONS:
                edits.replace(head.start, section.end(), "", LEFT_OUT_SECTIONS[kind])
            elif kind == "global":
                self._global(section, edits)
            else:
                self._proxy(section, edits)
        return edits.apply()

    def _listeners(self, sections: list[Section], edits: Edits) -> list[Section]:
        """The listening sections left out: all but the one that proxies."""
        fallback = any(s.head.starts("defaults") and s.having("default_backend") for s in sections)
        binding = [s for s in sections if s.head.words[0] in ("frontend", "listen")]
        binding = [s for s in binding if s.having("bind")]
        proxying = [s for s in binding if _proxies(s, fallback) and not _redirects_all(s)]
        kept = proxying or binding
        if not kept:
            raise ConfigRefused(edits.source, 0, "bind", "no frontend or listen section binds")
        if len(kept) > 1:
            names = ", ".join(" ".join(s.head.raw[:2]) for s in kept)
            why = f"more than one frontend listens ({names}); the harness runs one, on its port"
            raise edits.refuse(
                kept[1].head.start, kept[1].head.text, why + ": leave the others out"
            )
        for section in (others := [s for s in binding if s is not kept[0]]):
            if section.having("stats", "enable") or section.having("stats", "uri"):
                why = "a stats page: the harness listens on one port"
            elif _redirects_all(section):
                why = "only redirects to https; another frontend proxies"
            else:
                why = "serves no backend; another frontend proxies"
            edits.replace(section.head.start, section.end(), "", why)
        return others

    def _global(self, section: Section, edits: Edits) -> None:
        logs = section.having("log")
        for line in section.lines:
            name = line.words[0]
            if name in OWN or line.starts("stats", "socket"):
                edits.replace(line.start, line.end, "", "the harness runs it, in its folder")
            elif name in TLS_BASES or name.startswith("ssl-"):
                edits.replace(line.start, line.end, "", "TLS: served as plain http")
            elif name == "log":
                new = LOG if line is logs[0] else ""
                edits.replace(line.start, line.end, new, "logs to the harness's output")
            else:
                self._check(line, edits)

    def _proxy(self, section: Section, edits: Edits) -> None:
        binds, servers = section.having("bind"), section.having("server")
        tls = any("ssl" in line.words for line in binds)
        logs = [line for line in section.having("log") if line.words[1:] != ["global"]]
        to_global = logs[:1] if not section.having("log", "global") else []
        for line in section.lines:
            self._check(line, edits)
            words = line.words
            if line.starts("bind"):
                why = "on the harness's port" + ("; TLS: served as plain http" if tls else "")
                if line is not binds[0]:
                    edits.replace(line.start, line.end, "", "one address: the harness's port")
                else:
                    edits.replace(line.start, line.end, "bind 127.0.0.1:@PORT@", why)
            elif line.starts("server") and line is not servers[0]:
                edits.replace(line.start, line.end, "", "one upstream: the harness's")
            elif words[0] in ("server", "default-server"):
                self._server(line, edits)
            elif words[0] == "timeout" and len(words) == 3 and words[1] in SOCKET_TIMEOUTS:
                seconds = duration(words[2], "ms")
                if seconds is None:
                    raise edits.refuse(line.start, line.text, "not a duration (30s, 500ms, 5000)")
                new = f"timeout {words[1]} {timeout(seconds)}"
                edits.replace(line.start, line.end, new, "follows the time scale")
            elif line in logs:
                new = "log global" if line in to_global else ""
                edits.replace(line.start, line.end, new, "logs to the harness's output")
            elif tls and _redirect(line) and "ssl_fc" in line.text:
                why = "TLS: served as plain http; it redirects plain-http requests only"
                edits.replace(line.start, line.end, "", why)

    def _server(self, line: Line, edits: Edits) -> None:
        server = line.starts("server")
        first = 3 if server else 1
        kept: list[str] = []
        dropped: dict[str, list[str]] = {}
        skip = 0
        for raw, word in zip(line.raw[first:], line.words[first:], strict=True):
            if skip:
                skip -= 1
            elif word in DROPPED:
                skip, why = DROPPED[word]
                dropped.setdefault(why, []).append(word)
            else:
                kept.append(raw)
        if server:
            new = " ".join([*line.raw[:2], "@UPSTREAM_HOSTPORT@", *kept])
            why = "the harness's upstream"
        else:
            new, why = " ".join(["default-server", *kept]) if kept else "", "its options"
        for reason, words in dropped.items():
            why += f"; left out {' '.join(words)}: {reason}"
        edits.replace(line.start, line.end, new, why)

    def _check(self, line: Line, edits: Edits) -> None:
        """Refuse a line that reaches elsewhere or reads a file."""
        for pattern, why in REFUSED_LINES.items():
            if re.search(pattern, " ".join(line.words)):
                raise edits.refuse(line.start, line.text, why)
        words = line.words
        if words[0] in ("bind", "server", "default-server"):
            return  # their files (crt, ca-file...) are left out with TLS
        files = [words[2]] if words[0] == "errorfile" and len(words) > 2 else []
        files += [b for a, b in itertools.pairwise(words[1:]) if a in FILE_ARGS]
        files += [match[1] for word in words for match in MAP_FILE.finditer(word)]
        for path in files:
            if not path.startswith(ERRORS):
                raise edits.refuse(
                    line.start,
                    line.text,
                    f"the harness runs this one file, without {path}: write what it holds in "
                    f"the line, or leave the line out (it reads only Debian's {ERRORS})",
                )


def _redirect(line: Line) -> bool:
    """Whether ``line`` redirects to https."""
    words = line.words[1:] if line.starts("http-request") else line.words
    return words[:1] == ["redirect"] and (
        "scheme https" in " ".join(words) or any(w.startswith("https://") for w in words)
    )


def _redirects_all(section: Section) -> bool:
    """Whether a section listening without TLS sends every request to https."""
    if any("ssl" in line.words for line in section.having("bind")):
        return False
    return any(
        _redirect(line) and ("ssl_fc" in line.text or not {"if", "unless"} & set(line.words))
        for line in section.lines
    )


def _proxies(section: Section, fallback: bool) -> bool:
    """Whether a listening section forwards to a backend (``fallback``: defaults names one)."""
    if section.having("default_backend") or section.having("use_backend"):
        return True
    return bool(section.having("server")) if section.head.starts("listen") else fallback


ADAPTER = HaproxyConfig()
