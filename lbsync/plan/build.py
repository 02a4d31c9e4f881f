"""Model -> Plan: every decision the targets, checkers and auditors need, made once (docs/architecture.md).

Nothing downstream re-derives a fact: targets and templates lay out what is here.
"""

from __future__ import annotations

import posixpath

from ..facts import catalog, httpsys, lb, mail
from ..facts.catalog import Svc
from ..facts.coexistence import LEGACY_VDIR
from ..facts.lb import Mode, Persistence
from ..facts.tls import SYSTEM_CA_BUNDLE
from ..model.types import Model, Server
from .coexist import group_plans
from .lookup import auth_of, expected_flags, health_path, health_settings, is_scripted, mode_of, mode_source
from .rules import evaluate
from .types import (
    MAIN_GROUP,
    ExchangePlan,
    HealthCheck,
    Listener,
    MailCheck,
    MailRoute,
    Member,
    NamespacePlan,
    OutlookAnywherePlan,
    Plan,
    ServicePlan,
)

_SCHEME = {Mode.OFFLOAD: "http", Mode.BRIDGE: "https", Mode.PASSTHROUGH: "tcp"}


def _server_port(mode: Mode, server: Server) -> int:
    """Offloaded traffic goes to the servers' HTTP port, bridged and passed-through traffic to their HTTPS port."""
    return server.http_port if mode == Mode.OFFLOAD else server.https_port


def _exchange_side(model: Model, service: str, mode: Mode, group: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The IIS locations a route's service owns (expected effective sslFlags) and their app pools."""
    cat = catalog.service(service)
    if not is_scripted(model, group):
        # 2007/2010: only the virtual directory itself (set by hand, README.txt); their app pools are not modelled
        return {f"{catalog.SITE}/{LEGACY_VDIR[service]}": expected_flags(mode)}, ()
    locations = {loc.full: (loc.fixed if not loc.follows_mode else expected_flags(mode)) for loc in cat.locations}
    return locations, tuple(dict.fromkeys(loc.app_pool for loc in cat.locations if loc.follows_mode))


def _service_plan(model: Model, host: str, service: str, passthrough: bool, group: str = MAIN_GROUP) -> ServicePlan:
    cat = catalog.service(service)
    mode = mode_of(model, service, group)
    version = model.group(group).version
    servers = model.group_servers(group) if model.groups else model.servers
    members = tuple(Member(s.name, s.address, _server_port(mode, s)) for s in servers)
    ports = {m.port for m in members}
    hs = health_settings(model, service)
    health = HealthCheck(scheme="http" if mode == Mode.OFFLOAD else "https",
                         path=health_path(version, service), host=host,
                         interval_ms=hs.interval_ms, timeout_ms=hs.timeout_ms, fall=hs.fall, rise=hs.rise,
                         per_protocol=version >= catalog.MANAGED_AVAILABILITY_SINCE,
                         expect=cat.health_expect if version >= catalog.MANAGED_AVAILABILITY_SINCE else "200")
    locations, app_pools = _exchange_side(model, service, mode, group)
    auth = auth_of(model, service, group)
    ntlm_affinity = bool(set(lb.CONNECTION_AUTH) & set(auth))
    persistence = lb.persistence(version, service)
    if passthrough and persistence == Persistence.COOKIE:
        persistence = Persistence.SOURCE_IP  # no cookie can be read or set without terminating TLS
    return ServicePlan(
        namespace=host, service=service, mode=mode, scheme=_SCHEME[mode],
        port=ports.pop() if len(ports) == 1 else _server_port(mode, servers[0]),
        pool=f"tcp_{host}" if passthrough else f"{service}_{host}",
        paths=tuple(p.lower() for p in cat.lb_paths), health=health, members=members,
        timeout_s=cat.idle_timeout_s, streaming=cat.streaming, auth=auth,
        ntlm_affinity=ntlm_affinity,
        locations=locations, app_pools=app_pools,
        verify_server=model.tls.verify_server, sni=host if mode == Mode.BRIDGE else None, group=group,
        version=version, mode_from=mode_source(model, service, group),
        share_server_connections=not ntlm_affinity,
        server_tls_min=lb.SERVER_TLS_MIN[version],
        persistence=persistence,
        persistence_timeout_s=(max(lb.LEGACY_AFFINITY_TIMEOUT_S, cat.idle_timeout_s)
                               if persistence == Persistence.SOURCE_IP else 0),
        balance=lb.BALANCE_STREAMING if cat.streaming or passthrough else lb.BALANCE_DEFAULT,
        pool_timeout_s=cat.idle_timeout_s,
    )


def _settle_pool(services: list[ServicePlan]) -> None:
    """Services sharing one pool (a passthrough namespace) share its decisions: the longest timeout, and no
    connection sharing / the strongest persistence when any of them needs it."""
    pools: dict[str, list[ServicePlan]] = {}
    for s in services:
        pools.setdefault(s.pool, []).append(s)
    rank = {Persistence.NONE: 0, Persistence.COOKIE: 1, Persistence.SOURCE_IP: 2}
    for members in pools.values():
        if len(members) < 2:
            continue
        timeout = max(s.timeout_s for s in members)
        share = all(s.share_server_connections for s in members)
        strongest = max((s.persistence for s in members), key=rank.__getitem__)
        ptimeout = max([s.persistence_timeout_s for s in members]
                       + [lb.LEGACY_AFFINITY_TIMEOUT_S, timeout]) if strongest != Persistence.NONE else 0
        for s in members:
            s.pool_timeout_s, s.share_server_connections = timeout, share
            s.persistence, s.persistence_timeout_s = strongest, ptimeout


def _outlook_anywhere(model: Model, modes: dict[str, Mode], rpc_hosts: list[str], group: str) -> OutlookAnywherePlan:
    oa = model.exchange.outlook_anywhere
    offloading = (modes[Svc.RPC] == Mode.OFFLOAD) if Svc.RPC in modes else None
    return OutlookAnywherePlan(
        ssl_offloading=offloading,
        external_hostname=oa.external_hostname or (rpc_hosts[0] if rpc_hosts else None),
        internal_hostname=oa.internal_hostname,
        external_auth=oa.external_auth, internal_auth=oa.internal_auth,
        apply=_outlook_anywhere_apply(oa, offloading, oa.given if group == MAIN_GROUP else frozenset()))


def _outlook_anywhere_apply(oa, offloading: bool | None, stated: frozenset[str]) -> dict[str, bool | str]:
    """The parameters of apply's one Set-OutlookAnywhere (OutlookAnywherePlan.apply).

    Exchange's rules (SetRpcHttp, read decompiled; Microsoft Learn "Configuring SSL offloading in Exchange 2013",
    step 1, passes -ExternalHostname with -ExternalClientsRequireSsl and -ExternalClientAuthenticationMethod in one
    call; Set-OutlookAnywhere example 3 passes both *ClientsRequireSsl $true with -SSLOffloading $false): a
    non-empty host name only with that side's *ClientsRequireSsl and client authentication method in the same
    call; SSLOffloading $false only while every side with a host name requires SSL; Basic only with SSL on a side
    with a host name. The methods are the model's (stated, or Exchange's own defaults Negotiate/Ntlm)."""
    if offloading is None:
        return {}
    out: dict[str, bool | str] = {"SSLOffloading": offloading}
    for side, host_key, auth_key in (("External", "external_hostname", "external_auth"),
                                     ("Internal", "internal_hostname", "internal_auth")):
        method = getattr(oa, auth_key)
        with_host = host_key in stated
        with_method = with_host or auth_key in stated
        if with_host:
            out[f"{side}Hostname"] = getattr(oa, host_key)
        if not offloading or with_host or (with_method and method == "Basic"):
            out[f"{side}ClientsRequireSsl"] = True
        if with_method:
            out[f"{side}ClientAuthenticationMethod"] = method
    return out


def _exchange_plan(model: Model, group: str = MAIN_GROUP) -> ExchangePlan:
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
    fixed: set[str] = set()
    for s in services:
        cat = catalog.SERVICES[s]
        for loc in cat.locations:
            locations[loc.full] = loc.fixed if not loc.follows_mode else expected_flags(modes[s])
            default = catalog.default_flags(loc.path, g.version)
            explicit[loc.full] = default != "inherit"
            defaults[loc.full] = catalog.SITE_ROOT_FLAGS if default == "inherit" else default
            pools[loc.full] = loc.app_pool
            owner[loc.full] = s
            if not loc.follows_mode:
                fixed.add(loc.full)
            if not cat.managed_by_exchange:
                appcmd.append(loc.full)
    rpc_hosts = [ns.host for ns in namespaces if Svc.RPC in ns.services]
    undo_oa = None if Svc.RPC not in modes else (
        False if g.extended_protection else catalog.OUTLOOK_ANYWHERE_DEFAULT_SSL_OFFLOADING)
    return ExchangePlan(
        version=g.version, cu=g.cu, extended_protection=g.extended_protection,
        servers=model.group_servers(group) if model.groups else model.servers, group=group,
        locations=locations, defaults=defaults, default_explicit=explicit, location_pool=pools,
        location_service=owner, appcmd_locations=appcmd,
        outlook_anywhere=_outlook_anywhere(model, modes, rpc_hosts, group),
        oab_require_ssl=(modes[Svc.OAB] != Mode.OFFLOAD) if Svc.OAB in modes else None,
        mrsproxy_enabled=model.exchange.mrsproxy and Svc.EWS in modes, modes=modes,
        undo_outlook_anywhere_ssl_offloading=undo_oa,
        auth={s: auth_of(model, s, group) for s in services if s != Svc.RPC},
        fixed_locations=frozenset(fixed),
        http_sys=httpsys.settings(model.http.max_header_bytes))


def _namespace_plans(model: Model) -> list[NamespacePlan]:
    """The HTTP side of each namespace (its mail keys are mail routes: _mail_routes); a namespace carrying mail
    only has none."""
    out: list[NamespacePlan] = []
    for ns in model.namespaces:
        keys = [s for s in ns.services if s not in mail.MAIL_KEYS]
        if not keys:
            continue
        passthrough = all(mode_of(model, s, ns.group) == Mode.PASSTHROUGH for s in keys)
        if model.exchange.mrsproxy and Svc.EWS in keys and not passthrough and is_scripted(model, ns.group):
            keys.insert(keys.index(Svc.EWS) + 1, Svc.MRSPROXY)
        if Svc.OWA in keys and not passthrough and is_scripted(model, ns.group):
            # /owa/Integrated: Windows authentication, connection-bound, on a route of its own so that
            # forms-based /owa keeps upstream keep-alive (catalog.OWA_INTEGRATED)
            keys.insert(keys.index(Svc.OWA) + 1, Svc.OWA_INTEGRATED)
        services = [_service_plan(model, ns.host, s, passthrough, ns.group) for s in keys]
        _settle_pool(services)
        out.append(NamespacePlan(
            host=ns.host, vip=ns.vip, port=ns.port, passthrough=passthrough, services=services,
            root_redirect="/owa/" if Svc.OWA in ns.services and not passthrough else None, group=ns.group,
            index=ns.index))
    return out


def _mail_routes(model: Model) -> list[MailRoute]:
    """SMTP, IMAP and POP: per namespace and published port, a layer-4 listener and pool (facts.mail)."""
    out: list[MailRoute] = []
    for ns in model.namespaces:
        servers = model.group_servers(ns.group) if model.groups else model.servers
        for key in (k for k in ns.services if k in mail.MAIL_KEYS):
            proto = mail.PROTOCOLS[key]
            hs = health_settings(model, key)
            for port in model.mail.ports[key]:
                tls = port in proto.implicit_tls
                check = MailCheck(kind="smtp" if key == "smtp" else "banner", expect=proto.greeting,
                                  goodbye=proto.goodbye, tls=tls, hello=ns.host,
                                  plain_port=proto.plain_port_of.get(port, port), interval_ms=hs.interval_ms,
                                  timeout_ms=hs.timeout_ms, fall=hs.fall, rise=hs.rise)
                out.append(MailRoute(namespace=ns.host, service=key, vip=ns.vip, port=port,
                                     pool=f"{key}{port}_{ns.host}",
                                     members=tuple(Member(s.name, s.address, port) for s in servers),
                                     check=check, timeout_s=proto.idle_timeout_s,
                                     source_address=model.mail.source_address, group=ns.group, index=ns.index))
    return out


def listeners(namespaces: list[NamespacePlan]) -> list[Listener]:
    """The TLS listeners, one per VIP:port, in model order; namespaces sharing one are routed by SNI / Host."""
    out: dict[tuple, Listener] = {}
    for ns in namespaces:
        lst = out.setdefault((ns.vip, ns.port), Listener(ns.vip, ns.port))
        (lst.l4 if ns.passthrough else lst.l7).append(ns)
    return list(out.values())


def redirect_listeners(namespaces: list[NamespacePlan]) -> dict[str | None, list[NamespacePlan]]:
    """Port-80 listeners (HTTP -> HTTPS): per VIP, the terminated namespaces on it."""
    out: dict[str | None, list[NamespacePlan]] = {}
    for ns in namespaces:
        if not ns.passthrough:
            out.setdefault(ns.vip, []).append(ns)
    return out


SERVER_CA_FILE = "lbsync-server-ca.pem"   # tls.server_ca's name on a load balancer, beside the certificate


def lb_server_ca(model: Model) -> dict[str, str]:
    """Where each load balancer finds the CA bundle that verifies the servers: targets.X.server_ca_path; else,
    with tls.server_ca (a file on this machine, copied to the LB), lbsync-server-ca.pem beside the certificate;
    else the LB's own system store."""
    out = {}
    for kind, target in (("haproxy", model.targets.haproxy), ("nginx", model.targets.nginx)):
        if target.server_ca_path:
            out[kind] = target.server_ca_path
        elif model.tls.server_ca is not None:
            out[kind] = posixpath.join(posixpath.dirname(target.cert_path), SERVER_CA_FILE)
        else:
            out[kind] = SYSTEM_CA_BUNDLE
    return out


def build_plan(model: Model, allow: tuple[str, ...] | list[str] = ()) -> Plan:
    """Every decision for this model, and the rules' findings (allowable errors listed in allow: or `allow`
    become warnings)."""
    namespaces = _namespace_plans(model)
    plan = Plan(model=model, namespaces=namespaces, exchange=_exchange_plan(model),
                tls_profile=model.tls.profile,
                lb_server_ca=lb_server_ca(model),
                verify_server=model.tls.verify_server, max_body=lb.MAX_BODY,
                max_header_bytes=model.http.max_header_bytes, lb_added_header_bytes=lb.LB_ADDED_HEADER_BYTES,
                group_exchanges=[_exchange_plan(model, name) for name in model.groups if is_scripted(model, name)],
                listeners=listeners(namespaces), redirects=redirect_listeners(namespaces), mail=_mail_routes(model))
    if model.groups:
        plan.coexistence = group_plans(model, namespaces)
    plan.findings = evaluate(model, plan, allow=tuple(model.allow) + tuple(allow))
    return plan
