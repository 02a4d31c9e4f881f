"""The F5 objects lbsync wants (the "want" side), laid out from the Plan in one place.

The tmsh renderer, the AS3 renderer and the iControl REST push all lay out or apply this list, so they cannot
disagree. Objects carry iControl REST attribute names (camelCase) with references as full paths; every object
lbsync owns is named with PREFIX and lives in the model's partition (targets.f5.partition).

How the Plan's decisions become F5 objects:
- one virtual per Plan listener (VIP:port) carrying every L7 namespace on it; routing by an iRule (Host, then
  longest path prefix first, so /ews/mrsproxy.svc wins over /ews). Per route the iRule picks the pool, sets the
  client-side idle timeout (IP::idle_timeout, from ServicePlan.timeout_s) and either disables server-side TLS
  (offloaded pools: `SSL::disable serverside`) or enables it and selects the namespace's server-ssl profile
  (bridged pools: `SSL::profile` in SERVER_CONNECTED), so one virtual can mix offloaded and bridged pools;
- the TCP profile of a virtual carries the longest idle timeout of its routes (ActiveSync > 59-minute heartbeat);
- OneConnect (source mask 255.255.255.255) plus the NTLM profile on virtuals carrying NTLM/Negotiate services, as
  F5's Exchange deployment guides do: the server-side connection stays tied to the client that authenticated it;
- passthrough namespaces get their own L4 virtual (tcp profile, no TLS, no HTTP) with their single pool; a
  listener where a passthrough namespace shares its VIP:port is refused by the rules (f5-passthrough-shared);
- SMTP/IMAP/POP (Plan.mail): per port an L4 virtual (tcp profile with the protocol's idle timeout, automap or no
  SNAT, no persistence), a least-connections pool and a greeting monitor (smtp; tcp on the plain port for 993/995);
- per pool: load-balancing mode from ServicePlan.balance; persistence (2007/2010 groups only) as a persistence
  profile on the virtual (cookie insert as the default, source address as the fallback when both are needed)
  with the iRule choosing per route (`persist cookie insert`, `persist source_addr TIMEOUT`, `persist none` for
  the routes that need none); the server-ssl profile refuses the TLS versions below the lowest
  ServicePlan.server_tls_min of its namespace; the http profile accepts request heads up to Plan.lb_header_bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import LbsyncError
from ...facts.lb import TLS_VERSIONS, Balance, Persistence
from ...facts.tls import profile as tls_profile
from ...plan.types import Listener, MailRoute, NamespacePlan, Plan, ServicePlan
from ..common import ip_version
from .files import CryptoFile, Material, crypto_files
from .irule import route_rule
from .names import BUILTIN, COOKIE, KIND_ORDER, PREFIX

LB_MODES = {Balance.LEASTCONN: "least-connections-member", Balance.ROUNDROBIN: "round-robin"}
RECV = "200 OK"
# A mail greeting's first bytes, as a BIG-IP `recv` regex (facts.mail: never the banner text)
MAIL_RECV = {"imap": "^\\* OK", "pop": "^\\+OK"}
# A health URL no Microsoft page documents (/API/): any status below 500 (BIG-IP matches `recv` as a regex)
RECV_BELOW_500 = "^HTTP/1\\.[01] [234][0-9][0-9]"


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
    below = TLS_VERSIONS[:TLS_VERSIONS.index(minimum)]
    return ["dont-insert-empty-fragments", "no-ssl"] + [flags[v] for v in below] + ["no-tlsv1.3"]


class _Builder:
    """Collects the objects of one plan; each section below adds one kind of object."""

    def __init__(self, plan: Plan, partition: str, path: Callable[[str], str], files: dict[str, CryptoFile],
                 fpath: Callable[[str], str]):
        self.plan, self.part, self.path, self.files, self.fpath = plan, partition, path, files, fpath
        self.objects: list[F5Object] = []
        self.serverssl: dict[str, str] = {}   # namespace host -> its server-ssl profile
        self.pools: dict[str, str] = {}       # ServicePlan.pool -> the pool's full path
        self.shared: dict[str, str] = {}      # clientssl, http, oneconnect -> full path

    def add(self, kind: str, name: str, attrs: dict, refs: list[str]) -> F5Object:
        o = F5Object(kind, name, self.part, attrs, tuple(dict.fromkeys(refs)))
        self.objects.append(o)
        return o

    def server_ssl(self, ns: NamespacePlan) -> None:
        """One server-ssl profile per namespace with HTTPS toward the servers (bridged pools, https monitors)."""
        tls_services = [s for s in ns.services if not s.plain_http or s.health.scheme == "https"]
        if not tls_services:
            return
        name = f"{PREFIX}{ns.host}_serverssl"
        lowest = min((s.server_tls_min for s in tls_services), key=TLS_VERSIONS.index)
        attrs = {"defaultsFrom": BUILTIN["ltm/profile/server-ssl"], "serverName": ns.host,
                 "secureRenegotiation": "require-strict", "options": server_tls_options(lowest)}
        refs = [BUILTIN["ltm/profile/server-ssl"]]
        if self.plan.verify_server:
            ca = self.fpath(self.files["server_ca"].name) if "server_ca" in self.files else BUILTIN["ca-bundle"]
            attrs.update({"peerCertMode": "require", "caFile": ca, "authenticateName": ns.host,
                          "authenticateDepth": 9})
            refs.append(ca)
        else:
            attrs.update({"peerCertMode": "ignore"})
        self.add("ltm/profile/server-ssl", name, attrs, refs)
        self.serverssl[ns.host] = self.path(name)

    def pool(self, ns: NamespacePlan, svc: ServicePlan) -> None:
        """A monitor and a pool per ServicePlan.pool."""
        h = svc.health
        mkind = "ltm/monitor/https" if h.scheme == "https" else "ltm/monitor/http"
        interval = _seconds(h.interval_ms)
        recv = RECV if h.expect == "200" else RECV_BELOW_500
        mattrs = {"defaultsFrom": BUILTIN[mkind], "send": _monitor_send(h.path, h.host), "recv": recv,
                  "interval": interval, "timeout": interval * h.fall + 1,
                  "timeUntilUp": interval * max(0, h.rise - 1)}
        mrefs = [BUILTIN[mkind]]
        if h.scheme == "https":
            mattrs["sslProfile"] = self.serverssl[ns.host]
            mrefs.append(self.serverssl[ns.host])
        mon = self.add(mkind, f"{PREFIX}{svc.pool}_mon", mattrs, mrefs)
        members = [_member(m.address, m.port) for m in svc.members]
        pool = self.add("ltm/pool", f"{PREFIX}{svc.pool}",
                        {"loadBalancingMode": LB_MODES[svc.balance], "monitor": self.path(mon.name),
                         "members": members}, [self.path(mon.name)])
        self.pools[svc.pool] = self.path(pool.name)

    def shared_profiles(self) -> None:
        """The client-ssl and http profiles every L7 virtual uses, and OneConnect where NTLM is carried."""
        l7 = [ns for ns in self.plan.namespaces if not ns.passthrough]
        if not l7:
            return
        ciphers, options = tls_options(self.plan.tls_profile)
        chain = {"name": "default", "cert": self.fpath(self.files["cert"].name),
                 "key": self.fpath(self.files["key"].name)}
        crefs = [BUILTIN["ltm/profile/client-ssl"], chain["cert"], chain["key"]]
        if "chain" in self.files:
            chain["chain"] = self.fpath(self.files["chain"].name)
            crefs.append(chain["chain"])
        self.add("ltm/profile/client-ssl", f"{PREFIX}clientssl",
                 {"defaultsFrom": BUILTIN["ltm/profile/client-ssl"], "certKeyChain": [chain], "ciphers": ciphers,
                  "options": options}, crefs)
        self.shared["clientssl"] = self.path(f"{PREFIX}clientssl")
        self.add("ltm/profile/http", f"{PREFIX}http",
                 {"defaultsFrom": BUILTIN["ltm/profile/http"], "insertXforwardedFor": "enabled",
                  "enforcement": {"maxHeaderSize": self.plan.lb_header_bytes}},
                 [BUILTIN["ltm/profile/http"]])
        self.shared["http"] = self.path(f"{PREFIX}http")
        if any(s.ntlm_affinity for ns in l7 for s in ns.services):
            self.add("ltm/profile/one-connect", f"{PREFIX}oneconnect",
                     {"defaultsFrom": BUILTIN["ltm/profile/one-connect"], "sourceMask": "255.255.255.255"},
                     [BUILTIN["ltm/profile/one-connect"]])
            self.shared["oneconnect"] = self.path(f"{PREFIX}oneconnect")

    def persistence(self, vid: str, services: list[ServicePlan]) -> list[str]:
        """The persistence profiles of one virtual: [default] or [cookie default, source-address fallback]; none
        when no service on it needs persistence (2013+ only). Each is the virtual's own (its timeout is its
        routes')."""
        kinds = {s.persistence for s in services} - {Persistence.NONE}
        out: list[str] = []
        if Persistence.COOKIE in kinds:
            o = self.add("ltm/persistence/cookie", f"{PREFIX}{vid}_cookie",
                         {"defaultsFrom": BUILTIN["ltm/persistence/cookie"], "method": "insert",
                          "cookieName": COOKIE, "expiration": "0"}, [BUILTIN["ltm/persistence/cookie"]])
            out.append(self.path(o.name))
        if Persistence.SOURCE_IP in kinds:
            timeout = max(s.persistence_timeout_s for s in services if s.persistence == Persistence.SOURCE_IP)
            o = self.add("ltm/persistence/source-addr", f"{PREFIX}{vid}_source_addr",
                         {"defaultsFrom": BUILTIN["ltm/persistence/source-addr"], "timeout": timeout},
                         [BUILTIN["ltm/persistence/source-addr"]])
            out.append(self.path(o.name))
        return out

    def virtual(self, lst: Listener) -> None:
        """One virtual per listener: the L4 pool of a passthrough namespace, or TLS + HTTP + the routing iRule."""
        nss = lst.namespaces if lst.l4 else lst.l7
        vid = _vs_id(lst.vip, lst.port)
        services = [s for ns in nss for s in ns.services]
        tcp = self.add("ltm/profile/tcp", f"{PREFIX}{vid}_tcp",
                       {"defaultsFrom": BUILTIN["ltm/profile/tcp"], "idleTimeout": max(s.timeout_s for s in services)},
                       [BUILTIN["ltm/profile/tcp"]])
        dest, mask = _destination(self.part, lst.vip, lst.port)
        vattrs = {"destination": dest, "mask": mask, "ipProtocol": "tcp",
                  "sourceAddressTranslation": {"type": "automap"}}
        profiles = [{"name": self.path(tcp.name), "context": "all"}]
        rules: list[str] = []
        persist = self.persistence(vid, services)
        # stated even when empty: a virtual that loses its persistence must drop the profile before it is deleted
        vattrs["persist"] = [{"name": persist[0], "tmDefault": "yes"}] if persist else []
        vattrs["fallbackPersistence"] = persist[1] if len(persist) > 1 else "none"
        if lst.l4:
            vattrs["pool"] = self.pools[lst.l4[0].services[0].pool]
        else:
            profiles += [{"name": self.shared["http"], "context": "all"},
                         {"name": self.shared["clientssl"], "context": "clientside"}]
            ssl_here = [self.serverssl[ns.host] for ns in nss if ns.host in self.serverssl]
            if ssl_here:  # a server-ssl profile must be attached for the iRule to switch or disable it
                profiles.append({"name": ssl_here[0], "context": "serverside"})
            if any(s.ntlm_affinity for s in services):
                profiles += [{"name": self.shared["oneconnect"], "context": "all"},
                             {"name": BUILTIN["ltm/profile/ntlm"], "context": "all"}]
            text, rrefs = route_rule(nss, self.pools, self.serverssl, has_serverssl=bool(ssl_here),
                                     persistence=bool(persist))
            rule = self.add("ltm/rule", f"{PREFIX}{vid}_route", {"apiAnonymous": text}, rrefs)
            rules.append(self.path(rule.name))
        vattrs["profiles"] = sorted(profiles, key=lambda p: p["name"])
        vattrs["rules"] = rules
        refs = [p["name"] for p in profiles] + list(persist) + rules + ([vattrs["pool"]] if "pool" in vattrs else [])
        self.add("ltm/virtual", f"{PREFIX}{vid}", vattrs, refs)

    def mail(self, m: MailRoute) -> None:
        """A mail port: the protocol's monitor, a pool, a TCP profile with the idle timeout, an L4 virtual.

        SMTP: BIG-IP's smtp monitor (EHLO/HELO with a domain: without one it marks every member down). IMAP/POP: a
        tcp monitor reading the greeting (it sends the polite goodbye; the greeting comes first); on 993/995 it
        checks the same service's plain port (143/110), because a tcp monitor cannot speak TLS."""
        c = m.check
        interval = _seconds(c.interval_ms)
        timing = {"interval": interval, "timeout": interval * c.fall + 1,
                  "timeUntilUp": interval * max(0, c.rise - 1)}
        if c.kind == "smtp":
            mkind = "ltm/monitor/smtp"
            mattrs = {"defaultsFrom": BUILTIN[mkind], "domain": c.hello, **timing}
        else:
            mkind = "ltm/monitor/tcp"
            mattrs = {"defaultsFrom": BUILTIN[mkind], "send": c.goodbye, "recv": MAIL_RECV[m.service], **timing}
            if c.plain_port != m.port:
                mattrs["destination"] = f"*:{c.plain_port}"
        mon = self.add(mkind, f"{PREFIX}{m.pool}_mon", mattrs, [BUILTIN[mkind]])
        pool = self.add("ltm/pool", f"{PREFIX}{m.pool}",
                        {"loadBalancingMode": LB_MODES[m.balance], "monitor": self.path(mon.name),
                         "members": [_member(s.address, s.port) for s in m.members]}, [self.path(mon.name)])
        tcp_name = f"{PREFIX}mail_tcp_{m.timeout_s}"
        if not any(o.kind == "ltm/profile/tcp" and o.name == tcp_name for o in self.objects):
            self.add("ltm/profile/tcp", tcp_name,
                     {"defaultsFrom": BUILTIN["ltm/profile/tcp"], "idleTimeout": m.timeout_s},
                     [BUILTIN["ltm/profile/tcp"]])
        dest, mask = _destination(self.part, m.vip, m.port)
        tcp = {"name": self.path(tcp_name), "context": "all"}
        self.add("ltm/virtual", f"{PREFIX}{_vs_id(m.vip, m.port)}",
                 {"destination": dest, "mask": mask, "ipProtocol": "tcp",
                  # lb: automap (the servers see a self IP); client: none (their route back must be the BIG-IP)
                  "sourceAddressTranslation": {"type": "automap" if m.source_address == "lb" else "none"},
                  "profiles": [tcp], "rules": [], "persist": [], "fallbackPersistence": "none",
                  "pool": self.path(pool.name)},
                 [tcp["name"], self.path(pool.name)])

    def redirect(self, vip: str | None) -> None:
        """Port 80 of a VIP whose port 443 carries L7 namespaces: BIG-IP's built-in HTTP -> HTTPS iRule."""
        dest, mask = _destination(self.part, vip, 80)
        self.add("ltm/virtual", f"{PREFIX}{_vs_id(vip, 80)}_redirect",
                 {"destination": dest, "mask": mask, "ipProtocol": "tcp",
                  "sourceAddressTranslation": {"type": "automap"},
                  "profiles": sorted([{"name": self.shared["http"], "context": "all"},
                                      {"name": BUILTIN["ltm/profile/tcp"], "context": "all"}],
                                     key=lambda p: p["name"]),
                  "rules": [BUILTIN["redirect-rule"]]},
                 [self.shared["http"], BUILTIN["ltm/profile/tcp"], BUILTIN["redirect-rule"]])


def _redirect_vips(plan: Plan) -> list[str | None]:
    """The VIPs whose port 443 terminates namespaces and whose port 80 no namespace takes."""
    taken = {(ns.vip, ns.port) for ns in plan.namespaces}
    out: list[str | None] = []
    for lst in plan.listeners:
        if lst.l7 and not lst.l4 and lst.port == 443 and lst.vip not in out and (lst.vip, 80) not in taken:
            out.append(lst.vip)
    return out


def build(plan: Plan, material: Material | None = None, *, partition: str | None = None,
          path: Callable[[str], str] | None = None, file_partition: str | None = None) -> Desired:
    """Every F5 object for this plan. `path(name)` makes the full path of an lbsync object (AS3 uses its own
    /Tenant/Application/ form inside iRules); by default /PARTITION/NAME. Certificate files live in
    `file_partition` (default: the same partition; AS3 keeps them in /Common, outside the tenant it owns)."""
    part = partition or plan.model.targets.f5.partition
    path = path or (lambda name: f"/{part}/{name}")
    fpart = file_partition or part
    files = crypto_files(fpart, material, server_ca_system=plan.model.tls.server_ca is None)
    fpath = (lambda name: f"/{fpart}/{name}") if file_partition else path
    for lst in plan.listeners:
        if lst.passthrough_shared:   # refused by the rule f5-passthrough-shared before any F5 output is made
            raise LbsyncError(f"F5 target: {lst.vip or '*'}:{lst.port} carries a passthrough namespace together "
                              "with other namespaces (finding f5-passthrough-shared)")
    b = _Builder(plan, part, path, files, fpath)
    for ns in plan.namespaces:
        b.server_ssl(ns)
    for ns in plan.namespaces:
        for svc in ns.pools:
            b.pool(ns, svc)
    b.shared_profiles()
    for lst in plan.listeners:
        b.virtual(lst)
    for vip in _redirect_vips(plan):
        b.redirect(vip)
    for m in plan.mail:
        b.mail(m)
    used = {r for o in b.objects for r in o.refs}
    return Desired(part, order(b.objects), [f for f in files.values() if fpath(f.name) in used])


def drain_nodes(plan: Plan, partition: str) -> dict[str, str]:
    """Server name -> the BIG-IP node its pool members use, by full path: `partition` is where the nodes live
    (the model's partition for tmsh and the push, which name members by address; /Common for AS3, whose members
    share nodes). Disabling the node drains the server from every pool at once, whatever its ports (offload :80,
    bridge :443, mail), so the same command works on the configuration that runs before a cut-over and after."""
    out: dict[str, str] = {}
    members = [m for s in plan.pools for m in s.members] + [m for r in plan.mail for m in r.members]
    for m in members:
        out.setdefault(m.server, f"/{partition}/{m.address}")
    return out
