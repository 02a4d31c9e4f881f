"""Names the F5 modules share: what lbsync owns (PREFIX), BIG-IP's built-in objects, the order of object kinds."""

from __future__ import annotations

PREFIX = "lbsync_"     # every object lbsync owns is named with this prefix, in the model's partition
COMMON = "/Common"
# Built-in objects every BIG-IP has; lbsync references them and never changes them.
BUILTIN = {
    "ltm/monitor/http": f"{COMMON}/http", "ltm/monitor/https": f"{COMMON}/https",
    "ltm/monitor/smtp": f"{COMMON}/smtp", "ltm/monitor/tcp": f"{COMMON}/tcp",
    "ltm/profile/http": f"{COMMON}/http", "ltm/profile/client-ssl": f"{COMMON}/clientssl",
    "ltm/profile/server-ssl": f"{COMMON}/serverssl", "ltm/profile/tcp": f"{COMMON}/tcp",
    "ltm/profile/one-connect": f"{COMMON}/oneconnect", "ltm/profile/ntlm": f"{COMMON}/ntlm",
    "ca-bundle": f"{COMMON}/ca-bundle.crt", "redirect-rule": f"{COMMON}/_sys_https_redirect",
    "ltm/persistence/source-addr": f"{COMMON}/source_addr", "ltm/persistence/cookie": f"{COMMON}/cookie",
}
# Dependency order of kinds: creates and modifies in this order, deletes in reverse.
KIND_ORDER = ["sys/file/ssl-key", "sys/file/ssl-cert", "ltm/profile/server-ssl", "ltm/monitor/http",
              "ltm/monitor/https", "ltm/monitor/smtp", "ltm/monitor/tcp", "ltm/pool", "ltm/profile/client-ssl",
              "ltm/profile/http", "ltm/profile/tcp",
              "ltm/profile/one-connect", "ltm/persistence/source-addr", "ltm/persistence/cookie", "ltm/rule",
              "ltm/virtual"]
CRYPTO_KINDS = ("sys/file/ssl-key", "sys/file/ssl-cert")
COOKIE = "lbsync_server"   # the persistence cookie: one name, so OWA and ECP of a host share the server [LB10]
# Where `tmsh load sys config merge` expects the exported files (see README: lbsync cert export --format f5).
SOURCE_DIR = "/var/tmp"
