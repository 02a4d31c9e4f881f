"""nginx/lbsync.conf (+ lbsync-stream.conf): `nginx -t` accepts every generated configuration (open source, stream
module loaded), each important fact is there, and the NTLM rule refuses before anything is written."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from lab import scenarios
from support.cli import run_cli

from lbsync.model import load_model
from lbsync.output.check import free_port
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions, nginx
from lbsync.targets.nginx import nginx_wrapper, stream_module

VARIATIONS = scenarios.variations()


def render(model_path, socket_dir="/run", allow=()):
    plan = build_plan(load_model(model_path), allow=allow)
    files = nginx.render(plan, RenderOptions(extra={"redirect_port": free_port(), "socket_dir": socket_dir}))
    return plan, {k: v.content for k, v in files.items()}


def nginx_t(folder: Path, files: dict[str, str]) -> subprocess.CompletedProcess:
    http = folder / "lbsync.conf"
    http.write_text(files[nginx.HTTP_CONF])
    stream = None
    if nginx.STREAM_CONF in files:
        stream = folder / "lbsync-stream.conf"
        stream.write_text(files[nginx.STREAM_CONF])
    wrapper = nginx_wrapper(folder, http, stream, stream_module("nginx") if stream else None)
    return subprocess.run(["nginx", "-t", "-c", str(wrapper), "-p", str(folder), "-e", "stderr"],
                          capture_output=True, text=True, timeout=60)


def blocks(conf: str) -> list[tuple[str, str]]:
    """Top-level `name { ... }` blocks as (header, body), comments dropped."""
    text = re.sub(r"#[^\n]*", "", conf)
    out, depth, start, header = [], 0, 0, ""
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                header = text[start:i].strip().splitlines()[-1].strip()
                begin = i + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                out.append((header, text[begin:i]))
                start = i + 1
    return out


def tls_server(conf: str, host: str) -> str:
    return next(body for head, body in blocks(conf)
                if head == "server" and f"server_name {host};" in body and " ssl" in body)


def locations(conf: str, host: str) -> list[tuple[str, str]]:
    """(location pattern, body) of the TLS server block for host, in order."""
    return re.findall(r"location (~\* \S+|= /|/) \{\n(.*?)\n    \}", tls_server(conf, host), re.S)


@pytest.fixture(scope="module")
def made(pki_files, tmp_path_factory):
    """name -> (model path, plan, files) for every variation, realised for NGINX open source."""
    sockets = Path(tempfile.mkdtemp(prefix="lbt"))
    out = {}
    for name, model in VARIATIONS.items():
        path = scenarios.write(tmp_path_factory.mktemp(f"ng-{name}"), scenarios.realise(model, "nginx", pki_files))
        plan, files = render(path, socket_dir=str(sockets))
        out[name] = (path, plan, files)
    return out


@pytest.mark.parametrize("name", sorted(VARIATIONS))
def test_nginx_accepts_every_generated_config(made, name):
    path, plan, files = made[name]
    proc = nginx_t(path.parent, files)
    assert proc.returncode == 0, proc.stderr
    assert "test is successful" in proc.stderr


def test_locations_longest_first_case_insensitive_and_proxied_right(made):
    _, plan, files = made["lab-offload"]
    conf = files[nginx.HTTP_CONF]
    locs = locations(conf, "mail.contoso.com")
    patterns = [p for p, _ in locs]
    assert patterns[0] == "= /" and patterns[-1] == "/"
    regexes = [p for p in patterns if p.startswith("~*")]
    assert regexes.index(r"~* ^/ews/mrsproxy\.svc(/|$)") < regexes.index("~* ^/ews(/|$)")
    ns = plan.namespaces[0]
    assert regexes == [f"~* {nginx.common.paths_regex(s.paths)}" for s in ns.routes]
    bodies = dict(locs)
    for svc in ns.routes:
        body = bodies[f"~* {nginx.common.paths_regex(svc.paths)}"]
        assert "proxy_http_version 1.1;" in body and 'proxy_set_header Connection "";' in body
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in body
        assert "proxy_set_header X-Forwarded-Proto https;" in body
        assert f"proxy_read_timeout {svc.timeout_s}s;" in body and f"proxy_send_timeout {svc.timeout_s}s;" in body
        assert ("proxy_buffering off;" in body) == svc.streaming
        assert ("proxy_request_buffering off;" in body) == svc.streaming
        if svc.mode == "bridge":
            assert f"proxy_pass https://{nginx.upstream_name(svc)};" in body
            assert "proxy_ssl_verify on;" in body
            assert f"proxy_ssl_trusted_certificate {plan.lb_server_ca['nginx']};" in body
            assert "proxy_ssl_server_name on;" in body and f"proxy_ssl_name {svc.namespace};" in body
        else:
            assert f"proxy_pass http://{nginx.upstream_name(svc)};" in body and "proxy_ssl" not in body
    assert "client_max_body_size 2G;" in conf
    for key in ("eas", "rpc", "mapi"):
        svc = next(s for s in ns.services if s.service == key)
        assert svc.streaming and svc.timeout_s >= 3600


def test_upstreams_keepalive_and_passive_health(made):
    _, plan, files = made["lab-offload"]
    conf = files[nginx.HTTP_CONF]
    for svc in [p for ns in plan.namespaces for p in ns.pools]:
        block = re.search(r"upstream " + nginx.upstream_name(svc) + r" \{\n(.*?)\n\}", conf, re.S).group(1)
        # NGINX open source shares kept-alive upstream connections across clients: only where no authentication
        # is bound to the connection: forms-based owa keeps it; /owa/Integrated (Windows authentication) does not
        assert ("keepalive 128;" in block) == svc.share_server_connections == (svc.service != "owa-integrated"), \
            svc.service
        assert ("least_conn;" in block) == (svc.balance == "leastconn")
        port = 80 if svc.mode == "offload" else 443
        assert f"server 127.0.0.11:{port} max_fails=2 fail_timeout=400ms;" not in block  # below NGINX's 1s floor
        assert f"server 127.0.0.11:{port} max_fails=2 fail_timeout=1s;" in block
        assert "ntlm;" not in block and "zone" not in block
    assert "PASSIVE health checks only" in conf


def test_plus_adds_ntlm_and_active_health_checks_and_says_it_cannot_be_validated(pki_files, tmp_path):
    model = scenarios.realise(VARIATIONS["lab-bridge"], "nginx", pki_files, plus=True)
    plan, files = render(scenarios.write(tmp_path, model))
    conf = files[nginx.HTTP_CONF]
    assert "match lbsync_status_200 {\n    status 200;\n}" in conf
    ews = re.search(r"upstream lbsync_ews_mail_contoso_com \{\n(.*?)\n\}", conf, re.S).group(1)
    assert "ntlm;" in ews and "zone lbsync_ews_mail_contoso_com 64k;" in ews and "keepalive 128;" in ews
    assert "health_check uri=/EWS/healthcheck.htm match=lbsync_status_200 interval=200ms fails=2 passes=2;" in conf
    assert "cannot validate them" in conf
    proc = nginx_t(tmp_path, files)  # open-source nginx really does not know these directives
    assert proc.returncode != 0 and "unknown directive" in proc.stderr


def test_passthrough_shares_the_port_through_ssl_preread_and_proxy_protocol(made):
    _, plan, files = made["passthrough-shared"]
    stream, http = files[nginx.STREAM_CONF], files[nginx.HTTP_CONF]
    assert "ssl_preread on;" in stream and "proxy_protocol on;" in stream
    m = re.search(r"map \$ssl_preread_server_name \$(\w+) \{\n(.*?)\n\}", stream, re.S)
    entries = dict(ln.strip().rstrip(";").split(None, 1) for ln in m.group(2).splitlines()
                   if ln.strip() != "hostnames;")
    relay, l7 = entries["outlook.contoso.com"], entries["default"]
    assert relay.startswith("unix:") and l7.startswith("unix:") and relay != l7
    # the relay drops the PROXY header before the untouched TLS goes to the servers
    assert re.search(rf"listen {re.escape(relay)} proxy_protocol;\n    set_real_ip_from unix:;\n"
                     r"    proxy_pass lbsync_tcp_outlook_contoso_com;", stream)
    # the http side listens on the l7 socket with PROXY protocol and takes the client address from it
    assert f"listen {l7} ssl proxy_protocol;" in http and "real_ip_header proxy_protocol;" in http
    assert "outlook.contoso.com" not in re.sub(r"#.*", "", http)  # passthrough names never reach L7
    _, _, alone = made["passthrough-alone"]
    assert "return \"\";" in alone[nginx.STREAM_CONF] and "proxy_protocol on;" not in alone[nginx.STREAM_CONF]


def test_no_stream_file_without_passthrough(made):
    assert nginx.STREAM_CONF not in made["lab-bridge"][2]


def test_verify_off_is_loud(made):
    conf = made["verify-off"][2][nginx.HTTP_CONF]
    assert "proxy_ssl_verify off;" in conf and "proxy_ssl_verify on;" not in conf
    assert "WARNING: tls.verify_server is false" in conf


def test_tls_profile_and_certificate(made, pki_files):
    conf = made["tls-modern"][2][nginx.HTTP_CONF]
    assert "ssl_protocols TLSv1.3;" in conf and "ssl_ciphers" not in conf
    conf = made["lab-bridge"][2][nginx.HTTP_CONF]
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf and "ssl_prefer_server_ciphers off;" in conf
    assert f"ssl_certificate {pki_files['fullchain']};" in conf and f"ssl_certificate_key {pki_files['key']};" in conf


def cli(*args, cwd=None):
    return run_cli(*args, cwd=cwd)


def test_ntlm_on_nginx_open_source_is_refused_before_anything_is_written(profiles_dir, tmp_path):
    out = tmp_path / "out"
    proc = cli("render", str(profiles_dir / "exchange2016-bridge.yaml"), "--target", "nginx", "-o", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "[nginx-ntlm]" in proc.stderr and "Traceback" not in proc.stderr
    assert "Basic" in proc.stderr and "passthrough" in proc.stderr and "plus: true" in proc.stderr
    assert not out.exists()
    # the same model renders for HAProxy (the rule is NGINX-specific)
    ok = cli("render", str(profiles_dir / "exchange2016-bridge.yaml"), "--target", "haproxy", "-o", str(out))
    assert ok.returncode == 0, ok.stderr
    assert (out / "haproxy" / "haproxy.cfg").exists() and not (out / "nginx").exists()


def test_other_forbidden_configurations_are_refused_before_anything_is_written(pki_files, tmp_path):
    offload_2016 = scenarios.realise(VARIATIONS["lab-offload"], "haproxy", pki_files)
    offload_2016["exchange"]["version"] = 2016
    mixed = scenarios.realise(VARIATIONS["lab-bridge"], "haproxy", pki_files)
    mixed["tls"]["services"] = {"rpc": "passthrough"}   # rpc passthrough inside an L7 namespace
    for name, model, code in (("offload2016", offload_2016, "offload-unsupported"),
                              ("mixed", mixed, "passthrough-mixed")):
        path = scenarios.write(tmp_path / name, model)
        out = tmp_path / name / "out"
        proc = cli("render", str(path), "--target", "all", "-o", str(out))
        assert proc.returncode == 2 and f"[{code}]" in proc.stderr, proc.stderr
        assert not out.exists()


def upstream(conf: str, svc) -> str:
    return re.search(r"upstream " + nginx.upstream_name(svc) + r" \{\n(.*?)\n\}", conf, re.S).group(1)


def test_no_keepalive_where_iis_binds_authentication_to_the_connection(pki_files, tmp_path):
    """Forced past nginx-ntlm, open source still never shares an NTLM pool's server connections across clients;
    NGINX Plus keeps them alive with `ntlm` (a connection that carried NTLM/Negotiate stays with its client)."""
    model = scenarios.realise(VARIATIONS["lab-bridge"], "nginx", pki_files)
    for key in ("ews", "oab", "mapi", "autodiscover"):
        model["exchange"].setdefault("auth", {})[key] = ["Ntlm", "Negotiate"]
    oss = scenarios.write(tmp_path / "oss", model)
    plan, files = render(oss, allow=("nginx-ntlm",))
    conf = files[nginx.HTTP_CONF]
    for svc in [p for ns in plan.namespaces for p in ns.pools]:
        block = upstream(conf, svc)
        assert ("keepalive 128;" in block) == svc.share_server_connections, svc.service
        if svc.ntlm_affinity:
            assert not svc.share_server_connections
    assert "client B could run on a connection authenticated as client A" in conf
    assert nginx_t(oss.parent, files).returncode == 0
    model["targets"]["nginx"]["plus"] = True
    plus = scenarios.write(tmp_path / "plus", model)
    plan, files = render(plus)
    for svc in [p for ns in plan.namespaces for p in ns.pools]:
        block = upstream(files[nginx.HTTP_CONF], svc)
        assert "keepalive 128;" in block
        assert ("ntlm;" in block) == (not svc.share_server_connections), svc.service


def test_kerberos_sized_headers_and_the_clients_host(made):
    for name, (_, plan, files) in made.items():
        conf = files[nginx.HTTP_CONF]
        servers = [body for head, body in blocks(conf) if head == "server" and " ssl" in body]
        assert servers, name
        for body in servers:  # the default server too: NGINX reads the headers before it picks a server
            assert f"large_client_header_buffers {nginx.header_buffers(plan)};" in body, name
        if not plan.model.http.given:   # HTTP.sys's default 16384, less 1024 for the added headers
            assert nginx.header_buffers(plan) == "1 15k", name
        assert "proxy_set_header Host $host;" not in conf
        assert conf.count("proxy_set_header Host $http_host;") == sum(len(ns.routes) for ns in plan.namespaces
                                                                      if not ns.passthrough), name


def test_tls_toward_the_servers_and_persistence_follow_the_group(profiles_dir, pki_files, tmp_path):
    model = scenarios.realise(VARIATIONS["profile-coexistence-2013-2007"], "nginx", pki_files)
    path = scenarios.write(tmp_path, model)
    plan, files = render(path, allow=("nginx-ntlm", "nginx-negotiate"))
    conf = files[nginx.HTTP_CONF]
    for ns in plan.namespaces:
        for (pattern, body), svc in zip([x for x in locations(conf, ns.host) if x[0].startswith("~*")], ns.routes):
            if svc.mode != "bridge":
                continue
            if svc.group == "legacy2007":
                assert "proxy_ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;" in body, svc.service
                assert "proxy_ssl_ciphers DEFAULT:@SECLEVEL=0;" in body
            else:
                assert "proxy_ssl_protocols TLSv1.2 TLSv1.3;" in body and "SECLEVEL" not in body
    for svc in [p for ns in plan.namespaces for p in ns.pools]:
        block = upstream(conf, svc)
        assert ("hash $remote_addr consistent;" in block) == (svc.persistence != "none"), svc.pool
        assert (svc.persistence != "none") == (svc.group == "legacy2007" and svc.service != "oab")
    assert nginx_t(path.parent, files).returncode == 0


def test_upstream_keepalive_is_the_models_on_every_sharing_pool_and_bad_values_are_refused(pki_files, tmp_path):
    """targets.nginx.upstream_keepalive sets `keepalive N` on every pool that may share server connections (and on
    NGINX Plus's ntlm pools), nowhere else; the config still passes nginx -t. Not an integer in 1..4096: one line
    naming file, line and key, exit 2, nothing written."""
    model = scenarios.realise(VARIATIONS["lab-bridge"], "nginx", pki_files)
    model["targets"]["nginx"]["upstream_keepalive"] = 7
    path = scenarios.write(tmp_path / "seven", model)
    plan, files = render(path)
    conf = files[nginx.HTTP_CONF]
    sharing = [svc for ns in plan.namespaces for svc in ns.pools if svc.share_server_connections]
    assert sharing and len(sharing) < len([svc for ns in plan.namespaces for svc in ns.pools])
    for svc in [p for ns in plan.namespaces for p in ns.pools]:
        block = upstream(conf, svc)
        assert ("keepalive 7;" in block) == svc.share_server_connections, svc.service
        assert "keepalive 128;" not in block
    assert nginx_t(path.parent, files).returncode == 0
    readme = nginx.readme(plan, RenderOptions())
    assert "Each worker keeps up to 7 idle connections per pool" in readme and "worker_connections" in readme
    plus_model = {**model, "targets": {**model["targets"], "nginx": {**model["targets"]["nginx"], "plus": True}}}
    plus_plan, plus_files = render(scenarios.write(tmp_path / "plus", plus_model))
    plus_pools = [p for ns in plus_plan.namespaces for p in ns.pools]
    assert any(not svc.share_server_connections for svc in plus_pools)    # owa-integrated at least: an ntlm pool
    for svc in plus_pools:      # Plus: every pool, the ntlm ones too
        assert "keepalive 7;" in upstream(plus_files[nginx.HTTP_CONF], svc), svc.service
    for bad in (0, 4097, "many", True, 1.5):
        model["targets"]["nginx"]["upstream_keepalive"] = bad
        path = scenarios.write(tmp_path / f"bad-{bad}", model)
        out = tmp_path / f"out-{bad}"
        ran = run_cli("render", path, "--target", "nginx", "-o", out)
        assert ran.returncode == 2, (bad, ran.stdout, ran.stderr)
        lines = ran.stderr.strip().splitlines()
        assert len(lines) == 1 and "targets.nginx.upstream_keepalive" in lines[0] and str(path.name) in lines[0], lines
        assert "Traceback" not in ran.stderr and not out.exists()
