"""Coexistence rules (models with groups:): what a server group of another Exchange version needs."""

from __future__ import annotations

from ...facts import catalog, coexistence
from ...facts.lb import Mode, Persistence
from ...model.types import Model
from ..types import Finding, GroupPlan, Plan


def _offload_rules(model: Model, name: str, version: int, modes: dict[str, Mode], where: tuple) -> list[tuple]:
    out = []
    offloaded = [s for s, m in modes.items() if m == Mode.OFFLOAD]
    if version in catalog.SCRIPTED_VERSIONS:
        g = model.groups[name]
        if version >= 2016 and offloaded:
            out.append(("error", "offload-unsupported",
                        f"group {name}: Exchange {version} does not support SSL offloading (plain HTTP to the "
                        f"servers) for {', '.join(offloaded)}: use tls mode 'bridge'", where))
        if g.extended_protection and offloaded:
            out.append(("error", "ep-offload",
                        f"group {name}: Extended Protection is on: offloading {', '.join(offloaded)} breaks "
                        "NTLM/Negotiate channel binding", where))
        return out
    support = {s: coexistence.OFFLOAD_SUPPORT[(version, s)] for s in offloaded}
    bad = [s for s, v in support.items() if v == "unsupported"]
    unknown = [s for s, v in support.items() if v == "undocumented"]
    if bad:
        out.append(("error", "legacy-offload-unsupported",
                    f"group {name}: Exchange {version} does not support SSL offloading for {', '.join(bad)} "
                    "(TechNet, 'How to Configure SSL Offloading for Outlook Web Access': \"Microsoft Exchange "
                    "ActiveSync does not support SSL offloading\"): use tls mode 'bridge' for this group", where))
    if unknown:
        out.append(("warning", "legacy-offload-undocumented",
                    f"group {name}: no Microsoft documentation of SSL offloading on Exchange {version} was found for "
                    f"{', '.join(unknown)} (documented: OWA, Outlook Anywhere); prefer tls mode 'bridge'", where))
    return out


def _legacy_lb_rules(plan: Plan, name: str, version: int) -> list[tuple]:
    """What the load balancer does differently for a 2007/2010 group: older TLS toward it, and persistence."""
    out = []
    pools = [s for s in plan.services if s.group == name]
    old = [s for s in pools if not s.plain_http and s.server_tls_legacy]
    if old:
        how = sorted({"re-encrypted" if s.reencrypt else "health-checked over HTTPS" for s in old})
        out.append(("warning", "legacy-server-tls",
                    f"group {name} (Exchange {version}): the load balancer accepts {old[0].server_tls_min} or later "
                    f"toward its servers ({' and '.join(how)}: {', '.join(f'{s.namespace} {s.service}' for s in old)}) "
                    "— Exchange 2007 has no TLS 1.2 and Windows Server 2008 R2 ships with it off; once TLS 1.2 is "
                    "enabled on those servers (Exchange Team Blog, 'Exchange Server TLS guidance'), TLS 1.0/1.1 "
                    "toward them is an avoidable downgrade", ("groups", name)))
    sticky = [s for s in pools if s.persistence != Persistence.NONE]
    if sticky:
        kinds = ", ".join(f"{s.namespace} {s.service}: {s.persistence}" for s in sticky)
        out.append(("info", "legacy-persistence",
                    f"group {name} (Exchange {version}) needs client-to-server affinity ('Load Balancing "
                    f"Requirements of Exchange Protocols'): {kinds}", ("groups", name)))
    return out


def coexistence_rules(model: Model, plan: Plan) -> list[Finding]:
    """Every group's findings, in group order."""
    return [Finding(*t) for gp in plan.coexistence for t in _group_rules(model, plan, gp)]


def _group_rules(model: Model, plan: Plan, gp: GroupPlan) -> list[tuple]:
    out: list[tuple] = []
    name, version = gp.name, gp.version
    legacy = version not in catalog.SCRIPTED_VERSIONS
    tls_where = ("groups", name, "tls") if (model.groups[name].tls_default or model.groups[name].tls_services) \
        else ("tls", "default")
    if not gp.namespaces:
        if version == 2007:
            out.append(("error", "legacy-namespace-missing",
                        f"group {name} (Exchange 2007) has no legacy namespace: 2013+ redirects OWA to the 2007 "
                        "OWA ExternalUrl and Autodiscover hands out the 2007 EWS/OAB URLs — add a namespace with "
                        f"group: {name} carrying owa, ews and oab (and that name on the certificate)",
                        ("groups", name)))
        else:
            out.append(("info", "group-not-routed",
                        f"group {name} (Exchange {version}): no namespace serves it, so its servers are in no "
                        "load-balancer pool; 2013+ proxies to them directly", ("groups", name)))
        return out
    unrouted = [c.service for c in gp.clients if c.behaviour in ("redirect", "autodiscover") and not c.lands_on]
    if unrouted:
        out.append(("warning", "legacy-redirect-unrouted",
                    f"group {name} (Exchange {version}): clients are sent to this group's own URL for "
                    f"{', '.join(unrouted)}, but none of its namespaces ({', '.join(gp.namespaces)}) carries "
                    "it", ("groups", name)))
    out.extend(_offload_rules(model, name, version, gp.modes, tls_where))
    if legacy:
        out.append(("info", "legacy-health-logon-page",
                    f"group {name} (Exchange {version}) has no Managed Availability healthcheck.htm: its pools "
                    f"({', '.join(gp.namespaces)}) are checked on {coexistence.LEGACY_HEALTH_PATH}, a server-level "
                    "check (one failed protocol does not take only that protocol out)", ("groups", name)))
        out.extend(_legacy_lb_rules(plan, name, version))
        out.append(("info", "legacy-manual-steps",
                    f"group {name} (Exchange {version}): lbsync writes no scripts for it; README.txt lists the "
                    f"manual steps for {', '.join(gp.servers)}", ("groups", name)))
    return out
