"""Check loaded data against the schema and the cross-field rules, then build the Model."""

from __future__ import annotations

import difflib
import ipaddress
import re
from pathlib import Path
from typing import Any

from ..errors import LbsyncError, ModelErrors
from ..facts import catalog
from ..facts.codes import CODES
from ..facts.lb import Mode
from . import types as t
from .groups import build_groups, check_groups
from .loader import Marks, key_path
from .schema import SCHEMA

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keys the schema leaves out on purpose, with what to write instead.
_KEY_HINTS = {
    ("exchange", "auth", "rpc"): "Outlook Anywhere's authentication is set with exchange.outlook_anywhere "
                                 "(external_auth, internal_auth)",
}
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, None: 1000}


def is_hostname(value: str, *, fqdn: bool = True) -> bool:
    if not value or len(value) > 253 or value.endswith("."):
        return False
    labels = value.split(".")
    if fqdn and len(labels) < 2:
        return False
    if labels[-1].isdigit():  # looks like an IP address, not a name
        return False
    return all(_LABEL.match(label) for label in labels)


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def parse_duration_ms(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 1000 if value >= 0 else None
    m = _DURATION.match(str(value))
    if not m:
        return None
    return int(float(m.group(1)) * _UNIT_MS[m.group(2)])


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


_JSON_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean", "object": "mapping",
               "array": "list", "number": "number"}


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return repr(value) if not isinstance(value, str) else f"'{value}'"


def _same(value: Any, expected: Any) -> bool:
    """Equal and of the same type: YAML's true is not 1, 2016.0 is not 2016."""
    return type(value) is type(expected) and value == expected


def _format_error(fmt: str, value: Any) -> str | None:
    if fmt == "hostname":
        return None if is_hostname(value) else f"'{value}' is not a valid DNS host name"
    if fmt == "host":
        return None if is_ip(value) or is_hostname(value, fqdn=False) else \
            f"'{value}' is neither an IP address nor a valid host name"
    if fmt == "ip-address":
        return None if is_ip(value) else f"'{value}' is not a valid IP address"
    if fmt == "duration":
        ms = parse_duration_ms(value)
        if ms is None:
            return f"'{value}' is not a duration (use seconds, or 500ms, 5s, 2m, 1h)"
        return None if ms > 0 else f"'{value}' is not a positive duration"
    if fmt == "env-name":  # the value may be a secret pasted by mistake: never echo it
        return None if _ENV_NAME.match(value) else "must be the NAME of an environment variable (letters, " \
            "digits, _) that holds the secret, not the secret itself (value not shown)"
    if fmt == "path":
        return None if value.strip() else "the path is empty"
    return None


def check_schema(value: Any, schema: dict, path: tuple, marks: Marks, errors: list[LbsyncError]) -> None:
    """Interpret the subset of JSON Schema that schema.py uses."""
    if "const" in schema and not _same(value, schema["const"]):
        errors.append(marks.error(f"must be {schema['const']!r}, not {_show(value)}", path))
        return
    if "enum" in schema:
        if not any(_same(value, choice) for choice in schema["enum"]):
            choices = ", ".join(str(c) for c in schema["enum"])
            hint = ""
            if isinstance(value, str):
                close = [str(c) for c in schema["enum"] if str(c).lower() == value.lower()]
                if not close:
                    close = difflib.get_close_matches(value, [str(c) for c in schema["enum"]], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                if value == "mrsproxy" and "ews" in schema["enum"]:
                    hint = " (mrsproxy is not a service key: set exchange.mrsproxy: true and list ews)"
                if value == "Forms" and path[:2] == ("exchange", "auth"):
                    hint = " (Forms authentication exists only on owa and ecp)"
            errors.append(marks.error(f"{_show(value)} is not one of: {choices}{hint}", path))
        return
    types = schema.get("type")
    if types:
        types = [types] if isinstance(types, str) else types
        actual = _type_name(value)
        if not any(_JSON_TYPES[ty] == actual for ty in types):
            want = " or ".join(_JSON_TYPES[ty] for ty in types)
            got = "nothing (null)" if value is None else actual if actual in ("mapping", "list") or \
                schema.get("format") == "env-name" else f"{actual} {_show(value)}"
            hint = " (write true or false)" if want == "boolean" and isinstance(value, str) and \
                value.lower() in ("yes", "no", "on", "off", "y", "n") else ""
            errors.append(marks.error(f"expected {'a ' if want[0] not in 'aeiou' else 'an '}{want}, got {got}{hint}",
                                      path))
            return
    if isinstance(value, dict):
        props = schema.get("properties", {})
        misspelt: set[str] = set()
        extra = schema.get("additionalProperties")
        for key in value:
            if "propertyNames" in schema and key not in props:
                bad: list[LbsyncError] = []
                check_schema(key, schema["propertyNames"], path + (key,), marks, bad)
                line, col = marks.at(path + (key,), key=True)  # the key's position; the path of its map,
                errors.extend(LbsyncError(e.message.replace("is not valid:", "is not a valid name:"),  # as the
                                          file=marks.file, line=line, col=col, key=key_path(path))  # name is bad
                              for e in bad[:1])
            if key not in props and isinstance(extra, dict):
                check_schema(value[key], extra, path + (key,), marks, errors)
            if key not in props and extra is False:
                free = [p for p in props if p not in value]
                close = [p for p in free if p.lower() == key.lower()] or \
                    difflib.get_close_matches(key, free, n=1, cutoff=0.6)
                if path + (key,) in _KEY_HINTS:
                    text = f"unknown key '{key}': {_KEY_HINTS[path + (key,)]}"
                elif close:
                    misspelt.add(close[0])
                    text = f"unknown key '{key}' (did you mean '{close[0]}'?)"
                else:
                    text = f"unknown key '{key}'; expected one of: {', '.join(props)}"
                errors.append(marks.error(text, path + (key,), key=True))
        for req in schema.get("required", []):
            if req not in value and req not in misspelt:  # a misspelt key is one problem, not two
                errors.append(marks.error(f"missing required key '{req}'", path, key=True))
        for key, sub in value.items():
            if key in props:
                check_schema(sub, props[key], path + (key,), marks, errors)
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(marks.error("must not be empty" if schema.get("minItems") == 1
                                      else f"needs at least {schema['minItems']} items", path))
        if schema.get("uniqueItems"):
            seen = set()
            for i, item in enumerate(value):
                marker = repr(item)
                if marker in seen:
                    errors.append(marks.error(f"{_show(item)} is listed twice", path + (i,)))
                seen.add(marker)
        if "items" in schema:
            for i, item in enumerate(value):
                check_schema(item, schema["items"], path + (i,), marks, errors)
    else:
        if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
            errors.append(marks.error(f"{value} is below the minimum {schema['minimum']}", path))
        if "maximum" in schema and isinstance(value, (int, float)) and value > schema["maximum"]:
            errors.append(marks.error(f"{value} is above the maximum {schema['maximum']}", path))
        msg = None
        if "format" in schema and isinstance(value, (str, int)):
            msg = _format_error(schema["format"], value) if isinstance(value, str) or \
                schema["format"] == "duration" else None
            if msg:
                errors.append(marks.error(msg, path))
        if not msg and "minLength" in schema and isinstance(value, str) and len(value) < schema["minLength"]:
            msg = "must not be empty"
            errors.append(marks.error(msg, path))
        if not msg and "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
            errors.append(marks.error(f"'{value}' is not valid: " + schema.get(
                "patternErrorMessage", f"it must match {schema['pattern']}"), path))


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
    server_addrs = {_norm_addr(s["address"]): i for i, s in enumerate(data["servers"])}

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

    for i, code in enumerate(data.get("allow", [])):
        if code not in CODES:
            close = difflib.get_close_matches(code, list(CODES), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            errors.append(marks.error(f"unknown finding code '{code}'{hint}", ("allow", i)))
        elif not CODES[code].allowable:
            errors.append(marks.error(f"'{code}' cannot be allowed: {CODES[code].summary}", ("allow", i)))


def build_model(data: Any, marks: Marks, path: Path) -> t.Model:
    errors: list[LbsyncError] = []
    if not isinstance(data, dict):
        raise marks.error(f"the model must be a mapping of keys (version, exchange, ...), not a {_type_name(data)}",
                          ())
    version = data.get("version")
    if version is not None and not _same(version, 1):
        raise marks.error(f"unsupported schema version {_show(version)} (this lbsync reads version 1)",
                          ("version",))
    check_schema(data, SCHEMA, (), marks, errors)
    if not errors:
        _cross_checks(data, marks, errors)
        check_groups(data, marks, errors)
    if errors:
        errors.sort(key=lambda e: (e.line or 0, e.col or 0))
        raise ModelErrors(errors)

    base = path.parent
    ex = data["exchange"]
    oa = ex.get("outlook_anywhere", {})
    version = ex["version"]
    cu = ex.get("cu")
    ep_default = catalog.extended_protection_default(version, cu)
    exchange = t.Exchange(
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
    servers = tuple(t.Server(name=s["name"], address=s["address"], http_port=s.get("http_port", 80),
                             https_port=s.get("https_port", 443), index=i, group=s.get("group", "main"))
                    for i, s in enumerate(data["servers"]))
    namespaces = tuple(t.Namespace(host=n["host"].lower(), services=tuple(n["services"]), vip=n.get("vip"),
                                   port=n.get("port", 443), index=i, group=n.get("group", "main"))
                       for i, n in enumerate(data["namespaces"]))
    tl = data.get("tls", {})
    tls = t.Tls(default=Mode(tl.get("default", Mode.BRIDGE)),
                services={k: Mode(m) for k, m in tl.get("services", {}).items()},
                profile=tl.get("profile", "intermediate"), server_ca=_resolve(base, tl.get("server_ca")),
                verify_server=tl.get("verify_server", True))
    c = data.get("certificate")
    certificate = None
    if c is not None:
        certificate = t.Certificate(pfx=_resolve(base, c.get("pfx")), password_env=c.get("password_env"),
                                    cert=_resolve(base, c.get("cert")), key=_resolve(base, c.get("key")),
                                    chain=_resolve(base, c.get("chain")), warn_days=c.get("warn_days", 30))
    h = data.get("health", {})
    health = _health(h, t.HealthSettings())
    health_services = {svc: _health(v, health) for svc, v in h.get("services", {}).items()}
    tg = data.get("targets", {})
    hp, ng, f5 = tg.get("haproxy"), tg.get("nginx"), tg.get("f5")
    targets = t.Targets(
        haproxy=t.HaproxyTarget(**(hp or {}), given=hp is not None),
        nginx=t.NginxTarget(**(ng or {}), given=ng is not None),
        f5=t.F5Target(**{k: v for k, v in (f5 or {}).items() if k != "ca_bundle"},
                      ca_bundle=_resolve(base, (f5 or {}).get("ca_bundle")), given=f5 is not None),
    )
    return t.Model(path=path, exchange=exchange, servers=servers, namespaces=namespaces, tls=tls,
                   certificate=certificate, health=health, health_services=health_services, targets=targets,
                   allow=tuple(data.get("allow", [])), marks=marks, groups=build_groups(data))
