"""The Plan per TLS mode x Exchange version: what each route, pool and IIS location must be."""

from __future__ import annotations

import copy

import pytest
from support.plans import ALL, REQUIRE, SITE, codes, model_dict, plan_of, route  # noqa: F401

from lbsync.facts import catalog

# --- Exchange 2013, SSL offloading as in Microsoft's doc -------------------------------------------------------

@pytest.fixture(scope="module")
def offload2013():
    return plan_of(model_dict(2013, "offload", cu=23))


@pytest.mark.parametrize("service", ALL + ["autodiscover"])
def test_2013_offload_routes_speak_http_to_port_80(offload2013, service):
    host = "autodiscover.contoso.com" if service == "autodiscover" else "mail.contoso.com"
    r = route(offload2013, service, host)
    assert r.mode == "offload"
    assert (r.scheme, r.port) == ("http", 80)
    assert {m.port for m in r.members} == {80}
    assert [m.server for m in r.members] == ["EX01", "EX02"]
    assert r.health.scheme == "http"
    assert r.health.path == catalog.SERVICES[service].health_path
    assert r.health.host == host
    assert r.sni is None


def test_2013_offload_iis_locations_are_none(offload2013):
    ex = offload2013.exchange
    for loc in ("owa", "owa/Integrated", "owa/oma", "ecp", "EWS", "Microsoft-Server-ActiveSync", "OAB", "mapi",
                "Rpc", "Autodiscover"):
        assert ex.locations[f"{SITE}/{loc}"] == "None", loc
    assert ex.locations[f"{SITE}/owa/Calendar"] == "None"


def test_2013_offload_outlook_anywhere_and_oab(offload2013):
    ex = offload2013.exchange
    assert ex.outlook_anywhere.ssl_offloading is True
    assert ex.oab_require_ssl is False
    assert ex.outlook_anywhere.external_hostname == "mail.contoso.com"


def test_rpc_is_never_set_by_appcmd(offload2013):
    ex = offload2013.exchange
    assert f"{SITE}/Rpc" in ex.locations
    assert f"{SITE}/Rpc" not in ex.appcmd_locations
    assert f"{SITE}/Microsoft-Server-ActiveSync" in ex.appcmd_locations
    assert not any("MSExchangeSyncAppPool" in loc for loc in ex.appcmd_locations)
    assert not any("Back End" in loc for loc in ex.locations)
    assert SITE not in ex.locations  # never the site root


def test_undo_defaults_and_inheritance(offload2013):
    ex = offload2013.exchange
    # ActiveSync inherits on 2013 (the E15nc capture; its own value on 2016/2019: test_2016_activesync_default)
    for inherited in ("owa", "ecp", "EWS", "Autodiscover", "Microsoft-Server-ActiveSync"):
        assert ex.defaults[f"{SITE}/{inherited}"] == REQUIRE
        assert ex.default_explicit[f"{SITE}/{inherited}"] is False
    for explicit in ("OAB", "mapi", "owa/Integrated", "owa/oma"):
        assert ex.defaults[f"{SITE}/{explicit}"] == REQUIRE
        assert ex.default_explicit[f"{SITE}/{explicit}"] is True
    assert ex.defaults[f"{SITE}/Rpc"] == "None"
    assert ex.defaults[f"{SITE}/owa/Calendar"] == "None"


def test_2016_activesync_default():
    """2016/2019/SE write ActiveSync's "Ssl, Ssl128" on the location itself (E16cu22, E19cu11)."""
    from support.plans import model_dict, plan_of
    for version in (2016, 2019, "SE"):
        ex = plan_of(model_dict(version=version, mode="bridge")).exchange
        assert ex.default_explicit[f"{SITE}/Microsoft-Server-ActiveSync"] is True, version
        assert ex.defaults[f"{SITE}/Microsoft-Server-ActiveSync"] == REQUIRE


def test_app_pools_per_location(offload2013):
    ex = offload2013.exchange
    assert ex.location_pool[f"{SITE}/Microsoft-Server-ActiveSync"] == "MSExchangeSyncAppPool"
    assert ex.location_pool[f"{SITE}/owa/Calendar"] == "MSExchangeOWACalendarAppPool"
    assert ex.location_pool[f"{SITE}/mapi"] == "MSExchangeMapiFrontEndAppPool"
    assert route(offload2013, "owa").app_pools == ("MSExchangeOWAAppPool",)
    assert route(offload2013, "eas").app_pools == ("MSExchangeSyncAppPool",)


def test_no_findings_block_2013_offload(offload2013):
    assert offload2013.blocking() == []


# --- Exchange 2016/2019 bridging ------------------------------------------------------------------------------

@pytest.mark.parametrize("version,cu", [(2016, 23), (2019, 13), (2019, 14)])
def test_bridge_routes_reencrypt_to_443(version, cu):
    plan = plan_of(model_dict(version, "bridge", cu=cu))
    for r in plan.services:
        assert r.mode == "bridge"
        assert (r.scheme, r.port) == ("https", 443)
        assert r.health.scheme == "https" and r.health.host == r.namespace
        assert r.sni == r.namespace
        assert r.verify_server is True
    for loc, flags in plan.exchange.locations.items():
        assert flags == ("None" if loc.endswith("/owa/Calendar") else REQUIRE), loc
    assert plan.exchange.outlook_anywhere.ssl_offloading is False
    assert plan.exchange.oab_require_ssl is True
    assert plan.blocking() == []


def test_members_keep_their_own_ports():
    data = model_dict(2016, "bridge")
    data["servers"][1]["https_port"] = 8443
    r = route(plan_of(data), "owa")
    assert [(m.server, m.port) for m in r.members] == [("EX01", 443), ("EX02", 8443)]


# --- per-service modes ----------------------------------------------------------------------------------------

def test_owa_children_follow_owa_but_calendar_stays_none():
    data = model_dict(2013, "bridge")
    data["tls"]["services"] = {"owa": "offload"}
    plan = plan_of(data)
    loc = plan.exchange.locations
    assert loc[f"{SITE}/owa"] == loc[f"{SITE}/owa/Integrated"] == loc[f"{SITE}/owa/oma"] == "None"
    assert loc[f"{SITE}/owa/Calendar"] == "None"
    assert loc[f"{SITE}/ecp"] == REQUIRE
    assert route(plan, "owa").mode == "offload" and route(plan, "ecp").mode == "bridge"
    assert route(plan, "owa").locations == {f"{SITE}/owa": "None", f"{SITE}/owa/Integrated": "None",
                                            f"{SITE}/owa/oma": "None", f"{SITE}/owa/Calendar": "None"}


def test_rpc_bridged_on_2013_turns_ssl_offloading_off():
    data = model_dict(2013, "offload")
    data["tls"]["services"] = {"rpc": "bridge"}
    plan = plan_of(data)
    assert plan.exchange.outlook_anywhere.ssl_offloading is False
    assert plan.exchange.locations[f"{SITE}/Rpc"] == REQUIRE
    assert plan.exchange.oab_require_ssl is False


def test_services_not_in_the_model_are_left_alone():
    plan = plan_of(model_dict(2016, "bridge", services=["owa", "ecp"]))
    assert plan.exchange.outlook_anywhere.ssl_offloading is None
    assert plan.exchange.oab_require_ssl is None
    assert f"{SITE}/Rpc" not in plan.exchange.locations
    assert f"{SITE}/OAB" not in plan.exchange.locations


def test_passthrough_namespace_is_one_tcp_pool():
    data = model_dict(2016, "bridge", services=["owa", "ecp", "ews"])
    data["namespaces"].append({"host": "outlook.contoso.com", "vip": "203.0.113.10", "services": ["rpc", "mapi"]})
    data["tls"]["services"] = {"rpc": "passthrough", "mapi": "passthrough"}
    plan = plan_of(data)
    ns = [n for n in plan.namespaces if n.host == "outlook.contoso.com"][0]
    assert ns.passthrough is True and ns.root_redirect is None
    assert {s.pool for s in ns.services} == {"tcp_outlook.contoso.com"}
    assert len(ns.pools) == 1
    for s in ns.services:
        assert (s.scheme, s.port, s.mode) == ("tcp", 443, "passthrough")
        assert s.health.scheme == "https"
    assert plan.exchange.locations[f"{SITE}/Rpc"] == REQUIRE
    assert plan.exchange.outlook_anywhere.ssl_offloading is False
    assert "passthrough-l4" in codes(plan, "info")
    assert plan.blocking() == []


# --- MRSProxy -------------------------------------------------------------------------------------------------

def test_a_route_under_another_comes_before_it_whatever_that_ones_other_paths():
    """The match order holds for routes of several paths too (every catalog service has one today): a parent whose
    other path is longer than its child's still comes after the child, and a route two levels down before both."""
    import dataclasses
    ns = plan_of(model_dict(2013, "offload", mrsproxy=True)).namespaces[0]
    by = {s.service: s for s in ns.services}
    owa = dataclasses.replace(by["owa"], paths=("/owa", "/a-much-longer-owa-path"))
    deeper = dataclasses.replace(by["owa-integrated"], service="deeper", paths=("/owa/integrated/deeper",))
    changed = dataclasses.replace(ns, services=[owa if s is by["owa"] else s for s in ns.services] + [deeper])
    order = [s.service for s in changed.routes]
    assert order.index("deeper") + 1 == order.index("owa-integrated") and \
        order.index("owa-integrated") + 1 == order.index("owa"), order
    assert changed.nested_paths == {"/owa/integrated", "/owa/integrated/deeper", "/ews/mrsproxy.svc"}
    # what a target may leave to the routes under one: every route below it, the deepest first
    assert [str(s.service) for s in changed.beneath(owa)] == ["deeper", "owa-integrated"]
    assert [str(s.service) for s in changed.beneath(by["ews"])] == ["mrsproxy"]
    assert [str(s.service) for s in changed.beneath(deeper)] == [] == changed.beneath(by["ecp"])


def test_mrsproxy_is_bridged_and_routed_before_ews_even_when_ews_is_offloaded():
    plan = plan_of(model_dict(2013, "offload", mrsproxy=True))
    mrs = route(plan, "mrsproxy")
    assert (mrs.mode, mrs.scheme, mrs.port) == ("bridge", "https", 443)
    assert mrs.paths == ("/ews/mrsproxy.svc",)
    assert mrs.health.scheme == "https" and mrs.health.path == "/EWS/healthcheck.htm"
    assert mrs.locations == {} and mrs.app_pools == ()
    assert route(plan, "ews").mode == "offload"
    ns = plan.namespaces[0]
    order = [s.service for s in ns.routes]
    # /ews/mrsproxy.svc lies under /ews (and /owa/integrated under /owa): right before it; the others longest path
    # first, ties in model order
    assert order.index("mrsproxy") + 1 == order.index("ews")
    assert order.index("owa-integrated") + 1 == order.index("owa")
    assert ns.nested_paths == {"/ews/mrsproxy.svc", "/owa/integrated"}
    tops = [s for s in ns.routes if s.service not in ("mrsproxy", "owa-integrated")]
    lengths = [max(len(p) for p in s.paths) for s in tops]
    assert lengths == sorted(lengths, reverse=True)
    names = [s.service for s in ns.services]
    assert names[names.index("ews") + 1] == "mrsproxy"
    assert plan.exchange.mrsproxy_enabled is True
    assert "mrsproxy-bridged" in codes(plan, "info")
    assert not [s for s in plan.services if s.service == "mrsproxy" and s.namespace != "mail.contoso.com"]


def test_mrsproxy_uses_ews_health_settings():
    data = model_dict(2016, "bridge", mrsproxy=True)
    data["health"] = {"services": {"ews": {"interval": "10s"}}}
    assert route(plan_of(data), "mrsproxy").health.interval_ms == 10_000


def test_mrsproxy_without_ews_is_an_error():
    plan = plan_of(model_dict(2016, "bridge", services=["owa"], mrsproxy=True))
    assert "mrsproxy-without-ews" in codes(plan, "error")
    assert plan.exchange.mrsproxy_enabled is False
    assert not [s for s in plan.services if s.service == "mrsproxy"]


def test_mrsproxy_off_has_no_route():
    plan = plan_of(model_dict(2016, "bridge"))
    assert not [s for s in plan.services if s.service == "mrsproxy"]
    assert plan.exchange.mrsproxy_enabled is False


# --- timeouts and streaming -----------------------------------------------------------------------------------

def test_long_lived_services():
    plan = plan_of(model_dict(2016, "bridge"))
    assert route(plan, "eas").timeout_s >= 3600  # EAS Ping up to 59 minutes
    assert route(plan, "rpc").timeout_s >= 3600 and route(plan, "rpc").streaming
    assert route(plan, "mapi").timeout_s >= 3600 and route(plan, "mapi").streaming
    assert plan.max_body == "2G"


def test_ntlm_affinity_follows_auth():
    data = model_dict(2016, "bridge")
    data["exchange"]["auth"] = {"mapi": ["Basic"]}
    plan = plan_of(data)
    assert route(plan, "mapi").ntlm_affinity is False
    assert route(plan, "ews").ntlm_affinity is True
    assert route(plan, "owa").ntlm_affinity is False
    assert route(plan, "rpc").auth == ("Negotiate", "Ntlm")


def test_plan_does_not_mutate_the_model_dict():
    data = model_dict(2016, "bridge")
    before = copy.deepcopy(data)
    plan_of(data)
    assert data == before
