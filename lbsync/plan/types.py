"""The Plan: every decision lbsync makes, made once (plan.build), read by every target, checker and auditor.

Nothing downstream re-derives a fact: targets and templates lay out what is here. See docs/architecture.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

from ..facts import sslflags
from ..facts.catalog import Svc
from ..facts.httpsys import DEFAULT_REQUEST_BYTES
from ..facts.lb import LB_ADDED_HEADER_BYTES, TLS_VERSIONS, Balance, Mode, Persistence
from ..facts.tls import SERVER_TLS_DEFAULT
from ..facts.versions import json_value, release
from ..model.types import Model, Server

MAIN_GROUP = "main"
# The load-balancer kinds a finding can be specific to (Target.finding_target).
LB_KINDS = ("haproxy", "nginx", "f5")


def _under(path: str, other: str) -> bool:
    """`path` lies under `other` on a segment boundary (/owa/integrated under /owa; /owafoo is not)."""
    return path.startswith(other + "/")


@dataclass
class Finding:
    """A rule result: a stable code (facts.codes), a level, a message, and where in the model it comes from."""
    level: str                         # error | warning | info
    code: str
    message: str
    where: tuple = field(default=())   # model path the finding is about, for the FILE:LINE prefix
    target: str | None = None          # only applies when rendering for this load-balancer kind (e.g. "nginx")
    allowed: bool = False              # an error the user accepted (listed in allow: / --allow)

    def as_json(self) -> dict:
        out = {"level": self.level, "code": self.code, "message": self.message}
        if self.target:
            out["target"] = self.target
        if self.allowed:
            out["allowed"] = True
        return out


@dataclass(frozen=True)
class Member:
    server: str
    address: str
    port: int


@dataclass(frozen=True)
class HealthCheck:
    scheme: str          # http | https
    path: str            # the service's health URL path
    host: str            # Host header (and SNI for https)
    interval_ms: int
    timeout_ms: int
    fall: int
    rise: int
    expect: str = "200"        # the status (or range, 200-499) a healthy server answers
    per_protocol: bool = True  # False: one page for every protocol (2007/2010 logon page): a per-server check

    @property
    def passive_down_ms(self) -> int:
        """Passive health (targets without active checks): a server that failed `fall` requests is left alone
        this long — interval x fall, at least one second."""
        return max(self.interval_ms * self.fall, 1000)


@dataclass
class ServicePlan:
    """One route: a service key (or mrsproxy) on one namespace, with its pool and everything decided for it."""
    namespace: str
    service: str             # a service key, or "mrsproxy"
    mode: Mode
    scheme: str              # backend scheme: http | https | tcp
    port: int                # backend port when every server uses the same one (members carry their own)
    pool: str                # pool name, unique per namespace x service (per namespace for passthrough)
    paths: tuple[str, ...]   # LB path prefixes, lower-case; match case-insensitively
    health: HealthCheck
    members: tuple[Member, ...]
    timeout_s: int
    streaming: bool
    auth: tuple[str, ...]
    ntlm_affinity: bool      # auth includes Ntlm/Negotiate: the client's server connection must stay private
    locations: dict[str, str]   # expected effective sslFlags per IIS location ("Default Web Site/owa": "None")
    app_pools: tuple[str, ...]  # app pools of those locations
    verify_server: bool
    sni: str | None             # SNI / verify name toward the servers when re-encrypting
    group: str = MAIN_GROUP     # the server group whose servers are the members
    version: int = 0            # that group's Exchange version (facts.versions.ExVersion)
    mode_from: tuple = ()       # the model key the mode comes from (("tls", "default"), ("groups", g, "tls", ...))
    # Whether a server connection may carry requests of different clients (upstream keep-alive pools, connection
    # reuse, F5 OneConnect). False when IIS may bind authentication to the connection (NTLM, Kerberos by default:
    # ntlm_affinity, or a sub-location with Windows Integrated auth such as owa/Integrated): a shared connection
    # would let client B run as client A. A target with an NTLM-aware pool (NGINX Plus `ntlm`) may still keep
    # connections alive per client; sharing across clients never.
    share_server_connections: bool = True
    server_tls_min: str = SERVER_TLS_DEFAULT   # lowest TLS version offered to the servers (bridge, HTTPS checks)
    persistence: Persistence = Persistence.NONE  # facts.lb.persistence: legacy groups only
    persistence_timeout_s: int = 0    # how long an idle source-ip entry keeps its server (0: no persistence)
    balance: Balance = Balance.ROUNDROBIN  # how a new client is placed (facts.lb.BALANCE_*)
    pool_timeout_s: int = 0           # the pool's server-side idle timeout: longest timeout_s of the services on it

    @property
    def plain_http(self) -> bool:
        """Offloaded: TLS ends at the load balancer, plain HTTP to the servers."""
        return self.mode == Mode.OFFLOAD

    @property
    def reencrypt(self) -> bool:
        """Bridged: TLS ends at the load balancer and a new TLS connection goes to the servers."""
        return self.mode == Mode.BRIDGE

    @property
    def passthrough(self) -> bool:
        """Passed through at layer 4: the client's TLS reaches the servers untouched."""
        return self.mode == Mode.PASSTHROUGH

    @property
    def mrsproxy(self) -> bool:
        """The MRSProxy route (/EWS/mrsproxy.svc, mailbox moves) the plan adds beside EWS: a route and pool of its
        own, re-encrypted whatever mode EWS has."""
        return self.service == Svc.MRSPROXY

    @property
    def certificate_presented_by(self) -> tuple[str, ...]:
        """Who presents a TLS certificate on this route: the load balancer to the clients where their TLS ends
        (offload, bridge), the servers to the load balancer when it re-encrypts (bridge), the servers to the
        clients when their TLS passes through."""
        if self.passthrough:
            return ("servers",)
        return ("load balancer", "servers") if self.reencrypt else ("load balancer",)

    @property
    def server_tls_legacy(self) -> bool:
        """The servers may need a TLS version below the default floor (Exchange 2007/2010: legacy-server-tls)."""
        return TLS_VERSIONS.index(self.server_tls_min) < TLS_VERSIONS.index(SERVER_TLS_DEFAULT)

    @property
    def server_tls_versions(self) -> tuple[str, ...]:
        """TLS versions offered to the servers: server_tls_min up to TLS 1.3 (Plan spelling: TLSv1.0 ...)."""
        return TLS_VERSIONS[TLS_VERSIONS.index(self.server_tls_min):]

    def as_json(self) -> dict:
        return {
            "namespace": self.namespace, "service": self.service, "mode": self.mode,
            "backend": {"scheme": self.scheme, "port": self.port},
            "health_url": self.health.path,
            "health": {"scheme": self.health.scheme, "host": self.health.host, "expect": self.health.expect,
                       "interval_ms": self.health.interval_ms, "timeout_ms": self.health.timeout_ms,
                       "fall": self.health.fall, "rise": self.health.rise},
            "pool": self.pool, "paths": list(self.paths),
            "members": [{"server": m.server, "address": m.address, "port": m.port} for m in self.members],
            "timeout_s": self.timeout_s, "streaming": self.streaming, "auth": list(self.auth),
            "share_server_connections": self.share_server_connections, "server_tls_min": self.server_tls_min,
            "persistence": self.persistence, "balance": self.balance,
            "exchange": {"locations": dict(self.locations), "app_pools": list(self.app_pools)},
        }


@dataclass(frozen=True)
class MailCheck:
    """How a load balancer checks one mail pool: the protocol's greeting (facts.mail), never its banner text."""
    kind: str              # "smtp": EHLO, a 2xx answer | "banner": the first line starts with `expect`
    expect: str            # "220" | "* OK" | "+OK"
    goodbye: str           # what ends the check politely: "QUIT\r\n" | "a1 LOGOUT\r\n"
    tls: bool              # the port speaks TLS from the first byte (993, 995): the check must too
    hello: str             # the name an SMTP check says EHLO with (the namespace's host)
    plain_port: int        # the same service's plain port (an F5 tcp monitor cannot speak TLS: it checks here)
    interval_ms: int
    timeout_ms: int
    fall: int
    rise: int

    @property
    def passive_down_ms(self) -> int:
        """Passive health (NGINX open source): a server that failed `fall` connections is left alone this long."""
        return max(self.interval_ms * self.fall, 1000)


@dataclass(frozen=True)
class MailRoute:
    """One mail port of one namespace: a layer-4 listener and its pool (same port on every server)."""
    namespace: str
    service: str           # smtp | imap | pop
    vip: str | None
    port: int
    pool: str              # unique per namespace x port: smtp25_mail.contoso.com
    members: tuple[Member, ...]
    check: MailCheck
    timeout_s: int         # idle timeout on both sides (longer than Exchange's own: facts.mail)
    source_address: str    # "lb" (SNAT) | "client" (transparent)
    group: str = MAIN_GROUP
    index: int = 0         # the namespace's position under namespaces:
    balance: Balance = Balance.LEASTCONN

    @property
    def bind(self) -> str:
        return f"{self.vip or '*'}:{self.port}"

    def as_json(self) -> dict:
        c = self.check
        return {"namespace": self.namespace, "service": self.service, "listen": self.bind, "pool": self.pool,
                "members": [{"server": m.server, "address": m.address, "port": m.port} for m in self.members],
                "check": {"kind": c.kind, "expect": c.expect, "tls": c.tls, "interval_ms": c.interval_ms,
                          "fall": c.fall, "rise": c.rise},
                "timeout_s": self.timeout_s, "source_address": self.source_address, "balance": self.balance}


@dataclass
class NamespacePlan:
    host: str
    vip: str | None
    port: int
    passthrough: bool
    services: list[ServicePlan]          # in model order (mrsproxy right after ews)
    root_redirect: str | None            # "/" -> this path (OWA), or None
    group: str = MAIN_GROUP              # the server group answering this namespace
    index: int = 0                       # its position under namespaces: in the model

    @cached_property
    def routes(self) -> list[ServicePlan]:
        """Routes in match order (computed once: a plan is not changed after build_plan). Each path matches itself
        and what lies under it on a segment boundary (/owa and /owa/..., never /owafoo), so two routes can match one
        request only when one's path lies under the other's (/owa/integrated under /owa, /ews/mrsproxy.svc under
        /ews): such a route comes right before that one, the deepest first. Otherwise the longest path first
        (/microsoft-server-activesync), ties in model order. A target that tests the routes one after the other pays
        for every route before the one that matches."""
        def above(s: ServicePlan) -> list[ServicePlan]:
            """The other routes that one of this route's paths lies under."""
            return [o for o in self.services if o is not s and any(_under(p, q) for p in s.paths for q in o.paths)]

        def top(s: ServicePlan) -> ServicePlan:
            """The route with the shortest path that this one's lies under (itself when none)."""
            return min(above(s), key=lambda o: min(len(q) for q in o.paths), default=s)
        index = {id(s): i for i, s in enumerate(self.services)}
        # within a top route's group: the more routes a route lies under, the earlier (the top route last, whatever
        # the length of its other paths), then the longest path first
        return sorted(self.services, key=lambda s: (-max(len(p) for p in top(s).paths), index[id(top(s))],
                                                    -len(above(s)), -max(len(p) for p in s.paths)))

    @cached_property
    def nested_paths(self) -> frozenset[str]:
        """Paths that lie under another route's path (/owa/integrated, /ews/mrsproxy.svc). The other route's prefix
        test (/owa/...) matches such a path exactly too, so a target that tests the exact paths (/owa) after every
        prefix must test these with their prefix, before the other route."""
        return frozenset(p for s in self.services for p in s.paths
                         if any(_under(p, q) for o in self.services if o is not s for q in o.paths))

    @cached_property
    def _beneath(self) -> dict[int, list[ServicePlan]]:
        return {id(s): [o for o in self.routes if o is not s and any(_under(p, q) for p in o.paths for q in s.paths)]
                for s in self.services}

    def beneath(self, svc: ServicePlan) -> list[ServicePlan]:
        """The routes with a path under one of this route's paths (owa: owa-integrated; ews: mrsproxy), in match
        order: a target may test this route's prefix first if it leaves their requests to them."""
        return self._beneath[id(svc)]

    @property
    def pools(self) -> list[ServicePlan]:
        """One entry per distinct pool (a passthrough namespace has a single pool)."""
        seen: dict[str, ServicePlan] = {}
        for s in self.services:
            seen.setdefault(s.pool, s)
        return list(seen.values())

    @property
    def bind(self) -> str:
        return f"{self.vip or '*'}:{self.port}"


@dataclass
class Listener:
    """One VIP:port and the namespaces that share it (routed by SNI / Host), in model order."""
    vip: str | None
    port: int
    l7: list[NamespacePlan] = field(default_factory=list)   # terminated here
    l4: list[NamespacePlan] = field(default_factory=list)   # passed through by SNI

    @property
    def shared(self) -> bool:
        """Passthrough and terminated namespaces on the same VIP:port: an SNI splitter goes in front."""
        return bool(self.l7 and self.l4)

    @property
    def passthrough_shared(self) -> bool:
        """A passthrough namespace shares this VIP:port with any other namespace (finding f5-passthrough-shared)."""
        return bool(self.l4) and len(self.namespaces) > 1

    @property
    def key(self) -> str:
        """A name fragment unique per listener: 203_0_113_10_443, any_443 (letters, digits, _)."""
        vip = re.sub(r"[^A-Za-z0-9]", "_", self.vip) if self.vip else "any"
        return f"{vip}_{self.port}"

    @property
    def namespaces(self) -> list[NamespacePlan]:
        return self.l7 + self.l4

    @property
    def services(self) -> list[ServicePlan]:
        return [s for ns in self.namespaces for s in ns.services]

    @property
    def client_timeout_s(self) -> int:
        """The client-side idle timeout: the longest route timeout on this listener."""
        return max(s.timeout_s for s in self.services)

    @property
    def l7_client_timeout_s(self) -> int:
        """The longest route timeout of the namespaces terminated on this listener."""
        return max(s.timeout_s for ns in self.l7 for s in ns.services)


@dataclass
class OutlookAnywherePlan:
    ssl_offloading: bool | None          # None: no namespace carries rpc, lbsync leaves it alone
    external_hostname: str | None
    internal_hostname: str | None
    external_auth: str
    internal_auth: str
    # The one Set-OutlookAnywhere apply runs (guarded), Set-OutlookAnywhere parameter -> literal value, in the
    # command's order; also exactly what verify and audit compare (plan.expected.outlook_anywhere). Empty when no
    # namespace carries rpc. -SSLOffloading always; with $false both *ClientsRequireSsl $true (Microsoft's form);
    # each host name the model states (main group only) with that side's *ClientsRequireSsl $true and client
    # authentication method, because Exchange takes a host name only together with those two; a stated method
    # without its host name on its own (Basic with that side's *ClientsRequireSsl $true: Exchange refuses Basic
    # without SSL on a side that has a host name).
    apply: dict[str, bool | str] = field(default_factory=dict)
    # every Set-OutlookAnywhere parameter lbsync ever sets: what apply may record and undo sets back in one command
    SETTINGS: ClassVar[tuple[str, ...]] = (
        "SSLOffloading", "ExternalHostname", "ExternalClientsRequireSsl", "ExternalClientAuthenticationMethod",
        "InternalHostname", "InternalClientsRequireSsl", "InternalClientAuthenticationMethod")


@dataclass
class ExchangePlan:
    """The Exchange side of one server group lbsync writes scripts for."""
    version: int
    cu: int | None
    extended_protection: bool
    servers: tuple[Server, ...]
    locations: dict[str, str]            # every location lbsync manages -> expected effective sslFlags
    defaults: dict[str, str]             # the same locations -> Exchange's default effective sslFlags (undo)
    default_explicit: dict[str, bool]    # whether Exchange's default is an explicit <access> (else inherited)
    location_pool: dict[str, str]
    location_service: dict[str, str]
    appcmd_locations: list[str]          # the locations set by appcmd / Set-WebConfigurationProperty (not Rpc)
    outlook_anywhere: OutlookAnywherePlan
    oab_require_ssl: bool | None         # None: oab not in the model
    mrsproxy_enabled: bool               # apply enables MRSProxy on EWS when True
    modes: dict[str, Mode]               # service key -> mode
    group: str = MAIN_GROUP              # the server group these scripts are for
    # What undo sets Outlook Anywhere -SSLOffloading back to (None: rpc not carried, left alone): Exchange's default
    # $true, but $false with Extended Protection on (Microsoft: no SSL offloading for Outlook Anywhere with EP).
    undo_outlook_anywhere_ssl_offloading: bool | None = None
    # service key -> what its virtual directory accepts (exchange.auth or Exchange's defaults; rpc excluded: its
    # authentication is Outlook Anywhere's): verify reads and compares it, apply never changes it
    auth: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # locations that keep their own value in every mode (owa/Calendar: None), set back only where they differ
    fixed_locations: frozenset[str] = frozenset()
    # HTTP.sys registry values (facts.httpsys) apply sets, undo sets back and verify compares on every server: name
    # -> DWORD, in the order apply writes them; empty while http.max_header_bytes is within Windows' default
    http_sys: dict[str, int] = field(default_factory=dict)

    @property
    def release(self) -> str:
        """How people name the release: SE RTM, 2019 CU15, 2016 (facts.versions.release)."""
        return release(self.version, self.cu)

    @property
    def changed_locations(self) -> frozenset[str]:
        """The managed locations whose expected effective sslFlags differ from Exchange's default: what apply
        changes on a server as Exchange installed it (and undo sets back)."""
        return frozenset(path for path, flags in self.locations.items()
                         if sslflags.parse(flags) != sslflags.parse(self.defaults[path]))


@dataclass(frozen=True)
class ClientPath:
    """Coexistence: how a client of a mailbox on another group's version reaches one service."""
    service: str
    behaviour: str              # proxy | redirect | redirect-if-external-url | autodiscover | direct
    lands_on: str | None        # the namespace host the client ends up talking to (None: no namespace routes it)
    via: str | None             # for proxy: the main namespace the client uses; else None
    note: str

    def as_json(self) -> dict:
        return {"service": self.service, "behaviour": self.behaviour, "lands_on": self.lands_on, "via": self.via,
                "note": self.note}


@dataclass(frozen=True)
class GroupPlan:
    """Coexistence view of one group of groups: its servers, namespaces, modes, where its clients land."""
    name: str
    version: int
    scripted: bool              # lbsync writes Exchange scripts for it (2013+); else README manual steps
    servers: tuple[str, ...]
    namespaces: tuple[str, ...]  # hosts this group answers behind the load balancer
    modes: dict[str, Mode]      # service -> mode, for the services its namespaces carry
    health_path: str
    clients: tuple[ClientPath, ...]
    manual_steps: tuple[tuple[str, str], ...]  # (service, step) for 2007/2010 groups
    url_steps: tuple[tuple[str, str], ...] = ()  # (service, Set-*VirtualDirectory -ExternalUrl ...) for 2007/2010

    def as_json(self) -> dict:
        return {"name": self.name, "version": json_value(self.version), "scripted": self.scripted,
                "servers": list(self.servers), "namespaces": list(self.namespaces), "modes": dict(self.modes),
                "health_path": self.health_path, "clients": [c.as_json() for c in self.clients],
                "manual_steps": [{"service": s, "step": t} for s, t in self.manual_steps],
                "url_steps": [{"service": s, "step": t} for s, t in self.url_steps]}


@dataclass
class Plan:
    model: Model
    namespaces: list[NamespacePlan]
    exchange: ExchangePlan
    tls_profile: str
    # where each load balancer finds the CA bundle it verifies the servers with (a path ON the LB host):
    # {"haproxy": ..., "nginx": ...}; lbsync never writes a path of this machine into an LB configuration
    lb_server_ca: dict[str, str]
    verify_server: bool
    max_body: str
    findings: list[Finding] = field(default_factory=list)
    # Request heads (request line + headers), from http.max_header_bytes: the servers accept max_header_bytes
    # (HTTP.sys MaxRequestBytes; ExchangePlan.http_sys when above Windows' default); every load balancer accepts
    # from a client what leaves room for the headers it adds (lb_added_header_bytes, facts.lb):
    # lb_header_bytes. HAProxy: tune.bufsize - tune.maxrewrite; F5: max-header-size; NGINX: one line per buffer.
    max_header_bytes: int = DEFAULT_REQUEST_BYTES
    lb_added_header_bytes: int = LB_ADDED_HEADER_BYTES
    group_exchanges: list[ExchangePlan] = field(default_factory=list)  # other 2013+ groups: scripted too
    coexistence: list[GroupPlan] = field(default_factory=list)  # one per group of groups: (none: no groups)
    listeners: list[Listener] = field(default_factory=list)      # the TLS listeners, one per VIP:port
    redirects: dict[str | None, list[NamespacePlan]] = field(default_factory=dict)  # port-80 listeners per VIP
    mail: list[MailRoute] = field(default_factory=list)          # SMTP/IMAP/POP ports, layer 4

    @property
    def certificate_gate(self) -> bool:
        """Extended Protection on and a certificate in the model: render (load-balancer targets) and f5 apply check
        that certificate first and refuse on a failure (certs.precheck)."""
        return bool(self.exchange.extended_protection and self.model.certificate is not None)

    @property
    def lb_header_bytes(self) -> int:
        """The largest request head (request line + headers) a client may send through a load balancer: what the
        servers accept, less the room for the headers the load balancer adds."""
        return self.max_header_bytes - self.lb_added_header_bytes

    @property
    def listen_addresses(self) -> list[str]:
        """Every VIP a load balancer binds (TLS listeners, port-80 redirects, mail ports), once each."""
        vips = [lst.vip for lst in self.listeners] + list(self.redirects) + [m.vip for m in self.mail]
        return list(dict.fromkeys(v for v in vips if v))

    @property
    def exchanges(self) -> list[ExchangePlan]:
        """Every group lbsync writes Exchange scripts for: the main group first."""
        return [self.exchange, *self.group_exchanges]

    @property
    def services(self) -> list[ServicePlan]:
        return [s for ns in self.namespaces for s in ns.services]

    @property
    def pools(self) -> list[ServicePlan]:
        """One ServicePlan per distinct pool, in model order."""
        return [svc for ns in self.namespaces for svc in ns.pools]

    def pool_services(self, pool: str) -> list[ServicePlan]:
        """Every ServicePlan carried by one pool (a passthrough namespace puts all its services in one)."""
        return [s for s in self.services if s.pool == pool]

    def declared_targets(self) -> set[str]:
        t = self.model.targets
        return {name for name, given in (("haproxy", t.haproxy.given), ("nginx", t.nginx.given),
                                         ("f5", t.f5.given)) if given}

    def relevant(self, targets: set[str] | None = None) -> list[Finding]:
        """Findings that concern these load-balancer kinds.

        None: the kinds the model declares under targets:, or every kind when it declares none — the same
        targets `render` renders by default, so a model that validates also renders.
        """
        if targets is None:
            targets = self.declared_targets() or set(LB_KINDS)
        return [f for f in self.findings if f.target is None or f.target in targets]

    def blocking(self, targets: set[str] | None = None) -> list[Finding]:
        """Error findings that stop render/push for these load-balancer kinds. None: the kinds the model declares
        under targets: — none declared, only the errors that concern every target stop (an error of one load
        balancer stops only the output for that load balancer: `render` skips it, `validate` reports it)."""
        if targets is None:
            targets = self.declared_targets()
        return [f for f in self.findings if f.level == "error" and (f.target is None or f.target in targets)]

    def target_errors(self) -> dict[str, list[Finding]]:
        """Load-balancer kind -> the error findings that stop its output (whatever targets: says)."""
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            if f.level == "error" and f.target:
                out.setdefault(f.target, []).append(f)
        return out

    def as_json(self) -> dict:
        ex = self.exchange
        return {
            "services": [s.as_json() for s in self.services],
            "outlook_anywhere": {"ssl_offloading": ex.outlook_anywhere.ssl_offloading,
                                 "external_hostname": ex.outlook_anywhere.external_hostname,
                                 "internal_hostname": ex.outlook_anywhere.internal_hostname},
            "exchange": {"version": json_value(ex.version), "cu": ex.cu, "extended_protection": ex.extended_protection,
                         "locations": dict(ex.locations), "oab_require_ssl": ex.oab_require_ssl,
                         "mrsproxy_enabled": ex.mrsproxy_enabled,
                         "servers": [s.name for s in ex.servers]},
            **({"mail": [m.as_json() for m in self.mail]} if self.mail else {}),
            "findings": [f.as_json() for f in self.relevant()],
            **self._coexistence_json(),
        }

    def _coexistence_json(self) -> dict:
        """Only for models with groups:, so a model without them prints exactly what it did before."""
        if not self.model.groups:
            return {}
        return {"services": [{**s.as_json(), "group": s.group} for s in self.services],
                "groups": [g.as_json() for g in self.coexistence],
                "group_exchanges": [{"group": ex.group, "version": json_value(ex.version),
                                     "servers": [s.name for s in ex.servers], "locations": dict(ex.locations)}
                                    for ex in self.group_exchanges]}
