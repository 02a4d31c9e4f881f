"""Exchange rules: what each Exchange version supports with a load balancer in front of it."""

from __future__ import annotations

from ...facts import httpsys
from ...facts.catalog import SCRIPTED_VERSIONS, Svc
from ...facts.lb import Mode
from ...model.types import Model
from ..types import Finding, Plan


def tls_where(model: Model, service: str) -> tuple:
    """The model key a service's mode comes from."""
    return ("tls", "services", service) if service in model.tls.services else ("tls", "default")


def _with_mode(plan: Plan, mode: Mode) -> list[str]:
    return [s for s, m in plan.exchange.modes.items() if m == mode]


def _mrsproxy_route(plan: Plan) -> bool:
    """The MRSProxy route exists (re-encrypted whatever EWS does)."""
    return any(s.service == Svc.MRSPROXY for s in plan.services)


def offload_support(model: Model, plan: Plan) -> list[Finding]:
    """Exchange 2016/2019: termination with re-encryption is supported, offloading to HTTP is not."""
    ex, offloaded = model.exchange, _with_mode(plan, Mode.OFFLOAD)
    if ex.version >= 2016 and offloaded:
        return [Finding("error", "offload-unsupported",
                        f"Exchange {ex.version} does not support SSL offloading (plain HTTP to the servers) for "
                        f"{', '.join(offloaded)}: use tls mode 'bridge' (terminate and re-encrypt)",
                        tls_where(model, offloaded[0]))]
    return []


def extended_protection(model: Model, plan: Plan) -> list[Finding]:
    """Extended Protection: channel binding breaks on offload; bridging needs the same certificate."""
    ex, out = model.exchange, []
    offloaded = _with_mode(plan, Mode.OFFLOAD)
    if ex.extended_protection:
        if offloaded:
            out.append(Finding("error", "ep-offload",
                               f"Extended Protection is on: offloading {', '.join(offloaded)} breaks NTLM/Negotiate "
                               "channel binding; bridge these services or turn Extended Protection off for them",
                               tls_where(model, offloaded[0])))
        if _with_mode(plan, Mode.BRIDGE) or _mrsproxy_route(plan):
            out.append(Finding(
                "warning", "ep-same-certificate",
                "Extended Protection is on: re-encryption works only if the load balancer presents the same "
                "certificate as every Exchange server"
                + (" (render and f5 apply check the model's certificate first; prove it on the servers with "
                   "'lbsync cert check --compare')" if model.certificate else
                   " — the model has no certificate: section, so lbsync cannot check it; add one"),
                ("exchange", "extended_protection") if ex.extended_protection_given else ("exchange", "cu")))
    elif ex.version == 2019 and ex.cu is None and not ex.extended_protection_given:
        out.append(Finding("info", "ep-unknown-cu",
                           "Exchange 2019 without exchange.cu: Extended Protection is assumed off; it is on by "
                           "default from CU14 (set exchange.cu or exchange.extended_protection)", ("exchange",)))
    return out


def mrsproxy(model: Model, plan: Plan) -> list[Finding]:
    if not model.exchange.mrsproxy:
        return []
    modes = plan.exchange.modes
    if Svc.EWS not in modes:
        return [Finding("error", "mrsproxy-without-ews",
                        "exchange.mrsproxy is on but no namespace carries ews (MRSProxy lives at /EWS/mrsproxy.svc)",
                        ("exchange", "mrsproxy"))]
    if _mrsproxy_route(plan):
        return [Finding("info", "mrsproxy-bridged",
                        f"/EWS/mrsproxy.svc has its own re-encrypted pool (EWS itself: {modes[Svc.EWS]}); MRSProxy "
                        "traffic is never offloaded", ("exchange", "mrsproxy"))]
    return [Finding("info", "mrsproxy-bridged",
                    "/EWS/mrsproxy.svc passes through with EWS (TLS end to end to the servers); MRSProxy traffic "
                    "is never offloaded", ("exchange", "mrsproxy"))]


def mapi(model: Model, plan: Plan) -> list[Finding]:
    """MAPI/HTTP exists from Exchange 2013 SP1 (CU4)."""
    ex = model.exchange
    if Svc.MAPI in plan.exchange.modes and ex.version == 2013 and ex.cu is not None and ex.cu < 4:
        return [Finding("error", "mapi-unsupported", f"MAPI over HTTP needs Exchange 2013 CU4 (SP1) or later, the "
                        f"model says CU{ex.cu}", ("exchange", "cu"))]
    return []


def api(model: Model, plan: Plan) -> list[Finding]:
    """/API: 2016 CU3 and later; never offloaded (Extended Protection "Required" on it, no Microsoft procedure
    offloads it: catalog [API]); no documented health page."""
    out = []
    for ex in [plan.exchange, *plan.group_exchanges]:
        if Svc.API not in ex.modes:
            continue
        where = tls_where(model, Svc.API) if ex.group == "main" else ("groups", ex.group)
        if ex.modes[Svc.API] == Mode.OFFLOAD:
            out.append(Finding("error", "api-offload",
                               "/API cannot be offloaded: Extended Protection is 'Required' on it (Microsoft's "
                               "Extended Protection table) and no Microsoft SSL-offloading procedure names it; set "
                               "tls.services.api: bridge (or passthrough)", where))
        if ex.version == 2016 and ex.cu is not None and ex.cu < 3:
            out.append(Finding("error", "api-unsupported", f"the /API virtual directory appeared in Exchange 2016 "
                               f"CU3; the model says CU{ex.cu}", ("exchange", "cu")))
    if any(s.service == Svc.API for s in plan.services):
        out.append(Finding("info", "api-health-undocumented",
                           "no health page for /API is documented: its pools are checked with GET /API/ answering "
                           "anything below 500 (a stopped application pool answers 503)", ("namespaces",)))
    return out


def outlook_anywhere_hostname(model: Model, plan: Plan) -> list[Finding]:
    oa = plan.exchange.outlook_anywhere
    rpc_hosts = {ns.host for ns in model.namespaces if Svc.RPC in ns.services}
    if rpc_hosts and oa.external_hostname and oa.external_hostname.lower() not in rpc_hosts:
        return [Finding("warning", "oa-hostname-not-namespace",
                        f"outlook_anywhere.external_hostname {oa.external_hostname} is not a namespace carrying rpc "
                        f"({', '.join(sorted(rpc_hosts))})", ("exchange", "outlook_anywhere", "external_hostname"))]
    return []


def header_limit(model: Model, plan: Plan) -> list[Finding]:
    """http.max_header_bytes above HTTP.sys's default: what it asks of the servers and of the load balancers."""
    if not plan.exchange.http_sys:
        return []
    values = ", ".join(f"{k} {v}" for k, v in plan.exchange.http_sys.items())
    legacy = sorted(g.name for g in model.groups.values() if g.version not in SCRIPTED_VERSIONS)
    by_hand = (f"; groups {', '.join(legacy)} (no lbsync scripts): set the same values by hand "
               f"under {httpsys.KEY_DISPLAY}") if legacy else ""
    return [Finding("info", "header-limit-raised",
                    f"request heads up to {plan.max_header_bytes} bytes: apply sets {values} "
                    f"under {httpsys.KEY_DISPLAY} on every server; {httpsys.RESTART_NOTE}{by_hand}; the load "
                    f"balancers accept {plan.lb_header_bytes} bytes from a client and use buffers of that size "
                    "for every connection (HAProxy: lower maxconn by the same factor)",
                    ("http", "max_header_bytes"))]
