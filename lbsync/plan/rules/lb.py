"""Load-balancer rules: passthrough, listeners, trust when re-encrypting, client-side TLS, NTLM through NGINX."""

from __future__ import annotations

from ...facts import mail as mail_facts
from ...facts.catalog import Svc
from ...facts.lb import Mode
from ...model.types import Model
from ..lookup import mode_of
from ..types import MAIN_GROUP, Finding, Plan


def passthrough_mixed(model: Model, plan: Plan) -> list[Finding]:
    """Passthrough (L4) cannot share a namespace+port with L7 services: without terminating TLS there is no path
    to route on. (Sharing a listener with other namespaces is fine: the targets route by SNI.)"""
    out = []
    for ns in model.namespaces:
        kinds = {s: (mode_of(model, s, ns.group) == Mode.PASSTHROUGH) for s in ns.services}
        if any(kinds.values()) and not all(kinds.values()):
            l4 = [s for s, p in kinds.items() if p]
            l7 = [s for s, p in kinds.items() if not p]
            out.append(Finding("error", "passthrough-mixed",
                               f"namespace {ns.host}:{ns.port} mixes passthrough ({', '.join(l4)}) with L7 services "
                               f"({', '.join(l7)}): without terminating TLS there is no path to route on; give the "
                               "passthrough services a namespace of their own", ("namespaces", ns.index, "services")))
    return out


def passthrough_l4(model: Model, plan: Plan) -> list[Finding]:
    return [Finding("info", "passthrough-l4",
                    f"{ns.host} is passed through at L4: one pool for {', '.join(s.service for s in ns.services)}, "
                    "routed by SNI, no X-Forwarded-For, health checked on "
                    f"{ns.services[0].health.path}", ("namespaces", ns.index))
            for ns in plan.namespaces if ns.passthrough]


def f5_passthrough_shared(model: Model, plan: Plan) -> list[Finding]:
    """F5: a passthrough namespace needs a listener of its own (lbsync generates no L4 SNI routing for F5)."""
    out = []
    for lst in plan.listeners:
        if not lst.passthrough_shared:
            continue
        for nsp in (n for n in plan.namespaces if (n.vip, n.port) == (lst.vip, lst.port)):
            if nsp.passthrough:
                others = ", ".join(n.host for n in plan.namespaces
                                   if (n.vip, n.port) == (lst.vip, lst.port) and n is not nsp)
                out.append(Finding("error", "f5-passthrough-shared",
                                   f"F5: passthrough namespace {nsp.host} shares {lst.vip or '*'}:{lst.port} with "
                                   f"{others}; lbsync does not generate L4 SNI routing for F5 — give it a VIP or port "
                                   "of its own", ("namespaces", nsp.index), target="f5"))
    return out


def server_trust(model: Model, plan: Plan) -> list[Finding]:
    """Re-encryption verifies the servers' certificate; say so when it does not, or trusts the system store."""
    if not any(s.reencrypt for s in plan.services):
        return []
    if not model.tls.verify_server:
        return [Finding("warning", "server-verify-disabled",
                        "tls.verify_server is false: re-encrypted connections to the servers are NOT verified "
                        "(verify none) — anyone on the server network can impersonate Exchange",
                        ("tls", "verify_server"))]
    if model.tls.server_ca is None:
        return [Finding("info", "server-ca-system",
                        "no tls.server_ca: the load balancers verify the servers' certificate against their system "
                        f"CA store ({', '.join(sorted(set(plan.lb_server_ca.values())))})", ("tls",))]
    return []


def client_tls(model: Model, plan: Plan) -> list[Finding]:
    """Client-side TLS: Mozilla's "modern" is TLS 1.3 only."""
    if model.tls.profile != "modern":
        return []
    return [Finding("warning", "tls-modern-clients",
                    "tls.profile modern accepts TLS 1.3 only: Outlook on Windows 10 / Server 2016-2019 (Schannel "
                    "without TLS 1.3) and many ActiveSync devices cannot connect; 'intermediate' (TLS 1.2 and 1.3) "
                    "is the Exchange-compatible choice", ("tls", "profile"))]


def _route_name(s) -> str:
    return "/owa/Integrated" if s.service == Svc.OWA_INTEGRATED else s.service


def nginx_ntlm(model: Model, plan: Plan) -> list[Finding]:
    """NGINX open source cannot keep NTLM affinity at layer 7 (`ntlm` is NGINX Plus only)."""
    if model.targets.nginx.plus:
        return []
    ways = ("ways out: Basic auth for those virtual directories (exchange.auth; for rpc "
            "exchange.outlook_anywhere), a passthrough namespace over "
            "the stream module (tls mode passthrough), or targets.nginx.plus: true (NGINX Plus 'ntlm')")
    l7 = [s for s in plan.services if not s.passthrough]
    ntlm = [s for s in l7 if "Ntlm" in s.auth]
    negotiate = [s for s in l7 if "Negotiate" in s.auth and "Ntlm" not in s.auth]
    where = ("targets", "nginx") if model.targets.nginx.given else ("namespaces",)
    out = []
    if ntlm:
        legacy = sorted({s.group for s in ntlm if s.group != MAIN_GROUP})
        note = (f" (group {', '.join(legacy)}: exchange.auth describes the main group only; change the "
                "authentication on those servers, or use passthrough or NGINX Plus)") if legacy else ""
        integrated = ("; /owa/Integrated accepts Windows authentication only, on every Exchange server (an IIS "
                      "setting no Exchange cmdlet changes): forms-based /owa works, /owa/Integrated does not"
                      ) if any(s.service == Svc.OWA_INTEGRATED for s in ntlm) else ""
        out.append(Finding("error", "nginx-ntlm",
                           "NGINX open source cannot keep NTLM connection affinity at layer 7, and these routes "
                           "accept NTLM: " + ", ".join(f"{s.namespace} {_route_name(s)}" for s in ntlm)
                           + f"{integrated}; {ways}{note}", where, target="nginx"))
    if negotiate:
        out.append(Finding("warning", "nginx-negotiate",
                           "these routes accept Negotiate, which can fall back to NTLM that NGINX open source cannot "
                           "carry at layer 7: " + ", ".join(f"{s.namespace} {s.service}" for s in negotiate)
                           + f"; {ways}", where, target="nginx"))
    return out


def mail(model: Model, plan: Plan) -> list[Finding]:
    """SMTP/IMAP/POP at layer 4: what the servers see of a client, and what each load balancer can check."""
    if not plan.mail:
        return []
    first = ("namespaces", plan.mail[0].index, "services")
    where = ("mail", "source_address") if model.mail.source_address != mail_facts.SOURCE_LB else first
    keys = sorted({m.service for m in plan.mail})
    out = []
    if model.mail.source_address == mail_facts.SOURCE_LB:
        smtp = any(m.service == "smtp" for m in plan.mail)
        out.append(Finding(
            "info", "mail-snat",
            f"{', '.join(keys)} through SNAT: the servers see the load balancer's address, not the client's — a "
            "receive connector's RemoteIPRanges, connection filtering and the protocol logs see it; never add it to "
            "a relay connector's RemoteIPRanges (every client through this VIP would relay)"
            + (f"; Default/Client Frontend accept {mail_facts.SMTP_PER_SOURCE_DEFAULT} connections per source "
               "by default (MaxInboundConnectionPerSource): raise it" if smtp else "")
            + "; mail.source_address: client keeps the client's address (routing through the load balancer)",
            where))
    else:
        out.append(Finding(
            "warning", "mail-transparent",
            f"{', '.join(keys)} keep the client's address (mail.source_address: client): the servers' route back "
            "to the clients must be the load balancer (HAProxy: TPROXY, 'source 0.0.0.0 usesrc clientip' as root; "
            "NGINX: proxy_bind transparent; F5: no SNAT, the servers' gateway is the BIG-IP), or connections hang",
            where))
    if not model.targets.nginx.plus:
        out.append(Finding("info", "mail-nginx-passive",
                           "NGINX open source checks the mail pools passively only: a server whose port accepts "
                           "connections while its service is broken or in maintenance stays in the pool",
                           first, target="nginx"))
    tls = sorted({(m.port, m.check.plain_port) for m in plan.mail if m.check.tls})
    if tls:
        pairs = ", ".join(f"{port} on {plain}" for port, plain in tls)
        out.append(Finding("info", "mail-f5-tls-check",
                           f"F5: the TLS mail pools are checked by the greeting on the same service's plain port "
                           f"({pairs}) of each server (a tcp monitor cannot speak TLS): keep those ports bound on "
                           "the servers (Exchange's default), even if not published", first, target="f5"))
    return out
