"""NGINX >= 1.22 open source (NGINX Plus directives behind targets.nginx.plus): nginx/lbsync.conf for the `http`
context and, when a namespace is passed through, nginx/lbsync-stream.conf for the `stream` context.

When a passthrough namespace shares a VIP:port with terminated ones, the stream side reads the SNI (ssl_preread)
and hands every connection, with a PROXY protocol header carrying the client address, to a local unix socket:
either the http side's TLS server (for the terminated names) or a small stream relay per passthrough namespace
that strips the header and forwards the untouched TLS bytes to the Exchange servers.
Options (RenderOptions.extra): `redirect_port` (default 80) and `socket_dir` (default /run: where those sockets go).
"""

from __future__ import annotations

from .. import __version__
from ..tlsprofiles import GUIDELINE, profile
from . import lbview
from .env import environment, render_template
from .writer import Output

HTTP_CONF = "nginx/lbsync.conf"
STREAM_CONF = "nginx/lbsync-stream.conf"


def upstream_name(svc) -> str:
    return "lbsync_" + lbview.ident(svc.pool)


def fail_timeout(svc) -> str:
    """Passive health: a server marked failed after `fall` errors is left alone this long (HealthCheck)."""
    return lbview.duration(svc.health.passive_down_ms)


def nginx_tls(name: str) -> str:
    """The Plan's TLS spelling (TLSv1.0) -> NGINX's (TLSv1)."""
    return "TLSv1" if name == "TLSv1.0" else name


def server_protocols(svc) -> str:
    """proxy_ssl_protocols: the versions the Plan offers the servers."""
    return " ".join(nginx_tls(v) for v in svc.server_tls_versions)


def header_buffers(plan) -> str:
    """large_client_header_buffers: one header line (a Kerberos Authorization) must fit one buffer."""
    return f"4 {max(plan.max_header_bytes // 1024, 8)}k"


def persistence_cookie(svc) -> str:
    return "lbsync_" + lbview.ident(svc.group).lower()


def needs_stream(plan) -> bool:
    return any(ns.passthrough for ns in plan.namespaces)


class Sockets:
    """Unix sockets between the stream splitter and the relays / the http side (shared VIP:port only)."""

    def __init__(self, socket_dir: str):
        self.dir = socket_dir.rstrip("/") or "/"

    def l7(self, listener) -> str:
        return f"unix:{self.dir}/lbsync-nginx-{listener.key}.sock"

    def relay(self, ns) -> str:
        return f"unix:{self.dir}/lbsync-nginx-relay-{lbview.ident(ns.host)}.sock"

    def refuse(self) -> str:
        return f"unix:{self.dir}/lbsync-nginx-refuse.sock"


def context(plan, options) -> dict:
    extra = options.extra or {}
    lsts = lbview.listeners(plan)
    return {
        "plan": plan, "version": __version__, "model_name": plan.model.path.name,
        "tls": profile(plan.tls_profile), "guideline": GUIDELINE,
        "target": plan.model.targets.nginx, "plus": plan.model.targets.nginx.plus,
        "listeners": lsts, "stream_listeners": [lst for lst in lsts if lst.l4],
        "redirect_port": int(extra.get("redirect_port", 80)),
        "sockets": Sockets(str(extra.get("socket_dir", "/run"))),
        "upstreams": [svc for ns in plan.namespaces if not ns.passthrough for svc in ns.pools],
        "tcp_upstreams": [svc for ns in plan.namespaces if ns.passthrough for svc in ns.pools],
        "lb": lbview, "upstream_name": upstream_name, "fail_timeout": fail_timeout,
        "header_buffers": header_buffers(plan), "server_protocols": server_protocols,
        "legacy_ciphers": "DEFAULT:@SECLEVEL=0", "persistence_cookie": persistence_cookie,
        "version_of": lambda svc: plan.model.group(svc.group).version,
        "l4_timeout": lambda lst: max(s.timeout_s for ns in lst.namespaces for s in ns.services),
    }


def render(plan, options) -> dict[str, Output]:
    env = environment(options.templates)
    ctx = context(plan, options)
    files = {HTTP_CONF: Output(render_template(env, "nginx/lbsync.conf.j2", **ctx))}
    if needs_stream(plan):
        files[STREAM_CONF] = Output(render_template(env, "nginx/lbsync-stream.conf.j2", **ctx))
    return files


def readme(plan, options) -> str:
    env = environment(options.templates)
    return render_template(env, "nginx/README.txt.j2", needs_stream=needs_stream(plan), **context(plan, options))
