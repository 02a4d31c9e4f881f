"""The F5 objects lbsync wants (the "want" side), derived from the Plan in one place.

The tmsh renderer, the AS3 renderer and the iControl REST push all lay out or apply this list, so they cannot
disagree. Objects carry iControl REST attribute names (camelCase) with references as full paths; every object
lbsync owns is named with PREFIX and lives in the model's partition (targets.f5.partition).

Design (F5 decisions, all here):
- one virtual per VIP:port carrying every L7 namespace on it; routing by an iRule (Host, then longest path prefix
  first, so /ews/mrsproxy.svc wins over /ews). Per route the iRule picks the pool, sets the client-side idle
  timeout (IP::idle_timeout, from ServicePlan.timeout_s) and either disables server-side TLS (offloaded pools:
  `SSL::disable serverside`) or enables it and selects the namespace's server-ssl profile (bridged pools:
  `SSL::profile` in SERVER_CONNECTED), so one virtual can mix offloaded and bridged pools;
- the TCP profile of a virtual carries the longest idle timeout of its routes (ActiveSync > 59-minute heartbeat);
- OneConnect (source mask 255.255.255.255) plus the NTLM profile on virtuals carrying NTLM/Negotiate services, as
  F5's Exchange deployment guides do: the server-side connection stays tied to the client that authenticated it;
- passthrough namespaces get their own L4 virtual (tcp profile, no TLS, no HTTP) with their single pool; two
  namespaces sharing a VIP:port where one is passthrough is refused for F5 (no SNI routing is generated).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..errors import LbsyncError
from ..tlsprofiles import profile as tls_profile
from .files import PREFIX, CryptoFile, Material, crypto_files

COMMON = "/Common"
# Built-in objects every BIG-IP has; lbsync references them and never changes them.
BUILTIN = {
    "ltm/monitor/http": f"{COMMON}/http", "ltm/monitor/https": f"{COMMON}/https",
    "ltm/profile/http": f"{COMMON}/http", "ltm/profile/client-ssl": f"{COMMON}/clientssl",
    "ltm/profile/server-ssl": f"{COMMON}/serverssl", "ltm/profile/tcp": f"{COMMON}/tcp",
    "ltm/profile/one-connect": f"{COMMON}/oneconnect", "ltm/profile/ntlm": f"{COMMON}/ntlm",
    "ca-bundle": f"{COMMON}/ca-bundle.crt", "redirect-rule": f"{COMMON}/_sys_https_redirect",
}
# Dependency order of kinds: creates and modifies in this order, deletes in reverse.
KIND_ORDER = ["sys/file/ssl-key", "sys/file/ssl-cert", "ltm/profile/server-ssl", "ltm/monitor/http",
              "ltm/monitor/https", "ltm/pool", "ltm/profile/client-ssl", "ltm/profile/http", "ltm/profile/tcp",
              "ltm/profile/one-connect", "ltm/rule", "ltm/virtual"]
CRYPTO_KINDS = ("sys/file/ssl-key", "sys/file/ssl-cert")
LB_MODE = "least-connections-member"     # F5's Exchange guidance: Least Connections (member)
RECV = "200 OK"


@dataclass(frozen=True)
class F5Object:
    kind: str                  # iControl REST collection under /mgmt/tm/ (e.g. "ltm/pool")
    name: str
    partition: str
    attrs: dict = field(hash=False, compare=True)
    refs: tuple[str, ...] = ()  # full paths this object references (ordering, integrity)

    @property
    def path(self) -> str:
        return f"/{self.partition}/{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.path)


@dataclass
class Desired:
    partition: str
    objects: list[F5Object]
    files: list[CryptoFile]

    def by_key(self) -> dict[tuple[str, str], F5Object]:
        return {o.key: o for o in self.objects}

    def ordered(self) -> list[F5Object]:
        return order(self.objects)


def order(objects: list[F5Object]) -> list[F5Object]:
    """Dependency order: every object after the objects it references (kind order breaks ties)."""
    by_path: dict[str, list[F5Object]] = {}
    for o in objects:
        by_path.setdefault(o.path, []).append(o)
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    pending = sorted(objects, key=lambda o: (rank[o.kind], o.name))
    done: set[tuple[str, str]] = set()
    out: list[F5Object] = []
    while pending:
        progressed = False
        for o in list(pending):
            deps = [d for r in o.refs for d in by_path.get(r, []) if d.key != o.key]
            if all(d.key in done for d in deps):
                out.append(o)
                done.add(o.key)
                pending.remove(o)
                progressed = True
                break
        if not progressed:  # a reference cycle cannot be ordered; the device would refuse it anyway
            raise LbsyncError("F5 objects reference each other in a cycle: "
                              + ", ".join(o.path for o in pending))
    return out


def _vs_id(vip: str | None, port: int) -> str:
    return f"{(vip or 'any').replace(':', '.')}_{port}"


def _destination(partition: str, vip: str | None, port: int) -> tuple[str, str]:
    if vip is None:
        return f"/{partition}/0.0.0.0:{port}", "any"
    if ipaddress.ip_address(vip).version == 6:
        return f"/{partition}/{vip}.{port}", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    return f"/{partition}/{vip}:{port}", "255.255.255.255"


def _member(address: str, port: int) -> dict:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # an FQDN: BIG-IP resolves it (FQDN node), one member per name
        return {"name": f"{address}:{port}", "fqdn": {"tmName": address, "autopopulate": "disabled"}}
    sep = "." if ip.version == 6 else ":"
    return {"name": f"{address}{sep}{port}", "address": address}


def _monitor_send(path: str, host: str) -> str:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Close\r\n\r\n"


def _seconds(ms: int) -> int:
    return max(1, -(-ms // 1000))


def tls_options(name: str) -> tuple[str, list[str]]:
    """Client-side ciphers (F5 cipher string) and the protocol-version options for tls.profile."""
    p = tls_profile(name)
    tls13 = {"TLS_AES_128_GCM_SHA256": "TLS13-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384": "TLS13-AES256-GCM-SHA384",
             "TLS_CHACHA20_POLY1305_SHA256": "TLS13-CHACHA20-POLY1305-SHA256"}
    ciphers = [c for c in p.ciphers if not c.startswith("@")] + [tls13[s] for s in p.ciphersuites if s in tls13]
    off = {"TLSv1": "no-tlsv1", "TLSv1.1": "no-tlsv1.1", "TLSv1.2": "no-tlsv1.2", "TLSv1.3": "no-tlsv1.3"}
    options = ["dont-insert-empty-fragments", "no-ssl"] + [flag for v, flag in off.items() if v not in p.versions]
    return ":".join(ciphers), options


def build(plan, material: Material | None = None, *, partition: str | None = None, path=None,
          file_partition: str | None = None) -> Desired:
    """Every F5 object for this plan. `path(name)` makes the full path of an lbsync object (AS3 uses its own
    /Tenant/Application/ form inside iRules); by default /PARTITION/NAME. Certificate files live in
    `file_partition` (default: the same partition; AS3 keeps them in /Common, outside the tenant it owns)."""
    from .irule import route_rule

    part = partition or plan.model.targets.f5.partition
    path = path or (lambda name: f"/{part}/{name}")
    objs: list[F5Object] = []

    def add(kind: str, name: str, attrs: dict, refs: list[str]) -> F5Object:
        o = F5Object(kind, name, part, attrs, tuple(dict.fromkeys(refs)))
        objs.append(o)
        return o

    model_ca = plan.model.tls.server_ca
    fpart = file_partition or part
    files = crypto_files(fpart, material, server_ca_system=model_ca is None)
    fpath = (lambda name: f"/{fpart}/{name}") if file_partition else path

    # Group namespaces per listener (VIP:port).
    listeners: dict[tuple, list] = {}
    for ns in plan.namespaces:
        listeners.setdefault((ns.vip, ns.port), []).append(ns)
    for (vip, port), nss in listeners.items():
        if len(nss) > 1 and any(ns.passthrough for ns in nss):
            host = next(ns.host for ns in nss if ns.passthrough)
            index = next((i for i, n in enumerate(plan.model.namespaces) if n.host == host), None)
            line, col = plan.model.marks.at(("namespaces",) + ((index,) if index is not None else ()))
            raise LbsyncError(f"F5 target: {vip or '*'}:{port} carries a passthrough namespace "
                              f"({', '.join(ns.host for ns in nss if ns.passthrough)}) together with other "
                              "namespaces; lbsync does not generate L4 SNI routing for F5 — give the passthrough "
                              "namespace a VIP or port of its own", file=plan.model.marks.file, line=line, col=col)

    # Server-ssl profiles: one per namespace with HTTPS toward the servers (bridged pools, https monitors).
    serverssl: dict[str, str] = {}
    if plan.verify_server:
        ca = fpath(files["server_ca"].name) if "server_ca" in files else BUILTIN["ca-bundle"]
    for ns in plan.namespaces:
        if not any(s.scheme in ("https", "tcp") or s.health.scheme == "https" for s in ns.services):
            continue
        name = f"{PREFIX}{ns.host}_serverssl"
        attrs = {"defaultsFrom": BUILTIN["ltm/profile/server-ssl"], "serverName": ns.host,
                 "secureRenegotiation": "require-strict"}
        refs = [BUILTIN["ltm/profile/server-ssl"]]
        if plan.verify_server:
            attrs.update({"peerCertMode": "require", "caFile": ca, "authenticateName": ns.host,
                          "authenticateDepth": 9})
            refs.append(ca)
        else:
            attrs.update({"peerCertMode": "ignore"})
        add("ltm/profile/server-ssl", name, attrs, refs)
        serverssl[ns.host] = path(name)

    # Monitors and pools, one per ServicePlan.pool.
    pools: dict[str, str] = {}
    for ns in plan.namespaces:
        for svc in ns.pools:
            h = svc.health
            mkind = "ltm/monitor/https" if h.scheme == "https" else "ltm/monitor/http"
            interval = _seconds(h.interval_ms)
            mattrs = {"defaultsFrom": BUILTIN[mkind], "send": _monitor_send(h.path, h.host), "recv": RECV,
                      "interval": interval, "timeout": interval * h.fall + 1,
                      "timeUntilUp": interval * max(0, h.rise - 1)}
            mrefs = [BUILTIN[mkind]]
            if h.scheme == "https":
                mattrs["sslProfile"] = serverssl[ns.host]
                mrefs.append(serverssl[ns.host])
            mon = add(mkind, f"{PREFIX}{svc.pool}_mon", mattrs, mrefs)
            members = [_member(m.address, m.port) for m in svc.members]
            pool = add("ltm/pool", f"{PREFIX}{svc.pool}",
                       {"loadBalancingMode": LB_MODE, "monitor": path(mon.name), "members": members},
                       [path(mon.name)])
            pools[svc.pool] = path(pool.name)

    # Shared profiles.
    l7 = [ns for ns in plan.namespaces if not ns.passthrough]
    shared: dict[str, str] = {}
    if l7:
        ciphers, options = tls_options(plan.tls_profile)
        chain = {"name": "default", "cert": fpath(files["cert"].name), "key": fpath(files["key"].name)}
        crefs = [BUILTIN["ltm/profile/client-ssl"], chain["cert"], chain["key"]]
        if "chain" in files:
            chain["chain"] = fpath(files["chain"].name)
            crefs.append(chain["chain"])
        add("ltm/profile/client-ssl", f"{PREFIX}clientssl",
            {"defaultsFrom": BUILTIN["ltm/profile/client-ssl"], "certKeyChain": [chain], "ciphers": ciphers,
             "options": options}, crefs)
        shared["clientssl"] = path(f"{PREFIX}clientssl")
        add("ltm/profile/http", f"{PREFIX}http",
            {"defaultsFrom": BUILTIN["ltm/profile/http"], "insertXforwardedFor": "enabled"},
            [BUILTIN["ltm/profile/http"]])
        shared["http"] = path(f"{PREFIX}http")
        if any(s.ntlm_affinity for ns in l7 for s in ns.services):
            add("ltm/profile/one-connect", f"{PREFIX}oneconnect",
                {"defaultsFrom": BUILTIN["ltm/profile/one-connect"], "sourceMask": "255.255.255.255"},
                [BUILTIN["ltm/profile/one-connect"]])
            shared["oneconnect"] = path(f"{PREFIX}oneconnect")

    # Virtuals: one per VIP:port.
    redirect_vips: list[str | None] = []
    taken = {(ns.vip, ns.port) for ns in plan.namespaces}
    for (vip, port), nss in listeners.items():
        vid = _vs_id(vip, port)
        services = [s for ns in nss for s in ns.services]
        tcp = add("ltm/profile/tcp", f"{PREFIX}{vid}_tcp",
                  {"defaultsFrom": BUILTIN["ltm/profile/tcp"], "idleTimeout": max(s.timeout_s for s in services)},
                  [BUILTIN["ltm/profile/tcp"]])
        dest, mask = _destination(part, vip, port)
        vattrs = {"destination": dest, "mask": mask, "ipProtocol": "tcp",
                  "sourceAddressTranslation": {"type": "automap"}}
        profiles = [{"name": path(tcp.name), "context": "all"}]
        rules: list[str] = []
        if nss[0].passthrough:
            vattrs["pool"] = pools[nss[0].services[0].pool]
        else:
            profiles += [{"name": shared["http"], "context": "all"},
                         {"name": shared["clientssl"], "context": "clientside"}]
            ssl_here = [serverssl[ns.host] for ns in nss if ns.host in serverssl]
            if ssl_here:  # a server-ssl profile must be attached for the iRule to switch or disable it
                profiles.append({"name": ssl_here[0], "context": "serverside"})
            if any(s.ntlm_affinity for s in services):
                profiles += [{"name": shared["oneconnect"], "context": "all"},
                             {"name": BUILTIN["ltm/profile/ntlm"], "context": "all"}]
            text, rrefs = route_rule(nss, pools, serverssl, has_serverssl=bool(ssl_here))
            rule = add("ltm/rule", f"{PREFIX}{vid}_route", {"apiAnonymous": text}, rrefs)
            rules.append(path(rule.name))
            if port == 443 and vip not in redirect_vips and (vip, 80) not in taken:
                redirect_vips.append(vip)
        vattrs["profiles"] = sorted(profiles, key=lambda p: p["name"])
        vattrs["rules"] = rules
        refs = [p["name"] for p in profiles] + rules + ([vattrs["pool"]] if "pool" in vattrs else [])
        add("ltm/virtual", f"{PREFIX}{vid}", vattrs, refs)

    for vip in redirect_vips:
        dest, mask = _destination(part, vip, 80)
        add("ltm/virtual", f"{PREFIX}{_vs_id(vip, 80)}_redirect",
            {"destination": dest, "mask": mask, "ipProtocol": "tcp",
             "sourceAddressTranslation": {"type": "automap"},
             "profiles": sorted([{"name": shared["http"], "context": "all"},
                                 {"name": BUILTIN["ltm/profile/tcp"], "context": "all"}], key=lambda p: p["name"]),
             "rules": [BUILTIN["redirect-rule"]]},
            [shared["http"], BUILTIN["ltm/profile/tcp"], BUILTIN["redirect-rule"]])

    used = {r for o in objs for r in o.refs}
    return Desired(part, order(objs), [f for f in files.values() if fpath(f.name) in used])
