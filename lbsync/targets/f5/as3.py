"""The f5-as3 target: f5/as3.json, the same F5 objects as targets.f5.want, in AS3's classes.

Tenant = the model's partition (AS3 owns that partition: use one dedicated to lbsync), application "lbsync";
for partition Common, AS3 only allows the application "Shared". The certificate files are not in the
declaration: `lbsync f5 apply --method as3` installs them in /Common first (as the imperative push does) and the
declaration points at them ({"bigip": ...}), so as3.json holds no key material.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ...output.env import environment, render_template
from ...output.writer import Output
from ...plan.types import Plan
from .. import common
from ..protocol import RenderOptions
from .files import Material
from .material import load_material
from .names import BUILTIN
from .want import Desired, F5Object, build, drain_nodes

NAME = "f5-as3"
LB_KIND = "f5"
check = None             # no AS3 validator runs here (the tests validate against F5's published schema)
CONFIG = "f5/as3.json"
SCHEMA_VERSION = "3.20.0"     # the oldest AS3 whose classes this declaration uses (docs/f5.md: AS3 >= 3.20)
APP = "lbsync"
FILE_PARTITION = "Common"


def tenant_app(partition: str) -> tuple[str, str]:
    return (partition, "Shared") if partition == "Common" else (partition, APP)


def desired_for_as3(plan: Plan, material: Material | None = None) -> Desired:
    tenant, app = tenant_app(plan.model.targets.f5.partition)
    return build(plan, material, partition=tenant, path=lambda n: f"/{tenant}/{app}/{n}",
                 file_partition=FILE_PARTITION)


def _local(path: str, prefix: str) -> str:
    return path[len(prefix):] if path.startswith(prefix) else path


def declaration(plan: Plan, material: Material | None = None, *, declaration_id: str = "lbsync") -> dict:
    desired = desired_for_as3(plan, material)
    tenant, app = tenant_app(desired.partition)
    prefix = f"/{tenant}/{app}/"
    by_path = {o.path.replace(f"/{tenant}/", prefix, 1): o for o in desired.objects}
    pointer = (lambda p: {"use": _local(p, prefix)} if p.startswith(prefix) else {"bigip": p})
    body: dict = {"class": "Application", "template": "shared" if app == "Shared" else "generic"}
    for o in desired.objects:
        body.update(_convert(o, by_path, pointer, prefix))
    return {
        "class": "AS3", "action": "deploy", "persist": True,
        "declaration": {
            "class": "ADC", "schemaVersion": SCHEMA_VERSION, "id": declaration_id,
            "label": f"lbsync: {plan.model.path.name}",
            tenant: {"class": "Tenant", app: body},
        },
    }


def _kind_of(by_path: dict, path: str) -> str | None:
    o = by_path.get(path)
    return o.kind if o else None


Pointer = Callable[[str], dict]


def _monitor(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    out = {"class": "Monitor", "monitorType": o.kind.rsplit("/", 1)[1], "send": a["send"],
           "receive": a["recv"], "interval": a["interval"], "timeout": a["timeout"],
           "timeUntilUp": a["timeUntilUp"]}
    if "sslProfile" in a:
        out["clientTLS"] = pointer(a["sslProfile"])
    return {o.name: out}


def _monitor_smtp(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    return {o.name: {"class": "Monitor", "monitorType": "smtp", "domain": a["domain"], "interval": a["interval"],
                     "timeout": a["timeout"], "timeUntilUp": a["timeUntilUp"]}}


def _monitor_tcp(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    out = {"class": "Monitor", "monitorType": "tcp", "send": a["send"], "receive": a["recv"],
           "interval": a["interval"], "timeout": a["timeout"], "timeUntilUp": a["timeUntilUp"]}
    if "destination" in a:   # "*:143": the pool member's address, another port
        out["targetPort"] = int(a["destination"].rsplit(":", 1)[1])
    return {o.name: out}


def _pool(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    members: dict[tuple, dict] = {}
    for m in a["members"]:
        port = int(m["name"].replace(".", ":").rsplit(":", 1)[1]) if "address" in m else \
            int(m["name"].rsplit(":", 1)[1])
        if "fqdn" in m:
            members[("fqdn", m["fqdn"]["tmName"], port)] = {
                "servicePort": port, "addressDiscovery": "fqdn", "hostname": m["fqdn"]["tmName"],
                "shareNodes": True}
        else:
            entry = members.setdefault(("ip", port), {"servicePort": port, "serverAddresses": [],
                                                      "shareNodes": True})
            entry["serverAddresses"].append(m["address"])
    return {o.name: {"class": "Pool", "loadBalancingMode": a["loadBalancingMode"],
                     "monitors": [pointer(a["monitor"])], "members": list(members.values())}}


def _server_ssl(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    opts = set(a["options"])
    out = {"class": "TLS_Client", "serverName": a["serverName"], "sendSNI": a["serverName"],
           "validateCertificate": a["peerCertMode"] == "require", **_tls_versions(opts)}
    if a["peerCertMode"] == "require":
        out["trustCA"] = "generic" if a["caFile"] == BUILTIN["ca-bundle"] else {"bigip": a["caFile"]}
        out["authenticationDepth"] = a["authenticateDepth"]
    return {o.name: out}


def _client_ssl(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    chain = a["certKeyChain"][0]
    cert = {"class": "Certificate", "certificate": {"bigip": chain["cert"]},
            "privateKey": {"bigip": chain["key"]}}
    if "chain" in chain:
        cert["chainCA"] = {"bigip": chain["chain"]}
    return {f"{o.name}_cert": cert,
            o.name: {"class": "TLS_Server", "certificates": [{"certificate": f"{o.name}_cert"}],
                     "ciphers": a["ciphers"], **_tls_versions(set(a["options"]))}}


def _http(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    return {o.name: {"class": "HTTP_Profile", "xForwardedFor": a["insertXforwardedFor"] == "enabled",
                     "maxHeaderSize": a["enforcement"]["maxHeaderSize"]}}


def _persist_source(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    return {o.name: {"class": "Persist", "persistenceMethod": "source-address", "duration": o.attrs["timeout"]}}


def _persist_cookie(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    return {o.name: {"class": "Persist", "persistenceMethod": "cookie", "cookieMethod": a["method"],
                     "cookieName": a["cookieName"], "ttl": int(a["expiration"])}}


def _tcp(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    return {o.name: {"class": "TCP_Profile", "idleTimeout": o.attrs["idleTimeout"]}}


def _one_connect(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    return {o.name: {"class": "Multiplex_Profile", "sourceMask": o.attrs["sourceMask"]}}


def _irule(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    return {o.name: {"class": "iRule", "iRule": o.attrs["apiAnonymous"]}}


def _virtual(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    return {o.name: _service(o, by_path, pointer)}


# iControl REST kind -> its AS3 class(es)
CONVERTERS: dict[str, Callable[[F5Object, dict, Pointer], dict]] = {
    "ltm/monitor/http": _monitor, "ltm/monitor/https": _monitor, "ltm/monitor/smtp": _monitor_smtp,
    "ltm/monitor/tcp": _monitor_tcp, "ltm/pool": _pool,
    "ltm/profile/server-ssl": _server_ssl, "ltm/profile/client-ssl": _client_ssl, "ltm/profile/http": _http,
    "ltm/persistence/source-addr": _persist_source, "ltm/persistence/cookie": _persist_cookie,
    "ltm/profile/tcp": _tcp, "ltm/profile/one-connect": _one_connect, "ltm/rule": _irule,
    "ltm/virtual": _virtual,
}


def _convert(o: F5Object, by_path: dict, pointer: Pointer, prefix: str) -> dict:
    if o.kind not in CONVERTERS:
        raise ValueError(f"no AS3 class for {o.kind}")
    return CONVERTERS[o.kind](o, by_path, pointer)


def _tls_versions(options: set[str]) -> dict:
    return {"tls1_0Enabled": "no-tlsv1" not in options, "tls1_1Enabled": "no-tlsv1.1" not in options,
            "tls1_2Enabled": "no-tlsv1.2" not in options, "tls1_3Enabled": "no-tlsv1.3" not in options}


def _service(o: F5Object, by_path: dict, pointer: Pointer) -> dict:
    a = o.attrs
    dest = a["destination"].rsplit("/", 1)[1]
    sep = "." if dest.count(":") > 1 else ":"
    address, port = dest.rsplit(sep, 1)
    snat = {"automap": "auto", "none": "none"}[a.get("sourceAddressTranslation", {}).get("type", "automap")]
    out: dict = {"virtualAddresses": [address], "virtualPort": int(port), "snat": snat,
                 "persistenceMethods": [pointer(p["name"]) for p in a.get("persist", [])]}
    if a.get("fallbackPersistence", "none") != "none":
        out["fallbackPersistenceMethod"] = pointer(a["fallbackPersistence"])
    profiles = {_kind_of(by_path, p["name"]) or p["name"]: p["name"] for p in a["profiles"]}
    if "ltm/profile/tcp" in profiles:
        out["profileTCP"] = pointer(profiles["ltm/profile/tcp"])
    if "pool" in a:
        out.update({"class": "Service_TCP", "pool": pointer(a["pool"])})
        return out
    if a["rules"] == [BUILTIN["redirect-rule"]]:
        out.update({"class": "Service_HTTP", "profileHTTP": pointer(profiles["ltm/profile/http"]),
                    "iRules": [{"bigip": BUILTIN["redirect-rule"]}]})
        return out
    out.update({"class": "Service_HTTPS", "redirect80": False,
                "serverTLS": pointer(profiles["ltm/profile/client-ssl"])["use"],
                "profileHTTP": pointer(profiles["ltm/profile/http"]),
                "iRules": [pointer(r)["use"] for r in a["rules"]]})
    if "ltm/profile/server-ssl" in profiles:
        out["clientTLS"] = pointer(profiles["ltm/profile/server-ssl"])["use"]
    if "ltm/profile/one-connect" in profiles:
        out["profileMultiplex"] = pointer(profiles["ltm/profile/one-connect"])
    if BUILTIN["ltm/profile/ntlm"] in profiles:
        out["profileNTLM"] = {"bigip": BUILTIN["ltm/profile/ntlm"]}
    return out


def render(plan: Plan, options: RenderOptions) -> dict[str, Output]:
    decl = declaration(plan, load_material(plan, need_key=False))
    return {CONFIG: Output(json.dumps(decl, indent=2) + "\n")}


def readme(plan: Plan, options: RenderOptions) -> str:
    tenant, app = tenant_app(plan.model.targets.f5.partition)
    return render_template(environment(options.templates), "f5/README-as3.txt.j2", config=CONFIG, tenant=tenant,
                           app=app, drain=drain_nodes(plan, "Common"), lb=common)
