"""Invariants of the Plan over generated models (every version x mode mix x service subset x MRSProxy/EP)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from support.quick import examples

from lbsync.facts import catalog
from lbsync.model import load_model_text
from lbsync.plan import build_plan

SERVICES = ["owa", "ecp", "ews", "eas", "oab", "mapi", "rpc", "autodiscover"]
MODES = ["offload", "bridge", "passthrough"]


@st.composite
def models(draw):
    version = draw(st.sampled_from([2013, 2016, 2019]))
    exchange = {"version": version}
    if draw(st.booleans()):
        exchange["cu"] = draw(st.integers(0, 30))
    if draw(st.booleans()):
        exchange["extended_protection"] = draw(st.booleans())
    exchange["mrsproxy"] = draw(st.booleans())
    chosen = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=8, unique=True))
    split = draw(st.integers(1, len(chosen)))
    namespaces = [{"host": "mail.contoso.com", "vip": "203.0.113.10", "services": chosen[:split]}]
    if chosen[split:]:
        namespaces.append({"host": "other.contoso.com", "vip": "203.0.113.10", "services": chosen[split:]})
    tls = {"default": draw(st.sampled_from(MODES)),
           "services": draw(st.dictionaries(st.sampled_from(SERVICES), st.sampled_from(MODES), max_size=3))}
    return {"version": 1, "exchange": exchange,
            "servers": [{"name": "EX01", "address": "192.0.2.11"}, {"name": "EX02", "address": "192.0.2.12"}],
            "namespaces": namespaces, "tls": tls,
            "targets": draw(st.sampled_from([{"haproxy": {}}, {"nginx": {}}, {"nginx": {"plus": True}}, {"f5": {}}]))}


@settings(max_examples=examples(300), deadline=None, database=None)
@given(models())
def test_plan_invariants(data):
    model = load_model_text(yaml.safe_dump(data), "/tmp/lbsync.yaml")
    plan = build_plan(model)
    ex = plan.exchange
    mode = {s: model.tls.services.get(s, model.tls.default) for s in model.services}
    codes = {f.code: f for f in plan.findings}

    # The Exchange side: only Default Web Site locations, never the root or the Back End; Rpc only by cmdlet.
    for loc, flags in ex.locations.items():
        assert loc.startswith("Default Web Site/") and loc != "Default Web Site/"
        assert "Back End" not in loc
        service = ex.location_service[loc]
        if loc.endswith("/owa/Calendar"):
            assert flags == "None"
        else:
            assert flags == ("None" if mode[service] == "offload" else "Ssl, Ssl128"), (loc, mode[service])
    assert "Default Web Site/Rpc" not in ex.appcmd_locations
    assert ex.outlook_anywhere.ssl_offloading == ((mode["rpc"] == "offload") if "rpc" in mode else None)
    assert ex.oab_require_ssl == ((mode["oab"] != "offload") if "oab" in mode else None)

    # The load-balancer side.
    for ns in plan.namespaces:
        # match order: a route whose path lies under another's (segment boundary) right before it, the rest (the
        # routes under no other) longest path first; nested_paths names exactly the paths under another route's
        routes = ns.routes
        assert sorted(map(id, routes)) == sorted(map(id, ns.services))
        def under(s, o):
            return s is not o and any(p.startswith(q + "/") for p in s.paths for q in o.paths)
        for i, s in enumerate(routes):
            for j, o in enumerate(routes):
                if under(s, o):
                    assert i < j and all(under(m, o) for m in routes[i:j]), [r.service for r in routes]
        tops = [s for s in routes if not any(under(s, o) for o in routes)]
        lengths = [max(len(p) for p in s.paths) for s in tops]
        assert lengths == sorted(lengths, reverse=True)
        # the catalog's sub-paths, each nested when its parent's route is on this namespace too
        paths = {p for s in routes for p in s.paths}
        assert ns.nested_paths == {child for child, parent in (("/owa/integrated", "/owa"),
                                                               ("/ews/mrsproxy.svc", "/ews"))
                                   if child in paths and parent in paths}
        for s in ns.services:
            assert s.scheme == {"offload": "http", "bridge": "https", "passthrough": "tcp"}[s.mode]
            assert s.health.scheme == ("http" if s.mode == "offload" else "https")
            assert s.health.path == catalog.service(s.service).health_path
            assert len(s.members) == 2
            if s.service == "mrsproxy":
                assert s.mode == "bridge" and not ns.passthrough
            elif s.service == "owa-integrated":   # /owa/Integrated: owa's mode, never shares server connections
                assert s.mode == mode["owa"] and not ns.passthrough and not s.share_server_connections
            else:
                assert s.mode == mode[s.service]
        if ns.passthrough:
            assert len(ns.pools) == 1
    for ns in plan.namespaces:  # the MRSProxy route sits in every L7 namespace that carries ews
        names = [s.service for s in ns.services]
        wanted = model.exchange.mrsproxy and "ews" in names and not ns.passthrough
        assert ("mrsproxy" in names) == wanted
        if wanted:
            assert names[names.index("ews") + 1] == "mrsproxy"

    # The rules.
    offloaded = [s for s in mode if mode[s] == "offload"]
    assert ("offload-unsupported" in codes) == (model.exchange.version >= 2016 and bool(offloaded))
    assert ("ep-offload" in codes) == (model.exchange.extended_protection and bool(offloaded))
    assert ("mrsproxy-without-ews" in codes) == (model.exchange.mrsproxy and "ews" not in mode)
    mixed = any(len({mode[s] == "passthrough" for s in ns.services}) == 2 for ns in model.namespaces)
    assert ("passthrough-mixed" in codes) == mixed
    if "passthrough-mixed" in codes:
        assert codes["passthrough-mixed"].level == "error"
    nginx_ntlm = [s for s in plan.services if s.mode != "passthrough" and "Ntlm" in s.auth]
    assert ("nginx-ntlm" in codes) == (bool(nginx_ntlm) and not model.targets.nginx.plus)
    for f in plan.findings:
        if f.target == "nginx" and not model.targets.nginx.given:
            assert f not in plan.relevant()
