"""HAProxy >= 2.4 (tested on 2.6): haproxy/haproxy.cfg from the Plan.

Layout lives in templates/haproxy/haproxy.cfg.j2; this module only hands the template what the Plan says, grouped
per listener. Options (RenderOptions.extra): `redirect_port` (default 80: the HTTP -> HTTPS listener) and
`stats_socket` (default /run/haproxy/admin.sock).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..certs.export import export_command, exported_path
from ..facts.lb import Persistence
from ..facts.tls import GUIDELINE, SERVER_TLS_DEFAULT, profile
from ..output import check as checks
from ..output import text
from ..output.env import environment, render_template
from ..output.writer import Output
from ..plan.types import Listener, NamespacePlan, Plan, ServicePlan
from . import common
from .protocol import RenderOptions

NAME = "haproxy"
LB_KIND = "haproxy"
CONFIG = "haproxy/haproxy.cfg"


def abns_name(listener: Listener) -> str:
    """The in-process socket from the SNI splitter to the TLS frontend of a shared VIP:port."""
    return f"abns@lbsync_{listener.key}"


# HAProxy answers 400 to a request head larger than tune.bufsize - tune.maxrewrite (facts.lb [HA26]); maxrewrite is
# the room for the headers it adds (X-Forwarded-*, a persistence cookie): Plan.lb_added_header_bytes.
# OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: toward servers that need them (Exchange 2007/2010)
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"


def bufsize(plan: Plan) -> int:
    """tune.bufsize: a client's request head (Plan.lb_header_bytes) plus the room for what HAProxy adds, which is
    what the servers accept (Plan.max_header_bytes); a multiple of 16, as HAProxy rounds it on 64-bit machines."""
    return (plan.lb_header_bytes + plan.lb_added_header_bytes) // 16 * 16


def maxrewrite(plan: Plan) -> int:
    return plan.lb_added_header_bytes


def sharing_reason(svc: ServicePlan) -> str:
    """Why a pool's server connections stay with one client (the comment over `http-reuse never`)."""
    return f"{svc.service} accepts {'/'.join(a for a in svc.auth if a in ('Ntlm', 'Negotiate'))}"


def persistence_cookie(svc: ServicePlan) -> str:
    """One cookie name per server group: owa and ecp of a group share the logon cookie, so they must land on the
    same server — the inserted cookie names the server, the same value in both pools."""
    return "LBSYNC_" + common.ident(svc.group).upper()


def server_lines(svc: ServicePlan, server_ca_path: str) -> str:
    """The pool's `server` lines (a large model has tens of thousands: one f-string each instead of template calls
    per line)."""
    cookie = svc.persistence == Persistence.COOKIE
    if svc.plain_http:
        tail = " check"
    elif svc.reencrypt:
        verify = f"required ca-file {server_ca_path}" if svc.verify_server else "none"
        tail = f" check ssl verify {verify} sni str({svc.sni}) check-ssl check-sni {svc.sni}"
    else:
        verify = f"required ca-file {server_ca_path}" if svc.verify_server else "none"
        tail, cookie = f" check check-ssl check-sni {svc.namespace} verify {verify}", False
    return "\n".join(f"    server {m.server} {common.hostport(m.address, m.port)}{tail}"
                     f"{f' cookie {m.server}' if cookie else ''}" for m in svc.members)


def tls_version(name: str) -> str:
    """OpenSSL/NGINX spelling (TLSv1) -> HAProxy's ssl-min-ver spelling (TLSv1.0)."""
    return "TLSv1.0" if name == "TLSv1" else name


def hq(value: str) -> str:
    """A fixed protocol string (a greeting prefix, QUIT CRLF) as an HAProxy double-quoted argument: CR and LF as the
    escapes HAProxy decodes, backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n") + '"'


def backend_name(svc: ServicePlan) -> str:
    return svc.pool


def root_backend(ns: NamespacePlan) -> str:
    """The backend that redirects "/" of a namespace (pools are named SERVICE_HOST; no service is called root)."""
    return f"root_{ns.host}"


def nested(ns: NamespacePlan, svc: ServicePlan) -> bool:
    """A route under another route's path (/owa/integrated, /ews/mrsproxy.svc): its rule follows every other
    route's, whose rule leaves its requests to it (plan: NamespacePlan.beneath)."""
    return any(p in ns.nested_paths for p in svc.paths)


def bare_paths(ns: NamespacePlan, svc: ServicePlan) -> list[str]:
    """A route's paths tested bare (/owa) after every route's prefix rule; a path under another route's is tested
    bare in its own rule instead (plan: NamespacePlan.nested_paths)."""
    return [p for p in svc.paths if p not in ns.nested_paths]


def context(plan: Plan, options: RenderOptions) -> dict:
    extra = options.extra or {}
    tls = profile(plan.tls_profile)
    return {
        "plan": plan, "version": __version__, "model_name": text.conf_comment(plan.model.path.name),
        "tls": tls, "guideline": GUIDELINE, "min_version": tls_version(tls.min_version),
        "server_tls_default": SERVER_TLS_DEFAULT,
        "cert_path": plan.model.targets.haproxy.cert_path, "server_ca_path": plan.lb_server_ca[LB_KIND],
        "export_command": export_command(plan.model, "haproxy"),
        "exported": [exported_path(plan.model, "haproxy/lbsync.pem")],
        "server_ca_local": plan.model.tls.server_ca,
        "listeners": plan.listeners,
        "redirects": plan.redirects,
        "redirect_port": int(extra.get("redirect_port", 80)),
        "stats_socket": extra.get("stats_socket", "/run/haproxy/admin.sock"),
        "pools": plan.pools, "mail": plan.mail, "verify_server": plan.verify_server,
        "lb": common, "abns_name": abns_name, "hq": hq, "backend_name": backend_name,
        "root_backend": root_backend, "bare_paths": bare_paths, "nested": nested,
        "pool_services": lambda svc: [s.service for s in plan.pool_services(svc.pool)],
        "bufsize": bufsize(plan), "maxrewrite": maxrewrite(plan), "legacy_ciphers": LEGACY_CIPHERS,
        "sharing_reason": sharing_reason, "persistence_cookie": persistence_cookie,
        "server_lines": lambda svc: server_lines(svc, plan.lb_server_ca[LB_KIND]),
    }


def render(plan: Plan, options: RenderOptions) -> dict[str, Output]:
    env = environment(options.templates)
    text = render_template(env, "haproxy/haproxy.cfg.j2", **context(plan, options))
    return {CONFIG: Output(text)}


def readme(plan: Plan, options: RenderOptions) -> str:
    env = environment(options.templates)
    return render_template(env, "haproxy/README.txt.j2", **context(plan, options),
                           drain=common.server_pools(plan))


def check(plan: Plan, files: dict[str, Output], work: Path) -> str:
    """`haproxy -c` on exactly the rendered haproxy.cfg; the certificate and CA files it names are provided at
    their paths when they are not on this machine (output.check.isolated)."""
    binary = shutil.which("haproxy")
    if not binary:
        return "haproxy is not installed here: haproxy/haproxy.cfg was NOT checked"
    cfg = work / "haproxy.cfg"
    cfg.write_bytes(files[CONFIG].content.encode("utf-8"))
    pem = checks.placeholder_pem(work)
    needed = {plan.model.targets.haproxy.cert_path: pem["combined"].read_bytes(),
              plan.lb_server_ca[LB_KIND]: pem["cert"].read_bytes()}
    # haproxy -c does not bind; the stats socket's folder is made private so nothing is created outside the check
    sockets = [str(Path(m.group(1)).parent)
               for m in re.finditer(r"^\s*stats socket (\S+)", files[CONFIG].content, re.M)]
    try:
        rc, out, notes = checks.isolated([binary, "-c", "-f", str(cfg)], work, files=needed, private_dirs=sockets)
    except checks.NoNamespace as exc:
        return ("haproxy -c: NOT checked — the files it names are not on this machine and no private namespace "
                f"could be made to provide them ({exc})")
    if rc != 0:
        raise checks.reject("haproxy -c", out, {CONFIG: cfg})
    return checks.verdict("haproxy -c", checks.warnings(out, {CONFIG: cfg}), notes)


# ---- drift: a deployed haproxy.cfg against a fresh render (lbsync audit --haproxy) -----------------------

HAPROXY_SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist",
                    "cache", "program", "http-errors", "ring", "mailers")


@dataclass
class _Section:
    header: str
    lines: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.header.split(" ", 1)[0]

    def text(self) -> list[str]:
        servers = sorted(x for x in self.lines if x.startswith("server "))
        rest = [x for x in self.lines if not x.startswith("server ")]
        return [self.header] + ["    " + x for x in rest + servers]


def normalise(text: str) -> str:
    sections: list[_Section] = []
    preamble = _Section("")
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = common.squash(common.strip_comment(raw))
        if not line:
            continue
        if line.split(" ", 1)[0] in HAPROXY_SECTIONS:
            sections.append(_Section(line))
        elif sections:
            sections[-1].lines.append(line)
        else:
            preamble.lines.append(line)
    # consecutive backend sections: their order has no meaning
    ordered: list[_Section] = []
    run: list[_Section] = []
    for s in sections + [None]:
        if s is not None and s.kind == "backend":
            run.append(s)
            continue
        ordered += sorted(run, key=lambda b: b.header)
        run = []
        if s is not None:
            ordered.append(s)
    out = list(preamble.lines)
    for s in ordered:
        out += s.text()
    return "\n".join(out) + "\n"


def rendered_name(deployed: str, files: dict[str, Output]) -> str:
    """The rendered file a deployed one is compared with."""
    return CONFIG
