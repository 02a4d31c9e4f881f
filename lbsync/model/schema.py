"""The JSON Schema of lbsync.yaml (schema version 1).

This is the single statement of the model's shape: `lbsync schema` prints it for editors, and model.schemacheck
checks a model against this same schema with `jsonschema`, so the two can never disagree. Facts that JSON Schema
cannot express (uniqueness by field, VIP conflicts, cross references) live in model.validate.
"""

from __future__ import annotations

from ..facts import catalog, httpsys, mail
from ..facts.lb import Mode

SERVICES = [str(s) for s in catalog.SERVICE_ORDER]      # HTTP services (layer 7, or passed through by SNI)
MAIL = list(mail.MAIL_KEYS)                               # SMTP, IMAP, POP: layer 4 on their own ports
MODES = [str(m) for m in Mode]
AUTH_METHODS = ["Basic", "Ntlm", "Negotiate", "Forms"]
OA_AUTH = ["Basic", "Ntlm", "Negotiate"]
EXCHANGE_VERSIONS = [v.json for v in catalog.SCRIPTED_VERSIONS]  # what lbsync scripts (the main group's version)
GROUP_VERSIONS = [v.json for v in catalog.VERSION_SERVICES]     # what a server group in coexistence may run
MAIN_GROUP = "main"                              # the implicit group of exchange.version
_group_name = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,31}$",
               "patternErrorMessage": "a group name (a letter, then letters, digits, _ or -; at most 32)"}

_port = {"type": "integer", "minimum": 1, "maximum": 65535}
_duration = {"type": ["string", "integer"], "format": "duration",
             "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$",
             "patternErrorMessage": "a duration: seconds as a number, or 500ms, 5s, 2m, 1h",
             "description": "seconds as a number, or a number with a unit: 500ms, 5s, 2m, 1h"}
_env = {"type": "string", "format": "env-name", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
        "patternErrorMessage": "the NAME of an environment variable (letters, digits, _), never the secret itself",
        "description": "name of an environment variable holding the secret (never the secret itself)"}
_path = {"type": "string", "format": "path", "minLength": 1,
         "description": "a file on this machine (relative to the model's folder)"}
# A path written into a load balancer's configuration: a path on that load balancer. Its grammar keeps it one word
# in every configuration language lbsync writes (no spaces, quotes, ; # { } $ or control characters).
_lb_path = {"type": "string", "format": "lb-path", "pattern": "^/[A-Za-z0-9._@+=,:~/-]+$",
            "patternErrorMessage": "an absolute path on the load balancer: letters, digits and . _ - / @ + = , : ~"}


SERVER_CA_PATH_HELP = ("where tls.server_ca is on this load balancer (default: lbsync-server-ca.pem beside the "
                       "certificate; without tls.server_ca: the system store /etc/ssl/certs/ca-certificates.crt)")


def _d(schema: dict, description: str, **extra) -> dict:
    """A copy of schema with a description (shown by editors on hover) and extra keywords (default, ...)."""
    return {**schema, "description": description, **extra}


_health = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "interval": _d(_duration, "time between two checks of one server", default="5s"),
        "timeout": _d(_duration, "how long one check may take", default="3s"),
        "fall": {"type": "integer", "minimum": 1, "maximum": 100, "default": 3,
                 "description": "failed checks in a row that take a server out of the pool"},
        "rise": {"type": "integer", "minimum": 1, "maximum": 100, "default": 2,
                 "description": "passed checks in a row that put a server back"},
    },
}


def _per_service(value: dict, description: str, keys: list[str] = SERVICES) -> dict:
    return {"type": "object", "additionalProperties": False, "description": description,
            "properties": {s: value for s in keys}}


def _mail_protocol(p: mail.MailProtocol) -> dict:
    return {"type": "object", "additionalProperties": False, "description": p.title,
            "properties": {"ports": {"type": "array", "minItems": 1, "uniqueItems": True,
                                     "items": {"enum": list(p.ports)}, "default": list(p.default_ports),
                                     "description": f"ports published (Exchange's front end: "
                                                    f"{', '.join(map(str, p.ports))})"}}}


SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://lbsync.invalid/schema/lbsync-1.json",
    "title": "lbsync model (lbsync.yaml), schema version 1",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "exchange", "servers", "namespaces"],
    "properties": {
        "version": {"const": 1, "description": "schema version of this file (1)"},
        "exchange": {
            "type": "object", "additionalProperties": False, "required": ["version"],
            "description": "the Exchange organisation behind the load balancer",
            "properties": {
                "version": {"enum": EXCHANGE_VERSIONS,
                            "description": "Exchange Server version of the main server group: 2013, 2016, 2019 "
                                           "or SE (Subscription Edition)"},
                "cu": {"type": "integer", "minimum": 0, "maximum": 99,
                       "description": "Cumulative Update number (decides the Extended Protection default); SE: 0 "
                                      "is RTM"},
                "extended_protection": {"type": "boolean",
                                        "description": "Extended Protection on the servers; default: true for "
                                                       "SE and for 2019 with cu >= 14, else false"},
                "mrsproxy": {"type": "boolean", "default": False,
                             "description": "MRSProxy enabled on EWS; its /EWS/mrsproxy.svc route is always "
                                            "bridged"},
                "outlook_anywhere": {
                    "type": "object", "additionalProperties": False,
                    "description": "Outlook Anywhere (RPC over HTTP) settings written with Set-OutlookAnywhere",
                    "properties": {
                        "external_hostname": {"type": "string", "format": "hostname",
                                              "description": "default: the first namespace carrying rpc"},
                        "internal_hostname": {"type": "string", "format": "hostname",
                                              "description": "default: left as it is on the servers"},
                        "external_auth": {"enum": OA_AUTH, "default": "Negotiate",
                                          "description": "ExternalClientAuthenticationMethod"},
                        "internal_auth": {"enum": OA_AUTH, "default": "Ntlm",
                                          "description": "InternalClientAuthenticationMethod"},
                    },
                },
                "auth": {
                    "type": "object", "additionalProperties": False,
                    "description": "what each virtual directory accepts (decides NTLM affinity rules); Exchange's "
                                   "defaults when omitted; rpc's comes from outlook_anywhere",
                    # Forms exists only on owa and ecp; Outlook Anywhere's auth is set under outlook_anywhere.
                    "properties": {s: {"type": "array", "minItems": 1, "uniqueItems": True,
                                       "items": {"enum": AUTH_METHODS if s in ("owa", "ecp") else OA_AUTH}}
                                   for s in SERVICES if s != "rpc"},
                },
            },
        },
        "servers": {
            "type": "array", "minItems": 1,
            "description": "the Client Access (Mailbox) servers behind the load balancer, configured identically",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "address"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]{0,62}$",
                             "patternErrorMessage": "a server name (letters, digits, hyphens) as in "
                                                    "-Identity \"EX01\\Rpc (Default Web Site)\"",
                             "description": "server name as in -Identity \"EX01\\Rpc (Default Web Site)\""},
                    "address": {"type": "string", "format": "host",
                                "description": "IP address or FQDN the load balancer connects to"},
                    "http_port": _d(_port, "port of the server's front end for offloaded (HTTP) services",
                                    default=80),
                    "https_port": _d(_port, "port of the server's front end for bridged and passthrough "
                                            "services", default=443),
                    "group": _d(_group_name, "server group (coexistence): a name under groups:, or main (the "
                                             "default: the group of exchange.version)", default=MAIN_GROUP),
                },
            },
        },
        "namespaces": {
            "type": "array", "minItems": 1,
            "description": "the host names clients connect to, each with the services it carries",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["host", "services"],
                "properties": {
                    "host": {"type": "string", "format": "hostname",
                             "description": "fully qualified host name (also the SNI name)"},
                    "vip": {"type": "string", "format": "ip-address",
                            "description": "listen address; default: all addresses"},
                    "port": _d(_port, "TLS listen port (80 is the redirect listener)", default=443),
                    "services": {"type": "array", "minItems": 1, "uniqueItems": True,
                                 "items": {"enum": SERVICES + MAIL},
                                 "description": "service keys routed on this namespace (smtp, imap, pop: "
                                                "passed through at layer 4 on their own ports, see mail:)"},
                    "group": _d(_group_name, "the server group whose servers answer this namespace (a legacy "
                                             "namespace names its Exchange 2007/2010 group)", default=MAIN_GROUP),
                },
            },
        },
        "groups": {
            "type": "object",
            "description": "coexistence: other server groups (for example the Exchange 2007/2010 servers behind a "
                           "legacy namespace), each with its Exchange version; servers name theirs with group:",
            "propertyNames": _group_name,
            "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["version"],
                "properties": {
                    "version": {"enum": GROUP_VERSIONS, "description": "Exchange Server version of this group"},
                    "cu": {"type": "integer", "minimum": 0, "maximum": 99,
                           "description": "Cumulative Update (2013/2016/2019/SE groups only; SE: 0 is RTM)"},
                    "extended_protection": {"type": "boolean",
                                            "description": "Extended Protection on this group's servers "
                                                           "(2013/2016/2019/SE groups only)"},
                    "tls": {"type": "object", "additionalProperties": False,
                            "description": "this group's TLS modes (its servers are configured on their own); "
                                           "default: the top-level tls: modes",
                            "properties": {
                                "default": {"enum": MODES, "description": "mode of every service of this group"},
                                "services": _per_service({"enum": MODES}, "per-service mode for this group"),
                            }},
                },
            },
        },
        "tls": {
            "type": "object", "additionalProperties": False,
            "description": "how the load balancer handles TLS",
            "properties": {
                "default": {"enum": MODES, "default": str(Mode.BRIDGE),
                            "description": "mode of every service: offload (HTTP to port 80), bridge (re-encrypt "
                                           "to 443), passthrough (TCP, SNI-routed)"},
                "services": _per_service({"enum": MODES}, "per-service mode overriding tls.default"),
                "profile": {"enum": ["modern", "intermediate", "compat"], "default": "intermediate",
                            "description": "client-side TLS versions and ciphers"},
                "server_ca": _d(_path, "CA bundle that signs the servers' certificates (re-encryption); default: "
                                       "the system CA store; relative to the model's folder"),
                "verify_server": {"type": "boolean", "default": True,
                                  "description": "verify the servers' certificate when re-encrypting; false is "
                                                 "reported loudly"},
            },
        },
        "http": {
            "type": "object", "additionalProperties": False,
            "description": "HTTP limits the load balancers and the Exchange servers share",
            "properties": {
                "max_header_bytes": {
                    "type": "integer", "minimum": httpsys.DEFAULT_REQUEST_BYTES,
                    "maximum": httpsys.RANGE[httpsys.MAX_REQUEST_BYTES][1],
                    "default": httpsys.DEFAULT_REQUEST_BYTES,
                    "description": "largest request line + headers the servers accept (HTTP.sys MaxRequestBytes; "
                                   "above 16384 the Exchange scripts set MaxRequestBytes and MaxFieldLength on every "
                                   "server, and the load balancers' buffers follow): raise it for Kerberos tokens of "
                                   "users in many groups (4/3 x token size + 200, KB 2020943)"},
            },
        },
        "certificate": {
            "type": "object", "additionalProperties": False,
            "description": "the one certificate the load balancer and Exchange share: pfx, or cert + key",
            "properties": {
                "pfx": _d(_path, "PKCS#12 as written by Export-ExchangeCertificate"),
                "password_env": _d(_env, "environment variable holding the PFX password (prompted if unset)"),
                "cert": _d(_path, "PEM certificate (with key)"),
                "key": _d(_path, "PEM private key (with cert)"),
                "chain": _d(_path, "PEM intermediate certificates (with cert + key)"),
                "warn_days": {"type": "integer", "minimum": 0, "maximum": 3650, "default": 30,
                              "description": "warn when the certificate expires within this many days"},
            },
        },
        "health": {
            **_health,
            "description": "health checks on each service's healthcheck.htm",
            "properties": {**_health["properties"],
                           "services": _per_service(_health, "per-service overrides of the health settings",
                                                    SERVICES + MAIL)},
        },
        "mail": {
            "type": "object", "additionalProperties": False,
            "description": "SMTP, IMAP and POP (namespaces list smtp, imap, pop): passed through at layer 4, one "
                           "pool per port, checked by each protocol's greeting",
            "properties": {**{k: _mail_protocol(p) for k, p in mail.PROTOCOLS.items()},
                           "source_address": {"enum": list(mail.SOURCES), "default": mail.SOURCE_LB,
                                              "description": "lb: the servers see the load balancer's address "
                                                             "(SNAT); client: they see the client's (transparent: "
                                                             "their route back must be the load balancer)"}},
        },
        "targets": {
            "type": "object", "additionalProperties": False,
            "description": "the load balancers to render for (none listed: all of them)",
            "properties": {
                "haproxy": {"type": "object", "additionalProperties": False, "description": "HAProxy >= 2.4",
                            "properties": {"cert_path": _d(_lb_path, "PEM bundle path on the HAProxy host",
                                                           default="/etc/haproxy/certs/lbsync.pem"),
                                           "server_ca_path": _d(_lb_path, SERVER_CA_PATH_HELP)}},
                "nginx": {"type": "object", "additionalProperties": False, "description": "NGINX >= 1.22",
                          "properties": {"plus": {"type": "boolean", "default": False,
                                                  "description": "NGINX Plus (keeps NTLM affinity with 'ntlm')"},
                                         "cert_path": _d(_lb_path, "certificate path on the NGINX host",
                                                         default="/etc/nginx/certs/lbsync.crt"),
                                         "key_path": _d(_lb_path, "key path on the NGINX host",
                                                        default="/etc/nginx/certs/lbsync.key"),
                                         "server_ca_path": _d(_lb_path, SERVER_CA_PATH_HELP),
                                         "upstream_keepalive": {
                                             "type": "integer", "minimum": 1, "maximum": 4096, "default": 128,
                                             "description": "idle keep-alive connections to the servers each worker "
                                                            "keeps per pool that may share them (NGINX "
                                                            "'keepalive'): at least the requests a worker has in "
                                                            "flight on a pool at a peak, or server connections are "
                                                            "closed and reopened (a TLS handshake each when "
                                                            "re-encrypting); idle ones count against "
                                                            "worker_connections"}}},
                "f5": {"type": "object", "additionalProperties": False, "description": "F5 BIG-IP",
                       "properties": {"host": {"type": "string", "format": "host",
                                               "description": "management address of the BIG-IP"},
                                      "port": _d(_port, "management port", default=443),
                                      "partition": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.-]{0,63}$",
                                                    "patternErrorMessage": "a BIG-IP partition name",
                                                    "default": "Common", "description": "partition to write to"},
                                      "username_env": _d(_env, "environment variable with the user name",
                                                         default="F5_USER"),
                                      "password_env": _d(_env, "environment variable with the password",
                                                         default="F5_PASSWORD"),
                                      "verify_tls": {"type": "boolean", "default": True,
                                                     "description": "verify the management certificate"},
                                      "ca_bundle": _d(_path, "CA bundle for the management certificate")}},
            },
        },
        "allow": {"type": "array", "uniqueItems": True,
                  "items": {"type": "string", "pattern": "^[a-z0-9-]+$",
                            "patternErrorMessage": "a finding code such as offload-unsupported"},
                  "description": "finding codes whose errors you accept as warnings"},
    },
}
