"""haproxy/haproxy.cfg: `haproxy -c` accepts every generated configuration, and each important fact is there."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from lab import scenarios

from lbsync.facts import tls as tlsprofiles
from lbsync.model import load_model
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions, haproxy

VARIATIONS = scenarios.variations()


def render(model_path, **extra):
    plan = build_plan(load_model(model_path))
    text = haproxy.render(plan, RenderOptions(extra=extra))[haproxy.CONFIG].content
    return plan, text


def sections(cfg: str) -> dict[str, list[str]]:
    """'backend owa_mail.contoso.com' -> its directive lines (comments dropped)."""
    out: dict[str, list[str]] = {}
    current = None
    for line in cfg.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = line.strip()
            out[current] = []
        elif current:
            out[current].append(line.strip())
    return out


def directives(cfg: str) -> list[str]:
    return [ln.strip() for ln in cfg.splitlines() if ln.strip() and not ln.strip().startswith("#")]


@pytest.fixture(scope="module")
def made(pki_files, tmp_path_factory):
    """name -> (model path, plan, config text) for every variation, realised for HAProxy."""
    out = {}
    for name, model in VARIATIONS.items():
        path = scenarios.write(tmp_path_factory.mktemp(f"hp-{name}"),
                               scenarios.realise(model, "haproxy", pki_files))
        plan, text = render(path, stats_socket=str(path.parent / "admin.sock"))
        out[name] = (path, plan, text)
    return out


@pytest.mark.parametrize("name", sorted(VARIATIONS))
def test_haproxy_accepts_every_generated_config(made, name):
    path, plan, text = made[name]
    cfg = path.parent / "haproxy.cfg"
    cfg.write_text(text)
    proc = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Configuration file is valid" in proc.stdout + proc.stderr
    # not even a warning (e.g. "a 'http-request' rule placed after a 'use_backend' rule will still be processed
    # before" on a listener with several namespaces)
    assert "WARNING" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_one_backend_per_pool_with_every_server_and_its_health_check(made):
    _, plan, text = made["lab-offload"]
    secs = sections(text)
    for svc in plan.services:
        lines = secs[f"backend {svc.pool}"]
        assert f"http-check send meth GET uri {svc.health.path} ver HTTP/1.1 hdr Host {svc.namespace}" in lines
        assert "http-check expect status 200" in lines and "option httpchk" in lines
        assert "default-server inter 200ms fall 2 rise 2" in lines
        servers = [ln for ln in lines if ln.startswith("server ")]
        assert [ln.split()[1] for ln in servers] == ["EX01", "EX02"]
        if svc.mode == "offload":
            assert servers[0] == "server EX01 127.0.0.11:80 check"
        else:
            assert servers[0] == ("server EX01 127.0.0.11:443 check ssl verify required "
                                  f"ca-file {plan.lb_server_ca['haproxy']} "
                                  f"sni str({svc.namespace}) check-ssl check-sni {svc.namespace}")
        assert f"timeout server {svc.timeout_s}s" in lines


def test_mrsproxy_is_bridged_and_routed_before_ews(made):
    _, plan, text = made["lab-offload"]
    secs = sections(text)
    mrs = secs["backend mrsproxy_mail.contoso.com"]
    assert any(" ssl verify required " in ln for ln in mrs)
    assert not any(" ssl " in ln for ln in secs["backend ews_mail.contoso.com"])
    front = secs[next(k for k in secs if k.startswith("frontend https_"))]
    uses = [ln for ln in front if ln.startswith("use_backend")]
    # each prefix on a segment boundary, by plain tests (no converter: nothing copied per request): a route's own
    # rule tests its prefix and "/"; EWS's leaves /EWS/mrsproxy.svc (tested both ways, one ACL) to MRSProxy's rule,
    # which follows every route's prefix rule, with the bare prefixes (/ews)
    ews = uses.index("use_backend ews_mail.contoso.com if ns0_ews !ns0_mrsproxy ns0")
    mrs = uses.index("use_backend mrsproxy_mail.contoso.com if ns0_mrsproxy ns0")
    assert "acl ns0_mrsproxy path_beg -i /ews/mrsproxy.svc/" in front
    assert "acl ns0_mrsproxy path -i /ews/mrsproxy.svc" in front
    assert "acl ns0_ews path_beg -i /ews/" in front and "acl ns0_ews_exact path -i /ews" in front
    assert "acl ns0_ews path -i /ews" not in front
    prefix_rules = [i for i, ln in enumerate(uses) if re.fullmatch(r"use_backend \S+ if ns\d+_\S+( !\S+)* ns\d+", ln)
                    and not ln.split()[3].endswith("_exact") and ln.split()[3] not in ("ns0_mrsproxy",
                                                                                        "ns0_owa-integrated")]
    assert ews in prefix_rules and mrs > max(prefix_rules)
    assert uses.index("use_backend ews_mail.contoso.com if ns0_ews_exact ns0") > max(prefix_rules)
    path_acls = [ln for ln in front if ln.startswith("acl ns0_")]
    assert path_acls and not [ln for ln in path_acls if "," in ln.split()[2]], path_acls


def _frontend_routes(front: list[str]):
    """The frontend's ACLs (name -> [(fetch, pattern)]) and use_backend rules ([(backend, [acl or inline])])."""
    acls: dict[str, list[tuple[str, str]]] = {}
    for ln in front:
        m = re.fullmatch(r"acl (\S+) (path_beg|path|req\.hdr\(host\),field\(1,:\)) -i (\S+)", ln)
        if m:
            acls.setdefault(m[1], []).append((m[2], m[3]))
        else:
            assert not ln.startswith("acl "), ln
    rules = []
    for ln in front:
        m = re.fullmatch(r"use_backend (\S+) if (.+)", ln)
        if m:
            terms = re.findall(r"\{ path / \}|\S+", m[2])
            assert all(t == "{ path / }" or t.removeprefix("!") in acls for t in terms), ln
            rules.append((m[1], terms))
    default = next(ln.split()[1] for ln in front if ln.startswith("default_backend "))
    return acls, rules, default


def _haproxy_route(acls, rules, default, host: str, path: str) -> str:
    """What HAProxy does with these rules (its manual: the first use_backend whose condition holds; ACL terms ANDed,
    "!" negates one, an ACL's lines ORed; path_beg/path -i compare case-insensitively; req.hdr(host),field(1,:)
    drops the port)."""
    def holds(term: str) -> bool:
        if term == "{ path / }":
            return path == "/"
        if term.startswith("!"):
            return not holds(term[1:])
        for fetch, pattern in acls[term]:
            value = host.split(":")[0] if fetch.startswith("req.hdr") else path
            if fetch == "path_beg" and value.lower().startswith(pattern.lower()):
                return True
            if fetch != "path_beg" and value.lower() == pattern.lower():
                return True
        return False
    return next((backend for backend, terms in rules if all(holds(t) for t in terms)), default)


SEGMENTS = ["owa", "OWA", "integrated", "Integrated", "ews", "EWS", "mrsproxy.svc", "MRSProxy.svc", "ecp", "mapi",
            "microsoft-server-activesync", "oab", "rpc", "autodiscover", "owafoo", "x", ""]


def test_every_path_goes_to_the_route_whose_prefix_it_lies_under(made):
    """Whatever the rule order, a request goes to the route with the longest prefix it equals or lies under on a
    segment boundary, in any case; "/" to the redirect; anything else to no_route. Every path of one to three
    segments over the routes' own names (and a near miss) on every namespace, through HAProxy's rule semantics."""
    import itertools
    for name, (_, plan, text) in made.items():
        secs = sections(text)
        for head, front in secs.items():
            if not head.startswith("frontend https_"):
                continue
            acls, rules, default = _frontend_routes(front)
            listener = next(li for li in plan.listeners if head == f"frontend https_{li.key}")
            for ns in listener.l7:
                for n in (1, 2, 3):
                    for segs in itertools.product(SEGMENTS, repeat=n):
                        path = "/" + "/".join(segs)
                        lower = path.lower()
                        under = [(len(p), s) for s in ns.services for p in s.paths
                                 if lower == p or lower.startswith(p + "/")]
                        want = (max(under, key=lambda u: u[0])[1].pool if under
                                else haproxy.root_backend(ns) if path == "/" and ns.root_redirect else default)
                        got = _haproxy_route(acls, rules, default, f"{ns.host.upper()}:443", path)
                        assert got == want, (name, ns.host, path)
                # "/" answered by its own backend: the 302 to OWA and nothing else; no such backend without OWA
                root = secs.get(f"backend {haproxy.root_backend(ns)}")
                if ns.root_redirect:
                    assert root == ["mode http", f"http-request redirect location {ns.root_redirect} code 302"], name
                else:
                    assert root is None, (name, ns.host)
                # another host's request never reaches this namespace's pools
                pools = {s.pool for s in ns.services}
                assert _haproxy_route(acls, rules, default, "other.example", "/owa/") not in pools


def test_what_costs_every_request_is_only_what_is_needed(made):
    """#15, measured in bench/: no L7 retries (HAProxy copies every request's buffer for them), a log line only
    for what the servers cannot see (failures, retries, 5xx), the path tested before the host; no pattern cache
    (each ACL has one or two patterns: the cache only hashed every path and host)."""
    for name, (_, plan, text) in made.items():
        lines = directives(text)
        assert sections(text)["global"].count("tune.pattern.cache-size 0") == 1, name
        assert "retry-on conn-failure" in lines and "option redispatch" in lines, name
        assert not [ln for ln in lines if "l7-retry" in ln or ln.startswith("retry-on ") and ln != "retry-on conn-failure"]
        assert "option dontlog-normal" in lines and "option httplog" in lines, name
        uses = [ln for ln in lines if ln.startswith("use_backend ") and "req.ssl_sni" not in ln]   # L7 routes
        assert uses and all(re.fullmatch(r"use_backend \S+ if (ns\d+_\S+( !ns\d+_\S+)*|\{ path / \}) ns\d+", ln)
                            for ln in uses), name
        # a route's own rule is one test of the path before the host, then only what lies under it (negated); the
        # routes under another's, the bare prefixes and "/" come after them all
        nested = {f"ns{ns.index}_{s.service}" for ns in plan.namespaces for s in ns.services
                  if any(p in ns.nested_paths for p in s.paths)}
        firsts = [i for i, ln in enumerate(uses)
                  if not ln.split()[3].endswith("_exact") and "{" not in ln and ln.split()[3] not in nested]
        lasts = [i for i, ln in enumerate(uses) if i not in firsts]
        assert firsts and (not lasts or max(firsts) < min(lasts)), name
        assert not [ln for ln in lines if ln.startswith("http-request redirect location")
                    and " if " in ln], name       # "/" is not tested before the routes


def test_ntlm_safe_and_streaming_settings(made):
    for name, (_, plan, text) in made.items():
        lines = directives(text)
        assert "option http-server-close" not in lines, name
        assert not any(ln.startswith("http-reuse") and ln not in ("http-reuse safe", "http-reuse never")
                       for ln in lines), name
        assert not any(ln.startswith("balance") and ln not in ("balance roundrobin", "balance leastconn")
                       for ln in lines), name
        assert not any("http-buffer-request" in ln for ln in lines), name
        secs = sections(text)
        for pool in [p for ns in plan.namespaces for p in ns.pools]:
            body = secs[f"backend {pool.pool}"]
            assert f"balance {pool.balance}" in body and f"timeout server {pool.pool_timeout_s}s" in body
            # 2013+ needs no persistence: only 2007/2010 pools carry a cookie or a stick table
            sticky = [ln for ln in body if ln.startswith(("cookie", "stick", "appsession"))]
            assert bool(sticky) == (pool.persistence != "none"), (name, pool.pool, sticky)
        assert "retries 3" in lines and "option redispatch" in lines
        assert "h1-case-adjust www-authenticate WWW-Authenticate" in lines
    _, plan, text = made["lab-offload"]
    secs = sections(text)
    front = secs[next(k for k in secs if k.startswith("frontend https_"))]
    assert "option forwardfor" in front and "http-request set-header X-Forwarded-Proto https" in front
    assert "option h1-case-adjust-bogus-client" in front
    assert int(re.search(r"timeout server (\d+)s", "\n".join(secs["backend eas_mail.contoso.com"])).group(1)) >= 3600
    for key in ("rpc", "mapi"):
        assert int(re.search(r"timeout server (\d+)s", "\n".join(secs[f"backend {key}_mail.contoso.com"]))
                   .group(1)) >= 3600
    # the frontend's client timeout covers the longest service it carries
    assert f"timeout client {max(s.timeout_s for s in plan.services)}s" in front


@pytest.mark.parametrize("name,profile", [("lab-bridge", "intermediate"), ("tls-modern", "modern"),
                                          ("tls-compat", "compat")])
def test_tls_profile(made, name, profile):
    _, _, text = made[name]
    p = tlsprofiles.PROFILES[profile]
    glob = sections(text)["global"]
    assert f"ssl-default-bind-ciphersuites {p.ciphersuite_string}" in glob
    opts = next(ln for ln in glob if ln.startswith("ssl-default-bind-options"))
    assert f"ssl-min-ver {haproxy.tls_version(p.min_version)}" in opts and "no-tls-tickets" in opts
    ciphers = [ln for ln in glob if ln.startswith("ssl-default-bind-ciphers ")]
    assert ciphers == ([f"ssl-default-bind-ciphers {p.cipher_string}"] if p.ciphers else [])


def test_compat_min_version_in_haproxy_spelling(made):
    assert "ssl-min-ver TLSv1.0 " in made["tls-compat"][2]


def test_intermediate_is_mozillas_list():
    p = tlsprofiles.PROFILES["intermediate"]
    assert p.versions == ("TLSv1.2", "TLSv1.3")
    assert p.ciphers[0] == "ECDHE-ECDSA-AES128-GCM-SHA256" and "DHE-RSA-CHACHA20-POLY1305" in p.ciphers
    assert not any("SHA" == c.split("-")[-1] or "CBC" in c for c in p.ciphers)  # AEAD only
    assert tlsprofiles.PROFILES["modern"].ciphers == ()
    assert "DES-CBC3-SHA" in tlsprofiles.PROFILES["compat"].ciphers


def test_global_drops_privileges(made):
    glob = sections(made["lab-bridge"][2])["global"]
    assert "chroot /var/lib/haproxy" in glob and "user haproxy" in glob and "group haproxy" in glob


def test_verify_off_is_loud(made):
    _, _, text = made["verify-off"]
    assert "verify none" in text and "verify required" not in text
    assert "WARNING: tls.verify_server is false" in text


def test_passthrough_shares_the_port_through_an_sni_splitter(made):
    _, plan, text = made["passthrough-shared"]
    secs = sections(text)
    tcp = secs[next(k for k in secs if k.startswith("frontend tls_"))]
    assert "mode tcp" in tcp and "tcp-request content accept if { req.ssl_hello_type 1 }" in tcp
    assert "use_backend tcp_outlook.contoso.com if { req.ssl_sni -i outlook.contoso.com }" in tcp
    l7 = next(k for k in secs if k.startswith("backend l7_"))
    assert re.fullmatch(r"server l7 abns@lbsync_\S+ send-proxy-v2", secs[l7][-1])
    https = secs[next(k for k in secs if k.startswith("frontend https_"))]
    assert re.fullmatch(r"bind abns@lbsync_\S+ accept-proxy ssl crt \S+ alpn http/1.1", https[1])
    backend = secs["backend tcp_outlook.contoso.com"]
    assert "mode tcp" in backend and not any(ln.startswith("server") and " ssl " in ln for ln in backend)
    # the L4 pool is still health checked on rpc's health URL over TLS with SNI
    assert "http-check send meth GET uri /rpc/healthcheck.htm ver HTTP/1.1 hdr Host outlook.contoso.com" in backend
    _, _, alone = made["passthrough-alone"]
    sa = sections(alone)
    lone = [k for k in sa if k.startswith("frontend tls_")]
    assert len(lone) == 1
    rules = [ln for ln in sa[lone[0]] if ln.startswith("tcp-request content")]
    # names no namespace claims are refused BEFORE "accept" (which ends the tcp-request content rules)
    assert rules == ["tcp-request content reject if { req.ssl_hello_type 1 } !{ req.ssl_sni -i outlook.contoso.com }",
                     "tcp-request content accept if { req.ssl_hello_type 1 }"]


def test_comments_name_the_model_entries(made):
    path, plan, text = made["lab-offload"]
    lines = path.read_text().splitlines()
    line_of_mail = next(i for i, ln in enumerate(lines, 1) if "host: mail.contoso.com" in ln)
    assert f"namespaces[0] mail.contoso.com (lbsync.yaml:{line_of_mail})" in text
    line_default = next(i for i, ln in enumerate(lines, 1) if ln.strip().startswith("default: offload"))
    assert f"mode offload from tls.default (lbsync.yaml:{line_default})" in text
    assert "exchange.mrsproxy (lbsync.yaml:" in text


def test_redirect_and_certificate(made, pki_files):
    _, plan, text = made["lab-offload"]
    secs = sections(text)
    front = secs[next(k for k in secs if k.startswith("frontend https_"))]
    assert front[1].startswith("bind 127.0.0.1:") and f"ssl crt {pki_files['combined']}" in front[1]
    redirect = secs["frontend http_127_0_0_1_80"]
    port = plan.namespaces[0].port
    assert (f"http-request redirect prefix https://mail.contoso.com:{port} code 301 if "
            "{ req.hdr(host),field(1,:) -i mail.contoso.com }") in redirect


def test_ipv6_server_literal_is_bracketed(made):
    _, _, text = made["ipv6-server"]
    assert "server EX01 [::1]:4431 check ssl" in text


def test_profile_renders_with_documentation_addresses_unchanged(profiles_dir):
    plan, text = render(profiles_dir / "exchange2016-bridge.yaml")
    assert "bind 203.0.113.10:443 ssl crt /etc/haproxy/certs/lbsync.pem alpn http/1.1" in text
    assert "bind 203.0.113.10:80" in text
    assert "server EX02 192.0.2.12:443 check ssl verify required" in text
    assert yaml.safe_load((profiles_dir / "exchange2016-bridge.yaml").read_text())["tls"]["default"] == "bridge"


def test_http_request_rules_come_before_every_use_backend(made):
    for name, (_, plan, text) in made.items():
        for head, body in sections(text).items():
            if not head.startswith("frontend https_") or not any(ln.startswith("use_backend") for ln in body):
                continue
            first_use = next(i for i, ln in enumerate(body) if ln.startswith("use_backend"))
            assert not any(ln.startswith("http-request") for ln in body[first_use:]), (name, head)


def test_the_buffers_hold_what_the_servers_accept(made):
    """tune.bufsize - tune.maxrewrite is the largest request head HAProxy passes: the plan's client limit; with the
    model's default (HTTP.sys's 16384) they are HAProxy's own defaults (16384 / 1024)."""
    for name, (_, plan, text) in made.items():
        lines = directives(text)
        size = int(next(ln.split()[1] for ln in lines if ln.startswith("tune.bufsize ")))
        rewrite = int(next(ln.split()[1] for ln in lines if ln.startswith("tune.maxrewrite ")))
        assert size - rewrite == plan.lb_header_bytes and rewrite == plan.lb_added_header_bytes, name
        if not plan.model.http.given:
            assert (size, rewrite) == (16384, 1024), name


def test_pools_that_may_carry_connection_bound_auth_never_share_server_connections(made):
    _, plan, text = made["lab-offload"]
    secs = sections(text)
    by_service = {p.service: p for ns in plan.namespaces for p in ns.pools}
    # NTLM/Negotiate pools, and /owa/Integrated (Windows authentication) never reuse a connection across clients
    for key in ("ews", "mrsproxy", "oab", "mapi", "rpc", "autodiscover", "owa-integrated"):
        assert not by_service[key].share_server_connections, key
        assert "http-reuse never" in secs[f"backend {by_service[key].pool}"], key
    for key in ("ecp", "eas", "owa"):  # forms / Basic: per-request credentials
        assert by_service[key].share_server_connections, key
        assert not any(ln.startswith("http-reuse") for ln in secs[f"backend {by_service[key].pool}"]), key


def test_legacy_pools_offer_old_tls_and_keep_clients_on_one_server(profiles_dir):
    plan, text = render(profiles_dir / "coexistence-2013-2007.yaml")
    secs = sections(text)
    assert "ssl-default-server-options ssl-min-ver TLSv1.2" in directives(text)
    for pool in [p for ns in plan.namespaces for p in ns.pools]:
        body = secs[f"backend {pool.pool}"]
        default_server = next(ln for ln in body if ln.startswith("default-server"))
        if pool.group == "legacy2007":  # bridged: 2007 has no TLS 1.2; OpenSSL 3 needs security level 0 for it
            assert default_server.endswith("ssl-min-ver TLSv1.0 ciphers DEFAULT:@SECLEVEL=0"), pool.pool
        else:
            assert "ssl-min-ver" not in default_server and "SECLEVEL" not in default_server, pool.pool
        if pool.persistence == "cookie":
            assert "cookie LBSYNC_LEGACY2007 insert indirect nocache httponly secure" in body
            assert all(ln.endswith(f" cookie {m.server}") for ln, m in
                       zip([ln for ln in body if ln.startswith("server ")], pool.members))
        elif pool.persistence == "source-ip":
            assert f"stick-table type ipv6 size 1m expire {pool.persistence_timeout_s}s" in body
            assert "stick on src" in body and pool.persistence_timeout_s >= 2700
    assert {(p.service, p.persistence) for p in plan.services if p.group == "legacy2007"} == \
        {("owa", "cookie"), ("ews", "source-ip"), ("oab", "none")}
