"""Load-balancer decisions the Plan makes once for every target: connection sharing, TLS toward the servers,
persistence, balancing, pool timeouts, header size."""

from __future__ import annotations

import pytest
from support.plans import PROFILE_GROUPS, codes, model_dict, plan_of, route, with_group  # noqa: F401

from lbsync.facts import httpsys, lb


def test_server_connections_are_shared_only_where_no_authentication_is_bound_to_them():
    plan = plan_of(model_dict(2016, "bridge"))
    for s in plan.services:
        assert s.ntlm_affinity == bool({"Ntlm", "Negotiate"} & set(s.auth))
        assert s.share_server_connections == (not s.ntlm_affinity), s.service
    assert route(plan, "eas").share_server_connections and route(plan, "ecp").share_server_connections
    # owa is forms-based and keeps upstream keep-alive; /owa/Integrated (Windows authentication only) is a route of
    # its own, connection-bound, with owa's mode, pool members and health page
    owa, integrated = route(plan, "owa"), route(plan, "owa-integrated")
    assert owa.share_server_connections and not owa.ntlm_affinity and owa.paths == ("/owa",)
    assert not integrated.share_server_connections and integrated.ntlm_affinity
    assert integrated.paths == ("/owa/integrated",) and integrated.auth == ("Ntlm", "Negotiate")
    assert integrated.pool != owa.pool and integrated.mode == owa.mode and integrated.members == owa.members
    assert integrated.health.path == "/owa/healthcheck.htm" and integrated.locations == {}
    ns = plan.namespaces[0]
    assert ns.routes.index(integrated) < ns.routes.index(owa)   # /owa/integrated matched before /owa
    by_service = {d["service"]: d for d in plan.as_json()["services"]}
    assert by_service["owa"]["share_server_connections"] is True
    assert by_service["owa-integrated"]["share_server_connections"] is False


def test_basic_only_services_share_connections():
    data = model_dict(2013, "offload")
    data["exchange"]["auth"] = {"ews": ["Basic"], "mapi": ["Basic"]}
    plan = plan_of(data)
    assert route(plan, "ews").share_server_connections and route(plan, "mapi").share_server_connections
    assert not route(plan, "oab").share_server_connections


def test_2013_and_later_offer_tls_1_2_and_need_no_persistence():
    for version in (2013, 2016, 2019):
        plan = plan_of(model_dict(version, "bridge", cu=13))
        for s in plan.services:
            assert s.server_tls_min == "TLSv1.2" and s.server_tls_versions == ("TLSv1.2", "TLSv1.3")
            assert (s.persistence, s.persistence_timeout_s) == ("none", 0), s.service
        assert not {"legacy-server-tls", "legacy-persistence"} & codes(plan)


@pytest.mark.parametrize("version", [2007, 2010])
def test_legacy_groups_get_old_tls_and_persistence(version):
    plan = plan_of(with_group(version, "bridge"))
    legacy = [s for s in plan.services if s.group == "old"]
    assert legacy
    for s in legacy:
        assert s.server_tls_min == "TLSv1.0"
        assert s.server_tls_versions == ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
        want = {"owa": "cookie", "ecp": "cookie", "oab": "none", "autodiscover": "none"}.get(s.service, "source-ip")
        assert s.persistence == want, s.service
        if want == "source-ip":  # at least the 45 minutes Microsoft recommends, and the pool's own timeout
            assert s.persistence_timeout_s >= max(2700, s.timeout_s)
    for s in plan.services:
        if s.group == "main":
            assert (s.server_tls_min, s.persistence) == ("TLSv1.2", "none")
    f = next(f for f in plan.findings if f.code == "legacy-server-tls")
    assert f.level == "warning" and "TLSv1.0" in f.message and f.where == ("groups", "old")
    assert "legacy-persistence" in codes(plan, "info")


def test_an_offloaded_legacy_group_has_no_tls_warning():
    plan = plan_of(with_group(2010, "offload"))
    assert "legacy-server-tls" not in codes(plan)
    assert "legacy-persistence" in codes(plan)


def test_a_passthrough_legacy_namespace_persists_by_source_address():
    """No cookie can be read or set without terminating TLS: one pool, source-ip, the longest timeout."""
    plan = plan_of(with_group(2010, "passthrough", ["owa", "ecp", "rpc"]))
    pool = [s for s in plan.services if s.namespace == "legacy.contoso.com"]
    assert {s.pool for s in pool} == {"tcp_legacy.contoso.com"}
    assert {s.persistence for s in pool} == {"source-ip"}
    assert {s.pool_timeout_s for s in pool} == {max(s.timeout_s for s in pool)}
    assert {s.share_server_connections for s in pool} == {False}
    # HTTPS health checks toward 2010 still need TLS 1.0 allowed
    assert "legacy-server-tls" in codes(plan, "warning")


def test_balance_one_rule_for_every_target():
    data = model_dict(2016, "bridge", services=["owa", "ecp", "ews", "eas", "oab", "mapi"])
    data["namespaces"].append({"host": "outlook.contoso.com", "vip": "203.0.113.10", "services": ["rpc"]})
    data["tls"]["services"] = {"rpc": "passthrough"}
    plan = plan_of(data)
    for s in plan.services:
        want = "leastconn" if s.streaming or s.mode == "passthrough" else "roundrobin"
        assert s.balance == want, s.service
        assert s.pool_timeout_s == max(x.timeout_s for x in plan.services if x.pool == s.pool)
        assert s.health.passive_down_ms == max(s.health.interval_ms * s.health.fall, 1000)


def test_header_size_decision():
    """http.max_header_bytes: the servers' limit (HTTP.sys's default unless the model raises it); the load balancers
    accept that less the room for the headers they add."""
    plan = plan_of(model_dict())
    assert plan.max_header_bytes == httpsys.DEFAULT_REQUEST_BYTES == 16384
    assert plan.lb_added_header_bytes == lb.LB_ADDED_HEADER_BYTES == 1024
    assert plan.lb_header_bytes == 15360
    assert plan.exchange.http_sys == {}
    data = model_dict()
    data["http"] = {"max_header_bytes": 70656}
    raised = plan_of(data)
    assert (raised.max_header_bytes, raised.lb_header_bytes) == (70656, 69632)
    assert raised.exchange.http_sys == {"MaxFieldLength": 65534, "MaxRequestBytes": 70656}
