"""A team's own ``Caddyfile`` made runnable (``caddy run --adapter caddyfile``).

Rewritten: the global options block (added when missing) gets ``admin off``, ``auto_https off``
and ``storage file_system @WORKDIR@/data``, in place of its own; the site's addresses
(``cms.example.com``, ``https://x``, ``:80``, ``x:443, y``) become ``http://127.0.0.1:@PORT@``
(a path kept), with ``bind 127.0.0.1``; every ``reverse_proxy``'s upstreams (inline, else the
first ``to`` line) become one ``@UPSTREAM_HOSTPORT@``; ``log`` outputs go to ``@WORKDIR@``
(``output net`` to stderr, the harness's ``output.log``); ``servers :443`` applies to the one
listener. Timeouts (:func:`~pytest_wsharness.real.adapt.common.timeout`; Go durations need a
unit, so ``2`` is refused as Caddy refuses it; ``0`` stays): the http transport's
``read_timeout``, how Caddy cuts an idle tunnel (reading from an upstream silent that long fails:
a FIN, no Close frame, as ``idle-timeout-2s``), and ``write_timeout`` (a stalled write);
``stream_timeout`` (Caddy 2.7+, Debian's 2.6 rejects it) is a lifetime from the upgrade, even
while frames flow: no simulated profile models it, so it is only scaled. ``dial_timeout`` and the
``servers`` ``timeouts`` stay (Caddy clears a server's deadlines on an upgraded connection).

Left out: the other sites when one proxies (one that only ``redir``\\ s to https, or that serves
no proxy); ``tls``, ``acme_server``, the transport's ``tls*``, the global ``email``, ``acme_*``,
``cert_issuer``, ``on_demand_tls``, ``pki``... (TLS: served as plain http); ``default_bind``,
``http_port``, ``https_port``, other ``bind`` lines, ``listener_wrappers``; extra upstreams;
active health checks (``health_*``: the CMS has no health page, and its 404 marks it down);
``resolvers``; the transport's ``proxy_protocol``; ``tracing`` (it reports to a collector).

Refused: an ``import`` of files, or at the top level (one of a snippet ``(name) {...}`` defined
in the same file is kept, and the snippet rewritten where it stands); upstreams chosen at run
time (``dynamic``, a ``{placeholder}``; a ``{$ENV}`` one is fixed at start, and rewritten); a
``transport`` other than ``http``; ``forward_proxy_url``, ``php_fastcgi``, ``forward_auth``
(they reach something other than the CMS); a ``proxy_protocol`` listener wrapper; several sites
that proxy (the harness runs one: the refusal names them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ...errors import ConfigRefused
from .common import Adapted, Edits, duration, timeout

TOKEN = re.compile(r"""(?P<nl>\n)|[ \t\r]+|\#[^\n]*|(?P<quoted>"(?:\\.|[^"\\])*"|`[^`]*`)|\S+""")
ADDRESS = re.compile(r"^(?:(?P<scheme>\w+)://)?(?P<host>\[[^\]]*\]|[^:/]*)(?::(?P<port>[^/]*))?")
TLS = "TLS: served as plain http"
PASTE = "the harness runs one file: paste what it imports in its place"
UNKNOWN = "the harness cannot tell where it leads; write the upstream's host:port there"
REFUSED = {
    "php_fastcgi": "it reaches a PHP server, not the CMS; leave it out",
    "forward_auth": "it asks an auth server elsewhere on each request; leave it out",
    "dynamic": "its upstreams are looked up at run time; write the upstream's host:port",
    "forward_proxy_url": "it relays through another proxy; leave it out",
}
# (the block it is in, "*" for any; its name) -> why it is left out; the first match counts.
LEFT_OUT = (
    ("transport", re.compile(r"tls\w*$"), "TLS: the harness's upstream is plain http"),
    ("transport", re.compile(r"(resolvers|proxy_protocol)$"), "the upstream is one address"),
    # Active health checks: the CMS has no health page (a 404 marks it down) and a health_port
    # would reach another port; passive ones (max_fails...) stay.
    ("reverse_proxy", re.compile(r"health_\w+$"), "active health check: the CMS is up"),
    ("*", re.compile(r"(tls|acme_server)$"), TLS),
    ("*", re.compile(r"tracing$"), "it reports to a collector elsewhere"),
)
TIMEOUTS = {
    ("transport", "read_timeout"),
    ("transport", "write_timeout"),
    ("reverse_proxy", "stream_timeout"),
}
GLOBAL_TLS = re.compile(
    r"(email|acme_\w+|cert_issuer|on_demand_tls|local_certs|skip_install_trust|key_type"
    r"|preferred_chains|ocsp_\w+|renew_interval|cert_lifetime|pki)$"
)
OWN = {"admin": "off", "auto_https": "off", "storage": "file_system @WORKDIR@/data"}
HEAD = "{\n" + "".join(f"\t{name} {value}\n" for name, value in OWN.items()) + "}\n"


@dataclass(frozen=True)
class Token:
    value: str  # unquoted
    start: int
    end: int
    bare: bool  # not quoted: only a bare "{" or "}" opens or closes a block


@dataclass
class Node:
    """One line of the Caddyfile (a directive, a site's addresses, an option) and its block."""

    words: list[Token]
    start: int
    end: int
    block: list[Node] | None = None
    open_brace: int = 0  # just after "{", for a block

    @property
    def name(self) -> str:
        return self.words[0].value if self.words else ""

    @property
    def args(self) -> list[str]:
        return [word.value for word in self.words[1:]]

    @property
    def text(self) -> str:
        return " ".join(w.value for w in self.words) + (" {" if self.block is not None else "")

    def walk(self) -> list[Node]:
        """This line and every one in its block, in order."""
        return [self, *(n for child in self.block or [] for n in child.walk())]


@dataclass
class _Parser:
    text: str
    source: str
    tokens: list[Token | None] = field(default_factory=list)  # None: a newline
    at: int = 0

    def parse(self) -> list[Node]:
        for m in TOKEN.finditer(self.text):
            if m[0].strip() and m[0][0] != "#":
                value = m[0][1:-1] if m["quoted"] else m[0]
                self.tokens.append(Token(value, m.start(), m.end(), not m["quoted"]))
            elif m["nl"]:
                self.tokens.append(None)
        return self._block(0)

    def _brace(self, brace: str) -> bool:
        token = self.tokens[self.at] if self.at < len(self.tokens) else None
        return token is not None and token.bare and token.value == brace

    def _block(self, depth: int) -> list[Node]:
        found: list[Node] = []
        while self.at < len(self.tokens):  # bounded: every turn consumes a token
            token = self.tokens[self.at]
            if self._brace("}"):
                if depth == 0:
                    raise self._error(token.start if token else 0, "'}' closes no block")
                return found
            words: list[Token] = []
            while self.at < len(self.tokens) and not (self._brace("{") or self._brace("}")):
                token = self.tokens[self.at]
                if token is None and not (depth == 0 and words and words[-1].value.endswith(",")):
                    break  # a site's addresses go on after a trailing comma
                words += [token] if token else []
                self.at += 1
            self.at += not words and not self._brace("{")  # an empty line
            node = Node(words, words[0].start, words[-1].end) if words else None
            if self._brace("{"):
                brace = self.tokens[self.at]
                assert brace is not None
                node = node or Node([], brace.start, brace.end)
                node.open_brace, self.at = brace.end, self.at + 1
                node.block = self._block(depth + 1)
                if self.at == len(self.tokens):
                    raise self._error(node.start, f"'{node.text}' is never closed")
                close = self.tokens[self.at]
                assert close is not None  # _block returns at a "}" or at the end
                node.end = close.end
                self.at += 1
            found += [node] if node else []
        return found

    def _error(self, at: int, why: str) -> ConfigRefused:
        line = self.text.count("\n", 0, at) + 1
        return ConfigRefused(self.source, line, self.text[at : at + 40].split("\n")[0], why)


@dataclass
class Site:
    """A site: its addresses and directives; ``node`` is ``None`` in a file of one site with no
    braces."""

    addresses: list[Token]
    body: list[Node]
    node: Node | None

    def scheme_port(self) -> tuple[str, str]:
        """How and on which port the customer's Caddy serves it (https for a host name)."""
        m = ADDRESS.match(self.addresses[0].value.rstrip(","))
        assert m is not None  # every group of ADDRESS may be empty
        port = m["port"] or ("80" if m["scheme"] == "http" else "443")
        plain = m["scheme"] == "http" or (not m["scheme"] and (not m["host"] or port == "80"))
        return "http" if plain else "https", port


class CaddyConfig:
    """Rewrites a Caddyfile (see the module's docstring)."""

    def adapt(self, text: str, source: str) -> Adapted:
        return _Rewrite(Edits(text, source)).run(_Parser(text, source).parse())


@dataclass
class _Rewrite:
    """The rewriting of one file: its edits, and the snippets it defines."""

    edits: Edits
    snippets: dict[str, Node] = field(default_factory=dict)

    def run(self, tree: list[Node]) -> Adapted:
        edits = self.edits
        glob = tree[0] if tree and not tree[0].words else None
        rest = [n for n in tree if n is not glob]
        for n in (n for n in rest if n.name == "import"):
            raise edits.refuse(n.start, n.text, PASTE)
        self.snippets = {n.name[1:-1]: n for n in rest if re.fullmatch(r"\(.+\)", n.name)}
        sites = _sites([n for n in rest if n.name[1:-1] not in self.snippets])
        if not sites:
            raise edits.refuse(0, edits.text.strip()[:40], "no site: write the one that proxies")
        proxying = [s for s in sites if self._proxies(s.body)] or sites
        if len(proxying) > 1:
            names = ", ".join(" ".join(a.value for a in s.addresses) for s in proxying)
            why = f"several sites ({names}): the harness runs one; keep the one that proxies"
            raise edits.refuse(proxying[1].addresses[0].start, names.split(", ")[1], why)
        site = proxying[0]
        for other in sites:
            if other is not site and other.node is not None:
                redir = [n for b in other.body for n in b.walk() if n.name == "redir"]
                https = any(a.startswith("https://") for n in redir for a in n.args)
                why = "only redirects to https" if https else "it does not proxy"
                edits.replace(other.node.start, other.node.end, "", f"{why}; another site proxies")
        self._site(site)
        for snippet in self.snippets.values():
            self._walk(snippet.block or [], "")
        self._global(glob, site)
        return edits.apply()

    def _proxies(self, nodes: list[Node], seen: frozenset[str] = frozenset()) -> bool:
        every = [n for top in nodes for n in top.walk()]
        used = {n.args[0] for n in every if n.name == "import" and n.args} & set(self.snippets)
        return any(n.name == "reverse_proxy" for n in every) or any(
            self._proxies(self.snippets[name].block or [], seen | used) for name in used - seen
        )

    def _site(self, site: Site) -> None:
        edits = self.edits
        first, last = site.addresses[0], site.addresses[-1]
        path = "/" + first.value.rstrip(",").split("://")[-1].partition("/")[2]
        new = "http://127.0.0.1:@PORT@" + (path if path != "/" else "")
        tls = "" if site.scheme_port()[0] == "http" else "; " + TLS
        edits.replace(first.start, last.end, new, "on the harness's port" + tls)
        binds = [n for n in site.body if n.name == "bind"]
        for i, n in enumerate(binds):
            new, why = ("bind 127.0.0.1", "127.0.0.1 only") if i == 0 else ("", "one address")
            edits.replace(n.start, n.end, new, why)
        if not binds:
            indent = re.search(r"[ \t]*$", edits.text[: site.body[0].start]) if site.body else None
            at = site.node.open_brace if site.node is not None else last.end
            new = "\n" + (indent[0] if indent else "\t") + "bind 127.0.0.1"
            edits.add(at, new, "bind 127.0.0.1 (else it would listen on every address)")
        self._walk(site.body, "")

    def _global(self, glob: Node | None, site: Site) -> None:
        edits = self.edits
        if glob is None:
            edits.add(0, HEAD, "global options: " + ", ".join(f"{k} {v}" for k, v in OWN.items()))
            return
        options = glob.block or []
        for n in options:
            if n.name in OWN:
                new = f"{n.name} {OWN[n.name]}"
                edits.replace(n.start, n.end, new, "no admin port, plain http, its own folder")
            elif GLOBAL_TLS.match(n.name):
                edits.replace(n.start, n.end, "", TLS)
            elif n.name in ("default_bind", "http_port", "https_port"):
                edits.replace(n.start, n.end, "", "the site names its address and port")
            elif n.name in ("log", "import"):
                self._walk([n], "")
        for name, value in OWN.items():
            if not any(n.name == name for n in options):
                edits.add(glob.open_brace, f"\n\t{name} {value}", f"{name} {value}")
        servers = [n for n in options if n.name == "servers"]
        port = site.scheme_port()[1]
        ours = next((n for n in servers if n.args and n.args[0].rpartition(":")[2] == port), None)
        ours = ours or next((n for n in servers if not n.args), None)
        for n in servers:
            if n is not ours:
                edits.replace(n.start, n.end, "", "options of a listener the harness does not run")
                continue
            if n.args:
                edits.replace(n.start, n.words[-1].end, "servers", "for the harness's listener")
            for wrappers in (c for c in n.block or [] if c.name == "listener_wrappers"):
                if any(w.name == "proxy_protocol" for w in wrappers.walk()):
                    why = "it waits for a load balancer's PROXY header no client sends"
                    raise edits.refuse(wrappers.start, "listener_wrappers proxy_protocol", why)
                edits.replace(wrappers.start, wrappers.end, "", TLS)

    def _walk(self, nodes: list[Node], parent: str) -> None:
        for n in nodes:
            if not self._directive(n, parent) and n.block:
                self._walk(n.block, n.name)

    def _directive(self, n: Node, parent: str) -> bool:
        """Rewrite ``n`` when it needs it; ``True`` when it was left out."""
        edits = self.edits
        if n.name in REFUSED:
            raise edits.refuse(n.start, n.text, REFUSED[n.name])
        if n.name == "import" and not (n.args and n.args[0] in self.snippets):
            raise edits.refuse(n.start, n.text, PASTE + " (or a snippet of this file)")
        why = next((w for p, name, w in LEFT_OUT if p in (parent, "*") and name.match(n.name)), "")
        if why:
            edits.replace(n.start, n.end, "", why)
        elif (parent, n.name) in TIMEOUTS:
            self._timeout(n)
        elif parent == "reverse_proxy" and n.name == "transport" and n.args[:1] != ["http"]:
            raise edits.refuse(n.start, n.text, "it does not speak http to the CMS; use http")
        elif parent == "log" and n.name == "output" and n.args[:1] == ["file"] and n.args[1:]:
            name = re.sub(r"[^\w.-]", "_", PurePosixPath(n.args[1]).name) or "caddy.log"
            edits.replace(n.start, n.words[2].end, f"output file @WORKDIR@/{name}", "its folder")
        elif parent == "log" and n.name == "output" and n.args[:1] == ["net"]:
            edits.replace(n.start, n.end, "output stderr", "logs stay here: its output.log")
        elif n.name == "reverse_proxy":
            self._reverse_proxy(n)
        return bool(why)

    def _reverse_proxy(self, n: Node) -> None:
        edits = self.edits
        words = n.words[1:]
        if words and (words[0].value == "*" or words[0].value.startswith(("/", "@"))):
            words = words[1:]  # a matcher
        tos = [c for c in n.block or [] if c.name == "to"]
        targets = [(w.value, n) for w in words] + [(a, c) for c in tos for a in c.args]
        for target, line in targets:
            if re.search(r"\{(?!\$)", target):  # {$ENV} is read once, at start
                raise edits.refuse(line.start, line.text, UNKNOWN)
        why = "the harness's upstream" + (", one" if len(targets) > 1 else "")
        if any(t.startswith("https://") for t, _ in targets):
            why += "; TLS: it is plain http"
        if words:
            before = edits.text[n.start : words[0].start]
            edits.replace(n.start, words[-1].end, before + "@UPSTREAM_HOSTPORT@", why)
        for i, c in enumerate(tos):
            new = "to @UPSTREAM_HOSTPORT@" if i == 0 and not words else ""
            edits.replace(c.start, c.end, new, why if new else "one upstream: the harness's")

    def _timeout(self, n: Node) -> None:
        value = n.args[0] if len(n.args) == 1 else ""
        seconds = duration(value, "s")
        if seconds is None or (seconds and re.fullmatch(r"[0-9.]+", value)):
            why = "not a duration Caddy reads: Go's, with a unit (2s, 500ms, 1m30s)"
            raise self.edits.refuse(n.start, n.text, why)
        if seconds:  # 0: none
            self.edits.replace(
                n.start, n.end, f"{n.name} {timeout(seconds)}", "follows the time scale"
            )


def _sites(nodes: list[Node]) -> list[Site]:
    """The sites; a file whose first site has no braces is that one site."""
    if nodes and nodes[0].block is None:
        return [Site(nodes[0].words, nodes[1:], None)]
    return [Site(n.words, n.block or [], n) for n in nodes if n.words]


ADAPTER = CaddyConfig()
