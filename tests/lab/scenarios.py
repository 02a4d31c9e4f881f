"""Every configuration the LB renderers must produce validly: the bundled profiles and the lab scenarios plus
variations (TLS profiles, verify_server off, per-service health, a passthrough-only listener, IPv6 literals),
made real for a validation run: certificate files from the test PKI, listen addresses on 127.0.0.1 with a free
port (nginx -t binds its listeners), NTLM vdirs on Basic for NGINX open source."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from lbsync.output.check import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))
BASIC = {"ews": ["Basic"], "oab": ["Basic"], "mapi": ["Basic"], "autodiscover": ["Basic"]}


def _lab_base() -> dict:
    return {
        "version": 1,
        "exchange": {"version": 2013, "cu": 23, "mrsproxy": True,
                     "outlook_anywhere": {"external_hostname": "mail.contoso.com", "external_auth": "Ntlm",
                                          "internal_auth": "Ntlm"}},
        "servers": [{"name": "EX01", "address": "127.0.0.11"}, {"name": "EX02", "address": "127.0.0.12"}],
        "namespaces": [{"host": "mail.contoso.com", "vip": "127.0.0.1",
                        "services": ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc"]},
                       {"host": "autodiscover.contoso.com", "vip": "127.0.0.1", "services": ["autodiscover"]}],
        "tls": {"default": "offload", "profile": "intermediate"},
        "health": {"interval": "200ms", "fall": 2, "rise": 2},
    }


def variations() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for p in PROFILES:
        out[f"profile-{p.stem}"] = yaml.safe_load(p.read_text())
    base = _lab_base()
    out["lab-offload"] = base
    bridge = copy.deepcopy(base)
    bridge["tls"]["default"] = "bridge"
    out["lab-bridge"] = bridge
    for prof in ("modern", "compat"):
        v = copy.deepcopy(bridge)
        v["tls"]["profile"] = prof
        out[f"tls-{prof}"] = v
    noverify = copy.deepcopy(bridge)
    noverify["tls"]["verify_server"] = False
    out["verify-off"] = noverify
    health = copy.deepcopy(base)
    health["health"]["services"] = {"eas": {"interval": "10s", "fall": 5}, "ews": {"timeout": "500ms"}}
    out["health-per-service"] = health
    shared = copy.deepcopy(bridge)
    shared["namespaces"][0]["services"].remove("rpc")
    shared["namespaces"].append({"host": "outlook.contoso.com", "vip": "127.0.0.1", "services": ["rpc"]})
    shared["tls"]["services"] = {"rpc": "passthrough"}
    out["passthrough-shared"] = shared
    alone = copy.deepcopy(shared)
    alone["namespaces"][2]["port"] = 8443  # becomes its own free port below: a passthrough-only listener
    out["passthrough-alone"] = alone
    v6 = copy.deepcopy(bridge)
    v6["servers"] = [{"name": "EX01", "address": "::1", "https_port": 4431, "http_port": 8081},
                     {"name": "EX02", "address": "127.0.0.12"}]
    out["ipv6-server"] = v6
    return out


def realise(model: dict, target: str, pki_files, *, plus: bool = False) -> dict:
    """The model with real files, loopback listeners on free ports, and the target declared."""
    m = copy.deepcopy(model)
    m.pop("certificate", None)      # the profiles' PFX is not here; the lab uses PEM files directly
    m.setdefault("allow", [])
    if m["exchange"].get("extended_protection") or (m["exchange"]["version"] == 2019
                                                    and m["exchange"].get("cu", 0) >= 14):
        m["allow"] = sorted(set(m["allow"]) | {"ep-same-certificate"})
    m["tls"] = dict(m.get("tls", {}), server_ca=str(pki_files["ca"]))
    ports: dict[tuple, int] = {}
    for ns in m["namespaces"]:
        key = (ns.get("vip"), ns.get("port", 443))
        ports.setdefault(key, free_port())
        ns["vip"] = "127.0.0.1"
        ns["port"] = ports[key]
    if target == "haproxy":
        m["targets"] = {"haproxy": {"cert_path": str(pki_files["combined"]), "server_ca_path": str(pki_files["ca"])}}
    else:
        m["targets"] = {"nginx": {"plus": plus, "cert_path": str(pki_files["fullchain"]),
                                  "key_path": str(pki_files["key"]), "server_ca_path": str(pki_files["ca"])}}
        if not plus:
            m["exchange"]["auth"] = dict(BASIC)
            if any("owa" in ns["services"] for ns in m["namespaces"]):   # /owa/Integrated: Windows auth only
                m["allow"] = sorted(set(m["allow"]) | {"nginx-ntlm"})
            m["exchange"]["outlook_anywhere"] = dict(m["exchange"].get("outlook_anywhere", {}),
                                                     external_auth="Basic", internal_auth="Basic")
    return m


def write(folder: Path, model: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lbsync.yaml"
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    return path
