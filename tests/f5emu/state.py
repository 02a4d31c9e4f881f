"""The emulated BIG-IP configuration store and the rules a BIG-IP enforces on it.

Every write goes through `apply(op)`, which either changes the store or raises DeviceError with the status and
the message a BIG-IP sends (`01020066:3: ... already exists`, `... was not found`, `... is in use`). A
transaction commit runs its queued commands against a copy and swaps it in only when all of them succeed.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

VERSION = "15.1.10"

COLLECTIONS = {
    "ltm/monitor/http", "ltm/monitor/https", "ltm/monitor/smtp", "ltm/monitor/tcp", "ltm/pool",
    "ltm/profile/client-ssl", "ltm/profile/server-ssl", "ltm/profile/http", "ltm/profile/tcp",
    "ltm/profile/one-connect", "ltm/profile/ntlm", "ltm/rule",
    "ltm/virtual", "sys/file/ssl-cert", "sys/file/ssl-key", "ltm/persistence/source-addr", "ltm/persistence/cookie",
}
PROFILE_COLLECTIONS = {c for c in COLLECTIONS if c.startswith("ltm/profile/")}
PERSISTENCE_COLLECTIONS = {c for c in COLLECTIONS if c.startswith("ltm/persistence/")}
MONITOR_COLLECTIONS = {"ltm/monitor/http", "ltm/monitor/https", "ltm/monitor/smtp", "ltm/monitor/tcp"}
TITLE = {"ltm/pool": "Pool", "ltm/virtual": "Virtual Server", "ltm/rule": "rule", "sys/file/ssl-cert": "Certificate",
         "sys/file/ssl-key": "Key"}
# The attributes this emulator understands per collection (a BIG-IP rejects unknown ones with 400).
COMMON_ATTRS = {"name", "partition", "fullPath", "description", "kind", "selfLink", "generation", "subPath"}
ATTRS = {
    "ltm/monitor/http": {"defaultsFrom", "send", "recv", "interval", "timeout", "timeUntilUp", "destination"},
    "ltm/monitor/https": {"defaultsFrom", "send", "recv", "interval", "timeout", "timeUntilUp", "destination",
                          "sslProfile", "cipherlist"},
    "ltm/monitor/smtp": {"defaultsFrom", "domain", "interval", "timeout", "timeUntilUp", "destination"},
    "ltm/monitor/tcp": {"defaultsFrom", "send", "recv", "recvDisable", "interval", "timeout", "timeUntilUp",
                        "destination"},
    "ltm/pool": {"loadBalancingMode", "monitor", "members", "minActiveMembers", "serviceDownAction"},
    "ltm/profile/client-ssl": {"defaultsFrom", "certKeyChain", "ciphers", "options", "sniDefault", "serverName"},
    "ltm/profile/server-ssl": {"defaultsFrom", "serverName", "peerCertMode", "caFile", "authenticateName",
                               "authenticateDepth", "secureRenegotiation", "ciphers", "options"},
    "ltm/profile/http": {"defaultsFrom", "insertXforwardedFor", "enforcement"},
    "ltm/profile/tcp": {"defaultsFrom", "idleTimeout"},
    "ltm/profile/one-connect": {"defaultsFrom", "sourceMask"},
    "ltm/profile/ntlm": {"defaultsFrom"},
    "ltm/rule": {"apiAnonymous"},
    "ltm/virtual": {"destination", "mask", "ipProtocol", "sourceAddressTranslation", "profiles", "rules", "pool",
                    "persist", "fallbackPersistence"},
    "ltm/persistence/source-addr": {"defaultsFrom", "timeout", "mask", "matchAcrossServices",
                                    "matchAcrossVirtuals", "matchAcrossPools"},
    "ltm/persistence/cookie": {"defaultsFrom", "method", "cookieName", "expiration", "alwaysSend", "httponly",
                               "secure", "cookieEncryption"},
    "sys/file/ssl-cert": {"fingerprint", "sourcePath"},
    "sys/file/ssl-key": {"sourcePath", "keyType"},
}
# The http profile's `enforcement` object as a BIG-IP reports it (every field, defaults filled in) and the ranges it
# takes. Sources: F5's Ansible collection, bigip_profile_http (max_header_count "between 16 and 4096 ... When set to
# default, the value is 64"; max_header_size "between 0 and 4294967295 ... the value is 32768 bytes";
# oversize_client_headers / excess_client_headers "reject" or "pass-through"), AS3's HTTP_Profile (tests/f5emu/
# as3-schema-3.56.0.json: maxHeaderCount, maxHeaderSize, the *ClientHeaders/*ServerHeaders actions). A field outside
# these is refused as unknown attributes are; a value out of range with a 400 (the device's wording is not known).
HTTP_ENFORCEMENT = {
    "maxHeaderCount": (64, (16, 4096)), "maxHeaderSize": (32768, (0, 4294967295)),
    "maxRequests": (0, (0, 4294967295)),
    "oversizeClientHeaders": ("reject", ("reject", "pass-through")),
    "oversizeServerHeaders": ("reject", ("reject", "pass-through")),
    "excessClientHeaders": ("reject", ("reject", "pass-through")),
    "excessServerHeaders": ("reject", ("reject", "pass-through")),
    "pipeline": ("allow", ("allow", "reject", "pass-through")),
    "truncatedRedirects": ("disabled", ("enabled", "disabled")),
    "unknownMethod": ("allow", ("allow", "reject", "pass-through")),
}

BUILTINS = {
    "ltm/monitor/http": ["http"], "ltm/monitor/https": ["https"], "ltm/monitor/smtp": ["smtp"],
    "ltm/monitor/tcp": ["tcp"], "ltm/profile/http": ["http"],
    "ltm/profile/client-ssl": ["clientssl"], "ltm/profile/server-ssl": ["serverssl"], "ltm/profile/tcp": ["tcp"],
    "ltm/profile/one-connect": ["oneconnect"], "ltm/profile/ntlm": ["ntlm"], "ltm/rule": ["_sys_https_redirect"],
    "sys/file/ssl-cert": ["ca-bundle.crt", "default.crt"], "sys/file/ssl-key": ["default.key"],
    "ltm/persistence/source-addr": ["source_addr"], "ltm/persistence/cookie": ["cookie"],
}


class DeviceError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def kind_of(collection: str, suffix: str = "state") -> str:
    last = collection.rsplit("/", 1)[1]
    return "tm:" + collection.replace("/", ":") + f":{last}{suffix}"


def split_path(full: str) -> tuple[str, str]:
    parts = full.strip("/").split("/")
    return parts[0], parts[-1]


@dataclass
class Op:
    method: str          # POST | PATCH | PUT | DELETE
    collection: str
    path: str | None     # full path (None for POST: taken from the body)
    body: dict


class Store:
    def __init__(self, partitions=("Common",)):
        self.partitions = set(partitions)
        self.objects: dict[str, dict[str, dict]] = {c: {} for c in COLLECTIONS}
        for coll, names in BUILTINS.items():
            for n in names:
                self.objects[coll][f"/Common/{n}"] = {"name": n, "partition": "Common", "fullPath": f"/Common/{n}",
                                                      "generation": 1}
        self.objects["ltm/rule"]["/Common/_sys_https_redirect"]["apiAnonymous"] = (
            "when HTTP_REQUEST {\n    HTTP::redirect https://[getfield [HTTP::host] \":\" 1][HTTP::uri]\n}")
        self.generation = 1

    # -- reading ----------------------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        return copy.deepcopy(self.objects)

    def get(self, collection: str, full: str) -> dict:
        obj = self.objects[collection].get(full)
        if obj is None:
            raise DeviceError(404, f"01020036:3: The requested {TITLE.get(collection, collection.rsplit('/', 1)[1])}"
                                   f" ({full}) was not found.")
        return obj

    # -- writing ----------------------------------------------------------------------------------------------
    def apply(self, op: Op) -> dict:
        if op.collection not in COLLECTIONS:
            raise DeviceError(404, f"unsupported collection {op.collection}")
        if op.method == "POST":
            return self._create(op.collection, op.body)
        if op.method in ("PATCH", "PUT"):
            return self._modify(op.collection, op.path, op.body, replace=op.method == "PUT")
        if op.method == "DELETE":
            return self._delete(op.collection, op.path)
        raise DeviceError(405, f"method {op.method} not allowed")

    def _full(self, body: dict) -> str:
        name = body.get("name")
        if not name:
            raise DeviceError(400, "Missing required field: name")
        if name.startswith("/"):
            return name
        return f"/{body.get('partition', 'Common')}/{name}"

    def _check_attrs(self, collection: str, body: dict) -> None:
        unknown = set(body) - ATTRS[collection] - COMMON_ATTRS
        if unknown:
            key = sorted(unknown)[0]
            raise DeviceError(400, f"Found unexpected json pair at configuration item /{collection}. "
                                   f"The json pair \"{key}\" is not supported.")

    def _create(self, collection: str, body: dict) -> dict:
        self._check_attrs(collection, body)
        full = self._full(body)
        part, name = split_path(full)
        if part not in self.partitions:
            raise DeviceError(400, f"01020036:3: The requested folder (/{part}) was not found.")
        if full in self.objects[collection]:
            title = TITLE.get(collection, collection.rsplit("/", 1)[1])
            raise DeviceError(409, f"01020066:3: The requested {title} ({full}) already exists in partition "
                                   f"{part}.")
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("kind", "selfLink", "generation")}
        obj.update({"name": name, "partition": part, "fullPath": full})
        self._normalise(collection, obj)
        self._check_refs(collection, obj)
        self.generation += 1
        obj["generation"] = self.generation
        self.objects[collection][full] = obj
        return obj

    def _modify(self, collection: str, full: str, body: dict, *, replace: bool) -> dict:
        self._check_attrs(collection, body)
        old = self.get(collection, full)
        new = {k: v for k, v in old.items() if k in ("name", "partition", "fullPath")} if replace else \
            copy.deepcopy(old)
        new.update({k: copy.deepcopy(v) for k, v in body.items()
                    if k not in ("name", "partition", "fullPath", "kind", "selfLink", "generation")})
        if collection == "ltm/profile/http" and not replace and "enforcement" in body:
            new["enforcement"] = self._enforcement(body["enforcement"], old.get("enforcement", {}))
        self._normalise(collection, new)
        self._check_refs(collection, new)
        self.generation += 1
        new["generation"] = self.generation
        self.objects[collection][full] = new
        return new

    def _delete(self, collection: str, full: str) -> dict:
        self.get(collection, full)
        for user_coll, user_path in self._users_of(full, collection):
            title = TITLE.get(collection, collection.rsplit("/", 1)[1])
            raise DeviceError(400, f"01070265:3: The {title} ({full}) cannot be deleted because it is in use by "
                                   f"a {TITLE.get(user_coll, user_coll.rsplit('/', 1)[1])} ({user_path}).")
        return self.objects[collection].pop(full)

    @staticmethod
    def _enforcement(given: object, base: dict) -> dict:
        """An http profile's enforcement object: `base` (the defaults, or what the profile has: a PATCH changes
        only the fields it sends) with `given` checked and laid over it."""
        if not isinstance(given, dict):
            raise DeviceError(400, "Found invalid JSON body in the request: enforcement must be an object.")
        out = dict(base)
        for key, value in given.items():
            if key not in HTTP_ENFORCEMENT:
                raise DeviceError(400, "Found unexpected json pair at configuration item /ltm/profile/http/"
                                       f"enforcement. The json pair \"{key}\" is not supported.")
            choices = HTTP_ENFORCEMENT[key][1]
            if isinstance(choices[0], int):
                ok = isinstance(value, int) and not isinstance(value, bool) and choices[0] <= value <= choices[1]
            else:
                ok = value in choices
            if not ok:
                raise DeviceError(400, f"invalid value {value!r} for enforcement {key} (the BIG-IP takes "
                                       f"{choices[0]}-{choices[1]})" if isinstance(choices[0], int) else
                                  f"invalid value {value!r} for enforcement {key} (one of {', '.join(choices)})")
            out[key] = value
        return out

    @classmethod
    def _normalise(cls, collection: str, obj: dict) -> None:
        if collection == "ltm/profile/http":
            obj["enforcement"] = cls._enforcement(obj.get("enforcement", {}),
                                                  {k: v[0] for k, v in HTTP_ENFORCEMENT.items()})
        if collection == "ltm/virtual" and "profiles" in obj:
            obj["profiles"] = [p if isinstance(p, dict) else {"name": p, "context": "all"} for p in obj["profiles"]]
        if collection == "ltm/pool" and "members" in obj:
            for m in obj["members"]:
                if "name" not in m:
                    raise DeviceError(400, "pool member needs a name (address:port)")
                if "address" not in m and "fqdn" not in m:
                    m["address"] = re.split(r"[:.](?=\d+$)", m["name"])[0]

    # -- references -------------------------------------------------------------------------------------------
    def references(self, collection: str, obj: dict) -> list[tuple[set[str], str]]:
        """(collections the target may be in, full path) for every reference an object makes."""
        refs: list[tuple[set[str], str]] = []
        if "defaultsFrom" in obj and obj["defaultsFrom"] not in (None, "none"):
            refs.append(({collection}, obj["defaultsFrom"]))
        if collection == "ltm/pool" and obj.get("monitor"):
            refs += [(MONITOR_COLLECTIONS, m) for m in re.findall(r"/[^\s{}]+", obj["monitor"])]
        if collection == "ltm/monitor/https" and obj.get("sslProfile"):
            refs.append(({"ltm/profile/server-ssl"}, obj["sslProfile"]))
        if collection == "ltm/profile/client-ssl":
            for ckc in obj.get("certKeyChain", []):
                refs += [({"sys/file/ssl-cert"}, ckc[k]) for k in ("cert", "chain") if ckc.get(k)]
                if ckc.get("key"):
                    refs.append(({"sys/file/ssl-key"}, ckc["key"]))
        if collection == "ltm/profile/server-ssl" and obj.get("caFile"):
            refs.append(({"sys/file/ssl-cert"}, obj["caFile"]))
        if collection == "ltm/rule":
            refs += [({"ltm/pool"}, p) for p in re.findall(r"(?m)^\s*pool\s+(/\S+)", obj.get("apiAnonymous", ""))]
        if collection == "ltm/virtual":
            refs += [(PROFILE_COLLECTIONS, p["name"]) for p in obj.get("profiles", [])]
            refs += [(PERSISTENCE_COLLECTIONS, p["name"]) for p in obj.get("persist", [])]
            if obj.get("fallbackPersistence") not in (None, "", "none"):
                refs.append((PERSISTENCE_COLLECTIONS, obj["fallbackPersistence"]))
            refs += [({"ltm/rule"}, r) for r in obj.get("rules", [])]
            if obj.get("pool"):
                refs.append(({"ltm/pool"}, obj["pool"]))
        return refs

    def _profile_kinds(self, obj: dict) -> set[str]:
        return {c for p in obj.get("profiles", []) for c in PROFILE_COLLECTIONS if p["name"] in self.objects[c]}

    def _check_virtual(self, obj: dict) -> None:
        """The profile combinations a BIG-IP insists on (01070734:3 / 01070394:3 configuration errors)."""
        kinds = self._profile_kinds(obj)
        full = obj["fullPath"]
        needs = [("ltm/profile/http", "ltm/profile/tcp", "an http profile requires a tcp profile"),
                 ("ltm/profile/client-ssl", "ltm/profile/tcp", "an SSL profile requires a tcp profile"),
                 ("ltm/profile/server-ssl", "ltm/profile/tcp", "an SSL profile requires a tcp profile"),
                 ("ltm/profile/one-connect", "ltm/profile/http", "a OneConnect profile requires an http profile"),
                 ("ltm/profile/ntlm", "ltm/profile/one-connect", "the NTLM profile requires a OneConnect profile"),
                 ("ltm/profile/ntlm", "ltm/profile/http", "the NTLM profile requires an http profile")]
        for have, need, why in needs:
            if have in kinds and need not in kinds:
                raise DeviceError(400, f"01070734:3: Configuration error: Virtual Server ({full}): {why}.")
        persist = [p["name"] for p in obj.get("persist", [])] + \
            ([obj["fallbackPersistence"]] if obj.get("fallbackPersistence") not in (None, "", "none") else [])
        if any(p in self.objects["ltm/persistence/cookie"] for p in persist) and "ltm/profile/http" not in kinds:
            raise DeviceError(400, f"01070309:3: Cookie persistence requires an HTTP or FastHTTP profile to be "
                                   f"associated with the virtual server ({full}).")
        if len([p for p in obj.get("persist", []) if p.get("tmDefault") == "yes"]) > 1:
            raise DeviceError(400, f"01070734:3: Configuration error: Virtual Server ({full}): only one default "
                                   "persistence profile is allowed.")
        for rule in obj.get("rules", []):
            text = self.objects["ltm/rule"].get(rule, {}).get("apiAnonymous", "")
            if re.search(r"\bHTTP::|when HTTP_REQUEST", text) and "ltm/profile/http" not in kinds:
                raise DeviceError(400, f"01070394:3: HTTP_REQUEST event in rule ({rule}) requires an associated "
                                       f"HTTP or FASTHTTP profile on the virtual-server ({full}).")

    def _check_refs(self, collection: str, obj: dict) -> None:
        for colls, target in self.references(collection, obj):
            full = target if target.startswith("/") else f"/{obj['partition']}/{target}"
            if not any(full in self.objects[c] for c in colls):
                what = sorted(colls)[0].rsplit("/", 1)[1] if len(colls) == 1 else \
                    ("monitor" if colls == MONITOR_COLLECTIONS else
                     "persistence profile" if colls == PERSISTENCE_COLLECTIONS else "profile")
                raise DeviceError(400, f"01020036:3: The requested {what} ({full}) was not found.")
        if collection == "ltm/virtual":
            self._check_virtual(obj)

    def _users_of(self, full: str, collection: str):
        for coll, objs in self.objects.items():
            for path, obj in objs.items():
                for colls, target in self.references(coll, obj):
                    if target == full and collection in colls and not (coll == collection and path == full):
                        yield coll, path

    # -- crypto -------------------------------------------------------------------------------------------------
    def install(self, collection: str, full: str, content: bytes) -> dict:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        part, name = split_path(full)
        if part not in self.partitions:
            raise DeviceError(400, f"01020036:3: The requested folder (/{part}) was not found.")
        obj = {"name": name, "partition": part, "fullPath": full, "sourcePath": f"file:{full}"}
        try:
            if collection == "sys/file/ssl-cert":
                cert = x509.load_pem_x509_certificates(content)[0]
                digest = cert.fingerprint(hashes.SHA256()).hex().upper()
                obj["fingerprint"] = "SHA256/" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
            else:
                obj["keyType"] = _key_type(content)
        except ValueError:
            raise DeviceError(400, f"01070712:3: Values ({full}) specified for {TITLE[collection]}: could not be "
                                   "parsed as PEM.") from None
        self.generation += 1
        obj["generation"] = self.generation
        self.objects[collection][full] = obj
        return obj


_KEY_TYPES: dict[bytes, str] = {}


def _key_type(content: bytes) -> str:
    """rsa-private | ec-private for a PEM private key (ValueError if it is not one). Remembered per content: loading
    an RSA key checks it (about 45 ms for 2048 bits), and the push tests install the same key hundreds of times."""
    if content not in _KEY_TYPES:
        from cryptography.hazmat.primitives import serialization
        key = serialization.load_pem_private_key(content, None)
        _KEY_TYPES[content] = "rsa-private" if "RSA" in type(key).__name__ else "ec-private"
    return _KEY_TYPES[content]
