"""The routing iRule of one L7 virtual: data from the Plan, layout in templates/f5/route.irule.j2."""

from __future__ import annotations

from dataclasses import dataclass

from ...facts.lb import Persistence
from ...output.env import environment, render_template
from ...plan.types import NamespacePlan, ServicePlan
from .names import COOKIE

TEMPLATE = "f5/route.irule.j2"


@dataclass(frozen=True)
class Route:
    prefix: str          # lower-case path prefix without a trailing / (matched case-insensitively, on a segment
    #                      boundary: the path equals it or starts with it followed by /, as HAProxy and NGINX do)
    service: str
    pool: str            # full path of the pool
    ssl: str | None      # server-ssl profile full path (bridged), None (offloaded: server-side TLS disabled)
    timeout: int         # client-side idle timeout, seconds
    persist: str | None = None  # the route's persistence command (None: its virtual has no persistence profile)


@dataclass(frozen=True)
class HostRoutes:
    host: str
    routes: list[Route]
    root_redirect: str | None


def persist_command(svc: ServicePlan, on_virtual: bool) -> str | None:
    """The iRule's persistence choice for one route (None when its virtual has no persistence profile)."""
    if not on_virtual:
        return None
    if svc.persistence == Persistence.COOKIE:
        return f"persist cookie insert {COOKIE} 0"
    if svc.persistence == Persistence.SOURCE_IP:
        return f"persist source_addr {svc.persistence_timeout_s}"
    return "persist none"


def routes_of(ns: NamespacePlan, pools: dict[str, str], serverssl: dict[str, str],
              persistence: bool = False) -> HostRoutes:
    routes = [Route(prefix.rstrip("/"), s.service, pools[s.pool], serverssl[ns.host] if s.reencrypt else None,
                    s.timeout_s, persist_command(s, persistence))
              for s in ns.routes for prefix in s.paths]
    routes.sort(key=lambda r: -len(r.prefix))  # longest prefix first (/ews/mrsproxy.svc before /ews)
    return HostRoutes(ns.host, routes, ns.root_redirect)


def route_rule(namespaces: list[NamespacePlan], pools: dict[str, str], serverssl: dict[str, str], *,
               has_serverssl: bool, persistence: bool = False) -> tuple[str, list[str]]:
    """The iRule text and the full paths it references (pools, server-ssl profiles). With `persistence` (the
    virtual has a persistence profile) every route states its own persistence, `persist none` included."""
    hosts = [routes_of(ns, pools, serverssl, persistence) for ns in namespaces]
    text = render_template(environment(), TEMPLATE, hosts=hosts, has_serverssl=has_serverssl)
    refs = [r.pool for h in hosts for r in h.routes] + [r.ssl for h in hosts for r in h.routes if r.ssl]
    return text, list(dict.fromkeys(refs))
