"""The Plan's answers the report draws (and nothing else decides): which route is MRSProxy, who presents a
certificate on each route, which IIS locations apply changes from Exchange's defaults."""

from __future__ import annotations

from support.plans import SITE, model_dict, plan_of, route


def test_mrsproxy_is_its_own_route_reencrypted_whatever_ews_does():
    plan = plan_of(model_dict(2013, "offload", mrsproxy=True))
    mrs = [s for s in plan.services if s.mrsproxy]
    assert [s.service for s in mrs] == ["mrsproxy"] and mrs[0].reencrypt and mrs[0].pool != route(plan, "ews").pool
    assert route(plan, "ews").plain_http and not route(plan, "ews").mrsproxy
    assert not any(s.mrsproxy for s in plan_of(model_dict(2013, "offload")).services)


def test_who_presents_a_certificate_follows_the_mode():
    offload = route(plan_of(model_dict(2013, "offload")), "owa")
    bridge = route(plan_of(model_dict(2016, "bridge")), "owa")
    passthrough = route(plan_of(model_dict(2016, "passthrough")), "owa")
    assert offload.certificate_presented_by == ("load balancer",)
    assert bridge.certificate_presented_by == ("load balancer", "servers")
    assert passthrough.certificate_presented_by == ("servers",)


def test_changed_locations_are_those_whose_expected_flags_differ_from_exchanges_default():
    offload = plan_of(model_dict(2013, "offload")).exchange
    assert f"{SITE}/owa" in offload.changed_locations and f"{SITE}/Autodiscover" in offload.changed_locations
    assert f"{SITE}/owa/Calendar" not in offload.changed_locations       # None in every mode, as Exchange sets it
    assert offload.changed_locations == {p for p, f in offload.locations.items() if f != offload.defaults[p]}
    bridge = plan_of(model_dict(2016, "bridge")).exchange
    # bridging keeps Exchange's Require SSL on every vdir; only /Rpc changes: Outlook Anywhere's SSL offloading,
    # on as Exchange installs it, goes off (-SSLOffloading $false), which makes IIS require SSL there
    assert bridge.changed_locations == {f"{SITE}/Rpc"} and bridge.outlook_anywhere.ssl_offloading is False
