"""The likely fix for each finding, naming the config line of the software that usually causes it.

Sources: nginx.org/en/docs/http/websocket.html; HAProxy 2.6 configuration manual (``timeout
tunnel``, ``http-request deny``); Apache httpd 2.4 mod_proxy (``upgrade=websocket``, 2.4.47+)
and mod_proxy_wstunnel; IIS ``<webSocket enabled="true" />`` and the WebSocket Protocol role
service; Azure App Service's "Web sockets" setting; Squid's ``SSL_ports``; tinyproxy's
``ConnectPort``. A fix is a starting point for the person who owns the hop, not an order.
"""

from __future__ import annotations

Fix = tuple[tuple[str, str], ...]

FIXES: dict[str, Fix] = {
    "stripped": (
        (
            "nginx",
            "in the location that proxies the CMS: proxy_http_version 1.1; "
            'proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";',
        ),
        (
            "HAProxy",
            "use mode http (it passes upgrades by default) and remove any "
            "'http-request del-header Upgrade' or 'del-header Connection' on this path",
        ),
        (
            "Apache",
            "ProxyPass / http://backend/ upgrade=websocket (2.4.47+), or load "
            "mod_proxy_wstunnel and ProxyPass /EPiServer/Shell/socket/ ws://backend/EPiServer/"
            "Shell/socket/",
        ),
        (
            "IIS/ARR",
            "install the WebSocket Protocol role service on the ARR server and keep "
            '<webSocket enabled="true" /> in system.webServer',
        ),
    ),
    "version-downgraded": (
        ("nginx", "proxy_http_version 1.1; (nginx speaks HTTP/1.0 upstream by default)"),
        ("Apache", "remove SetEnv force-proxy-request-1.0 (and proxy-nokeepalive) on this path"),
        ("HAProxy", "remove 'option httpclose'/'http-request set-header Connection close' here"),
    ),
    "no-websocket-server": (
        (
            "IIS",
            "Server Manager > Web Server > Application Development > WebSocket Protocol, then "
            '<webSocket enabled="true" /> in system.webServer',
        ),
        ("Azure App Service", "Configuration > General settings > Web sockets: On"),
        (
            "CMS",
            "if the site is meant to run without WebSockets, set UIOptions.WebSocketEnabled = "
            "false so the UI opens no socket and shows no dialog",
        ),
    ),
    "denied": (
        (
            "HAProxy",
            "remove or narrow 'http-request deny if { hdr(Upgrade) -i websocket }' for the "
            "endpoint path",
        ),
        ("nginx", "remove the 'return 403' (or deny) that matches $http_upgrade on this path"),
        ("Apache", "allow the endpoint path in the Require/RewriteRule that matches Upgrade"),
        ("firewall/WAF", "allow WebSocket upgrades to /EPiServer/Shell/socket/endpoint"),
    ),
    "reset": (
        (
            "firewall/IPS",
            "allow the WebSocket application (or the endpoint path) in the rule that resets it",
        ),
    ),
    "blackhole": (
        (
            "firewall/IPS",
            "a hop drops the upgrade without an answer: find it by running diagnose with "
            "--direct against each hop in turn; allow WebSocket upgrades there",
        ),
    ),
    "connect-443": (
        ("Squid", "acl SSL_ports port 443 <port>, or serve the site (and so wss://) on 443"),
        ("tinyproxy", "ConnectPort <port>, or serve the site on 443"),
    ),
    "connect-refused": (
        ("forward proxy", "allow CONNECT to the CMS host and port in the proxy's access rules"),
    ),
    "redirect": (
        (
            "any",
            "browsers do not follow redirects on a WebSocket upgrade: exclude the endpoint path "
            "from the login or https redirect, or serve the edit UI from the redirect's target",
        ),
    ),
    "bad-handshake": (
        (
            "any",
            "a hop rewrites the 101 answer: put that hop in TCP mode for the endpoint or bypass it",
        ),
    ),
    "closed-after-open": (
        (
            "any",
            "a hop or the server closes the socket right after the upgrade: check its WebSocket "
            "authorisation and its worker or connection limits",
        ),
    ),
    "frames-held": (
        (
            "antivirus/proxy",
            "a hop passes the 101 but holds frames: exclude the site from HTTPS scanning or "
            "turn off response buffering on the upgraded connection",
        ),
    ),
    "idle-cut": (
        ("nginx", "proxy_read_timeout 3600s; proxy_send_timeout 3600s;"),
        ("HAProxy", "timeout tunnel 1h"),
        ("Apache", "ProxyTimeout 3600 (or ProxyWebsocketIdleTimeout with mod_proxy_wstunnel)"),
        ("IIS/ARR", "Server Farm > Proxy > Time-out (seconds) above the CMS heartbeat (3 s)"),
    ),
    "silent-drop": (
        (
            "load balancer/NAT",
            "raise the idle timeout and enable TCP reset on idle (Azure Load Balancer: "
            "'TCP reset' and 'Idle timeout')",
        ),
    ),
    "tls-intercepted": (
        (
            "TLS inspection",
            "add the CMS host to the inspection bypass list, or make sure its CA is trusted on "
            "every editor's machine",
        ),
    ),
    "tls-failed": (
        (
            "TLS",
            "compare what the site presents with openssl s_client -connect HOST:443 "
            "-servername HOST from inside and outside the network; a TLS-inspecting or "
            "transparent proxy in between is the usual cause",
        ),
    ),
    "unreachable": (("network", "check the host, the port and that something listens there"),),
    "not-http": (
        (
            "network",
            "check the port is the web server's: another service (SSH, a database) answers "
            "there, or it speaks TLS and was asked in plain http",
        ),
    ),
}


def fix_lines(code: str) -> list[str]:
    """The fix for a finding's ``code``, one ``software: line`` per line; empty if none."""
    return [f"{software}: {line}" for software, line in FIXES.get(code, ())]
