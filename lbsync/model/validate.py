"""Check loaded data against the schema (schemacheck) and the cross-field rules JSON Schema cannot state (duplicate
hosts and servers, VIP conflicts, certificate combinations, allow: codes, groups), then build the Model."""

from __future__ import annotations

import difflib
import ipaddress
from pathlib import Path
from typing import Any

from ..errors import LbsyncError, ModelErrors
from ..facts import catalog, mail, versions
from ..facts.codes import CODES
from ..facts.lb import Mode
from . import types as t
from .groups import build_groups, check_groups
from .loader import Marks
from .schemacheck import check, is_ip, parse_duration_ms, same, show, type_name


def _resolve(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


def _health(d: dict, base: t.HealthSettings) -> t.HealthSettings:
    return t.HealthSettings(
        interval_ms=parse_duration_ms(d["interval"]) if "interval" in d else base.interval_ms,
        timeout_ms=parse_duration_ms(d["timeout"]) if "timeout" in d else base.timeout_ms,
        fall=d.get("fall", base.fall),
        rise=d.get("rise", base.rise),
    )


def _norm_addr(address: str) -> str:
    """One spelling per address: 2001:DB8::1 and 2001:db8:0::1 are the same server."""
    return str(ipaddress.ip_address(address)) if is_ip(address) else address.lower().rstrip(".")


def _cross_checks(data: dict, marks: Marks, errors: list[LbsyncError]) -> None:
    server_addrs = _server_checks(data, marks, errors)
    _namespace_checks(data, marks, errors, server_addrs)
    _certificate_checks(data, marks, errors)
    _allow_checks(data, marks, errors)
    _mail_checks(data, marks, errors)


def _server_checks(data: dict, marks: Marks, errors: list[LbsyncError]) -> dict[str, int]:
    """Ports, duplicate names and duplicate address+ports of servers; returns {normalised address: index}."""
    for i, s in enumerate(data["servers"]):
        if s.get("http_port", 80) == s.get("https_port", 443):
            errors.append(marks.error(f"http_port and https_port are both {s.get('https_port', 443)}",
                                      ("servers", i, "https_port" if "https_port" in s else "http_port")))
    seen: dict[str, int] = {}
    for i, s in enumerate(data["servers"]):
        name = s["name"].lower()
        if name in seen:
            errors.append(marks.error(f"duplicate server name '{s['name']}' (also servers[{seen[name]}])",
                                      ("servers", i, "name")))
        seen[name] = i
    seen_addr: dict[tuple, int] = {}
    for i, s in enumerate(data["servers"]):
        key = (_norm_addr(s["address"]), s.get("http_port", 80), s.get("https_port", 443))
        if key in seen_addr:
            errors.append(marks.error(f"servers[{seen_addr[key]}] already uses address '{s['address']}' with the "
                                      "same ports", ("servers", i, "address")))
        seen_addr[key] = i
    return {_norm_addr(s["address"]): i for i, s in enumerate(data["servers"])}


def _namespace_checks(data: dict, marks: Marks, errors: list[LbsyncError], server_addrs: dict[str, int]) -> None:
    """Duplicate hosts, port 80, a VIP that is a server's address, and VIP conflicts on one port."""
    hosts: dict[str, int] = {}
    ports: dict[int, dict[str, int]] = {}
    for i, ns in enumerate(data["namespaces"]):
        host = ns["host"].lower()
        if host in hosts:
            errors.append(marks.error(f"duplicate namespace host '{ns['host']}' (also namespaces[{hosts[host]}])",
                                      ("namespaces", i, "host")))
        hosts[host] = i
        port = ns.get("port", 443)
        vip = ns.get("vip")
        if port == 80:
            errors.append(marks.error("port 80 is the HTTP-to-HTTPS redirect listener; a namespace listens with "
                                      "TLS on another port (443)", ("namespaces", i, "port")))
        if vip and _norm_addr(vip) in server_addrs:
            j = server_addrs[_norm_addr(vip)]
            errors.append(marks.error(f"VIP conflict: {vip} is the address of servers[{j}]",
                                      ("namespaces", i, "vip")))
        vips = ports.setdefault(port, {})
        key = str(ipaddress.ip_address(vip)) if vip else "*"
        other = "*" if key != "*" else next((v for v in vips if v != "*"), None)
        if other in vips and other != key:
            j = vips[other]
            errors.append(marks.error(
                f"VIP conflict on port {port}: namespaces[{j}] listens on "
                f"{'all addresses' if other == '*' else other} and this one on "
                f"{'all addresses' if key == '*' else key}; give both the same vip or different ports",
                ("namespaces", i, "vip" if vip else "host")))
        vips.setdefault(key, i)


def _mail_checks(data: dict, marks: Marks, errors: list[LbsyncError]) -> None:
    """SMTP/IMAP/POP: each listens on its own ports of its namespace's VIP, which no other namespace's listener
    may use (layer 4 has no host name to route on); mail: settings only for protocols some namespace carries."""
    def vip_of(ns: dict) -> str:
        return str(ipaddress.ip_address(ns["vip"])) if ns.get("vip") else "*"

    claims: list[tuple[str, int, int, str]] = []   # (vip, port, namespace index, what listens there)
    for i, ns in enumerate(data["namespaces"]):
        if set(ns["services"]) - set(mail.MAIL_KEYS):
            claims += [(vip_of(ns), ns.get("port", 443), i, "its HTTPS listener"),
                       (vip_of(ns), 80, i, "its HTTP redirect listener")]
    carried = set()
    for i, ns in enumerate(data["namespaces"]):
        vip = vip_of(ns)
        for j, key in enumerate(ns["services"]):
            if key not in mail.PROTOCOLS:
                continue
            carried.add(key)
            for port in data.get("mail", {}).get(key, {}).get("ports", mail.PROTOCOLS[key].default_ports):
                clash = next((c for c in claims
                              if c[1] == port and c[2] != i and (c[0] == vip or "*" in (c[0], vip))), None)
                if clash:
                    errors.append(marks.error(
                        f"{key} on port {port} of {'all addresses' if vip == '*' else vip} clashes with "
                        f"namespaces[{clash[2]}] ({clash[3]} on that port): a mail port needs a VIP:port no other "
                        "namespace listens on (give this namespace a vip of its own)",
                        ("namespaces", i, "services", j)))
                claims.append((vip, port, i, key))
    for key in data.get("mail", {}):
        if key in mail.PROTOCOLS and key not in carried:
            errors.append(marks.error(f"mail.{key} is set but no namespace lists {key} in its services",
                                      ("mail", key), key=True))


def _certificate_checks(data: dict, marks: Marks, errors: list[LbsyncError]) -> None:
    """certificate: pfx, or cert+key (chain only with cert+key)."""
    cert = data.get("certificate")
    if cert is not None:
        if "pfx" in cert and ("cert" in cert or "key" in cert):
            other = "cert" if "cert" in cert else "key"
            errors.append(marks.error("give either pfx or cert+key, not both", ("certificate", other), key=True))
        elif "pfx" not in cert:
            if "cert" not in cert or "key" not in cert:
                missing = "key" if "cert" in cert else "cert" if "key" in cert else "pfx"
                errors.append(marks.error(f"missing '{missing}': give pfx, or cert and key", ("certificate",),
                                          key=True))
        if "chain" in cert and "pfx" in cert:
            errors.append(marks.error("chain is read from the PFX; give chain only with cert+key",
                                      ("certificate", "chain"), key=True))


def _allow_checks(data: dict, marks: Marks, errors: list[LbsyncError]) -> None:
    """allow: known finding codes that may be allowed."""
    for i, code in enumerate(data.get("allow", [])):
        if code not in CODES:
            close = difflib.get_close_matches(code, list(CODES), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            errors.append(marks.error(f"unknown finding code '{code}'{hint}", ("allow", i)))
        elif not CODES[code].allowable:
            errors.append(marks.error(f"'{code}' cannot be allowed: {CODES[code].summary}", ("allow", i)))


def _exchange_versions(data: dict) -> None:
    """The schema-checked version values (2019, "SE") as facts.versions.ExVersion, in place."""
    data["exchange"]["version"] = versions.parse(data["exchange"]["version"])
    for g in data.get("groups", {}).values():
        g["version"] = versions.parse(g["version"])


def build_model(data: Any, marks: Marks, path: Path) -> t.Model:
    errors: list[LbsyncError] = []
    if not isinstance(data, dict):
        raise marks.error(f"the model must be a mapping of keys (version, exchange, ...), not a {type_name(data)}",
                          ())
    version = data.get("version")
    if version is not None and not same(version, 1):
        raise marks.error(f"unsupported schema version {show(version)} (this lbsync reads version 1)",
                          ("version",))
    errors.extend(check(data, marks))
    if not errors:
        _exchange_versions(data)
        _cross_checks(data, marks, errors)
        check_groups(data, marks, errors)
    if errors:
        errors.sort(key=lambda e: (e.line or 0, e.col or 0))
        raise ModelErrors(errors)

    base = path.parent
    exchange = _exchange(data["exchange"])
    servers, namespaces = _servers(data), _namespaces(data)
    tls, certificate = _tls(data, base), _certificate(data, base)
    h = data.get("health", {})
    health = _health(h, t.HealthSettings())
    health_services = {svc: _health(v, health) for svc, v in h.get("services", {}).items()}
    targets = _targets(data, base)
    return t.Model(path=path, exchange=exchange, servers=servers, namespaces=namespaces, tls=tls,
                   certificate=certificate, health=health, health_services=health_services, targets=targets,
                   allow=tuple(data.get("allow", [])), marks=marks, groups=build_groups(data), mail=_mail(data),
                   http=_http(data))


def _http(data: dict) -> t.Http:
    h = data.get("http", {})
    return t.Http(max_header_bytes=h.get("max_header_bytes", t.Http.max_header_bytes),
                  given="max_header_bytes" in h)


def _mail(data: dict) -> t.Mail:
    m = data.get("mail", {})
    return t.Mail(ports={k: tuple(m.get(k, {}).get("ports", p.default_ports)) for k, p in mail.PROTOCOLS.items()},
                  source_address=m.get("source_address", mail.SOURCE_LB))


def _exchange(ex: dict) -> t.Exchange:
    oa = ex.get("outlook_anywhere", {})
    version = ex["version"]
    cu = ex.get("cu")
    ep_default = catalog.extended_protection_default(version, cu)
    return t.Exchange(
        version=version, cu=cu,
        extended_protection=ex.get("extended_protection", ep_default),
        extended_protection_given="extended_protection" in ex,
        mrsproxy=ex.get("mrsproxy", False),
        outlook_anywhere=t.OutlookAnywhere(
            external_hostname=oa.get("external_hostname"), internal_hostname=oa.get("internal_hostname"),
            external_auth=oa.get("external_auth", "Negotiate"), internal_auth=oa.get("internal_auth", "Ntlm"),
            given=frozenset(oa)),
        auth={k: tuple(v) for k, v in ex.get("auth", {}).items()},
    )


def _servers(data: dict) -> tuple[t.Server, ...]:
    return tuple(t.Server(name=s["name"], address=s["address"], http_port=s.get("http_port", 80),
                          https_port=s.get("https_port", 443), index=i, group=s.get("group", "main"))
                 for i, s in enumerate(data["servers"]))


def _namespaces(data: dict) -> tuple[t.Namespace, ...]:
    return tuple(t.Namespace(host=n["host"].lower(), services=tuple(n["services"]), vip=n.get("vip"),
                             port=n.get("port", 443), index=i, group=n.get("group", "main"))
                 for i, n in enumerate(data["namespaces"]))


def _tls(data: dict, base: Path) -> t.Tls:
    tl = data.get("tls", {})
    return t.Tls(default=Mode(tl.get("default", Mode.BRIDGE)),
                 services={k: Mode(m) for k, m in tl.get("services", {}).items()},
                 profile=tl.get("profile", "intermediate"), server_ca=_resolve(base, tl.get("server_ca")),
                 verify_server=tl.get("verify_server", True))


def _certificate(data: dict, base: Path) -> t.Certificate | None:
    c = data.get("certificate")
    if c is None:
        return None
    return t.Certificate(pfx=_resolve(base, c.get("pfx")), password_env=c.get("password_env"),
                         cert=_resolve(base, c.get("cert")), key=_resolve(base, c.get("key")),
                         chain=_resolve(base, c.get("chain")), warn_days=c.get("warn_days", 30))


def _targets(data: dict, base: Path) -> t.Targets:
    tg = data.get("targets", {})
    hp, ng, f5 = tg.get("haproxy"), tg.get("nginx"), tg.get("f5")
    return t.Targets(
        haproxy=t.HaproxyTarget(**(hp or {}), given=hp is not None),
        nginx=t.NginxTarget(**(ng or {}), given=ng is not None),
        f5=t.F5Target(**{k: v for k, v in (f5 or {}).items() if k != "ca_bundle"},
                      ca_bundle=_resolve(base, (f5 or {}).get("ca_bundle")), given=f5 is not None),
    )
