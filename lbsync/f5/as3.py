"""The AS3 declaration: the same F5 objects as lbsync.f5.desired, in AS3's classes.

Tenant = the model's partition (AS3 owns that partition: use one dedicated to lbsync), application "lbsync";
for partition Common, AS3 only allows the application "Shared". The certificate files are not in the
declaration: `lbsync f5 apply --method as3` installs them in /Common first (as the imperative push does) and the
declaration points at them ({"bigip": ...}), so as3.json holds no key material.
"""

from __future__ import annotations

from .desired import BUILTIN, Desired, F5Object, build

SCHEMA_VERSION = "3.20.0"     # the oldest AS3 whose classes this declaration uses (DESIGN.md: AS3 >= 3.20)
APP = "lbsync"
FILE_PARTITION = "Common"


def tenant_app(partition: str) -> tuple[str, str]:
    return (partition, "Shared") if partition == "Common" else (partition, APP)


def desired_for_as3(plan, material=None) -> Desired:
    tenant, app = tenant_app(plan.model.targets.f5.partition)
    return build(plan, material, partition=tenant, path=lambda n: f"/{tenant}/{app}/{n}",
                 file_partition=FILE_PARTITION)


def _local(path: str, prefix: str) -> str:
    return path[len(prefix):] if path.startswith(prefix) else path


def declaration(plan, material=None, *, declaration_id: str = "lbsync") -> dict:
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


def _convert(o: F5Object, by_path: dict, pointer, prefix: str) -> dict:
    a = o.attrs
    if o.kind in ("ltm/monitor/http", "ltm/monitor/https"):
        out = {"class": "Monitor", "monitorType": o.kind.rsplit("/", 1)[1], "send": a["send"],
               "receive": a["recv"], "interval": a["interval"], "timeout": a["timeout"],
               "timeUntilUp": a["timeUntilUp"]}
        if "sslProfile" in a:
            out["clientTLS"] = pointer(a["sslProfile"])
        return {o.name: out}
    if o.kind == "ltm/pool":
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
    if o.kind == "ltm/profile/server-ssl":
        opts = set(a["options"])
        out = {"class": "TLS_Client", "serverName": a["serverName"], "sendSNI": a["serverName"],
               "validateCertificate": a["peerCertMode"] == "require", **_tls_versions(opts)}
        if a["peerCertMode"] == "require":
            out["trustCA"] = "generic" if a["caFile"] == BUILTIN["ca-bundle"] else {"bigip": a["caFile"]}
            out["authenticationDepth"] = a["authenticateDepth"]
        return {o.name: out}
    if o.kind == "ltm/profile/client-ssl":
        chain = a["certKeyChain"][0]
        cert = {"class": "Certificate", "certificate": {"bigip": chain["cert"]},
                "privateKey": {"bigip": chain["key"]}}
        if "chain" in chain:
            cert["chainCA"] = {"bigip": chain["chain"]}
        return {f"{o.name}_cert": cert,
                o.name: {"class": "TLS_Server", "certificates": [{"certificate": f"{o.name}_cert"}],
                         "ciphers": a["ciphers"], **_tls_versions(set(a["options"]))}}
    if o.kind == "ltm/profile/http":
        return {o.name: {"class": "HTTP_Profile", "xForwardedFor": a["insertXforwardedFor"] == "enabled",
                         "maxHeaderSize": a["enforcement"]["maxHeaderSize"]}}
    if o.kind == "ltm/persistence/source-addr":
        return {o.name: {"class": "Persist", "persistenceMethod": "source-address", "duration": a["timeout"]}}
    if o.kind == "ltm/persistence/cookie":
        return {o.name: {"class": "Persist", "persistenceMethod": "cookie", "cookieMethod": a["method"],
                         "cookieName": a["cookieName"], "ttl": int(a["expiration"])}}
    if o.kind == "ltm/profile/tcp":
        return {o.name: {"class": "TCP_Profile", "idleTimeout": a["idleTimeout"]}}
    if o.kind == "ltm/profile/one-connect":
        return {o.name: {"class": "Multiplex_Profile", "sourceMask": a["sourceMask"]}}
    if o.kind == "ltm/rule":
        return {o.name: {"class": "iRule", "iRule": a["apiAnonymous"]}}
    if o.kind == "ltm/virtual":
        return {o.name: _service(o, by_path, pointer)}
    raise ValueError(f"no AS3 class for {o.kind}")


def _tls_versions(options: set[str]) -> dict:
    return {"tls1_0Enabled": "no-tlsv1" not in options, "tls1_1Enabled": "no-tlsv1.1" not in options,
            "tls1_2Enabled": "no-tlsv1.2" not in options, "tls1_3Enabled": "no-tlsv1.3" not in options}


def _service(o: F5Object, by_path: dict, pointer) -> dict:
    a = o.attrs
    dest = a["destination"].rsplit("/", 1)[1]
    sep = "." if dest.count(":") > 1 else ":"
    address, port = dest.rsplit(sep, 1)
    out: dict = {"virtualAddresses": [address], "virtualPort": int(port), "snat": "auto",
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
