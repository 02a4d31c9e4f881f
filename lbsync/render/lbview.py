"""What the HAProxy and NGINX renderers both read off the Plan: listeners grouped by VIP:port, the port-80
redirect listeners, and the model entries each block comes from (for the comments in the output).

These are small derivations from the Plan (grouping, naming), not Exchange decisions; they could move to plan.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..addresses import ip_version


@dataclass
class Listener:
    """One VIP:port and the namespaces that share it (routed by SNI / Host)."""
    vip: str | None
    port: int
    l7: list = field(default_factory=list)      # NamespacePlan, terminated here
    l4: list = field(default_factory=list)      # NamespacePlan, passed through by SNI

    @property
    def shared(self) -> bool:
        """Passthrough and terminated namespaces on the same VIP:port: an SNI splitter goes in front."""
        return bool(self.l7 and self.l4)

    @property
    def key(self) -> str:
        """A name fragment unique per listener: 203.0.113.10_443, any_443."""
        return f"{ident(self.vip) if self.vip else 'any'}_{self.port}"

    @property
    def namespaces(self) -> list:
        return self.l7 + self.l4


def ident(text: str) -> str:
    """A name safe in both configs (letters, digits, underscore)."""
    return re.sub(r"[^A-Za-z0-9]", "_", text)


def hostport(address: str | None, port: int) -> str:
    """address:port with IPv6 literals bracketed; no address means every address (`*` / bare port)."""
    if not address:
        return f"*:{port}"
    if ip_version(address) == 6:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def listeners(plan) -> list[Listener]:
    """The TLS listeners, one per VIP:port, in model order."""
    out: dict[tuple, Listener] = {}
    for ns in plan.namespaces:
        lst = out.setdefault((ns.vip, ns.port), Listener(ns.vip, ns.port))
        (lst.l4 if ns.passthrough else lst.l7).append(ns)
    return list(out.values())


def redirect_listeners(plan) -> dict[str | None, list]:
    """Port-80 listeners (HTTP -> HTTPS): per VIP, the terminated namespaces on it."""
    out: dict[str | None, list] = {}
    for ns in plan.namespaces:
        if not ns.passthrough:
            out.setdefault(ns.vip, []).append(ns)
    return out


def https_url(ns) -> str:
    """Where the port-80 redirect sends this namespace's clients."""
    return f"https://{ns.host}" + ("" if ns.port == 443 else f":{ns.port}")


def _where(plan, path: tuple) -> str:
    line, _ = plan.model.marks.at(path) if plan.model.marks else (None, None)
    return f"{plan.model.path.name}:{line}" if line else plan.model.path.name


def namespace_index(plan, ns) -> int:
    return [n.host for n in plan.namespaces].index(ns.host)


def ns_origin(plan, ns) -> str:
    i = namespace_index(plan, ns)
    return f"namespaces[{i}] {ns.host} ({_where(plan, ('namespaces', i))})"


def service_origin(plan, svc) -> str:
    """`owa` in namespaces[0] (lbsync.yaml:17), mode offload from tls.default (lbsync.yaml:30)."""
    ns = next(n for n in plan.namespaces if n.host == svc.namespace)
    i = namespace_index(plan, ns)
    model = plan.model
    if svc.service == "mrsproxy":
        entry = f"exchange.mrsproxy ({_where(plan, ('exchange', 'mrsproxy'))})"
        mode = "mode bridge: MRSProxy is always re-encrypted"
    else:
        j = list(model.namespaces[i].services).index(svc.service)
        entry = f"namespaces[{i}].services[{j}] {svc.service} ({_where(plan, ('namespaces', i, 'services', j))})"
        tpath = getattr(svc, "mode_from", ()) or (
            ("tls", "services", svc.service) if svc.service in model.tls.services else ("tls", "default"))
        mode = f"mode {svc.mode} from {'.'.join(tpath)} ({_where(plan, tpath)})"
    return f"{entry}, {mode}"


def duration(ms: int) -> str:
    """A duration both HAProxy and NGINX read: whole seconds as `Ns`, else `Nms`."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def paths_regex(prefixes) -> str:
    """One regex for a route's prefixes, on a path-segment boundary: /owa matches /owa and /owa/..., not /owafoo
    (match it case-insensitively)."""
    alts = "|".join(re.escape(p) for p in prefixes)
    return f"^({alts})(/|$)" if len(prefixes) > 1 else f"^{alts}(/|$)"
