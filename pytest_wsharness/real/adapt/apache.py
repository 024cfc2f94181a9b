"""A team's own Apache config (a ``sites-enabled`` file of ``<VirtualHost>`` blocks, or a whole
``apache2.conf``) made runnable.

Rewritten: the first top-level ``Listen`` (to 127.0.0.1:@PORT@) and every ``<VirtualHost>``
(to ``*:@PORT@``); the backend URL of ``ProxyPass``, ``ProxyPassMatch``, ``ProxyPassReverse``,
``BalancerMember``, ``<Proxy URL>`` and ``RewriteRule ... [P]`` (``http(s)://`` to
``@UPSTREAM@``, ``ws(s)://`` to ``ws://@UPSTREAM_HOSTPORT@``, the path kept); ``Timeout``,
``ProxyTimeout``, ``ProxyWebsocketIdleTimeout`` and the ``timeout=`` of ``ProxyPass``,
``BalancerMember`` and ``ProxySet`` (see :func:`~pytest_wsharness.real.adapt.common.timeout`;
Apache cuts an upgraded connection idle for the longer of ``Timeout``, on the client's side,
and the backend's timeout); ``ErrorLog``, ``CustomLog``, ``TransferLog``, ``GlobalLog``,
``PidFile``, ``DefaultRuntimeDir``, ``ScoreBoardFile``, ``CacheRoot`` and ``ServerRoot`` (into
the harness's folder); ``Mutex`` (``posixsem``: no lock file); ``User`` and ``Group``
(``www-data``); the path of a ``LoadModule`` (to Debian's ``/usr/lib/apache2/modules``).

Left out: the other ``Listen``; ``SSL*`` and ``MD*``, and certbot's ``Include
/etc/letsencrypt/options-ssl-apache.conf`` (served as plain http; the upstream is plain http);
the other ``BalancerMember`` of a balancer; ``NameVirtualHost``, ``CoreDumpDirectory`` and
``ProxySourceAddress`` (an address or folder of the customer's machine); a ``<VirtualHost>``
that proxies nothing (a redirect to https, a status page) when another one proxies; the
includes of Debian's ``apache2.conf`` that the harness does itself (``mods-enabled``: it loads
the modules the file needs; ``ports.conf``: it listens; ``conf-enabled``: Debian's defaults,
nothing that touches an upgrade). Sites that all proxy are all kept, on the one port: the
first in the file answers the harness's clients (Apache's default site for a host name it
does not know).

Refused: any other ``Include`` or ``IncludeOptional``; a backend named by a variable or a
back-reference, or reached otherwise than over http or ws (``fcgi://``, ``ajp://``, ``unix:``,
``SetHandler proxy:...``); ``ProxyRequests On`` (an open relay); ``ProxyRemote`` and
``ProxyRemoteMatch`` (a parent proxy).

What the file does not set, the harness adds as ``proxies/real/apache-*.toml`` write it
(``ServerRoot``, ``ServerName``, ``Listen``, ``PidFile``, ``ErrorLog``, ``DefaultRuntimeDir``,
``Mutex``, ``User``, ``Group``; ``Timeout`` at Apache's default 60 s, to grow with the time
scale), and first the modules of Debian's package that its directives need (an MPM,
``authz_core``, ``proxy``, ``proxy_http``; ``rewrite`` for ``RewriteRule``, ``proxy_wstunnel``
for a ``ws://`` backend, ``ssl`` for an ``<IfModule mod_ssl.c>``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .apache_syntax import Arg, Directive, parse, walk
from .common import Adapted, Edits, duration, timeout

URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>[^/]*)(?P<path>.*)", re.I | re.S)
MODULE = re.compile(r"mod_(\w+)\.c|(\w+)_module")
TLS = re.compile(r"(ssl|md)\w*")
CERTBOT = "/etc/letsencrypt/options-ssl-apache.conf"
# The includes of Debian's apache2.conf, which the harness's own settings replace.
DEBIAN = re.compile(
    r"(/etc/apache2/)?(mods-enabled/\*\.(load|conf)|ports\.conf|conf-enabled/\*\.conf)"
)
DEBIAN_WHY = {
    "mods": "the harness loads the modules the file needs",
    "ports": "the harness listens on its port",
    "conf": "Debian's defaults: nothing that touches an upgrade",
}
FOLDER = "/usr/lib/apache2/modules"
# What the harness writes in place of these, and adds when the file does not set them.
OWN = {
    "serverroot": 'ServerRoot "@WORKDIR@"',
    "pidfile": 'PidFile "@WORKDIR@/apache.pid"',
    "errorlog": 'ErrorLog "@WORKDIR@/error.log"',
    "defaultruntimedir": 'DefaultRuntimeDir "@WORKDIR@"',
    "user": "User www-data",
    "group": "Group www-data",
    "servername": "ServerName 127.0.0.1",  # as the file writes it, when it does
    "listen": "Listen 127.0.0.1:@PORT@",
    "mutex": "Mutex posixsem",
    "timeout": f"Timeout {timeout(60)}",
}
# The file (or lock) a directive names first; the rest of it stays as written.
FILES = dict.fromkeys(("customlog", "transferlog", "globallog"), '"@WORKDIR@/access.log"')
FILES |= {"cacheroot": '"@WORKDIR@/cache"', "scoreboardfile": '"@WORKDIR@/scoreboard"'}
FILES |= {"mutex": "posixsem"}
SOCKET_TIMEOUTS = ("timeout", "proxytimeout", "proxywebsocketidletimeout")
BACKENDS = ("proxypass", "proxypassmatch", "proxypassreverse", "balancermember", "proxy")
REDIRECTS = ("redirect", "redirectmatch", "redirectpermanent", "redirecttemp", "rewriterule")
RELAY = "proxyrequests on"  # a forward proxy: to any host
BASE = ("mpm_event", "authz_core", "proxy", "proxy_http")
# Debian's modules (in /usr/lib/apache2/modules) and the directives that need them.
MODULES = {
    "rewrite": "rewriteengine rewriterule rewritecond rewritebase rewriteoptions rewritemap",
    "headers": "header requestheader",
    "proxy_wstunnel": "proxywebsocketidletimeout proxywebsocketfallbacktoproxyhttp",
    "alias": "alias aliasmatch redirect redirectmatch redirectpermanent redirecttemp scriptalias",
    "setenvif": "setenvif setenvifnocase setenvifexpr browsermatch browsermatchnocase",
    "env": "setenv unsetenv passenv",
    "remoteip": "remoteipheader remoteiptrustedproxy remoteipinternalproxy",
    "mime": "addtype addhandler addcharset addencoding addlanguage addoutputfilter typesconfig",
    "dir": "directoryindex directoryslash fallbackresource",
    "expires": "expiresactive expiresbytype expiresdefault",
    "filter": "addoutputfilterbytype filterdeclare filterprovider filterchain",
    "access_compat": "order allow deny satisfy",
    "authn_core": "authtype authname",
    "authn_file": "authuserfile",
    "reqtimeout": "requestreadtimeout",
    "cache": "cacheenable cachedisable cachequickhandler cachedefaultexpire",
    "cache_disk": "cacheroot cachedirlevels cachedirlength",
    **dict.fromkeys(("ssl", "deflate", "authz_host", "authz_user", "authz_groupfile"), ""),
    **dict.fromkeys(("auth_basic", "auth_digest", "proxy_balancer"), ""),
}
NEEDED_BY = {name: module for module, names in MODULES.items() for name in names.split()}
REQUIRE = {"ip": "authz_host", "host": "authz_host", "user": "authz_user"}
REQUIRE |= {"valid-user": "authz_user", "group": "authz_groupfile"}
BALANCER = ("proxy_balancer", "slotmem_shm", "lbmethod_byrequests")
SAY_WHERE = "the harness cannot tell where it leads; write http://HOST:PORT (or @UPSTREAM@) there"
SAY_HTTP = "it reaches something other than the CMS over http or ws; leave it out"


@dataclass
class _Rewrite:
    edits: Edits
    dropped: list[Directive]
    needs: dict[str, str] = field(default_factory=dict)  # module: the directive that needs it
    modules: list[Directive] = field(default_factory=list)  # the file's own LoadModule
    seen: set[str] = field(default_factory=set)  # what the file sets outside a <VirtualHost>
    balancers: set[str] = field(default_factory=set)  # those whose first member is kept

    def walk(self, directives: list[Directive]) -> None:
        for d in directives:
            if d not in self.dropped and self.rewrite(d) and d.body is not None:
                self.walk(d.body)

    def rewrite(self, d: Directive) -> bool:
        """Rewrite ``d``; ``False`` when it is left out (with what it holds)."""
        self.need(d)
        key, edits, first = d.key, self.edits, d.args[0].value if d.args else ""
        if key != "listen" and not any(p.key == "virtualhost" for p in d.parents):
            self.seen.add(key)
        if TLS.fullmatch(key) or (key == "include" and first == CERTBOT):
            return self.leave_out(d, "TLS: served as plain http")
        if key in ("include", "includeoptional"):
            if not DEBIAN.fullmatch(first):
                why = "the harness runs one file: paste what it includes in its place"
                raise edits.refuse(d.start, self.said(d), why)
            return self.leave_out(d, next(v for k, v in DEBIAN_WHY.items() if k in first))
        if key in ("namevirtualhost", "coredumpdirectory", "proxysourceaddress"):
            return self.leave_out(d, "it names an address or folder of your machine")
        if key in ("proxyremote", "proxyremotematch") or f"{key} {first.lower()}" == RELAY:
            raise edits.refuse(d.start, self.said(d), "it relays to other hosts; leave it out")
        if key == "sethandler" and first.lower().startswith("proxy:"):
            raise edits.refuse(d.start, self.said(d), SAY_HTTP + " (or write a ProxyPass)")
        if key == "listen":
            return self.listen(d)
        if key in FILES and d.args:
            why = "a semaphore: no lock file" if key == "mutex" else "in the harness's folder"
            self.args(d, {0: FILES[key]}, why)
        elif key == "loadmodule" and len(d.args) == 2:
            self.modules.append(d)  # rewritten with the modules the harness adds
        elif key == "virtualhost":
            edits.replace(d.start, d.line_end, "<VirtualHost *:@PORT@>", "on the harness's port")
        elif key in SOCKET_TIMEOUTS and len(d.args) == 1:
            self.args(d, {0: self.seconds(d, first)}, "follows the time scale")
        elif key in OWN and key != "servername":
            why = "in the harness's folder" if "@" in OWN[key] else "as the harness runs it"
            edits.replace(d.start, d.end, OWN[key], why)
        elif key in BACKENDS:
            return self.backend(d)
        elif key == "proxyset":
            self.args(d, self.params(d, 0), "follows the time scale")
        elif key == "rewriterule" and len(d.args) == 3 and _proxied(d):
            self.args(d, {1: self.url(d, d.args[1], True)}, "to the harness's upstream")
        return True

    def listen(self, d: Directive) -> bool:
        if "listen" in self.seen or d.parents:
            return self.leave_out(d, "one address: the harness's port")
        self.seen.add("listen")
        tls = "; TLS: served as plain http" if any(a.value == "https" for a in d.args) else ""
        self.edits.replace(d.start, d.end, OWN["listen"], "on the harness's port" + tls)
        return True

    def backend(self, d: Directive) -> bool:
        in_location = any(p.key in ("location", "locationmatch") for p in d.parents)
        at = 0 if in_location or d.key == "proxy" else 1
        if d.key == "balancermember":
            at = 1 if d.args and d.args[0].value.startswith("balancer://") else 0
            group = str(d.parents[-1].start) if d.parents else d.args[0].value if d.args else ""
            if group in self.balancers:
                return self.leave_out(d, "one upstream: the harness's")
            self.balancers.add(group)
        if len(d.args) > at:
            reach = d.key not in ("proxypassreverse", "proxy")  # these only name it
            new = {at: self.url(d, d.args[at], reach), **self.params(d, at + 1)}
            end = d.line_end if d.body is not None else d.end
            self.args(d, new, "to the harness's upstream", end)
        return True

    def url(self, d: Directive, arg: Arg, reach: bool) -> str:
        """The backend URL ``arg`` of ``d``, to the harness's upstream."""
        match = URL.fullmatch(arg.value)
        scheme = match["scheme"].lower() if match else ""
        if not match or scheme not in ("http", "https", "ws", "wss", "balancer"):
            if reach and arg.value not in ("!", "*") and (match or ":" in arg.value):
                raise self.edits.refuse(d.start, self.said(d), SAY_HTTP)
            return arg.raw  # not a URL: an exclusion ("!"), a path, any URL ("*")
        if re.search(r"[$%{]", match["host"]) or not match["host"]:
            if reach:
                raise self.edits.refuse(d.start, self.said(d), SAY_WHERE)
            return arg.raw
        where = f"{arg.value}, line {self.edits.line_of(d.start)}"
        if scheme == "balancer":
            self.needs.update({m: where for m in BALANCER if m not in self.needs})
            return arg.raw
        if scheme.startswith("ws") and reach:
            self.needs.setdefault("proxy_wstunnel", where)
        upstream = "ws://@UPSTREAM_HOSTPORT@" if scheme.startswith("ws") else "@UPSTREAM@"
        return arg.quote(upstream + match["path"])

    def params(self, d: Directive, first: int) -> dict[int, str]:
        """The ``timeout=N`` among the ``key=value`` from the ``first`` argument on, rewritten."""
        found = {}
        for index, arg in enumerate(d.args[first:], first):
            name, _, value = arg.value.partition("=")
            if name.lower() == "timeout":
                found[index] = arg.quote(f"{name}={self.seconds(d, value)}")
            elif name.lower() == "lbmethod":
                self.needs.setdefault(f"lbmethod_{value}", arg.value)
        return found

    def seconds(self, d: Directive, text: str) -> str:
        seconds = duration(text, "s")
        if seconds is None:
            raise self.edits.refuse(d.start, self.said(d), "not a number of seconds Apache reads")
        return timeout(seconds)

    def need(self, d: Directive) -> None:
        """Note the modules ``d`` needs, and those an ``<IfModule>`` or a ``LogLevel`` names
        (loaded on the customer's machine, else the file would not name them)."""
        first = d.args[0].value.lower() if d.args else ""
        found = [NEEDED_BY.get(d.key, "ssl" if d.key.startswith("ssl") else "")]
        if d.key == "require":
            found.append(REQUIRE.get(first, ""))
        elif d.key == "authtype":
            found.append(f"auth_{first}")
        elif d.key == "ifmodule" and (name := MODULE.fullmatch(first)):
            found.append(name[1] or name[2])
        elif d.key == "loglevel":
            found += [a.value.partition(":")[0] for a in d.args]
        found += ["deflate"] if any(a.value.upper() == "DEFLATE" for a in d.args) else []
        for module in found:
            if module in MODULES:  # Debian's, and one the harness knows
                self.needs.setdefault(module, f"{d.name}, line {self.edits.line_of(d.start)}")

    def args(self, d: Directive, new: dict[int, str], why: str, end: int = 0) -> None:
        """Replace some of ``d``'s arguments (by index); the rest stays as written."""
        text, pieces, at = self.edits.text, [], d.start
        for index, value in sorted(new.items()):
            pieces += [text[at : d.args[index].start], value]
            at = d.args[index].end
        end = end or d.end
        self.edits.replace(d.start, end, "".join(pieces) + text[at:end], why)

    def leave_out(self, d: Directive, why: str) -> bool:
        self.edits.replace(d.start, d.end, "", why)
        return False

    def said(self, d: Directive) -> str:
        return self.edits.text[d.start : d.line_end].replace("\\\n", " ")

    def head(self) -> None:
        """Add what the file does not set, and the modules its directives need."""
        keys = [key for key in OWN if key not in self.seen]
        if keys:
            names = ", ".join(OWN[key].split()[0] for key in keys)
            self.edits.add(0, "".join(OWN[key] + "\n" for key in keys), f"{names} (the harness's)")
        # Loaded first, in this order: a module needs those it links to loaded before it
        # (proxy_http: proxy), wherever the file loads its own.
        needs = [*BASE, *self.needs]
        if any(d.args[0].value.startswith("mpm_") for d in self.modules):
            needs.remove("mpm_event")  # one MPM: the file's
        for d in self.modules:
            if d.args[0].value.removesuffix("_module") in needs:
                self.leave_out(d, "loaded first, by the harness")
            else:
                path = d.args[1].quote(f"{FOLDER}/{d.args[1].value.rsplit('/', 1)[-1]}")
                self.args(d, {1: path}, "Debian's modules")
        lines = "".join(f"LoadModule {m}_module {FOLDER}/mod_{m}.so\n" for m in needs)
        said = [m + (f" (for {self.needs[m]})" if m in self.needs else "") for m in needs]
        self.edits.add(0, lines, f"Debian's modules {', '.join(said)}")


def _proxied(d: Directive) -> bool:
    flags = d.args[-1].value if d.args else ""
    return flags.startswith("[") and any(
        f.strip().lower() in ("p", "proxy") for f in flags.strip("[]").split(",")
    )


def _proxies(host: Directive) -> bool:
    return any(
        d.key in ("proxypass", "proxypassmatch") or (d.key == "rewriterule" and _proxied(d))
        for d in walk(host.body or [])
    )


def _redirects(host: Directive) -> bool:
    return any(
        d.key in REDIRECTS and any(a.value.startswith("https://") for a in d.args)
        for d in walk(host.body or [])
    )


class ApacheConfig:
    """Rewrites an Apache config (see the module's docstring)."""

    def adapt(self, text: str, source: str) -> Adapted:
        tree = parse(text, source)
        edits = Edits(text, source)
        hosts = [d for d in walk(tree) if d.key == "virtualhost"]
        proxying = [h for h in hosts if _proxies(h)]
        # One site is the harness's: a redirect to https, a status page or a second port is not.
        dropped = [h for h in hosts if proxying and h not in proxying]
        for host in dropped:
            why = "only redirects to https" if _redirects(host) else "it proxies nothing"
            edits.replace(host.start, host.end, "", f"{why}; another one proxies")
        rewrite = _Rewrite(edits, dropped)
        rewrite.walk(tree)
        rewrite.head()
        return edits.apply()


ADAPTER = ApacheConfig()
