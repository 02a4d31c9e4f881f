"""HAProxy >= 2.4 (tested on 2.6): haproxy/haproxy.cfg from the Plan.

Layout lives in templates/haproxy/haproxy.cfg.j2; this module only hands the template what the Plan says, grouped
per listener. Options (RenderOptions.extra): `redirect_port` (default 80: the HTTP -> HTTPS listener) and
`stats_socket` (default /run/haproxy/admin.sock).
"""

from __future__ import annotations

from .. import __version__
from ..tlsprofiles import GUIDELINE, profile
from . import lbview
from .env import environment, render_template
from .writer import Output

CONFIG = "haproxy/haproxy.cfg"


def abns_name(listener: lbview.Listener) -> str:
    """The in-process socket from the SNI splitter to the TLS frontend of a shared VIP:port."""
    return f"abns@lbsync_{listener.key}"


def balance(svc) -> str:
    """Long-lived (streaming) protocols spread by open connections, the rest round-robin; never by URI."""
    return "leastconn" if svc.streaming or svc.mode == "passthrough" else "roundrobin"


def tls_version(name: str) -> str:
    """OpenSSL/NGINX spelling (TLSv1) -> HAProxy's ssl-min-ver spelling (TLSv1.0)."""
    return "TLSv1.0" if name == "TLSv1" else name


def backend_name(svc) -> str:
    return svc.pool


def pool_services(plan, pool: str) -> list:
    """Every ServicePlan carried by one pool (a passthrough namespace puts all its services in one)."""
    return [s for s in plan.services if s.pool == pool]


def pool_timeout(plan, svc) -> int:
    """The server-side idle timeout of a pool: the longest of the services it carries."""
    return max(s.timeout_s for s in pool_services(plan, svc.pool))


def context(plan, options) -> dict:
    extra = options.extra or {}
    tls = profile(plan.tls_profile)
    lsts = lbview.listeners(plan)
    return {
        "plan": plan, "version": __version__, "model_name": plan.model.path.name,
        "tls": tls, "guideline": GUIDELINE, "min_version": tls_version(tls.min_version),
        "cert_path": plan.model.targets.haproxy.cert_path,
        "listeners": lsts,
        "redirects": lbview.redirect_listeners(plan),
        "redirect_port": int(extra.get("redirect_port", 80)),
        "stats_socket": extra.get("stats_socket", "/run/haproxy/admin.sock"),
        "pools": [svc for ns in plan.namespaces for svc in ns.pools],
        "lb": lbview, "abns_name": abns_name, "balance": balance, "backend_name": backend_name,
        "pool_services": lambda svc: [s.service for s in pool_services(plan, svc.pool)],
        "pool_timeout": lambda svc: pool_timeout(plan, svc),
        "client_timeout": lambda nss: max(s.timeout_s for ns in nss for s in ns.services),
    }


def render(plan, options) -> dict[str, Output]:
    env = environment(options.templates)
    text = render_template(env, "haproxy/haproxy.cfg.j2", **context(plan, options))
    return {CONFIG: Output(text)}


def readme(plan, options) -> str:
    env = environment(options.templates)
    return render_template(env, "haproxy/README.txt.j2", **context(plan, options))
