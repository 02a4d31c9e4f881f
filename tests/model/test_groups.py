"""Server groups (coexistence): per group/version plan facts, the proxy-vs-redirect view, findings — and that a
model without groups: plans exactly as before."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from support.cli import run_cli
from support.paths import ROOT  # noqa: E402

from lbsync.cli.planview import print_plan
from lbsync.errors import LbsyncError, ModelErrors
from lbsync.facts import catalog, coexistence
from lbsync.model import load_model, load_model_text
from lbsync.plan import build_plan

BASE = """\
version: 1
exchange:
  version: {main}
  cu: 23
groups:
  old:
    version: {legacy}
{group_extra}servers:
  - name: EXNEW1
    address: 192.0.2.11
  - name: EXNEW2
    address: 192.0.2.12
  - name: EXOLD1
    address: 192.0.2.21
    group: old
  - name: EXOLD2
    address: 192.0.2.22
    group: old
namespaces:
  - host: mail.contoso.com
    services: [owa, ecp, ews, eas, oab, rpc]
  - host: autodiscover.contoso.com
    services: [autodiscover]
{legacy_ns}tls:
  default: {mode}
"""
LEGACY_NS = "  - host: legacy.contoso.com\n    group: old\n    services: [{services}]\n"


def model(main=2013, legacy=2007, services="owa, ews, oab", mode="bridge", group_extra="", legacy_ns=True):
    text = BASE.format(main=main, legacy=legacy, mode=mode, group_extra=group_extra,
                       legacy_ns=LEGACY_NS.format(services=services) if legacy_ns else "")
    return load_model_text(text, "/tmp/lbsync.yaml")


def plan_of(**kw):
    return build_plan(model(**kw))


def codes(plan, level=None):
    return {f.code for f in plan.findings if level is None or f.level == level}


# --- pools: members and health per group ---------------------------------------------------------------------

@pytest.mark.parametrize("legacy", [2007, 2010])
def test_legacy_pools_hold_only_the_groups_servers_and_check_the_owa_logon_page(legacy):
    p = plan_of(legacy=legacy)
    for s in p.services:
        names = {m.server for m in s.members}
        if s.namespace == "legacy.contoso.com":
            assert s.group == "old" and names == {"EXOLD1", "EXOLD2"}
            assert s.health.path == "/owa/auth/logon.aspx" == coexistence.LEGACY_HEALTH_PATH
            assert s.health.scheme == "https" and s.health.host == "legacy.contoso.com"
        else:
            assert s.group == "main" and names == {"EXNEW1", "EXNEW2"}
            assert s.health.path == catalog.service(s.service).health_path  # Managed Availability, per protocol


def test_a_newer_group_keeps_per_protocol_health_and_gets_scripts():
    p = plan_of(main=2019, legacy=2016, services="owa, ews, mapi")
    legacy = [s for s in p.services if s.namespace == "legacy.contoso.com"]
    # (owa twice: /owa and its Windows-authenticated /owa/Integrated route)
    assert [s.health.path for s in legacy] == ["/owa/healthcheck.htm", "/owa/healthcheck.htm",
                                               "/EWS/healthcheck.htm", "/mapi/healthcheck.htm"]
    (ex,) = p.group_exchanges
    assert ex.group == "old" and ex.version == 2016 and [s.name for s in ex.servers] == ["EXOLD1", "EXOLD2"]
    assert set(ex.modes) == {"owa", "ews", "mapi"}
    assert [s.name for s in p.exchange.servers] == ["EXNEW1", "EXNEW2"]
    assert "Default Web Site/mapi" not in p.exchange.locations  # the main group's namespaces carry no mapi


def test_group_tls_overrides_only_that_groups_pools_and_members_use_its_ports():
    p = plan_of(legacy=2010, services="owa, ecp", mode="bridge",
                group_extra="    tls:\n      default: offload\n      services: {ecp: bridge}\n")
    by = {(s.namespace, s.service): s for s in p.services}
    assert by[("legacy.contoso.com", "owa")].mode == "offload"
    assert by[("legacy.contoso.com", "owa")].scheme == "http" and by[("legacy.contoso.com", "owa")].port == 80
    assert by[("legacy.contoso.com", "owa")].health.scheme == "http"
    assert by[("legacy.contoso.com", "ecp")].mode == "bridge"
    assert by[("legacy.contoso.com", "owa")].mode_from == ("groups", "old", "tls", "default")
    assert by[("legacy.contoso.com", "ecp")].mode_from == ("groups", "old", "tls", "services", "ecp")
    assert by[("mail.contoso.com", "owa")].mode == "bridge" and by[("mail.contoso.com", "owa")].mode_from == \
        ("tls", "default")
    assert p.exchange.modes["owa"] == "bridge"  # the 2013 servers' scripts are not touched by the group's mode


def test_no_mrsproxy_route_on_a_legacy_namespace():
    text = BASE.format(main=2013, legacy=2010, mode="bridge", group_extra="",
                       legacy_ns=LEGACY_NS.format(services="owa, ews")).replace("  cu: 23\n",
                                                                                "  cu: 23\n  mrsproxy: true\n")
    p = build_plan(load_model_text(text, "/tmp/lbsync.yaml"))
    routes = {(s.namespace, s.service) for s in p.services}
    assert ("mail.contoso.com", "mrsproxy") in routes and ("legacy.contoso.com", "mrsproxy") not in routes


# --- proxy versus redirect ----------------------------------------------------------------------------------------

def test_2007_clients_land_on_legacy_for_owa_ews_oab_and_stay_on_main_for_the_proxied():
    (g,) = plan_of(legacy=2007).coexistence
    lands = {c.service: (c.behaviour, c.lands_on) for c in g.clients}
    assert lands == {"owa": ("redirect", "legacy.contoso.com"), "ews": ("autodiscover", "legacy.contoso.com"),
                     "oab": ("autodiscover", "legacy.contoso.com"), "eas": ("proxy", "mail.contoso.com"),
                     "rpc": ("proxy", "mail.contoso.com"), "autodiscover": ("proxy", "autodiscover.contoso.com")}
    assert "ecp" not in lands and "mapi" not in lands  # not in Exchange 2007


def test_2010_is_proxied_except_owa_ecp_when_its_namespace_carries_them():
    (g,) = plan_of(legacy=2010, services="owa, ecp").coexistence
    lands = {c.service: (c.behaviour, c.lands_on) for c in g.clients}
    assert lands["owa"] == ("redirect-if-external-url", "legacy.contoso.com")
    assert lands["ecp"] == ("redirect-if-external-url", "legacy.contoso.com")
    assert {s: v for s, v in lands.items() if s not in ("owa", "ecp")} == {
        "ews": ("proxy", "mail.contoso.com"), "eas": ("proxy", "mail.contoso.com"),
        "oab": ("proxy", "mail.contoso.com"), "rpc": ("proxy", "mail.contoso.com"),
        "autodiscover": ("proxy", "autodiscover.contoso.com")}
    steps = dict(g.url_steps)
    assert steps["owa"] == ('Set-OwaVirtualDirectory -Identity "<SERVER>\\owa (Default Web Site)" '
                            "-ExternalUrl https://legacy.contoso.com/owa")


def test_plan_json_is_additive_and_only_for_models_with_groups(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text((ROOT / "profiles" / "coexistence-2013-2007.yaml").read_text())
    ran = run_cli("plan", path, "--json")   # in this process: the same command and output
    assert ran.returncode == 0, ran.stderr
    doc = json.loads(ran.stdout)
    assert {"services", "outlook_anywhere", "exchange", "findings", "groups"} <= set(doc)
    legacy = [s for s in doc["services"] if s["namespace"] == "legacy.contoso.com"]
    assert {s["group"] for s in legacy} == {"legacy2007"}
    assert {m["server"] for s in legacy for m in s["members"]} == {"EX2007A", "EX2007B"}
    assert all(s["health_url"] == "/owa/auth/logon.aspx" for s in legacy)
    (g,) = doc["groups"]
    assert g["version"] == 2007 and g["scripted"] is False
    assert {c["service"]: c["lands_on"] for c in g["clients"]}["owa"] == "legacy.contoso.com"
    plain = build_plan(load_model(ROOT / "profiles" / "exchange2013-offload.yaml")).as_json()
    assert "groups" not in plain and all("group" not in s for s in plain["services"])


def test_plan_table_shows_where_each_client_lands():
    console = Console(record=True, width=200)
    print_plan(plan_of(legacy=2007), console)
    text = console.export_text()
    assert "Group old: Exchange 2007" in text and "Clients of Exchange 2007 mailboxes" in text
    owa = next(ln for ln in text.splitlines() if ln.startswith("│ owa ") and "redirected" in ln)
    assert "legacy.contoso.com" in owa
    eas = next(ln for ln in text.splitlines() if ln.startswith("│ eas ") and "proxied" in ln)
    assert "mail.contoso.com" in eas


# --- findings ---------------------------------------------------------------------------------------------------

def test_2007_group_without_a_legacy_namespace_is_an_error_and_can_be_allowed():
    p = plan_of(legacy=2007, legacy_ns=False)
    f = next(f for f in p.findings if f.code == "legacy-namespace-missing")
    assert f.level == "error" and f.where == ("groups", "old")
    assert p.model.marks.at(f.where, key=True)[0] == 6  # FILE:LINE points at the group ("  old:")
    p2 = build_plan(p.model, allow=("legacy-namespace-missing",))
    assert "legacy-namespace-missing" in codes(p2, "warning")


def test_2010_group_without_a_namespace_is_only_informed():
    p = plan_of(legacy=2010, legacy_ns=False)
    assert "group-not-routed" in codes(p, "info") and not p.blocking({"haproxy"})
    assert all(s.group == "main" for s in p.services)


def test_2007_legacy_namespace_missing_a_redirected_service_warns():
    p = plan_of(legacy=2007, services="owa")
    f = next(f for f in p.findings if f.code == "legacy-redirect-unrouted")
    assert f.level == "warning" and "ews, oab" in f.message


def test_offloading_activesync_on_2007_is_refused_and_undocumented_services_warn():
    p = plan_of(legacy=2007, services="owa, ews, eas, oab",
                group_extra="    tls:\n      default: offload\n")
    err = next(f for f in p.findings if f.code == "legacy-offload-unsupported")
    assert err.level == "error" and "eas" in err.message and "owa" not in err.message.split(":")[1]
    warn = next(f for f in p.findings if f.code == "legacy-offload-undocumented")
    assert warn.level == "warning" and "ews, oab" in warn.message
    assert err.where == ("groups", "old", "tls")


def test_offloading_2010_and_2007_owa_is_supported():
    assert not {"legacy-offload-unsupported", "legacy-offload-undocumented"} & codes(
        plan_of(legacy=2010, services="owa, ecp, ews, eas, oab, rpc",
                group_extra="    tls:\n      default: offload\n"))
    assert not {"legacy-offload-unsupported", "legacy-offload-undocumented"} & codes(
        plan_of(legacy=2007, services="owa", group_extra="    tls:\n      default: offload\n"))


def test_a_2016_group_offloaded_is_offload_unsupported_and_the_2013_main_group_is_not():
    p = plan_of(main=2013, legacy=2016, services="owa", mode="offload",
                group_extra="    tls:\n      default: offload\n")
    errs = [f for f in p.findings if f.code == "offload-unsupported"]
    assert len(errs) == 1 and "group old" in errs[0].message


def test_legacy_groups_note_the_logon_page_health_and_manual_steps():
    p = plan_of(legacy=2010, services="owa")
    assert {"legacy-health-logon-page", "legacy-manual-steps"} <= codes(p, "info")


def test_every_new_code_is_registered():
    from lbsync.facts.codes import CODES
    for code in ("legacy-namespace-missing", "legacy-redirect-unrouted", "legacy-offload-unsupported",
                 "legacy-offload-undocumented", "legacy-health-logon-page", "legacy-manual-steps",
                 "group-not-routed"):
        assert code in CODES and CODES[code].allowable


# --- validation ---------------------------------------------------------------------------------------------------

def test_ecp_on_2007_is_a_located_error():
    with pytest.raises(ModelErrors) as info:
        model(legacy=2007, services="owa, ecp")
    (e,) = info.value.errors
    assert "'ecp' does not exist on Exchange 2007" in e.message and e.key == "namespaces[2].services[1]"
    assert e.line == 26


def test_extended_protection_on_a_2010_group_is_refused():
    with pytest.raises(LbsyncError) as info:
        model(legacy=2010, group_extra="    extended_protection: true\n")
    assert "extended_protection applies to Exchange 2013/2016/2019/SE groups" in str(info.value)


def test_servers_may_name_the_main_group_explicitly_and_models_without_groups_are_unchanged():
    text = (ROOT / "profiles" / "exchange2016-bridge.yaml").read_text()
    before = build_plan(load_model_text(text, "/tmp/a.yaml")).as_json()
    explicit = text.replace("    address: 192.0.2.11\n", "    address: 192.0.2.11\n    group: main\n")
    assert explicit != text
    assert build_plan(load_model_text(explicit, "/tmp/a.yaml")).as_json() == before


def test_a_group_tls_override_for_a_service_its_version_lacks_is_refused():
    with pytest.raises(LbsyncError) as info:
        model(legacy=2007, group_extra="    tls:\n      services: {ecp: offload}\n")
    assert "'ecp' does not exist on Exchange 2007 (group 'old')" in str(info.value)
    assert str(info.value).endswith("at groups.old.tls.services.ecp")


def test_legacy_routes_expect_only_their_virtual_directory():
    p = plan_of(legacy=2010, services="owa, rpc", group_extra="    tls:\n      default: offload\n")
    by = {(s.namespace, s.service): s for s in p.services}
    assert by[("legacy.contoso.com", "owa")].locations == {"Default Web Site/owa": "None"}
    assert by[("legacy.contoso.com", "rpc")].locations == {"Default Web Site/Rpc": "None"}
    assert by[("legacy.contoso.com", "owa")].app_pools == ()
    assert "Default Web Site/owa/Integrated" in by[("mail.contoso.com", "owa")].locations


def test_nginx_ntlm_on_a_legacy_route_says_exchange_auth_does_not_reach_it():
    f = next(f for f in plan_of(legacy=2007).findings if f.code == "nginx-ntlm")
    assert "legacy.contoso.com ews" in f.message and "group old: exchange.auth describes the main group only" \
        in f.message
    main_only = build_plan(load_model(ROOT / "profiles" / "exchange2016-bridge.yaml"))
    assert all("describes the main group" not in f.message for f in main_only.findings)
