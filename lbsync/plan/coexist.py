"""Coexistence view of the Plan: for each group of groups:, how 2013+ front ends serve its mailboxes — which
namespace each client actually lands on (proxy: the main namespace; redirect / Autodiscover: the group's own)."""

from __future__ import annotations

from ..facts import catalog, coexistence
from ..facts.catalog import Svc
from ..facts.lb import Mode
from ..model.types import Model
from .lookup import health_path
from .types import ClientPath, GroupPlan, NamespacePlan

_NOTES = {
    "proxy": "2013+ proxies to this group's servers; the client stays on {via}",
    "redirect": "2013+ redirects the browser to this group's ExternalUrl: {lands}",
    "redirect-if-external-url": "2013+ proxies, unless this group's ExternalUrl is set — then it redirects there "
                                "({lands})",
    "autodiscover": "2013+ does not proxy it: Autodiscover hands out this group's URL: {lands}",
    "direct": "older 2013+ front ends are not assumed to proxy to a newer version: clients use {lands}",
}


def _manual_steps(version: int, modes: dict[str, Mode]) -> tuple[tuple[str, str], ...]:
    if version in catalog.SCRIPTED_VERSIONS:
        return ()
    steps = []
    for svc, mode in modes.items():
        if mode == Mode.OFFLOAD:
            steps.append((svc, coexistence.LEGACY_OFFLOAD_STEPS[svc]))
        elif svc == Svc.RPC:
            steps.append((svc, 'Set-OutlookAnywhere -Identity "<SERVER>\\Rpc (Default Web Site)" -SSLOffloading '
                               "$false (the load balancer connects over HTTPS)"))
        else:
            steps.append((svc, coexistence.LEGACY_KEEP_SSL_STEP.format(vdir=coexistence.LEGACY_VDIR[svc])))
    return tuple(steps)


def _url_steps(version: int, clients: list[ClientPath]) -> tuple[tuple[str, str], ...]:
    """ExternalUrl settings on a 2007/2010 group that make 2013+ send its clients where the plan says."""
    if version in catalog.SCRIPTED_VERSIONS:
        return ()
    steps = []
    for c in clients:
        if c.service not in coexistence.EXTERNAL_URL:
            continue
        cmdlet, vdir, path = coexistence.EXTERNAL_URL[c.service]
        ident = f'-Identity "<SERVER>\\{vdir} (Default Web Site)"'
        if c.behaviour in ("redirect", "autodiscover", "redirect-if-external-url") and c.lands_on and \
                c.lands_on != c.via:
            steps.append((c.service, f"{cmdlet} {ident} -ExternalUrl https://{c.lands_on}{path}"))
        elif version == 2007 and c.behaviour == "proxy":
            steps.append((c.service, f"{cmdlet} {ident} -ExternalUrl $null   (2013+ then proxies it)"))
        elif c.behaviour == "redirect-if-external-url":
            steps.append((c.service, f"{cmdlet} {ident} -ExternalUrl $null   (2013+ then proxies it)"))
    return tuple(steps)


def group_plans(model: Model, namespaces: list[NamespacePlan]) -> list[GroupPlan]:
    """One GroupPlan per group of groups:, from the planned namespaces."""
    main_host = {}
    for nsp in namespaces:
        if nsp.group == "main":
            for s in nsp.services:
                main_host.setdefault(s.service, nsp.host)
    out = []
    for name, g in model.groups.items():
        own = {}
        modes = {}
        for nsp in namespaces:
            if nsp.group == name:
                for s in nsp.services:
                    own.setdefault(s.service, nsp.host)
                    if s.service not in catalog.ROUTES:
                        modes.setdefault(s.service, s.mode)
        clients = []
        for svc in catalog.VERSION_SERVICES[g.version]:
            behaviour = coexistence.client_path(g.version, model.exchange.version, svc)
            via = main_host.get(svc) if behaviour in ("proxy", "redirect-if-external-url") else None
            lands = via if behaviour == "proxy" else own.get(svc)
            if behaviour == "redirect-if-external-url":
                lands = own.get(svc) or via
            note = _NOTES[behaviour].format(via=via or "(no main namespace carries it)",
                                            lands=own.get(svc) or "(no namespace of this group carries it)")
            clients.append(ClientPath(svc, behaviour, lands, via, note))
        out.append(GroupPlan(
            name=name, version=g.version, scripted=g.version in catalog.SCRIPTED_VERSIONS,
            servers=tuple(s.name for s in model.group_servers(name)),
            namespaces=tuple(n.host for n in model.group_namespaces(name)), modes=modes,
            health_path=health_path(g.version, Svc.OWA) if g.version < catalog.MANAGED_AVAILABILITY_SINCE
            else "/<vdir>/healthcheck.htm (per protocol)", clients=tuple(clients),
            manual_steps=_manual_steps(g.version, modes), url_steps=_url_steps(g.version, clients)))
    return out
