#!/usr/bin/env python3
"""Data plane: requests/s and p50/p99 latency through lbsync's GENERATED HAProxy / NGINX configuration, per route
kind, against the same binary with a MINIMAL one-listener / one-pool configuration on the same certificate and the
same backends (the ceiling of this machine), and — for the routes whose authentication IIS binds to the connection
(NTLM/Negotiate) — against an NTLM-SAFE hand-written reference (the minimal one with server connections kept to one
client), which is the most such a route can have.

    python bench/dataplane.py                          # HAProxy and NGINX x offload, bridge x every route kind
    python bench/dataplane.py --lb haproxy --modes offload --routes owa --duration 3 --reps 3     # a quick look
    python bench/dataplane.py --variants haproxy-no-httplog,raised-header-limit     # knock settings out

What runs (all on 127.0.0.0/8, every process stopped at the end, also on Ctrl-C):
- backends: ONE real NGINX (1 worker) listening on every simulated Exchange server address 127.0.0.11, .12, ...:
  plain HTTP on the port-80 role, HTTPS (the same test certificate) on the port-443 role; every path answers
  200 with a small static body (health URLs included), so the backends are never the bottleneck (their own figure,
  measured directly, is printed).
- generated: `lbsync` renders the model (Exchange 2013, mail.contoso.com with every service + autodiscover.contoso.com
  on 127.0.0.1:PORT, two servers, Exchange's default authentication, health every 5 s, the default
  http.max_header_bytes) exactly as `lbsync render` does, and the real binary runs it.
  mode "offload": every route on HTTP backends (MRSProxy stays bridged, as always); mode "bridge": every route
  re-encrypted to the HTTPS backends, verifying their certificate. NGINX open source cannot carry NTLM at layer 7
  (finding nginx-ntlm, allowed here): its NTLM routes are measured as generated — no upstream keep-alive.
- routes (--routes, the route kind from the plan's authentication): owa and ecp (forms), eas (Basic), ews (NTLM:
  Negotiate and NTLM). wrk GETs /<vdir>/bench.htm with Host mail.contoso.com.
- minimal: the same binary, one TLS listener with the same certificate, one pool of the same servers, no
  health checks, no routing, no logging, the binary's default TLS settings (session tickets on) except that
  NGINX is given `ssl_protocols TLSv1.2 TLSv1.3` so that both sides negotiate TLS 1.3 (NGINX 1.22's default
  leaves TLS 1.3 out); NGINX upstream keep-alive on, HAProxy keeps server connections alive by default. For
  "bridge", the pool re-encrypts (HAProxy `ssl verify none`, NGINX `proxy_pass https://` without verification).
- ntlm-safe reference (NTLM routes): the minimal configuration with the one change NTLM needs — HAProxy
  `http-reuse never` (a server connection stays with its client), NGINX open source without upstream `keepalive`
  (the only safe choice it has: a new server connection per request).
- workload "keepalive": persistent HTTPS connections. workload "close": `Connection: close` on every request,
  so every request pays a new TCP connection and a TLS handshake (resumed when the server allows it).
- CPUs (--pin, default split when there are two or more): every load balancer runs on the first CPU alone (one
  HAProxy thread, one NGINX worker), wrk and the backends on the others, so what measures never takes CPU from
  what is measured. --pin none: every process on every CPU, the load balancers with a thread / worker per CPU.
- rounds (--schedule): `--reps` rounds per route and workload after one warm-up run each. "together" (default):
  every configuration at once, one wrk each, for the same seconds — whatever else the machine does meets them
  alike — and the figure is REQUESTS PER CPU-SECOND of the load balancer (the configuration compared with's CPU
  time per request / this one's, from the kernel's per-thread schedstat): the configurations share the one CPU,
  and wrk and the backends on the other CPU can become the bottleneck, which would pull every requests/s ratio
  toward 1. "rotate": one configuration after the other, each round starting with the next (A/B/A/B), the figure
  is requests/s. The figure is the MEDIAN of the per-round ratios, beside the medians of requests/s, CPU per
  request and p50/p99 latency of each side, and the spread of the per-round figures. Target: generated/minimal
  >= 0.95 on the forms and Basic routes; generated/reference >= 0.95 on the NTLM routes.

Run it on a quiet machine (see `uptime`): the figure is robust to a steady background, the absolute ones are not.
Output: tables, then one JSON document as the last line of stdout (`--json FILE` also writes it to a file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpuprofile  # noqa: E402
import yaml  # noqa: E402
from common import Children, emit, free_port, loadavg, machine, median, note, rnd, run_main, table, wait_port  # noqa: E402

LUA = Path(__file__).resolve().parent / "wrk_report.lua"
HOST = "mail.contoso.com"
BODY = "lbsync bench backend: 200 OK, a small static body for every path\n"
SERVICES = ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc"]
# route -> the path wrk asks for (a vdir of each kind of authentication Exchange has by default)
ROUTES = {"owa": "/owa/bench.htm", "ecp": "/ecp/bench.htm", "eas": "/Microsoft-Server-ActiveSync/bench.htm",
          "ews": "/EWS/bench.htm", "owa-integrated": "/owa/Integrated/bench.htm", "mapi": "/mapi/bench.htm",
          "oab": "/OAB/bench.htm", "autodiscover": "/Autodiscover/bench.htm"}
DEFAULT_ROUTES = "owa,ecp,eas,ews"
MAIN_MARK = "# bench main context: "   # a variant's line for the main context of nginx.conf (Lb moves it there)
CONNECTIONS = 50             # wrk's connections per configuration (--connections)
RAISED_HEADER_LIMIT = 70656   # a 48,000-byte Kerberos token's request (variant raised-header-limit)


# -- variants: the generated configuration with one setting changed (to find what costs) -----------------------------

def _drop(pattern: str):
    rx = re.compile(pattern, re.M)
    return lambda text, folder: rx.sub("", text)


def _haproxy_no_log(text: str) -> str:
    text = re.sub(r"^\s*log stderr.*\n", "", text, flags=re.M)
    text = re.sub(r"^\s*log global\n", "", text, flags=re.M)
    return re.sub(r"^\s*option (httplog|tcplog|dontlognull)\n", "", text, flags=re.M)


def _no_routing(text: str) -> str:
    text = re.sub(r"^\s*(use_backend|acl|http-request redirect location) .*\n", "", text, flags=re.M)
    return re.sub(r"^(\s*)default_backend no_route_\S+$", rf"\1default_backend owa_{HOST}", text, count=1, flags=re.M)


def _l7_retry(text: str) -> str:
    text = text.replace("retry-on conn-failure\n", "retry-on conn-failure empty-response\n")
    return re.sub(r"^(\s*)option forwardfor\n",
                  r"\1option forwardfor\n\1http-request disable-l7-retry unless METH_GET\n", text, flags=re.M)


def _route_previous(text: str) -> str:
    """The routing as lbsync wrote it in the fourth #15 session: every route's rule tests its prefix both ways
    (`path_beg -i /owa/` or `path -i /owa`, one ACL name), the routes longest path first (a route under another's
    before it, with no exclusion in the other's rule), "/" redirected by an http-request rule that every request
    evaluated before the routes."""
    text = re.sub(r" !ns\d+_\S+", "", text)
    text = re.sub(r"^(\s*)acl (\S+)_exact path -i ", r"\1acl \2 path -i ", text, flags=re.M)
    text = re.sub(r"^\s*use_backend \S+ if \S+_exact \S+\n", "", text, flags=re.M)
    text = re.sub(r"^\n    # the routes under another route's path, .*\n    # prefix\n", "", text, flags=re.M)
    redirects = ""
    for backend, ns in re.findall(r"^\s*use_backend (\S+) if \{ path / \} (\S+)\n", text, re.M):
        block = re.search(rf"^\n# .*\nbackend {re.escape(backend)}\n(?:    .*\n)+", text, re.M)
        location = re.search(r"http-request redirect location (\S+) code 302", block[0])[1]
        redirects += f"    http-request redirect location {location} code 302 if {{ path / }} {ns}\n"
        text = text.replace(block[0], "")
    text = re.sub(r"^\s*use_backend \S+ if \{ path / \} \S+\n", "", text, flags=re.M)
    if redirects:
        text = re.sub(r"^(\n    # \S+: the longest path first)", lambda m: "\n" + redirects + m[1], text, count=1,
                      flags=re.M)
    # each namespace's rules together where its first one is, longest path first
    prefix = dict(re.findall(r"^\s*acl (\S+) path_beg -i (\S+)$", text, re.M))
    rules: dict[str, list[str]] = {}
    for line, ns in re.findall(r"^(    use_backend \S+ if \S+ (ns\d+)\n)", text, re.M):
        rules.setdefault(ns, []).append(line)
    for lines in rules.values():
        first = text.index(lines[0])
        head, tail = text[:first + len(lines[0])], text[first + len(lines[0]):]
        for line in lines[1:]:
            tail = tail.replace(line, "", 1)
        ordered = "".join(sorted(lines, key=lambda ln: -len(prefix[ln.split()[3]])))
        text = head[:first] + ordered + tail
    return text


# the path ACL of one prefix in the fourth session's routing (_route_previous): two lines, one name (groups: indent,
# name, the prefix with "/" added)
ROUTE_ACL = re.compile(r"^(\s*)acl (\S+) path_beg -i (\S+/)\n\s*acl \2 path -i \S+$", re.M)


def _route_var(text: str) -> str:
    """The path read once per request into a variable, lower-cased; each path ACL a case-sensitive prefix test of
    that variable (instead of a fetch of the path, a concat and a case-insensitive test per ACL)."""
    text = text.replace("    http-request set-header X-Forwarded-Proto https\n",
                        "    http-request set-header X-Forwarded-Proto https\n"
                        "    http-request set-var(txn.lbsync_path) path,concat(/),lower\n", 1)
    return ROUTE_ACL.sub(r"\1acl \2 var(txn.lbsync_path) -m beg \3", text)


def _route_field(text: str) -> str:
    """Each path ACL a test of path segments without a copy: `path,field(2,/) -m str -i owa` for /owa/ (the path's
    first segment is "owa": /owa or /owa/...), and for a two-segment prefix (/owa/integrated/) the first segment's
    test and `path,field(3,/) -m str -i integrated`, both in its rule."""
    second: dict[str, str] = {}
    names = {name: prefix for _, name, prefix in ROUTE_ACL.findall(text)}
    by_prefix = {prefix: name for name, prefix in names.items()}

    def acl(m: re.Match) -> str:
        indent, name, prefix = m.groups()
        segments = prefix.strip("/").split("/")
        if len(segments) == 1:
            return f"{indent}acl {name} path,field(2,/) -m str -i {segments[0]}"
        parent = by_prefix.get(f"/{segments[0]}/")
        if parent is None:
            raise SystemExit(f"haproxy-route-field: no ACL for /{segments[0]}/")
        second[name] = parent
        return f"{indent}acl {name} path,field(3,/) -m str -i {segments[1]}"
    text = ROUTE_ACL.sub(acl, text)
    for name, parent in second.items():
        text = re.sub(rf"^(\s*use_backend \S+ if {re.escape(name)}) ", rf"\1 {parent} ", text, flags=re.M)
    return text


def _route_concat(text: str) -> str:
    """Each path ACL one test with a copy, as lbsync wrote it before the fourth #15 session:
    `acl X path,concat(/) -m beg -i /owa/` (the path with "/" added begins with the prefix and "/")."""
    return ROUTE_ACL.sub(lambda m: f"{m[1]}acl {m[2]} path,concat(/) -m beg -i {m[3]}", text)


def _route_map(text: str, folder: Path) -> str:
    """One map lookup per namespace: `use_backend %[path,concat(/),lower,map_beg(FILE)] if <host ACL>`, the map
    (prefix -> pool) in a file beside the configuration; HAProxy indexes case-sensitive prefixes in a tree and
    returns the longest match, so /owa/integrated/ wins over /owa/ whatever the order."""
    folder.mkdir(parents=True, exist_ok=True)
    prefixes = {name: prefix for _, name, prefix in ROUTE_ACL.findall(text)}
    maps: dict[str, list[str]] = {}
    for pool, path_acl, ns in re.findall(r"^\s*use_backend (\S+) if (\S+) (\S+)$", text, re.M):
        maps.setdefault(ns, []).append(f"{prefixes[path_acl].lower()} {pool}\n")
    text = ROUTE_ACL.sub("", text)
    text = re.sub(r"^\s*use_backend \S+ if \S+ \S+\n", "", text, flags=re.M)
    rules = ""
    for ns, lines in maps.items():
        path = folder / f"{ns}.map"
        path.write_text("".join(lines))
        rules += f"    use_backend %[path,concat(/),lower,map_beg({path})] if {ns}\n"
    return re.sub(r"^(\s*default_backend no_route_)", rules.replace("\\", "\\\\") + r"\1", text, count=1, flags=re.M)


def _nginx_session_cache(text: str) -> str:
    return "ssl_session_cache shared:lbsync_tls:10m;\nssl_session_timeout 1d;\n" + text


VARIANTS = {
    # HAProxy
    "haproxy-no-httplog": ("haproxy", "no per-request log line (option httplog, log global, log stderr removed)",
                           lambda t, d: _haproxy_no_log(t)),
    "haproxy-log-no-request": ("haproxy", "the log lines without the request line (option httplog replaced by its "
                               "log-format without %{+Q}r: HAProxy no longer copies each request line for them)",
                               lambda t, d: re.sub(r"^(\s*)option httplog\n",
                                                   r'\1log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST '
                                                   r'%B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq"\n', t, flags=re.M)),
    "haproxy-default-tls": ("haproxy", "the binary's default TLS settings (ssl-default-bind-* removed)",
                            _drop(r"^\s*ssl-default-bind-(ciphers|ciphersuites|options).*\n")),
    "haproxy-tickets": ("haproxy", "TLS session tickets on (no-tls-tickets removed)",
                        lambda t, d: t.replace(" no-tls-tickets", "")),
    "haproxy-no-server-sni": ("haproxy", "no SNI toward the servers (sni str(...) removed from the server lines; the "
                              "servers' name is then not verified: a measurement only, never deploy it)",
                              lambda t, d: re.sub(r" sni str\(\S+\)", "", t)),
    "haproxy-reuse-safe": ("haproxy", "server connections shared between clients (http-reuse never removed: the "
                           "defaults' http-reuse safe applies)", _drop(r"^\s*http-reuse never\n")),
    "haproxy-log-every-request": ("haproxy", "a log line for every request (option dontlog-normal removed)",
                                  _drop(r"^\s*option dontlog-normal\n")),
    "haproxy-l7-retry": ("haproxy", "L7 retries of GET/HEAD as before #15 (retry-on conn-failure empty-response, "
                         "http-request disable-l7-retry unless METH_GET)",
                         lambda t, d: _l7_retry(t)),
    "haproxy-no-routing": ("haproxy", "no routing: every request to the OWA pool (use_backend rules, path and host "
                           "ACLs and the / redirect removed; measure it on --routes owa)", lambda t, d: _no_routing(t)),
    "haproxy-no-headers": ("haproxy", "no X-Forwarded-For / -Proto, no h1-case-adjust",
                           _drop(r"^\s*(option forwardfor|http-request set-header X-Forwarded-Proto https|"
                                 r"option h1-case-adjust-bogus-client)\n")),
    "haproxy-no-xff": ("haproxy", "no X-Forwarded-For (option forwardfor removed)", _drop(r"^\s*option forwardfor\n")),
    "haproxy-no-xfp": ("haproxy", "no X-Forwarded-Proto (its set-header removed)",
                       _drop(r"^\s*http-request set-header X-Forwarded-Proto https\n")),
    "haproxy-no-case-adjust": ("haproxy", "response header names as HAProxy writes them (lower case: "
                               "option h1-case-adjust-bogus-client removed)",
                               _drop(r"^\s*option h1-case-adjust-bogus-client\n")),
    "haproxy-route-previous": ("haproxy", "the routing of the fourth #15 session: each route's rule tests its "
                               "prefix both ways (path_beg -i /owa/ or path -i /owa), longest path first, \"/\" "
                               "redirected by an http-request rule evaluated before the routes",
                               lambda t, d: _route_previous(t)),
    # the older routing variants below change the fourth session's routing (haproxy-route-previous)
    "haproxy-route-var": ("haproxy", "the path read once into a lower-cased variable, each path ACL a case-sensitive "
                          "prefix test of it", lambda t, d: _route_var(_route_previous(t))),
    "haproxy-same": ("haproxy", "the generated configuration unchanged (a comment added): an A/A control, its figure "
                     "shows the method's own error", lambda t, d: t + "# A/A control\n"),
    "haproxy-route-field": ("haproxy", "each path ACL a test of path segments, no copy (path,field(2,/) -m str -i "
                            "owa; two-segment prefixes also field(3,/))",
                            lambda t, d: _route_field(_route_previous(t))),
    "haproxy-pattern-cache": ("haproxy", "HAProxy's pattern lookup cache at its default (tune.pattern.cache-size 0 "
                              "removed: each case-insensitive test hashes the path or host and looks the hash up in "
                              "an LRU of 10,000; lbsync before the fourth #15 session)",
                              _drop(r"^\s*tune\.pattern\.cache-size 0\n")),
    "haproxy-route-concat": ("haproxy", "each path ACL one test of a copy (path,concat(/) -m beg -i /owa/) instead of "
                             "path_beg -i /owa/ or path -i /owa (lbsync before the fourth #15 session)",
                             lambda t, d: _route_concat(_route_previous(t))),
    "haproxy-route-map": ("haproxy", "one map_beg lookup per namespace (prefix -> pool, a map file beside the "
                          "configuration) instead of one ACL per path",
                          lambda t, d: _route_map(_route_previous(t), d)),
    # NGINX
    "nginx-session-cache": ("nginx", "ssl_session_cache shared:lbsync_tls:10m + ssl_session_timeout 1d added "
                            "(Mozilla's intermediate recommendation with tickets off)",
                            lambda t, d: _nginx_session_cache(t)),
    "nginx-tickets": ("nginx", "ssl_session_tickets on",
                      lambda t, d: t.replace("ssl_session_tickets off;", "ssl_session_tickets on;")),
    "nginx-default-tls": ("nginx", "the binary's default TLS settings (ssl_protocols/ciphers/prefer/tickets removed)",
                          _drop(r"^\s*ssl_(protocols|ciphers|prefer_server_ciphers|session_tickets) .*\n")),
    "nginx-pcre-jit": ("nginx", "regular expressions compiled by PCRE's JIT (pcre_jit on, in the main context of "
                       "nginx.conf, which the generated include cannot set)",
                       lambda t, d: MAIN_MARK + "pcre_jit on;\n" + t),
    "nginx-same": ("nginx", "the generated configuration unchanged (a comment added): an A/A control",
                   lambda t, d: t + "# A/A control\n"),
    "nginx-keepalive-32": ("nginx", "32 idle server connections kept per pool and worker (lbsync before the third "
                           "#15 session; targets.nginx.upstream_keepalive 32)",
                           lambda t, d: re.sub(r"^    keepalive \d+;$", "    keepalive 32;", t, flags=re.M)),
    "nginx-no-verify": ("nginx", "the servers' certificates not verified (proxy_ssl_verify off; a measurement only: "
                        "never deploy it)", lambda t, d: t.replace("proxy_ssl_verify on;", "proxy_ssl_verify off;")),
    "nginx-server-tls12": ("nginx", "NGINX's default TLS versions toward the servers (proxy_ssl_protocols removed: "
                           "TLS 1.0-1.2 in 1.22, no TLS 1.3 key share in every handshake)",
                           _drop(r"^\s*proxy_ssl_protocols .*\n")),
}


def _compose(names: list[str]):
    def apply(text: str, folder: Path) -> str:
        for name in names:
            text = VARIANTS[name][2](text, folder)
        return text
    return apply


# variants of the MODEL (rendered for either load balancer): model key changes
MODEL_VARIANTS = {
    "raised-header-limit": (f"http.max_header_bytes {RAISED_HEADER_LIMIT} (Kerberos tokens of users in many groups: "
                            "HAProxy tune.bufsize 70656, NGINX large_client_header_buffers 2 64k)",
                            {"http": {"max_header_bytes": RAISED_HEADER_LIMIT}}),
}


# -- the pieces ------------------------------------------------------------------------------------------------------

class Server:
    def __init__(self, i: int):
        self.name = f"EX{i + 1:02d}"
        self.address = f"127.0.0.{11 + i}"
        self.http_port = free_port(self.address)
        self.https_port = free_port(self.address)


def nginx_user() -> str:
    return "user root;\n" if os.geteuid() == 0 else ""


def temp_paths(folder: Path) -> str:
    return "".join(f"    {k}_temp_path {folder}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def backend_conf(folder: Path, servers: list[Server], files: dict) -> Path:
    """One NGINX (1 worker) answering on every simulated server address: HTTP and HTTPS."""
    body = BODY.replace("\n", "\\n")
    http = "".join(f"        listen {s.address}:{s.http_port} backlog=4096;\n" for s in servers)
    https = "".join(f"        listen {s.address}:{s.https_port} ssl backlog=4096;\n" for s in servers)
    text = (f"daemon off;\nmaster_process on;\nworker_processes 1;\n{nginx_user()}pid {folder}/nginx.pid;\n"
            "error_log stderr warn;\nworker_rlimit_nofile 20000;\n"
            "events { worker_connections 8192; }\n"
            "http {\n    access_log off;\n    keepalive_requests 1000000;\n    keepalive_timeout 300s;\n"
            + temp_paths(folder) +
            "    server {\n" + http +
            f"        location / {{ default_type text/plain; return 200 \"{body}\"; }}\n    }}\n"
            "    server {\n" + https +
            f"        ssl_certificate {files['fullchain']};\n        ssl_certificate_key {files['key']};\n"
            "        ssl_session_cache shared:backend:10m;\n"
            f"        location / {{ default_type text/plain; return 200 \"{body}\"; }}\n    }}\n"
            "}\n")
    conf = folder / "backend.conf"
    conf.write_text(text)
    return conf


def model_doc(mode: str, target: str, servers: list[Server], port: int, files: dict,
              extra: dict | None = None) -> dict:
    """The benchmark's model: Exchange's default authentication on every virtual directory (NGINX open source:
    nginx-ntlm allowed, its NTLM routes measured as generated), the default header limit unless `extra` says."""
    exchange = {"version": 2013, "cu": 23, "mrsproxy": True,
                "outlook_anywhere": {"external_hostname": HOST}}
    # the load balancer runs here: the servers' CA is this machine's file (server_ca_path), as in the lab
    if target == "haproxy":
        targets = {"haproxy": {"cert_path": str(files["combined"]), "server_ca_path": str(files["ca"])}}
    else:
        targets = {"nginx": {"plus": False, "cert_path": str(files["fullchain"]), "key_path": str(files["key"]),
                             "server_ca_path": str(files["ca"])}}
    doc = {
        "version": 1, "exchange": exchange,
        "servers": [{"name": s.name, "address": s.address, "http_port": s.http_port, "https_port": s.https_port}
                    for s in servers],
        "namespaces": [{"host": HOST, "vip": "127.0.0.1", "port": port, "services": SERVICES},
                       {"host": "autodiscover.contoso.com", "vip": "127.0.0.1", "port": port,
                        "services": ["autodiscover"]}],
        "tls": {"default": mode, "profile": "intermediate", "server_ca": str(files["ca"])},
        "health": {"interval": "5s", "fall": 3, "rise": 2},
        "targets": targets,
        **({"allow": ["nginx-ntlm"]} if target == "nginx" else {}),
    }
    return doc | (extra or {})


def generated(lb: str, mode: str, servers, port: int, files: dict, work: Path,
              extra: dict | None = None) -> tuple[str, dict]:
    """The configuration `lbsync render` writes for this model (HAProxy: haproxy.cfg; NGINX: lbsync.conf), and the
    route facts: service -> {kind, shares server connections, path prefixes}."""
    from lbsync.model import load_model
    from lbsync.plan import build_plan
    from lbsync.targets import RenderOptions
    work.mkdir(parents=True, exist_ok=True)
    model = work / "lbsync.yaml"
    model.write_text(yaml.safe_dump(model_doc(mode, lb, servers, port, files, extra), sort_keys=False))
    plan = build_plan(load_model(model))
    blocking = plan.blocking({lb})
    if blocking:
        raise SystemExit(f"the benchmark model is refused: {[f.code for f in blocking]}")
    routes = {s.service: {"kind": route_kind(s.auth), "share_server_connections": s.share_server_connections,
                          "mode": str(s.mode)} for s in plan.services if s.namespace == HOST}
    facts = {"routes": routes, "route_count": len(plan.services), "max_header_bytes": plan.max_header_bytes}
    extra_opts = {"redirect_port": free_port()}
    if lb == "haproxy":
        from lbsync.targets import haproxy
        extra_opts["stats_socket"] = str(work / "admin.sock")
        out = haproxy.render(plan, RenderOptions(extra=extra_opts))
        return out[haproxy.CONFIG].content, facts
    from lbsync.targets import nginx
    extra_opts["socket_dir"] = str(work)
    out = nginx.render(plan, RenderOptions(extra=extra_opts))
    return out[nginx.HTTP_CONF].content, facts


def route_kind(auth) -> str:
    """forms, basic or ntlm: how a route's clients authenticate (the plan's authentication of its vdir)."""
    if {"Ntlm", "Negotiate"} & set(auth):
        return "ntlm"
    return "forms" if "Forms" in auth else "basic"


def minimal(lb: str, mode: str, servers, port: int, files: dict, *, ntlm_safe: bool = False) -> str:
    """The minimal configuration; ntlm_safe: the NTLM-safe reference (a server connection stays with its client:
    HAProxy http-reuse never; NGINX open source: no upstream keepalive)."""
    tls = mode == "bridge"
    if lb == "haproxy":
        members = "".join(f"    server {s.name} {s.address}:{s.https_port if tls else s.http_port}"
                          f"{' ssl verify none' if tls else ''}\n" for s in servers)
        return ("defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n"
                f"frontend fe\n    bind 127.0.0.1:{port} ssl crt {files['combined']}\n    default_backend be\n\n"
                "backend be\n" + ("    http-reuse never\n" if ntlm_safe else "") + members)
    members = "".join(f"    server {s.address}:{s.https_port if tls else s.http_port};\n" for s in servers)
    # an idle-connection cache larger than wrk's connections (never lbsync's setting, which is what is measured):
    # the minimal configuration is the ceiling of the binary, one that never closes and reopens server connections
    keepalive = max(256, 2 * CONNECTIONS)
    return ("upstream be {\n" + members + ("" if ntlm_safe else f"    keepalive {keepalive};\n") + "}\n"
            f"server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name _;\n"
            f"    ssl_certificate {files['fullchain']};\n    ssl_certificate_key {files['key']};\n"
            # NGINX 1.22's default is TLSv1 TLSv1.1 TLSv1.2 (TLS 1.3 joined the default in 1.23.4): without this
            # line wrk would negotiate TLS 1.2 with the minimal config and TLS 1.3 with the generated one, and a
            # TLS 1.2 resumption (no key exchange) would be compared with a TLS 1.3 one (a fresh ECDHE).
            "    ssl_protocols TLSv1.2 TLSv1.3;\n"
            f"    location / {{\n        proxy_pass {'https' if tls else 'http'}://be;\n"
            "        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n    }\n}\n")


class Pinning:
    """Which CPUs the load balancer gets and which the rest (wrk and the backends) get. "split": the load balancer
    alone on the first CPU (one HAProxy thread, one NGINX worker), wrk and the backends on the others, so that the
    load balancer is the bottleneck and its CPU is not shared with what measures it; "none": every process on every
    CPU (the load balancer with as many threads / workers as CPUs), as before."""

    def __init__(self, mode: str):
        cpus = sorted(os.sched_getaffinity(0))
        if mode == "auto":
            mode = "split" if len(cpus) >= 2 else "none"
        if mode == "split" and len(cpus) < 2:
            raise SystemExit("--pin split needs at least two CPUs")
        self.mode = mode
        self.lb_cpus = set(cpus[:1]) if mode == "split" else set(cpus)
        self.rest_cpus = set(cpus[1:]) if mode == "split" else set(cpus)

    def _preexec(self, cpus: set[int]):
        return lambda: os.sched_setaffinity(0, cpus)

    def lb(self) -> dict:
        return {"preexec_fn": self._preexec(self.lb_cpus)} if self.mode == "split" else {}

    def rest(self) -> dict:
        return {"preexec_fn": self._preexec(self.rest_cpus)} if self.mode == "split" else {}

    def workers(self) -> str:
        """NGINX worker_processes for the load balancer (HAProxy takes its thread count from its CPUs)."""
        return str(len(self.lb_cpus)) if self.mode == "split" else "auto"

    def describe(self) -> str:
        if self.mode == "none":
            return f"none: every process on CPUs {sorted(self.lb_cpus)}"
        return f"split: load balancer on CPU {sorted(self.lb_cpus)}, wrk and backends on CPUs {sorted(self.rest_cpus)}"


PIN = Pinning("none")


def lb_argv(lb: str, text: str, folder: Path, *, check: bool = False) -> list[str]:
    """Write one configuration text into folder (NGINX: inside a complete nginx.conf, a variant's main-context lines
    moved there) and return the command that runs it in the foreground — or, with `check`, that only checks it."""
    folder.mkdir(parents=True, exist_ok=True)
    if lb == "haproxy":
        conf = folder / "haproxy.cfg"
        conf.write_text(text)
        return ["haproxy", "-c" if check else "-db", "-f", str(conf)]
    from lbsync.targets.nginx import nginx_wrapper
    inc = folder / "lbsync.conf"
    inc.write_text(text)
    main = "".join(ln[len(MAIN_MARK):] + "\n" for ln in text.splitlines() if ln.startswith(MAIN_MARK))
    conf = nginx_wrapper(folder, inc, None, None,
                         extra_main=f"daemon off;\nmaster_process on;\nworker_processes {PIN.workers()};\n"
                                    "worker_rlimit_nofile 20000;\n" + nginx_user() + main)
    return ["nginx", *(["-t"] if check else []), "-c", str(conf), "-p", str(folder), "-e", "stderr"]


class Lb:
    """One load-balancer process running one configuration text."""

    def __init__(self, children: Children, lb: str, label: str, text: str, port: int, folder: Path):
        self.lb, self.label, self.port = lb, label, port
        self.folder = folder
        argv = lb_argv(lb, text, folder)
        self.log = folder / f"{lb}.log"
        self.proc = children.start(argv, self.log, **PIN.lb())
        wait_port("127.0.0.1", port, 15, self.proc)

    def _processes(self):
        """(the /proc/PID folder, the fields of its stat after the command) of every process of this load balancer:
        its process group (the master and NGINX's workers; HAProxy's threads are in its one process; the child runs
        in a session of its own)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.proc.pid:        # pgrp
                    yield stat.parent, fields
            except (OSError, ValueError, IndexError):
                continue

    def pids(self) -> set[int]:
        """Every thread of every process of this load balancer: perf names a sample by its thread's id."""
        out = set()
        for folder, _ in self._processes():
            try:
                out.add(int(folder.name))
                out.update(int(t.name) for t in (folder / "task").iterdir())
            except (OSError, ValueError):
                continue
        return out

    def cpu_seconds(self) -> float:
        """CPU time of every process of this load balancer so far. Every thread's time on a CPU in nanoseconds
        (/proc/PID/task/TID/schedstat); where the kernel has no schedstat, user + system time in clock ticks
        (10 ms: about 1 % of a 3-second run of one CPU)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for folder, fields in self._processes():
            try:
                tasks = list((folder / "task").glob("*/schedstat"))
                if tasks:
                    total += sum(int(t.read_text().split()[0]) for t in tasks) / 1e9
                else:
                    total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, ValueError, IndexError):
                continue
        return total

    def probe(self, ca: Path, path: str, timeout: float = 10) -> None:
        """A GET of `path` through it answers 200 with the backends' body (retried while it warms up)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                status, body = https_get(self.port, ca, path)
                if status == 200 and body == BODY.encode():
                    return
                last = f"{status} {body[:120]!r}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(f"{self.lb} {self.label}: {path} does not answer 200 with the backend body: {last}\n"
                           + self.log.read_text(errors="replace")[-2000:])


def https_get(port: int, ca: Path, path: str) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), 5) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOST) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def resumes(port: int, ca: Path, path: str) -> bool:
    """Does a second TLS connection resume the first one's session (what wrk offers on every reconnect)?"""
    ctx = ssl.create_default_context(cafile=str(ca))
    session = None
    reused = False
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", port), 5) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOST, session=session) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                while s.recv(65536):
                    pass
                reused = s.session_reused
                session = s.session
    return reused


class Sni:
    """How wrk's TLS handshakes name the server. wrk sends the URL's host as SNI and resolves it itself, so to
    send the namespace name (as every real client does) the URL must say https://mail.contoso.com:PORT and that
    name must resolve to 127.0.0.1: wrk then runs in a private mount namespace (`unshare -m`, root only) where a
    hosts file of our own is bind-mounted over /etc/hosts — the machine's /etc/hosts is never touched.
    Without that (not root, no unshare), wrk connects to https://127.0.0.1:PORT and sends "127.0.0.1" as SNI:
    NGINX then answers the handshake with its default server block, not the namespace's (see the README)."""

    def __init__(self, mode: str, folder: Path):
        self.hosts = folder / "hosts"
        self.hosts.write_text(f"127.0.0.1 localhost {HOST} autodiscover.contoso.com\n")
        if mode == "auto":
            mode = "namespace" if self._private_hosts_work() else "ip"
        self.mode = mode

    def _wrap(self, argv: list[str]) -> list[str]:
        return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(self.hosts), *argv]

    def _private_hosts_work(self) -> bool:
        if os.geteuid() != 0 or not shutil.which("unshare"):
            return False
        try:
            out = subprocess.run(self._wrap(["getent", "hosts", HOST]), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0 and out.stdout.startswith("127.0.0.1")

    def url(self, port: int, path: str) -> str:
        return f"https://{HOST if self.mode == 'namespace' else '127.0.0.1'}:{port}{path}"

    def argv(self, argv: list[str]) -> list[str]:
        return self._wrap(argv) if self.mode == "namespace" else argv


SNI: Sni | None = None


def wrk_argv(url: str, workload: str, duration: float, threads: int, conns: int,
             host: str | None = HOST) -> tuple[list[str], dict]:
    env = dict(os.environ, LBSYNC_BENCH_CLOSE="1" if workload == "close" else "0")
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{int(duration)}s", "--latency", "-s", str(LUA)]
    if host:
        argv += ["-H", f"Host: {host}"]
    argv = argv + [url]
    if url.startswith(f"https://{HOST}:") and SNI is not None:
        argv = SNI.argv(argv)
    return argv, env


def wrk_result(returncode: int, stdout: str, stderr: str) -> dict:
    line = next((ln for ln in stdout.splitlines() if ln.startswith("LBSYNC_WRK ")), None)
    if returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({returncode}): {stdout[-1000:]} {stderr[-1000:]}")
    r = json.loads(line.split(" ", 1)[1])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return r


def wrk(url: str, workload: str, duration: float, threads: int, conns: int, host: str | None = HOST) -> dict:
    argv, env = wrk_argv(url, workload, duration, threads, conns, host)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=duration + 60, **PIN.rest())
    return wrk_result(proc.returncode, proc.stdout, proc.stderr)


def wrk_together(urls: dict[str, str], workload: str, duration: float, threads: int, conns: int) -> dict[str, dict]:
    """One wrk per configuration, all started at the same moment and running for the same seconds: whatever the
    machine does meanwhile, every configuration meets it alike."""
    procs = {}
    try:
        for label, url in urls.items():
            argv, env = wrk_argv(url, workload, duration, threads, conns)
            procs[label] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                            **PIN.rest())
        out = {}
        for label, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=duration + 60)
            out[label] = wrk_result(proc.returncode, stdout, stderr)
        return out
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# -- the benchmark ---------------------------------------------------------------------------------------------------

def run_rounds(lbs: dict[str, Lb], order: list[str], path: str, workload: str, args, what: str,
               profile: Path | None = None) -> tuple[dict[str, list], dict | None]:
    """`--reps` rounds (each config once per round) after one warm-up run each. --schedule rotate: one config after
    the other, each round starting with the next one in `order`; together: every config at once, one wrk each.
    profile (together only): `perf record` of the load balancers' CPUs over every counted round into that file,
    and the returned attribution of each config's CPU per request against the minimal one's (bench/cpuprofile.py;
    perf's own cost falls on every config alike)."""
    runs: dict[str, list[dict]] = {k: [] for k in order}
    attributed = None
    for label in order:  # warm-up (not counted)
        wrk(SNI.url(lbs[label].port, path), workload, 1, args.threads, args.connections)
    recorder = cpuprofile.Recorder(profile, PIN.lb_cpus) if profile and args.schedule == "together" else None
    if recorder:
        recorder.start()
    finished = False
    try:
        for rep in range(args.reps):
            before = {label: lbs[label].cpu_seconds() for label in order}
            started = time.monotonic()
            if args.schedule == "together":
                results = wrk_together({label: SNI.url(lbs[label].port, path) for label in order}, workload,
                                       args.duration, args.threads, args.connections)
            else:
                results = {}
                # each round starts with the next config (a rotation): no config always runs right after the same one
                for label in order[rep % len(order):] + order[:rep % len(order)]:
                    before[label] = lbs[label].cpu_seconds()
                    results[label] = wrk(SNI.url(lbs[label].port, path), workload, args.duration, args.threads,
                                         args.connections)
                    results[label]["cpu_after"] = lbs[label].cpu_seconds()
            wall = time.monotonic() - started
            used = 0.0
            for label in order:
                r = results[label]
                after = r.pop("cpu_after", None)
                after = lbs[label].cpu_seconds() if after is None else after
                used += after - before[label]
                r["cpu_us_per_request"] = (after - before[label]) * 1e6 / max(r["requests"], 1)
                r["load1"] = loadavg()
                runs[label].append(r)
            # how busy the load balancers' CPUs were over the round (together: ~1.0 when they are the bottleneck, as the
            # figure assumes; lower: something else — wrk, the backends — limited them)
            busy = used / wall / len(PIN.lb_cpus) if args.schedule == "together" else None
            for label in order:
                r = results[label]
                r["lb_cpu_busy"] = busy
                note(f"  {what:22} {workload:9} rep {rep + 1}/{args.reps} {label:22} {r['rps']:9.0f} req/s  p50 "
                     f"{r['p50_us'] / 1000:6.2f} ms  p99 {r['p99_us'] / 1000:7.2f} ms  "
                     f"{r['cpu_us_per_request']:6.1f} us CPU/req  errors {r['errors']}"
                     + (f"  LB CPU busy {busy:.2f}" if busy is not None else ""))
        finished = True
    finally:
        if recorder:
            try:
                recorder.stop()     # also when a round failed: perf must not go on recording the CPU
            except Exception:
                if finished:
                    raise           # otherwise the round's own error is the one to see
    if recorder:
        per_kreq = cpuprofile.per_kilo_request(cpuprofile.samples(profile),
                                               {label: lbs[label].pids() for label in order},
                                               {label: sum(r["requests"] for r in runs[label]) for label in order})
        attributed = cpuprofile.attribution(per_kreq, "minimal")
    return runs, attributed


def summarise(runs: dict[str, list[dict]], base: str = "minimal") -> dict:
    """Per config: medians, and the median of its per-round ratios to `base` (and to the reference, if run)."""
    out = {}
    for label, rs in runs.items():
        ratios = [r["rps"] / b["rps"] for r, b in zip(rs, runs[base])]
        entry = {
            "rps_median": rnd(median(r["rps"] for r in rs), 1),
            "p50_ms_median": rnd(median(r["p50_us"] for r in rs) / 1000),
            "p99_ms_median": rnd(median(r["p99_us"] for r in rs) / 1000),
            "ratio_median": rnd(median(ratios)),
            "ratios": [rnd(x) for x in ratios],
            # the load balancer's own CPU time per request, and minimal's / this one's (1.0: as cheap as minimal)
            "cpu_us_per_request_median": rnd(median(r["cpu_us_per_request"] for r in rs), 1),
            "cpu_ratio_median": rnd(median(b["cpu_us_per_request"] / r["cpu_us_per_request"]
                                           for r, b in zip(rs, runs[base]) if r["cpu_us_per_request"] > 0)),
            "errors": sum(r["errors"] for r in rs),
            "lb_cpu_busy_median": (rnd(median(r["lb_cpu_busy"] for r in rs))
                                   if all(r["lb_cpu_busy"] is not None for r in rs) else None),
            "runs": [{k: r[k] for k in ("rps", "p50_us", "p99_us", "cpu_us_per_request", "errors", "load1",
                                        "lb_cpu_busy")}
                     for r in rs],
        }
        if "ntlm-safe" in runs and label != "ntlm-safe":
            entry["ratio_to_ntlm_safe_median"] = rnd(median(r["rps"] / b["rps"] for r, b in zip(rs, runs["ntlm-safe"])))
            entry["cpu_ratio_to_ntlm_safe_median"] = rnd(median(
                b["cpu_us_per_request"] / r["cpu_us_per_request"]
                for r, b in zip(rs, runs["ntlm-safe"]) if r["cpu_us_per_request"] > 0))
        entry["cpu_ratios"] = [rnd(b["cpu_us_per_request"] / r["cpu_us_per_request"])
                               for r, b in zip(rs, runs[base]) if r["cpu_us_per_request"] > 0]
        out[label] = entry
    return out


def round_figures(config: dict, base: dict, per_cpu: bool) -> list[float]:
    """The figure of each round: requests per CPU-second (base's CPU per request / config's) or requests/s."""
    if per_cpu:
        return [rnd(b["cpu_us_per_request"] / r["cpu_us_per_request"])
                for r, b in zip(config["runs"], base["runs"]) if r["cpu_us_per_request"] > 0]
    return [rnd(r["rps"] / b["rps"]) for r, b in zip(config["runs"], base["runs"])]


def figure_of(schedule: str, base: str) -> str:
    """The key of the figure a result is held to. --schedule together: requests per CPU-second of the load balancer
    (minimal's CPU per request / this one's) — every configuration shares one CPU and the machine's other CPUs
    (wrk, the backends) can be the bottleneck, which would pull every requests/s ratio toward 1; rotate: requests/s,
    each configuration alone on the machine."""
    if schedule == "together":
        return "cpu_ratio_median" if base == "minimal" else "cpu_ratio_to_ntlm_safe_median"
    return "ratio_median" if base == "minimal" else "ratio_to_ntlm_safe_median"


def target_of(kind: str) -> tuple[str, float]:
    """What a route kind is held to: (the config it is compared with, the ratio it must reach)."""
    return ("ntlm-safe", 0.95) if kind == "ntlm" else ("minimal", 0.95)


def main(argv=None) -> int:
    global SNI, PIN, CONNECTIONS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lb", default="haproxy,nginx", help="haproxy,nginx")
    ap.add_argument("--modes", default="offload,bridge", help="offload,bridge")
    ap.add_argument("--routes", default=DEFAULT_ROUTES, help=f"comma-separated, of {', '.join(ROUTES)} (default "
                    f"{DEFAULT_ROUTES}: forms, forms, Basic, NTLM)")
    ap.add_argument("--workloads", default="keepalive,close", help="keepalive,close")
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    ap.add_argument("--reps", type=int, default=5, help="interleaved rounds per route and workload (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    ap.add_argument("--servers", type=int, default=2, help="simulated Exchange servers (default 2)")
    ap.add_argument("--variants", default="", help="comma-separated: " + ", ".join([*VARIANTS, *MODEL_VARIANTS]) +
                    " — each is the generated config with one setting changed, measured in the same rounds; a+b "
                    "applies both changes")
    ap.add_argument("--sni", choices=["auto", "namespace", "ip"], default="auto",
                    help="namespace: wrk sends mail.contoso.com as SNI (needs root + unshare); ip: 127.0.0.1; "
                         "auto: namespace when possible (default)")
    ap.add_argument("--schedule", choices=["rotate", "together"], default="together",
                    help="together: every configuration loaded at once, one wrk each, for the same seconds (what the "
                         "machine does meanwhile meets them alike; default); rotate: one after the other, each round "
                         "starting with the next")
    ap.add_argument("--pin", choices=["auto", "split", "none"], default="auto",
                    help="split: the load balancer alone on the first CPU (one thread / worker), wrk and the backends "
                         "on the others; none: every process on every CPU; auto: split when there are 2+ CPUs "
                         "(default)")
    ap.add_argument("--profile", metavar="DIR",
                    help="with --schedule together: `perf record` the load balancers' CPUs during the counted rounds "
                         "(DIR/<lb>-<mode>-<route>-<workload>.perf.data) and print where each configuration's CPU "
                         "per request differs from the minimal one's, by shared object and function (needs perf)")
    ap.add_argument("--json", dest="json_file", help="also write the JSON document to this file")
    args = ap.parse_args(argv)
    lbs = [x for x in args.lb.split(",") if x]
    modes = [x for x in args.modes.split(",") if x]
    routes = [x for x in args.routes.split(",") if x]
    workloads = [x for x in args.workloads.split(",") if x]
    variants = [x for x in args.variants.split(",") if x]
    for v in variants:
        parts = v.split("+")
        if len(parts) > 1 and all(x in VARIANTS for x in parts) and len({VARIANTS[x][0] for x in parts}) == 1:
            VARIANTS[v] = (VARIANTS[parts[0]][0], "; ".join(VARIANTS[x][1] for x in parts), _compose(parts))
        elif v not in VARIANTS and v not in MODEL_VARIANTS:
            ap.error(f"unknown variant {v} (known: {', '.join([*VARIANTS, *MODEL_VARIANTS])}; a+b: both changes, "
                     "for changes to the same load balancer's configuration)")
    for r in routes:
        if r not in ROUTES:
            ap.error(f"unknown route {r} (known: {', '.join(ROUTES)})")
    if not 1 <= args.servers <= 40 or args.reps < 1 or not 1 <= args.duration <= 120:
        ap.error("--servers 1..40, --reps >= 1, --duration 1..120")
    for binary in ["wrk", "nginx"] + lbs:
        if not shutil.which(binary):
            ap.error(f"{binary} is not installed")
    if args.profile:
        if args.schedule != "together":
            ap.error("--profile needs --schedule together (every configuration in the same recorded seconds)")
        why = cpuprofile.available()
        if why:
            ap.error(f"--profile: {why}")

    from pki import make_pki
    PIN = Pinning(args.pin)
    CONNECTIONS = args.connections
    info = machine()
    note(f"machine: {info['nproc']} CPUs, {info['cpu']}, load {info['loadavg_at_start']}")
    results = []
    with tempfile.TemporaryDirectory(prefix="lbsync-bench-") as tmp, Children() as children:
        tmp = Path(tmp)
        SNI = Sni(args.sni, tmp)
        note(f"wrk TLS server name (SNI): {HOST if SNI.mode == 'namespace' else '127.0.0.1'}; CPUs: {PIN.describe()}")
        files = make_pki().write(tmp / "pki")
        servers = [Server(i) for i in range(args.servers)]
        backend = children.start(["nginx", "-c", str(backend_conf(tmp, servers, files)), "-p", str(tmp),
                                  "-e", "stderr"], tmp / "backend.log", **PIN.rest())
        for s in servers:
            wait_port(s.address, s.http_port, 15, backend)
            wait_port(s.address, s.https_port, 15, backend)
        ceiling = {}
        for workload in workloads:
            r = wrk(f"http://{servers[0].address}:{servers[0].http_port}{ROUTES['owa']}", workload,
                    min(args.duration, 3), args.threads, args.connections, host=None)
            ceiling[workload] = rnd(r["rps"], 1)
            note(f"backend alone (plain HTTP, {workload}): {r['rps']:.0f} req/s")

        for lb in lbs:
            for mode in modes:
                note(f"{lb} {mode}:")
                work = tmp / f"{lb}-{mode}"
                work.mkdir()
                gen_port, min_port = free_port(), free_port()
                gen_text, facts = generated(lb, mode, servers, gen_port, files, work / "generated")
                procs = {"generated": Lb(children, lb, "generated", gen_text, gen_port, work / "generated"),
                         "minimal": Lb(children, lb, "minimal", minimal(lb, mode, servers, min_port, files),
                                       min_port, work / "minimal")}
                if any(facts["routes"][r]["kind"] == "ntlm" for r in routes):
                    ref_port = free_port()
                    procs["ntlm-safe"] = Lb(children, lb, "ntlm-safe",
                                            minimal(lb, mode, servers, ref_port, files, ntlm_safe=True),
                                            ref_port, work / "ntlm-safe")
                for n, v in enumerate(variants):
                    port = free_port()
                    vdir = work / f"variant{n}"    # short: the stats socket's path must fit in 108 bytes
                    if v in MODEL_VARIANTS:
                        text, _ = generated(lb, mode, servers, port, files, vdir, MODEL_VARIANTS[v][1])
                    elif VARIANTS[v][0] == lb:
                        base, _ = generated(lb, mode, servers, port, files, vdir)
                        text = VARIANTS[v][2](base, vdir)
                        if text == base:
                            note(f"variant {v} changes nothing in the generated {lb} configuration: skipped")
                            continue
                    else:
                        continue
                    procs[v] = Lb(children, lb, v, text, port, vdir)
                for route in routes:
                    kind = facts["routes"][route]["kind"]
                    order = [k for k in procs if k != "ntlm-safe" or kind == "ntlm"]
                    resumption = {}
                    for label in order:
                        procs[label].probe(files["ca"], ROUTES[route])
                        resumption[label] = resumes(procs[label].port, files["ca"], ROUTES[route])
                    for workload in workloads:
                        prof = (Path(args.profile) / f"{lb}-{mode}-{route}-{workload}.perf.data"
                                if args.profile else None)
                        runs, attributed = run_rounds(procs, order, ROUTES[route], workload, args,
                                                      f"{lb} {mode} {route}", prof)
                        summary = summarise(runs)
                        for label in summary:
                            summary[label]["tls_resumption"] = resumption[label]
                        base, goal = target_of(kind)
                        results.append({"lb": lb, "mode": mode, "route": route, "kind": kind,
                                        "path": ROUTES[route], "workload": workload,
                                        "share_server_connections": facts["routes"][route]["share_server_connections"],
                                        "compared_with": base, "target_ratio": goal,
                                        "figure": figure_of(args.schedule, base),
                                        "ratio": summary["generated"][figure_of(args.schedule, base)],
                                        "configs": summary,
                                        **({"profile": {"perf_data": str(prof), **attributed}} if attributed
                                           else {})})
                for p in procs.values():
                    children.stop(p.proc)

    doc = {"benchmark": "dataplane", "machine": info, "loadavg_at_end": loadavg(),
           "settings": {"duration_s": args.duration, "reps": args.reps, "schedule": args.schedule,
                        "threads": args.threads,
                        "connections": args.connections, "servers": args.servers, "routes": routes,
                        "body_bytes": len(BODY), "certificate": "RSA 2048 leaf + intermediate (tests/pki.py)",
                        "tls_profile": "intermediate",
                        "wrk_sni": HOST if SNI.mode == "namespace" else "127.0.0.1",
                        "pinning": PIN.describe()},
           "backend_alone_rps": ceiling,
           "variants": {v: (VARIANTS[v][1] if v in VARIANTS else MODEL_VARIANTS[v][0]) for v in variants},
           "results": results, "target_ratio": 0.95,
           "targets_met": all(r["ratio"] >= r["target_ratio"] for r in results)}
    headers = ["lb", "mode", "route", "kind", "workload", "gen req/s", "min req/s", "req/s gen/min",
               "CPU us/req gen/min", "per CPU gen/min", "ref req/s", "gen/ref req/s, per CPU", "held to",
               "figure", "per-round", "met", "LB CPU busy", "p50 ms gen/min", "p99 ms gen/min", "errors",
               "resumes gen/min"]
    rows = []
    for res in results:
        g, m = res["configs"]["generated"], res["configs"]["minimal"]
        ref = res["configs"].get("ntlm-safe")
        per_round = round_figures(g, ref or m, res["figure"].startswith("cpu"))
        rows.append([res["lb"], res["mode"], res["route"], res["kind"], res["workload"], g["rps_median"],
                     m["rps_median"], g["ratio_median"],
                     f"{g['cpu_us_per_request_median']}/{m['cpu_us_per_request_median']}", g["cpu_ratio_median"],
                     ref["rps_median"] if ref else "-",
                     f"{g['ratio_to_ntlm_safe_median']}, {g['cpu_ratio_to_ntlm_safe_median']}" if ref else "-",
                     f"{res['compared_with']} >= {res['target_ratio']}",
                     f"{res['ratio']} ({'per CPU' if res['figure'].startswith('cpu') else 'req/s'})",
                     f"{min(per_round)}-{max(per_round)}",
                     "yes" if res["ratio"] >= res["target_ratio"] else "NO",
                     g["lb_cpu_busy_median"] if g["lb_cpu_busy_median"] is not None else "-",
                     f"{g['p50_ms_median']}/{m['p50_ms_median']}", f"{g['p99_ms_median']}/{m['p99_ms_median']}",
                     sum(c["errors"] for c in res["configs"].values()),
                     f"{'yes' if g['tls_resumption'] else 'no'}/{'yes' if m['tls_resumption'] else 'no'}"])
    tables = [table(f"Data plane: generated vs minimal (and, NTLM routes, vs the NTLM-safe reference); median of "
                    f"{args.reps} rounds ({args.schedule}), {args.duration:g} s each, wrk -t{args.threads} "
                    f"-c{args.connections}, SNI {doc['settings']['wrk_sni']}; {info['nproc']} CPUs {info['cpu']}; "
                    f"load {info['loadavg_at_start'][0]} -> {doc['loadavg_at_end']}", headers, rows)]
    var_rows = [[res["lb"], res["mode"], res["route"], res["workload"], label, c["rps_median"], c["ratio_median"],
                 c["cpu_us_per_request_median"], c["cpu_ratio_median"]]
                for res in results for label, c in res["configs"].items() if label != "minimal"]
    if variants:
        tables.append(table("Generated and each variant (the generated configuration with one change) vs minimal",
                            ["lb", "mode", "route", "workload", "config", "req/s", "ratio", "CPU us/req",
                             "CPU ratio"], var_rows))
    for res in results:
        for label, a in res.get("profile", {}).items():
            if label == "perf_data":
                continue
            objects = ", ".join(f"{obj} {pct:+.2f}" for obj, pct in a["by_object_pct"].items())
            tables.append(table(
                f"Where {label}'s CPU per request differs from minimal's ({res['lb']} {res['mode']} {res['route']} "
                f"{res['workload']}, perf samples of the counted rounds; % of minimal's CPU per request): cost ratio "
                f"{a['cost_ratio']}; by object: {objects}",
                ["what", "", "% of minimal"],
                [["group", g, f"{pct:+.2f}"] for g, pct in a["groups_pct"].items()]
                + [[f["object"], f["function"], f"{f['pct']:+.2f}"] for f in a["functions_pct"]]))
    tables.append(table("Backends alone (one NGINX worker, plain HTTP, wrk directly)", ["workload", "req/s"],
                        [[k, v] for k, v in ceiling.items()]))
    emit(doc, tables, args.json_file)
    return 0


if __name__ == "__main__":
    run_main(main, "interrupted: every process this benchmark started has been stopped")
