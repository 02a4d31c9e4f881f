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


# Room HAProxy keeps in a buffer for headers it adds (X-Forwarded-*, a persistence cookie); the rest of
# tune.bufsize holds the request's headers, which must reach Plan.max_header_bytes (Kerberos tokens).
MAXREWRITE = 4096
# OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: toward servers that need them (Exchange 2007/2010)
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"


def bufsize(plan) -> int:
    return plan.max_header_bytes + MAXREWRITE


def sharing_reason(svc) -> str:
    """Why a pool's server connections stay with one client (the comment over `http-reuse never`)."""
    if svc.ntlm_affinity:
        return f"{svc.service} accepts {'/'.join(a for a in svc.auth if a in ('Ntlm', 'Negotiate'))}"
    return f"{svc.service} carries Windows Integrated authentication (e.g. owa/Integrated)"


def persistence_cookie(svc) -> str:
    """One cookie name per server group: owa and ecp of a group share the logon cookie, so they must land on the
    same server — the inserted cookie names the server, the same value in both pools."""
    return "LBSYNC_" + lbview.ident(svc.group).upper()


def server_cookie(svc, member) -> str:
    return f" cookie {member.server}" if svc.persistence == "cookie" else ""


def tls_version(name: str) -> str:
    """OpenSSL/NGINX spelling (TLSv1) -> HAProxy's ssl-min-ver spelling (TLSv1.0)."""
    return "TLSv1.0" if name == "TLSv1" else name


def backend_name(svc) -> str:
    return svc.pool


def pool_services(plan, pool: str) -> list:
    """Every ServicePlan carried by one pool (a passthrough namespace puts all its services in one)."""
    return [s for s in plan.services if s.pool == pool]


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
        "lb": lbview, "abns_name": abns_name, "backend_name": backend_name,
        "pool_services": lambda svc: [s.service for s in pool_services(plan, svc.pool)],
        "bufsize": bufsize(plan), "maxrewrite": MAXREWRITE, "legacy_ciphers": LEGACY_CIPHERS,
        "sharing_reason": sharing_reason, "persistence_cookie": persistence_cookie, "server_cookie": server_cookie,
        "version_of": lambda svc: plan.model.group(svc.group).version,
        "client_timeout": lambda nss: max(s.timeout_s for ns in nss for s in ns.services),
    }


def render(plan, options) -> dict[str, Output]:
    env = environment(options.templates)
    text = render_template(env, "haproxy/haproxy.cfg.j2", **context(plan, options))
    return {CONFIG: Output(text)}


def readme(plan, options) -> str:
    env = environment(options.templates)
    return render_template(env, "haproxy/README.txt.j2", **context(plan, options))
