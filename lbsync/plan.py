"""Model -> Plan: every decision the renderers, pushers, checkers and auditors need, made once.

Nothing downstream re-derives a fact: templates lay out what is here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import catalog
from .findings import Finding
from .model.types import HealthSettings, Model, Server

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ALL_TARGETS = ("haproxy", "nginx", "f5")  # the load-balancer kinds a finding can be specific to


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
    expect_status: int = 200
    per_protocol: bool = True  # False: one page for every protocol (2007/2010 logon page): a per-server check

    @property
    def passive_down_ms(self) -> int:
        """Passive health (targets without active checks): a server that failed `fall` requests is left alone
        this long — interval x fall, at least one second."""
        return max(self.interval_ms * self.fall, 1000)


@dataclass
class ServicePlan:
    namespace: str
    service: str             # a service key, or "mrsproxy"
    mode: str                # offload | bridge | passthrough
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
    group: str = "main"         # the server group whose servers are the members
    mode_from: tuple = ()       # the model key the mode comes from (("tls", "default"), ("groups", g, "tls", ...))
    # Whether a server connection may carry requests of different clients (upstream keep-alive pools, connection
    # reuse, F5 OneConnect). False when IIS may bind authentication to the connection (NTLM, Kerberos by default:
    # ntlm_affinity, or a sub-location with Windows Integrated auth such as owa/Integrated): a shared connection
    # would let client B run as client A. A target with an NTLM-aware pool (NGINX Plus `ntlm`) may still keep
    # connections alive per client; sharing across clients never.
    share_server_connections: bool = True
    server_tls_min: str = "TLSv1.2"   # lowest TLS version offered to the servers (bridge, and HTTPS health checks)
    persistence: str = "none"         # none | source-ip | cookie (catalog.persistence: legacy groups only)
    persistence_timeout_s: int = 0    # how long an idle source-ip entry keeps its server (0: no persistence)
    balance: str = "roundrobin"       # leastconn | roundrobin (catalog.BALANCE_*): how a new client is placed
    pool_timeout_s: int = 0           # the pool's server-side idle timeout: longest timeout_s of the services on it

    @property
    def server_tls_versions(self) -> tuple[str, ...]:
        """TLS versions offered to the servers: server_tls_min up to TLS 1.3 (Plan spelling: TLSv1.0 ...)."""
        return catalog.TLS_VERSIONS[catalog.TLS_VERSIONS.index(self.server_tls_min):]

    @property
    def health_url(self) -> str:
        return self.health.path

    def as_json(self) -> dict:
        return {
            "namespace": self.namespace, "service": self.service, "mode": self.mode,
            "backend": {"scheme": self.scheme, "port": self.port},
            "health_url": self.health.path,
            "health": {"scheme": self.health.scheme, "host": self.health.host,
                       "interval_ms": self.health.interval_ms, "timeout_ms": self.health.timeout_ms,
                       "fall": self.health.fall, "rise": self.health.rise},
            "pool": self.pool, "paths": list(self.paths),
            "members": [{"server": m.server, "address": m.address, "port": m.port} for m in self.members],
            "timeout_s": self.timeout_s, "streaming": self.streaming, "auth": list(self.auth),
            "share_server_connections": self.share_server_connections, "server_tls_min": self.server_tls_min,
            "persistence": self.persistence, "balance": self.balance,
            "exchange": {"locations": dict(self.locations), "app_pools": list(self.app_pools)},
        }


@dataclass
class NamespacePlan:
    host: str
    vip: str | None
    port: int
    passthrough: bool
    services: list[ServicePlan]          # in model order (mrsproxy right after ews)
    root_redirect: str | None            # "/" -> this path (OWA), or None
    group: str = "main"                  # the server group answering this namespace

    @property
    def routes(self) -> list[ServicePlan]:
        """Routes in match order: longest path prefix first (/ews/mrsproxy.svc before /ews)."""
        return sorted(self.services, key=lambda s: -max(len(p) for p in s.paths))

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
class OutlookAnywherePlan:
    ssl_offloading: bool | None          # None: no namespace carries rpc, lbsync leaves it alone
    external_hostname: str | None
    internal_hostname: str | None
    external_auth: str
    internal_auth: str
    # Set-OutlookAnywhere parameter -> value that apply sets (guarded) and verify/audit compare: only the
    # exchange.outlook_anywhere keys the model states, only when a namespace carries rpc (main group only).
    managed: dict[str, str] = field(default_factory=dict)


# exchange.outlook_anywhere key -> the Set-OutlookAnywhere parameter (and Get-OutlookAnywhere property)
OUTLOOK_ANYWHERE_PARAMETERS = {
    "external_hostname": "ExternalHostname", "internal_hostname": "InternalHostname",
    "external_auth": "ExternalClientAuthenticationMethod", "internal_auth": "InternalClientAuthenticationMethod",
}


@dataclass
class ExchangePlan:
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
    modes: dict[str, str]                # service key -> mode
    group: str = "main"                  # the server group these scripts are for
    # What undo sets Outlook Anywhere -SSLOffloading back to (None: rpc not carried, left alone): Exchange's default
    # $true, but $false with Extended Protection on (Microsoft: no SSL offloading for Outlook Anywhere with EP).
    undo_outlook_anywhere_ssl_offloading: bool | None = None
    # service key -> what its virtual directory accepts (exchange.auth or Exchange's defaults; rpc excluded: its
    # authentication is Outlook Anywhere's): verify reads and compares it, apply never changes it
    auth: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Plan:
    model: Model
    namespaces: list[NamespacePlan]
    exchange: ExchangePlan
    tls_profile: str
    server_ca: str                       # CA bundle the LB uses to verify the servers when re-encrypting
    verify_server: bool
    max_body: str
    findings: list[Finding] = field(default_factory=list)
    max_header_bytes: int = catalog.MAX_HEADER_BYTES  # largest request header block (Kerberos tokens, ~64 KB)
    group_exchanges: list[ExchangePlan] = field(default_factory=list)  # other 2013+ groups: scripted too
    coexistence: list = field(default_factory=list)  # coexist.GroupPlan per group of groups: (none: no groups)

    @property
    def exchanges(self) -> list[ExchangePlan]:
        """Every group lbsync writes Exchange scripts for: the main group first."""
        return [self.exchange, *self.group_exchanges]

    @property
    def services(self) -> list[ServicePlan]:
        return [s for ns in self.namespaces for s in ns.services]

    def declared_targets(self) -> set[str]:
        t = self.model.targets
        return {name for name, given in (("haproxy", t.haproxy.given), ("nginx", t.nginx.given),
                                         ("f5", t.f5.given)) if given}

    def relevant(self, targets: set[str] | None = None) -> list[Finding]:
        """Findings that concern these targets.

        None: the targets the model declares under targets:, or every target when it declares none — the same
        targets `render` renders by default, so a model that validates also renders.
        """
        if targets is None:
            targets = self.declared_targets() or set(ALL_TARGETS)
        return [f for f in self.findings if f.target is None or f.target in targets]

    def blocking(self, targets: set[str] | None = None) -> list[Finding]:
        """Error findings that stop render/push for these targets."""
        return [f for f in self.relevant(targets) if f.level == "error"]

    def as_json(self) -> dict:
        ex = self.exchange
        return {
            "services": [s.as_json() for s in self.services],
            "outlook_anywhere": {"ssl_offloading": ex.outlook_anywhere.ssl_offloading,
                                 "external_hostname": ex.outlook_anywhere.external_hostname,
                                 "internal_hostname": ex.outlook_anywhere.internal_hostname},
            "exchange": {"version": ex.version, "cu": ex.cu, "extended_protection": ex.extended_protection,
                         "locations": dict(ex.locations), "oab_require_ssl": ex.oab_require_ssl,
                         "mrsproxy_enabled": ex.mrsproxy_enabled,
                         "servers": [s.name for s in ex.servers]},
            "findings": [f.as_json() for f in self.relevant()],
            **self._coexistence_json(),
        }

    def _coexistence_json(self) -> dict:
        """Only for models with groups:, so a model without them prints exactly what it did before."""
        if not self.model.groups:
            return {}
        return {"services": [{**s.as_json(), "group": s.group} for s in self.services],
                "groups": [g.as_json() for g in self.coexistence],
                "group_exchanges": [{"group": ex.group, "version": ex.version,
                                     "servers": [s.name for s in ex.servers], "locations": dict(ex.locations)}
                                    for ex in self.group_exchanges]}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def mode_of(model: Model, service: str, group: str = "main") -> str:
    if service == "mrsproxy":
        return "bridge"
    top = model.tls.services.get(service, model.tls.default)
    if group == "main":
        return top
    g = model.groups[group]
    return g.tls_services.get(service, g.tls_default or top)


def mode_source(model: Model, service: str, group: str = "main") -> tuple:
    """Where mode_of found the mode: the key path in the model (for comments in the generated configs)."""
    if service == "mrsproxy":
        return ("exchange", "mrsproxy")
    if group != "main":
        g = model.groups[group]
        if service in g.tls_services:
            return ("groups", group, "tls", "services", service)
        if g.tls_default:
            return ("groups", group, "tls", "default")
    return ("tls", "services", service) if service in model.tls.services else ("tls", "default")


def auth_of(model: Model, service: str, group: str = "main") -> tuple[str, ...]:
    if group != "main":
        # exchange.auth and exchange.outlook_anywhere describe the main group; other groups keep the defaults
        key = "ews" if service == "mrsproxy" else service
        if model.groups[group].version not in catalog.SCRIPTED_VERSIONS and key in catalog.LEGACY_DEFAULT_AUTH:
            return catalog.LEGACY_DEFAULT_AUTH[key]
        return catalog.SERVICES[key].default_auth
    if service == "rpc":
        oa = model.exchange.outlook_anywhere
        return tuple(dict.fromkeys((oa.external_auth, oa.internal_auth)))
    if service == "mrsproxy":
        return model.exchange.auth.get("ews", catalog.SERVICES["ews"].default_auth)
    return model.exchange.auth.get(service, catalog.SERVICES[service].default_auth)


def _expected_flags(mode: str) -> str:
    return catalog.NONE if mode == "offload" else catalog.REQUIRE_SSL


def _health(model: Model, service: str) -> HealthSettings:
    key = "ews" if service == "mrsproxy" else service
    return model.health_services.get(key, model.health)


def health_path(version: int, service: str) -> str:
    """2013+: the protocol's Managed Availability page; 2007/2010 have none: the OWA logon page."""
    if version < catalog.MANAGED_AVAILABILITY_SINCE:
        return catalog.LEGACY_HEALTH_PATH
    return (catalog.MRSPROXY if service == "mrsproxy" else catalog.SERVICES[service]).health_path


def _service_plan(model: Model, host: str, service: str, passthrough: bool, group: str = "main") -> ServicePlan:
    cat = catalog.MRSPROXY if service == "mrsproxy" else catalog.SERVICES[service]
    mode = mode_of(model, service, group)
    servers = model.group_servers(group) if model.groups else model.servers
    if mode == "offload":
        scheme, port_of = "http", (lambda s: s.http_port)
    elif mode == "bridge":
        scheme, port_of = "https", (lambda s: s.https_port)
    else:
        scheme, port_of = "tcp", (lambda s: s.https_port)
    members = tuple(Member(s.name, s.address, port_of(s)) for s in servers)
    ports = {m.port for m in members}
    hs = _health(model, service)
    health = HealthCheck(scheme="http" if mode == "offload" else "https",
                         path=health_path(model.group(group).version, service), host=host,
                         interval_ms=hs.interval_ms, timeout_ms=hs.timeout_ms, fall=hs.fall, rise=hs.rise,
                         per_protocol=model.group(group).version >= catalog.MANAGED_AVAILABILITY_SINCE)
    locations = {loc.full: (loc.fixed if not loc.follows_mode else _expected_flags(mode)) for loc in cat.locations}
    app_pools = tuple(dict.fromkeys(loc.app_pool for loc in cat.locations if loc.follows_mode))
    if model.group(group).version not in catalog.SCRIPTED_VERSIONS:
        # 2007/2010: only the virtual directory itself (set by hand, README.txt); their app pools are not modelled
        locations = {f"{catalog.SITE}/{catalog.LEGACY_VDIR[service]}": _expected_flags(mode)}
        app_pools = ()
    auth = auth_of(model, service, group)
    version = model.group(group).version
    ntlm_affinity = bool(set(catalog.CONNECTION_AUTH) & set(auth))
    integrated = bool(catalog.INTEGRATED_SUBLOCATIONS.get(service))
    persistence = catalog.persistence(version, service)
    if passthrough and persistence == "cookie":
        persistence = "source-ip"  # no cookie can be read or set without terminating TLS
    return ServicePlan(
        namespace=host, service=service, mode=mode, scheme=scheme,
        port=ports.pop() if len(ports) == 1 else port_of(servers[0]),
        pool=f"tcp_{host}" if passthrough else f"{service}_{host}",
        paths=tuple(p.lower() for p in cat.lb_paths), health=health, members=members,
        timeout_s=cat.idle_timeout_s, streaming=cat.streaming, auth=auth,
        ntlm_affinity=ntlm_affinity,
        locations=locations, app_pools=app_pools,
        verify_server=model.tls.verify_server, sni=host if mode == "bridge" else None, group=group,
        mode_from=mode_source(model, service, group),
        share_server_connections=not (ntlm_affinity or integrated),
        server_tls_min=catalog.SERVER_TLS_MIN[version],
        persistence=persistence,
        persistence_timeout_s=(max(catalog.LEGACY_AFFINITY_TIMEOUT_S, cat.idle_timeout_s)
                               if persistence == "source-ip" else 0),
        balance=catalog.BALANCE_STREAMING if cat.streaming or passthrough else catalog.BALANCE_DEFAULT,
        pool_timeout_s=cat.idle_timeout_s,
    )


def _settle_pool(services: list[ServicePlan]) -> None:
    """Services sharing one pool (a passthrough namespace) share its decisions: the longest timeout, and no
    connection sharing / the strongest persistence when any of them needs it."""
    pools: dict[str, list[ServicePlan]] = {}
    for s in services:
        pools.setdefault(s.pool, []).append(s)
    rank = {"none": 0, "cookie": 1, "source-ip": 2}
    for members in pools.values():
        if len(members) < 2:
            continue
        timeout = max(s.timeout_s for s in members)
        share = all(s.share_server_connections for s in members)
        strongest = max((s.persistence for s in members), key=rank.__getitem__)
        ptimeout = max([s.persistence_timeout_s for s in members]
                       + [catalog.LEGACY_AFFINITY_TIMEOUT_S, timeout]) if strongest != "none" else 0
        for s in members:
            s.pool_timeout_s, s.share_server_connections = timeout, share
            s.persistence, s.persistence_timeout_s = strongest, ptimeout


def _exchange_plan(model: Model, group: str = "main") -> ExchangePlan:
    g = model.group(group)
    namespaces = model.group_namespaces(group) if model.groups else model.namespaces
    used = {s for ns in namespaces for s in ns.services}
    services = [s for s in catalog.SERVICE_ORDER if s in used]
    modes = {s: mode_of(model, s, group) for s in services}
    locations: dict[str, str] = {}
    defaults: dict[str, str] = {}
    explicit: dict[str, bool] = {}
    pools: dict[str, str] = {}
    owner: dict[str, str] = {}
    appcmd: list[str] = []
    for s in services:
        cat = catalog.SERVICES[s]
        for loc in cat.locations:
            locations[loc.full] = loc.fixed if not loc.follows_mode else _expected_flags(modes[s])
            default = catalog.DEFAULT_FLAGS[loc.path]
            explicit[loc.full] = default != "inherit"
            defaults[loc.full] = catalog.SITE_ROOT_FLAGS if default == "inherit" else default
            pools[loc.full] = loc.app_pool
            owner[loc.full] = s
            if not cat.managed_by_exchange:
                appcmd.append(loc.full)
    oa = model.exchange.outlook_anywhere
    rpc_hosts = [ns.host for ns in namespaces if "rpc" in ns.services]
    oa_plan = OutlookAnywherePlan(
        ssl_offloading=(modes["rpc"] == "offload") if "rpc" in modes else None,
        external_hostname=oa.external_hostname or (rpc_hosts[0] if rpc_hosts else None),
        internal_hostname=oa.internal_hostname,
        external_auth=oa.external_auth, internal_auth=oa.internal_auth,
        managed={param: getattr(oa, key) for key, param in OUTLOOK_ANYWHERE_PARAMETERS.items()
                 if key in getattr(oa, "given", ()) and "rpc" in modes and group == "main"})
    undo_oa = None if "rpc" not in modes else (
        False if g.extended_protection else catalog.OUTLOOK_ANYWHERE_DEFAULT_SSL_OFFLOADING)
    return ExchangePlan(
        version=g.version, cu=g.cu, extended_protection=g.extended_protection,
        servers=model.group_servers(group) if model.groups else model.servers, group=group,
        locations=locations, defaults=defaults, default_explicit=explicit, location_pool=pools,
        location_service=owner, appcmd_locations=appcmd, outlook_anywhere=oa_plan,
        oab_require_ssl=(modes["oab"] != "offload") if "oab" in modes else None,
        mrsproxy_enabled=model.exchange.mrsproxy and "ews" in modes, modes=modes,
        undo_outlook_anywhere_ssl_offloading=undo_oa,
        auth={s: auth_of(model, s, group) for s in services if s != "rpc"})


def _scripted(model: Model, group: str) -> bool:
    return model.group(group).version in catalog.SCRIPTED_VERSIONS


def build_plan(model: Model, allow: tuple[str, ...] | list[str] = ()) -> Plan:
    from .rules import evaluate

    namespaces: list[NamespacePlan] = []
    for ns in model.namespaces:
        passthrough = bool(ns.services) and all(mode_of(model, s, ns.group) == "passthrough" for s in ns.services)
        keys = list(ns.services)
        if model.exchange.mrsproxy and "ews" in keys and not passthrough and _scripted(model, ns.group):
            keys.insert(keys.index("ews") + 1, "mrsproxy")
        services = [_service_plan(model, ns.host, s, passthrough, ns.group) for s in keys]
        _settle_pool(services)
        namespaces.append(NamespacePlan(
            host=ns.host, vip=ns.vip, port=ns.port, passthrough=passthrough, services=services,
            root_redirect="/owa/" if "owa" in ns.services and not passthrough else None, group=ns.group))
    plan = Plan(model=model, namespaces=namespaces, exchange=_exchange_plan(model),
                tls_profile=model.tls.profile,
                server_ca=str(model.tls.server_ca) if model.tls.server_ca else SYSTEM_CA_BUNDLE,
                verify_server=model.tls.verify_server, max_body=catalog.MAX_BODY,
                group_exchanges=[_exchange_plan(model, name) for name in model.groups if _scripted(model, name)])
    if model.groups:
        from .coexist import group_plans
        plan.coexistence = group_plans(model, plan)
    plan.findings = evaluate(model, plan, allow=tuple(model.allow) + tuple(allow))
    return plan
