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
  namespaces sharing a VIP:port where one is passthrough is refused for F5 (no SNI routing is generated);
- the Plan's per-pool decisions: load-balancing mode from ServicePlan.balance; persistence (2007/2010 groups only)
  as a persistence profile on the virtual (cookie insert as the default, source address as the fallback when
  both are needed) with the iRule choosing per route (`persist cookie insert`, `persist source_addr TIMEOUT`,
  `persist none` for the routes that need none); the server-ssl profile refuses the TLS versions below the
  lowest ServicePlan.server_tls_min of its namespace; the http profile accepts headers up to
  Plan.max_header_bytes (Kerberos tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import catalog
from ..addresses import ip_version
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
    "ltm/persistence/source-addr": f"{COMMON}/source_addr", "ltm/persistence/cookie": f"{COMMON}/cookie",
}
# Dependency order of kinds: creates and modifies in this order, deletes in reverse.
KIND_ORDER = ["sys/file/ssl-key", "sys/file/ssl-cert", "ltm/profile/server-ssl", "ltm/monitor/http",
              "ltm/monitor/https", "ltm/pool", "ltm/profile/client-ssl", "ltm/profile/http", "ltm/profile/tcp",
              "ltm/profile/one-connect", "ltm/persistence/source-addr", "ltm/persistence/cookie", "ltm/rule",
              "ltm/virtual"]
CRYPTO_KINDS = ("sys/file/ssl-key", "sys/file/ssl-cert")
LB_MODES = {"leastconn": "least-connections-member", "roundrobin": "round-robin"}  # ServicePlan.balance
COOKIE = "lbsync_server"   # the persistence cookie: one name, so OWA and ECP of a host share the server [LB10]
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
    if ip_version(vip) == 6:
        return f"/{partition}/{vip}.{port}", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    return f"/{partition}/{vip}:{port}", "255.255.255.255"


def _member(address: str, port: int) -> dict:
    version = ip_version(address)
    if version is None:  # an FQDN: BIG-IP resolves it (FQDN node), one member per name
        return {"name": f"{address}:{port}", "fqdn": {"tmName": address, "autopopulate": "disabled"}}
    sep = "." if version == 6 else ":"
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


def server_tls_options(minimum: str) -> list[str]:
    """Server-side protocol options: no SSL, no TLS version below `minimum` (Plan spelling, TLSv1.0 ...).
    TLS 1.3 stays off, as in TMOS's own serverssl profile: lbsync does not turn it on toward the servers."""
    flags = {"TLSv1.0": "no-tlsv1", "TLSv1.1": "no-tlsv1.1", "TLSv1.2": "no-tlsv1.2"}
    below = catalog.TLS_VERSIONS[:catalog.TLS_VERSIONS.index(minimum)]
    return ["dont-insert-empty-fragments", "no-ssl"] + [flags[v] for v in below] + ["no-tlsv1.3"]


def persist_command(svc, on_virtual: bool) -> str | None:
    """The iRule's persistence choice for one route (None when its virtual has no persistence profile)."""
    if not on_virtual:
        return None
    if svc.persistence == "cookie":
        return f"persist cookie insert {COOKIE} 0"
    if svc.persistence == "source-ip":
        return f"persist source_addr {svc.persistence_timeout_s}"
    return "persist none"


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
        tls_services = [s for s in ns.services if s.scheme in ("https", "tcp") or s.health.scheme == "https"]
        if not tls_services:
            continue
        name = f"{PREFIX}{ns.host}_serverssl"
        lowest = min((s.server_tls_min for s in tls_services), key=catalog.TLS_VERSIONS.index)
        attrs = {"defaultsFrom": BUILTIN["ltm/profile/server-ssl"], "serverName": ns.host,
                 "secureRenegotiation": "require-strict", "options": server_tls_options(lowest)}
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
                       {"loadBalancingMode": LB_MODES[svc.balance], "monitor": path(mon.name), "members": members},
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
            {"defaultsFrom": BUILTIN["ltm/profile/http"], "insertXforwardedFor": "enabled",
             "enforcement": {"maxHeaderSize": plan.max_header_bytes}},
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
        persist = _persistence(add, path, vid, services)
        # stated even when empty: a virtual that loses its persistence must drop the profile before it is deleted
        vattrs["persist"] = [{"name": persist[0], "tmDefault": "yes"}] if persist else []
        vattrs["fallbackPersistence"] = persist[1] if len(persist) > 1 else "none"
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
            text, rrefs = route_rule(nss, pools, serverssl, has_serverssl=bool(ssl_here), persistence=bool(persist))
            rule = add("ltm/rule", f"{PREFIX}{vid}_route", {"apiAnonymous": text}, rrefs)
            rules.append(path(rule.name))
            if port == 443 and vip not in redirect_vips and (vip, 80) not in taken:
                redirect_vips.append(vip)
        vattrs["profiles"] = sorted(profiles, key=lambda p: p["name"])
        vattrs["rules"] = rules
        refs = [p["name"] for p in profiles] + list(persist) + rules + ([vattrs["pool"]] if "pool" in vattrs else [])
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


def _persistence(add, path, vid: str, services) -> list[str]:
    """The persistence profiles of one virtual: [default] or [cookie default, source-address fallback]; none when
    no service on it needs persistence (2013+ only). Each is the virtual's own (its timeout is its routes')."""
    kinds = {s.persistence for s in services} - {"none"}
    out: list[str] = []
    if "cookie" in kinds:
        o = add("ltm/persistence/cookie", f"{PREFIX}{vid}_cookie",
                {"defaultsFrom": BUILTIN["ltm/persistence/cookie"], "method": "insert", "cookieName": COOKIE,
                 "expiration": "0"}, [BUILTIN["ltm/persistence/cookie"]])
        out.append(path(o.name))
    if "source-ip" in kinds:
        timeout = max(s.persistence_timeout_s for s in services if s.persistence == "source-ip")
        o = add("ltm/persistence/source-addr", f"{PREFIX}{vid}_source_addr",
                {"defaultsFrom": BUILTIN["ltm/persistence/source-addr"], "timeout": timeout},
                [BUILTIN["ltm/persistence/source-addr"]])
        out.append(path(o.name))
    return out
