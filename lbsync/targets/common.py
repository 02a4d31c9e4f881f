"""Layout helpers the HAProxy, NGINX and F5 targets share: names, address:port spelling, durations, path regexes,
and the model entries a block comes from (for comments in the output). No decisions: those are in the Plan."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from ..facts.catalog import Svc
from ..output import text
from ..plan.types import MailRoute, NamespacePlan, Plan, ServicePlan


@lru_cache(maxsize=4096)
def ip_version(address: str) -> int | None:
    """4 or 6 for an IP literal, None for a host name (memoised: a large model asks about the same few addresses
    many times)."""
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None


def ident(text: str) -> str:
    """A name safe in every config language (letters, digits, underscore)."""
    return re.sub(r"[^A-Za-z0-9]", "_", text)


@lru_cache(maxsize=65536)    # every pool lists the same servers: a large model asks for the same pairs many times
def hostport(address: str | None, port: int) -> str:
    """address:port with IPv6 literals bracketed; no address means every address (`*` / bare port)."""
    if not address:
        return f"*:{port}"
    if ip_version(address) == 6:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def https_url(ns: NamespacePlan) -> str:
    """Where the port-80 redirect sends this namespace's clients."""
    return f"https://{ns.host}" + ("" if ns.port == 443 else f":{ns.port}")


def duration(ms: int) -> str:
    """A duration both HAProxy and NGINX read: whole seconds as `Ns`, else `Nms`."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def paths_regex(prefixes: tuple[str, ...]) -> str:
    """One regex for a route's prefixes, on a path-segment boundary: /owa matches /owa and /owa/..., not /owafoo
    (match it case-insensitively)."""
    alts = "|".join(re.escape(p) for p in prefixes)
    return f"^({alts})(/|$)" if len(prefixes) > 1 else f"^{alts}(/|$)"


def _where(plan: Plan, path: tuple) -> str:
    line, _ = plan.model.marks.at(path) if plan.model.marks else (None, None)
    name = text.conf_comment(plan.model.path.name)
    return f"{name}:{line}" if line else name


def ns_origin(plan: Plan, ns: NamespacePlan) -> str:
    """`namespaces[0] mail.contoso.com (lbsync.yaml:17)`."""
    return f"namespaces[{ns.index}] {ns.host} ({_where(plan, ('namespaces', ns.index))})"


def mail_origin(plan: Plan, route: MailRoute) -> str:
    """`smtp.contoso.com port 25: namespaces[2].services[0] smtp (lbsync.yaml:31)`."""
    j = list(plan.model.namespaces[route.index].services).index(route.service)
    return (f"{route.namespace} port {route.port}: namespaces[{route.index}].services[{j}] {route.service} "
            f"({_where(plan, ('namespaces', route.index, 'services', j))})")


def service_origin(plan: Plan, svc: ServicePlan) -> str:
    """`owa` in namespaces[0] (lbsync.yaml:17), mode offload from tls.default (lbsync.yaml:30)."""
    ns = next(n for n in plan.namespaces if n.host == svc.namespace)
    if svc.service == Svc.MRSPROXY:
        entry = f"exchange.mrsproxy ({_where(plan, ('exchange', 'mrsproxy'))})"
        mode = "mode bridge: MRSProxy is always re-encrypted"
    elif svc.service == Svc.OWA_INTEGRATED:
        j = list(plan.model.namespaces[ns.index].services).index(Svc.OWA)
        entry = (f"the Windows-authenticated part of namespaces[{ns.index}].services[{j}] owa "
                 f"({_where(plan, ('namespaces', ns.index, 'services', j))})")
        mode = f"mode {svc.mode} as owa's, from {'.'.join(svc.mode_from)} ({_where(plan, svc.mode_from)})"
    else:
        j = list(plan.model.namespaces[ns.index].services).index(svc.service)
        entry = (f"namespaces[{ns.index}].services[{j}] {svc.service} "
                 f"({_where(plan, ('namespaces', ns.index, 'services', j))})")
        mode = f"mode {svc.mode} from {'.'.join(svc.mode_from)} ({_where(plan, svc.mode_from)})"
    return f"{entry}, {mode}"


# ---- configuration text (audit compares a deployed file with a fresh render) ---------------------------

def strip_comment(line: str) -> str:
    """The line without its comment: '#' outside quotes and not escaped (HAProxy and NGINX alike)."""
    out, quote, escaped = [], None, False
    for ch in line:
        if escaped:
            out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            out.append(ch)
            continue
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


def squash(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


def server_pools(plan: Plan) -> dict[str, list[str]]:
    """Server name -> the pools (HTTP and mail) it is a member of, in the order the configuration lists them: what
    draining that server on a load balancer touches."""
    out: dict[str, dict[str, None]] = {}    # server -> its pools as an ordered set (a list test per member was
    #                                            quadratic: 0.3 s for 64 servers x 550 pools, bench/generation.py)
    for pool, members in [(s.pool, s.members) for s in plan.pools] + [(m.pool, m.members) for m in plan.mail]:
        for member in members:
            out.setdefault(member.server, {})[pool] = None
    return {server: list(pools) for server, pools in out.items()}


def wrap_words(words: list[str], indent: str, width: int = 100) -> str:
    """Words joined by spaces, broken with a shell line continuation (` \\` + newline + indent) before width."""
    lines, line = [], ""
    for word in words:
        if line and len(indent) + len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return f" \\\n{indent}".join(lines)
