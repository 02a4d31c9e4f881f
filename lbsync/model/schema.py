"""The JSON Schema of lbsync.yaml (schema version 1).

This is the single statement of the model's shape: `lbsync schema` prints it for editors, and
`validate.check_schema` interprets it to check a model, so the two can never disagree. Facts that JSON Schema
cannot express well (IP/hostname syntax, durations, uniqueness by field, cross references) live in validate.py.
"""

from __future__ import annotations

SERVICES = ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc", "autodiscover"]
MODES = ["offload", "bridge", "passthrough"]
AUTH_METHODS = ["Basic", "Ntlm", "Negotiate", "Forms"]
OA_AUTH = ["Basic", "Ntlm", "Negotiate"]

_port = {"type": "integer", "minimum": 1, "maximum": 65535}
_duration = {"type": ["string", "integer"], "format": "duration",
             "description": "seconds as a number, or a number with a unit: 500ms, 5s, 2m, 1h"}
_env = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
        "description": "name of an environment variable holding the secret (never the secret itself)"}
_health = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "interval": _duration,
        "timeout": _duration,
        "fall": {"type": "integer", "minimum": 1, "maximum": 100},
        "rise": {"type": "integer", "minimum": 1, "maximum": 100},
    },
}


def _per_service(value: dict) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": {s: value for s in SERVICES}}


SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://lbsync.invalid/schema/lbsync-1.json",
    "title": "lbsync model (lbsync.yaml), schema version 1",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "exchange", "servers", "namespaces"],
    "properties": {
        "version": {"const": 1, "description": "schema version of this file"},
        "exchange": {
            "type": "object", "additionalProperties": False, "required": ["version"],
            "properties": {
                "version": {"enum": [2013, 2016, 2019]},
                "cu": {"type": "integer", "minimum": 0, "maximum": 99, "description": "Cumulative Update number"},
                "extended_protection": {"type": "boolean",
                                        "description": "default: true for 2019 with cu >= 14, else false"},
                "mrsproxy": {"type": "boolean", "description": "MRSProxy enabled on EWS (always bridged)"},
                "outlook_anywhere": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "external_hostname": {"type": "string", "format": "hostname"},
                        "internal_hostname": {"type": "string", "format": "hostname"},
                        "external_auth": {"enum": OA_AUTH},
                        "internal_auth": {"enum": OA_AUTH},
                    },
                },
                "auth": _per_service({"type": "array", "minItems": 1, "uniqueItems": True,
                                      "items": {"enum": AUTH_METHODS}}),
            },
        },
        "servers": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "address"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]{0,62}$",
                             "description": "server name as in -Identity \"EX01\\Rpc (Default Web Site)\""},
                    "address": {"type": "string", "format": "host",
                                "description": "IP address or FQDN the load balancer connects to"},
                    "http_port": _port,
                    "https_port": _port,
                },
            },
        },
        "namespaces": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object", "additionalProperties": False, "required": ["host", "services"],
                "properties": {
                    "host": {"type": "string", "format": "hostname"},
                    "vip": {"type": "string", "format": "ip-address"},
                    "port": _port,
                    "services": {"type": "array", "minItems": 1, "uniqueItems": True,
                                 "items": {"enum": SERVICES}},
                },
            },
        },
        "tls": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "default": {"enum": MODES},
                "services": _per_service({"enum": MODES}),
                "profile": {"enum": ["modern", "intermediate", "compat"]},
                "server_ca": {"type": "string", "format": "path"},
                "verify_server": {"type": "boolean",
                                  "description": "verify the servers' certificate when re-encrypting (default "
                                                 "true); false is reported loudly"},
            },
        },
        "certificate": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "pfx": {"type": "string", "format": "path"},
                "password_env": _env,
                "cert": {"type": "string", "format": "path"},
                "key": {"type": "string", "format": "path"},
                "chain": {"type": "string", "format": "path"},
                "warn_days": {"type": "integer", "minimum": 0, "maximum": 3650},
            },
        },
        "health": {
            **_health,
            "properties": {**_health["properties"], "services": _per_service(_health)},
        },
        "targets": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "haproxy": {"type": "object", "additionalProperties": False,
                            "properties": {"cert_path": {"type": "string", "format": "path"}}},
                "nginx": {"type": "object", "additionalProperties": False,
                          "properties": {"plus": {"type": "boolean"},
                                         "cert_path": {"type": "string", "format": "path"},
                                         "key_path": {"type": "string", "format": "path"}}},
                "f5": {"type": "object", "additionalProperties": False,
                       "properties": {"host": {"type": "string", "format": "host"},
                                      "port": _port,
                                      "partition": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.-]{0,63}$"},
                                      "username_env": _env,
                                      "password_env": _env,
                                      "verify_tls": {"type": "boolean"},
                                      "ca_bundle": {"type": "string", "format": "path"}}},
            },
        },
        "allow": {"type": "array", "uniqueItems": True,
                  "items": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                  "description": "finding codes whose errors you accept as warnings"},
    },
}
