"""bench/dataplane.py's configuration variants are real configurations: each changes the generated HAProxy/NGINX file
(or it would measure nothing) and the real binary accepts the result (`haproxy -c`, `nginx -t`) — a variant the
binary refuses would stop a 13-minute benchmark at its start. The routing variants keep every route."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
from pki import make_pki

BENCH = Path(__file__).resolve().parents[1] / "bench" / "dataplane.py"


@pytest.fixture(scope="module")
def dataplane():
    spec = importlib.util.spec_from_file_location("lbsync_bench_dataplane", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(dataplane, tmp_path_factory):
    """lb -> (the generated configuration of the bench's model, offload, and the folder it belongs to)."""
    root = tmp_path_factory.mktemp("bench")
    files = make_pki().write(root / "pki")
    servers = [dataplane.Server(0), dataplane.Server(1)]
    out = {}
    for lb in ("haproxy", "nginx"):
        text, _ = dataplane.generated(lb, "offload", servers, dataplane.free_port(), files, root / lb)
        out[lb] = (text, root / lb)
    return out


def check(dataplane, lb: str, text: str, folder: Path) -> subprocess.CompletedProcess:
    """The real binary's check of the configuration exactly as the benchmark would run it."""
    return subprocess.run(dataplane.lb_argv(lb, text, folder, check=True), capture_output=True, text=True, timeout=60)


def test_every_variant_changes_the_file_and_the_binary_accepts_it(dataplane, generated, tmp_path):
    names = list(dataplane.VARIANTS) + ["haproxy-no-routing+haproxy-no-headers+haproxy-no-httplog",
                                        "haproxy-route-map+haproxy-no-headers"]
    assert len(names) > 20
    for name in names:
        parts = name.split("+")
        lb = dataplane.VARIANTS[parts[0]][0]
        text, _ = generated[lb]
        folder = tmp_path / f"v{names.index(name)}"
        changed = dataplane._compose(parts)(text, folder)
        assert changed != text, name
        proc = check(dataplane, lb, changed, folder)
        assert proc.returncode == 0, (name, proc.stdout[-2000:], proc.stderr[-2000:])


def test_the_previous_routing_is_the_fourth_sessions(dataplane, generated):
    """haproxy-route-previous: each route's rule tests both forms under one ACL, longest path first, and "/" is an
    http-request redirect before the routes (what lbsync rendered until the fifth #15 session)."""
    text, _ = generated["haproxy"]
    previous = dataplane._route_previous(text)
    uses = re.findall(r"^\s*use_backend (\S+) if (\S+) (\S+)$", previous, re.M)
    assert [pool.split("_")[0] for pool, _, _ in uses] == ["eas", "mrsproxy", "owa-integrated", "mapi", "owa", "ecp",
                                                           "ews", "oab", "rpc", "autodiscover"]
    assert not re.search(r"_exact|use_backend \S+ if \{ path / \}|^backend root_", previous, re.M)
    assert re.search(r"^\s*acl ns0_owa path_beg -i /owa/\n\s*acl ns0_owa path -i /owa$", previous, re.M)
    redirect = previous.index("http-request redirect location /owa/ code 302 if { path / } ns0")
    assert redirect < previous.index("use_backend eas_mail")
    # the generated routing itself: the bare prefixes and "/" after every route's own rule
    assert text.index("use_backend rpc_mail.contoso.com if ns0_rpc ns0") < \
        text.index("use_backend owa_mail.contoso.com if ns0_owa_exact ns0") < text.index("if { path / } ns0")


def test_the_routing_variants_keep_every_route(dataplane, generated, tmp_path):
    text = dataplane._route_previous(generated["haproxy"][0])     # they change the previous routing
    pools = set(re.findall(r"^\s*use_backend (\S+) if ", text, re.M))
    assert {"owa_mail.contoso.com", "owa-integrated_mail.contoso.com", "mrsproxy_mail.contoso.com",
            "ews_mail.contoso.com"} <= pools
    mapped = dataplane._route_map(text, tmp_path / "map")
    entries = {}
    for map_file in (tmp_path / "map").glob("*.map"):
        for line in map_file.read_text().splitlines():
            prefix, pool = line.split()
            entries[prefix] = pool
    assert set(entries.values()) == pools and entries["/owa/integrated/"] == "owa-integrated_mail.contoso.com"
    assert entries["/ews/mrsproxy.svc/"] == "mrsproxy_mail.contoso.com" and entries["/owa/"] == "owa_mail.contoso.com"
    assert len(re.findall(r"^\s*use_backend %\[path,concat\(/\),lower,map_beg\(\S+\)\] if ns\d+$", mapped, re.M)) == 2
    assert not re.search(r"^\s*use_backend [^%\s]\S* if ", mapped, re.M)     # no per-path rule left
    field = dataplane._route_field(text)
    # a two-segment prefix is tested together with its first segment's ACL
    assert re.search(r"^\s*use_backend owa-integrated_mail\.contoso\.com if ns0_owa-integrated ns0_owa ns0$", field,
                     re.M)
    assert re.search(r"^\s*acl ns0_owa path,field\(2,/\) -m str -i owa$", field, re.M)
    assert set(re.findall(r"^\s*use_backend (\S+) if ", field, re.M)) == pools
    # every variant that rewrites the path ACLs rewrote all of them: no generated path ACL left beside its tests
    for variant in (mapped, field, dataplane._route_var(text), dataplane._route_concat(text)):
        assert not re.search(r"^\s*acl ns\d+_\S+ path(_beg)? -i ", variant, re.M)
    concat = dataplane._route_concat(text)
    assert re.search(r"^\s*acl ns0_owa path,concat\(/\) -m beg -i /owa/$", concat, re.M)
    assert len(re.findall(r"^\s*acl ns\d+_", concat, re.M)) * 2 == len(re.findall(r"^\s*acl ns\d+_", text, re.M))


def test_the_minimal_configuration_keeps_more_idle_connections_than_wrk_opens(dataplane, tmp_path):
    files = make_pki().write(tmp_path / "pki")
    text = dataplane.minimal("nginx", "bridge", [dataplane.Server(0)], dataplane.free_port(), files)
    kept = int(re.search(r"keepalive (\d+);", text).group(1))
    assert kept >= 2 * dataplane.CONNECTIONS and kept != 128      # never lbsync's own default: that is measured
