"""Property: for any valid model (services spread over 1-3 namespaces, any mode mix, passthrough namespaces,
shared or separate ports, TLS profile, verify on/off, MRSProxy, 1-3 servers), `haproxy -c` and `nginx -t` accept
what lbsync renders."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.quick import examples

from lbsync.model import load_model
from lbsync.output.check import free_port
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions, haproxy, nginx
from lbsync.targets.nginx import nginx_wrapper, stream_module

SERVICES = ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc", "autodiscover"]
HOSTS = ["mail.contoso.com", "autodiscover.contoso.com", "outlook.contoso.com"]


@st.composite
def models(draw):
    n_ns = draw(st.integers(1, 3))
    owner = {s: draw(st.integers(0, n_ns - 1)) for s in SERVICES if draw(st.booleans())}
    groups = [[s for s in SERVICES if owner.get(s) == i] for i in range(n_ns)]
    groups = [g for g in groups if g]
    assume(groups)
    passthrough = [draw(st.booleans()) and len(groups) > 1 for _ in groups]
    assume(not all(passthrough))
    default = draw(st.sampled_from(["offload", "bridge"]))
    overrides = {}
    for g, pt in zip(groups, passthrough):
        for s in g:
            if pt:
                overrides[s] = "passthrough"
            elif draw(st.integers(0, 3)) == 0:
                overrides[s] = "bridge" if default == "offload" else "offload"
    shared = draw(st.booleans())
    namespaces = [{"host": HOSTS[i], "vip": "127.0.0.1", "services": g, "port": 0 if shared else i}
                  for i, g in enumerate(groups)]
    n_servers = draw(st.integers(1, 3))
    return {
        "version": 1,
        "exchange": {"version": 2013, "cu": 23, "mrsproxy": draw(st.booleans()) and "ews" in owner,
                     "outlook_anywhere": {"external_auth": "Basic", "internal_auth": "Basic"},
                     "auth": {"ews": ["Basic"], "oab": ["Basic"], "mapi": ["Basic"], "autodiscover": ["Basic"]}},
        "servers": [{"name": f"EX0{i + 1}", "address": f"127.0.0.{11 + i}"} for i in range(n_servers)],
        "namespaces": namespaces,
        "tls": {"default": default, "services": overrides,
                "profile": draw(st.sampled_from(["modern", "intermediate", "compat"])),
                "verify_server": draw(st.booleans())},
        "health": {"interval": draw(st.sampled_from(["200ms", "2s", "5s"])), "fall": draw(st.integers(1, 5)),
                   "rise": draw(st.integers(1, 5))},
    }


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(model=models())
def test_any_valid_model_renders_configs_the_real_programs_accept(model, pki_files):
    ports = {}
    for ns in model["namespaces"]:
        ns["port"] = ports.setdefault(ns["port"], free_port())
    model["tls"]["server_ca"] = str(pki_files["ca"])
    model["targets"] = {"haproxy": {"cert_path": str(pki_files["combined"]), "server_ca_path": str(pki_files["ca"])},
                        "nginx": {"cert_path": str(pki_files["fullchain"]), "key_path": str(pki_files["key"]),
                                  "server_ca_path": str(pki_files["ca"])}}
    with tempfile.TemporaryDirectory(prefix="lbp") as tmp:
        work = Path(tmp)
        path = work / "lbsync.yaml"
        path.write_text(yaml.safe_dump(model))
        plan = build_plan(load_model(path))
        assume(not plan.blocking({"haproxy", "nginx"}))
        opts = RenderOptions(extra={"redirect_port": free_port(), "socket_dir": str(work),
                                    "stats_socket": str(work / "admin.sock")})

        cfg = work / "haproxy.cfg"
        cfg.write_text(haproxy.render(plan, opts)[haproxy.CONFIG].content)
        proc = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (model, proc.stdout + proc.stderr)

        files = nginx.render(plan, opts)
        http = work / "lbsync.conf"
        http.write_text(files[nginx.HTTP_CONF].content)
        stream = None
        if nginx.STREAM_CONF in files:
            stream = work / "lbsync-stream.conf"
            stream.write_text(files[nginx.STREAM_CONF].content)
        wrapper = nginx_wrapper(work, http, stream, stream_module("nginx") if stream else None)
        proc = subprocess.run(["nginx", "-t", "-q", "-c", str(wrapper), "-p", str(work), "-e", "stderr"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (model, proc.stderr)
