"""The rules of DESIGN.md, evaluated on a Plan. Each finding has a stable code (see findings.CODES)."""

from __future__ import annotations

from .findings import CODES, Finding
from .model.types import Model


def evaluate(model: Model, plan, allow: tuple[str, ...] = ()) -> list[Finding]:
    out: list[Finding] = []
    ex = model.exchange
    modes = plan.exchange.modes

    def add(level: str, code: str, message: str, where: tuple = (), target: str | None = None) -> None:
        assert code in CODES, code
        out.append(Finding(level, code, message, where, target))

    def tls_where(service: str) -> tuple:
        return ("tls", "services", service) if service in model.tls.services else ("tls", "default")

    offloaded = [s for s, m in modes.items() if m == "offload"]
    bridged = [s for s, m in modes.items() if m == "bridge"]
    mrsproxy_route = any(s.service == "mrsproxy" for s in plan.services)  # re-encrypted whatever EWS does

    # Exchange 2016/2019: termination with re-encryption is supported, offloading to HTTP is not.
    if ex.version >= 2016 and offloaded:
        add("error", "offload-unsupported",
            f"Exchange {ex.version} does not support SSL offloading (plain HTTP to the servers) for "
            f"{', '.join(offloaded)}: use tls mode 'bridge' (terminate and re-encrypt)", tls_where(offloaded[0]))

    # Extended Protection: channel binding breaks on offload; bridging needs the same certificate.
    if ex.extended_protection:
        if offloaded:
            add("error", "ep-offload",
                f"Extended Protection is on: offloading {', '.join(offloaded)} breaks NTLM/Negotiate channel "
                "binding; bridge these services or turn Extended Protection off for them",
                tls_where(offloaded[0]))
        if bridged or mrsproxy_route:
            add("warning", "ep-same-certificate",
                "Extended Protection is on: re-encryption works only if the load balancer presents the same "
                "certificate as every Exchange server"
                + (" (render and f5 apply check the model's certificate first; prove it on the servers with "
                   "'lbsync cert check --compare')" if model.certificate else
                   " — the model has no certificate: section, so lbsync cannot check it; add one"),
                ("exchange", "extended_protection") if ex.extended_protection_given else ("exchange", "cu"))
    elif ex.version == 2019 and ex.cu is None and not ex.extended_protection_given:
        add("info", "ep-unknown-cu",
            "Exchange 2019 without exchange.cu: Extended Protection is assumed off; it is on by default from CU14 "
            "(set exchange.cu or exchange.extended_protection)", ("exchange",))

    # MRSProxy
    if ex.mrsproxy:
        if "ews" not in modes:
            add("error", "mrsproxy-without-ews",
                "exchange.mrsproxy is on but no namespace carries ews (MRSProxy lives at /EWS/mrsproxy.svc)",
                ("exchange", "mrsproxy"))
        elif mrsproxy_route:
            add("info", "mrsproxy-bridged",
                f"/EWS/mrsproxy.svc has its own re-encrypted pool (EWS itself: {modes['ews']}); MRSProxy traffic "
                "is never offloaded", ("exchange", "mrsproxy"))
        else:
            add("info", "mrsproxy-bridged",
                "/EWS/mrsproxy.svc passes through with EWS (TLS end to end to the servers); MRSProxy traffic is "
                "never offloaded", ("exchange", "mrsproxy"))

    # MAPI/HTTP exists from Exchange 2013 SP1 (CU4).
    if "mapi" in modes and ex.version == 2013 and ex.cu is not None and ex.cu < 4:
        add("error", "mapi-unsupported", f"MAPI over HTTP needs Exchange 2013 CU4 (SP1) or later, the model says "
            f"CU{ex.cu}", ("exchange", "cu"))

    # Passthrough (L4) cannot share a namespace+port with L7 services, nor another namespace's listener at L7
    # without SNI routing (which the renderers do); within one namespace it is impossible.
    from .plan import mode_of
    for ns in model.namespaces:
        kinds = {s: (mode_of(model, s, ns.group) == "passthrough") for s in ns.services}
        if any(kinds.values()) and not all(kinds.values()):
            l4 = [s for s, p in kinds.items() if p]
            l7 = [s for s, p in kinds.items() if not p]
            add("error", "passthrough-mixed",
                f"namespace {ns.host}:{ns.port} mixes passthrough ({', '.join(l4)}) with L7 services "
                f"({', '.join(l7)}): without terminating TLS there is no path to route on; give the passthrough "
                "services a namespace of their own", ("namespaces", ns.index, "services"))
    hosts = [n.host for n in model.namespaces]
    for nsp in plan.namespaces:
        if nsp.passthrough:
            add("info", "passthrough-l4",
                f"{nsp.host} is passed through at L4: one pool for {', '.join(s.service for s in nsp.services)}, "
                "routed by SNI, no X-Forwarded-For, health checked on "
                f"{nsp.services[0].health.path}", ("namespaces", hosts.index(nsp.host)))

    # F5: a passthrough namespace needs a listener of its own (lbsync generates no L4 SNI routing for F5).
    listeners: dict[tuple, list] = {}
    for nsp in plan.namespaces:
        listeners.setdefault((nsp.vip, nsp.port), []).append(nsp)
    for (vip, port), group in listeners.items():
        for nsp in group:
            if nsp.passthrough and len(group) > 1:
                others = ", ".join(n.host for n in group if n is not nsp)
                add("error", "f5-passthrough-shared",
                    f"F5: passthrough namespace {nsp.host} shares {vip or '*'}:{port} with {others}; lbsync does "
                    "not generate L4 SNI routing for F5 — give it a VIP or port of its own",
                    ("namespaces", hosts.index(nsp.host)), target="f5")

    # Re-encryption trust.
    if bridged or mrsproxy_route:
        if not model.tls.verify_server:
            add("warning", "server-verify-disabled",
                "tls.verify_server is false: re-encrypted connections to the servers are NOT verified "
                "(verify none) — anyone on the server network can impersonate Exchange", ("tls", "verify_server"))
        elif model.tls.server_ca is None:
            add("info", "server-ca-system",
                "no tls.server_ca: the servers' certificate is verified against the system CA store "
                f"({plan.server_ca})", ("tls",))

    # Client-side TLS: Mozilla's "modern" is TLS 1.3 only.
    if model.tls.profile == "modern":
        add("warning", "tls-modern-clients",
            "tls.profile modern accepts TLS 1.3 only: Outlook on Windows 10 / Server 2016-2019 (Schannel without "
            "TLS 1.3) and many ActiveSync devices cannot connect; 'intermediate' (TLS 1.2 and 1.3) is the "
            "Exchange-compatible choice", ("tls", "profile"))

    # Outlook Anywhere hostname.
    oa = plan.exchange.outlook_anywhere
    rpc_hosts = {ns.host for ns in model.namespaces if "rpc" in ns.services}
    if rpc_hosts and oa.external_hostname and oa.external_hostname.lower() not in rpc_hosts:
        add("warning", "oa-hostname-not-namespace",
            f"outlook_anywhere.external_hostname {oa.external_hostname} is not a namespace carrying rpc "
            f"({', '.join(sorted(rpc_hosts))})", ("exchange", "outlook_anywhere", "external_hostname"))

    # NGINX open source cannot keep NTLM affinity at layer 7 (`ntlm` is NGINX Plus only).
    if not model.targets.nginx.plus:
        ways = ("ways out: Basic auth for those virtual directories (exchange.auth; for rpc "
                "exchange.outlook_anywhere), a passthrough namespace over "
                "the stream module (tls mode passthrough), or targets.nginx.plus: true (NGINX Plus 'ntlm')")
        l7 = [s for s in plan.services if s.mode != "passthrough"]
        ntlm = [s for s in l7 if "Ntlm" in s.auth]
        negotiate = [s for s in l7 if "Negotiate" in s.auth and "Ntlm" not in s.auth]
        where = ("targets", "nginx") if model.targets.nginx.given else ("namespaces",)
        if ntlm:
            legacy = sorted({s.group for s in ntlm if s.group != "main"})
            note = (f" (group {', '.join(legacy)}: exchange.auth describes the main group only; change the "
                    "authentication on those servers, or use passthrough or NGINX Plus)") if legacy else ""
            add("error", "nginx-ntlm",
                "NGINX open source cannot keep NTLM connection affinity at layer 7, and these routes accept NTLM: "
                + ", ".join(f"{s.namespace} {s.service}" for s in ntlm) + f"; {ways}{note}", where, target="nginx")
        if negotiate:
            add("warning", "nginx-negotiate",
                "these routes accept Negotiate, which can fall back to NTLM that NGINX open source cannot carry at "
                "layer 7: " + ", ".join(f"{s.namespace} {s.service}" for s in negotiate) + f"; {ways}", where,
                target="nginx")

    if model.groups:
        from .rules_groups import evaluate_groups
        for level, code, message, where in evaluate_groups(model, plan):
            add(level, code, message, where)

    allowed = set(allow)
    for f in out:
        if f.level == "error" and f.code in allowed and CODES[f.code].allowable:
            f.level, f.allowed = "warning", True
            f.message += " (allowed)"
    return out
