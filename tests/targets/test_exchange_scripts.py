"""The Exchange scripts checked by meaning: the interpreter (tests/iisinterp.py) runs the emitted IIS and Exchange
commands against realistic applicationHost.config fixtures, and the effective sslFlags are compared with the plan.
No PowerShell runs here (see iisinterp's docstring for what this does and does not prove)."""

from __future__ import annotations

import copy
import re

import iisinterp
import pytest
from iisinterp import effective_flags  # apphost.effective_flags, on a cached parse
from support.scripts import FLAVOURS, RPC, SITE_ROOT, model_yaml, plan_for, rendered  # noqa: F401

from lbsync.audit.apphost import Document
from lbsync.model import load_model_text
from lbsync.plan import build_plan
from lbsync.targets import exchange as exrender

# (id, version, default mode, per-service overrides, mrsproxy)
SCENARIOS = [
    ("2013-offload", 2013, "offload", None, True),
    ("2013-offload-no-mrsproxy", 2013, "offload", None, False),
    ("2016-bridge", 2016, "bridge", None, True),
    ("2019-bridge", 2019, "bridge", None, False),
    ("2013-mixed", 2013, "offload", {"mapi": "bridge", "eas": "bridge", "rpc": "bridge"}, False),
    ("2016-mixed-allowed-offload", 2016, "bridge", {"owa": "offload", "oab": "offload"}, True),
]


@pytest.fixture(params=[s for f in FLAVOURS for s in SCENARIOS], ids=[f"{s[0]}-{f}" for f in FLAVOURS
                                                                     for s in SCENARIOS])
def case(request, tmp_path):
    sid, version, default, overrides, mrsproxy = request.param
    flavour = FLAVOURS[request.param_index // len(SCENARIOS)]
    plan = plan_for(tmp_path, model_yaml(version, default, overrides=overrides, mrsproxy=mrsproxy))
    return plan, flavour, rendered(plan, flavour), iisinterp.load_fixture(version)


def untouched_parts(text: str, managed: set[str]) -> dict[str, str]:
    """Byte-exact text of everything lbsync must never change: every <location> whose path is not a managed
    location (site root, PowerShell, every back-end location, ...) and every top-level element that is not a
    <location> (configSections, system.applicationHost with the sites, the global system.webServer)."""
    doc = Document(text)
    parts: dict[str, str] = {}
    managed_lower = {m.lower() for m in managed}
    for i, el in enumerate(doc.root.children):
        if el.name == "location":
            path = el.attrs.get("path", "")
            if path.lower() not in managed_lower:
                parts[f"location:{path}:{i}"] = text[el.start:el.end]
        else:
            parts[f"{el.name}:{i}"] = text[el.start:el.end]
    return parts


def back_end_and_protected(text: str) -> dict[str, str]:
    doc = Document(text)
    out = {}
    for path, el in doc.locations():
        if path.startswith("Exchange Back End") or path in (SITE_ROOT, "Default Web Site/PowerShell"):
            out[path] = text[el.start:el.end]
    return out


def undo_target(ex) -> dict[str, str]:
    """What undo leaves: Exchange's defaults, except /Rpc when Extended Protection keeps SSL offloading off."""
    out = dict(ex.defaults)
    if ex.undo_outlook_anywhere_ssl_offloading is False and RPC in out:
        out[RPC] = "Ssl, Ssl128"
    return out


# ---- after apply: every managed location's effective flags equal the plan ------------------------------------

def test_apply_reaches_the_plan(case):
    plan, flavour, files, apphost = case
    ex = plan.exchange
    for server in ex.servers:
        run = iisinterp.run(apphost, files[f"exchange/apply-{server.name}.ps1"], server=server.name)
        assert effective_flags(run.apphost, list(ex.locations)) == ex.locations
        if ex.outlook_anywhere.ssl_offloading is not None:
            assert run.exchange.ssl_offloading is ex.outlook_anywhere.ssl_offloading
            if ex.outlook_anywhere.ssl_offloading is False:
                assert run.exchange.external_clients_require_ssl and run.exchange.internal_clients_require_ssl
            # every parameter of the plan's one Set-OutlookAnywhere, reached in one call
            settings = run.exchange.outlook_anywhere_settings()
            assert {k: settings[k] for k in ex.outlook_anywhere.apply} == ex.outlook_anywhere.apply
            assert len([line for line in run.executed if line.startswith("Set-OutlookAnywhere")]) == 1
        if ex.oab_require_ssl is not None:
            assert run.exchange.oab_require_ssl is ex.oab_require_ssl
        assert run.exchange.mrsproxy_enabled is ex.mrsproxy_enabled


def test_apply_then_undo_restores_exchange_defaults(case):
    plan, flavour, files, apphost = case
    ex = plan.exchange
    applied = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01")
    undone = iisinterp.run(applied.apphost, files["exchange/undo-EX01.ps1"], server="EX01",
                           exchange=applied.exchange)
    assert effective_flags(undone.apphost, list(ex.locations)) == ex.defaults
    doc = Document(undone.apphost)
    for loc in ex.appcmd_locations:   # inherited by default again where Exchange's default is to inherit
        assert (doc.explicit_flags(loc) is not None) is ex.default_explicit[loc], loc
    assert undone.exchange.ssl_offloading is True
    assert undone.exchange.oab_require_ssl is True
    assert undone.exchange.mrsproxy_enabled is False   # apply turned it on (when the model asks), undo turns it off
    assert undone.exchange.markers == set()
    # Outlook Anywhere exactly as before apply (tests/targets/test_exchange_oa_record.py), and apply's record gone
    started = iisinterp.initial_exchange_state(apphost)
    assert undone.exchange.outlook_anywhere_settings() == started.outlook_anywhere_settings()
    assert undone.exchange.oa_record is None
    # Semantically back where Exchange started: the same effective flags for every front-end path of the fixture.
    paths = [p for p in Document(apphost).site_paths() if p.startswith("default web site")]
    assert effective_flags(undone.apphost, paths) == effective_flags(apphost, paths)


def test_site_root_powershell_and_back_end_are_byte_for_byte_untouched(case):
    plan, flavour, files, apphost = case
    managed = set(plan.exchange.locations)
    before = untouched_parts(apphost, managed)
    protected = back_end_and_protected(apphost)
    assert len([p for p in protected if p.startswith("Exchange Back End")]) >= 12
    assert SITE_ROOT in protected and "Default Web Site/PowerShell" in protected
    applied = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01")
    undone = iisinterp.run(applied.apphost, files["exchange/undo-EX01.ps1"], server="EX01",
                           exchange=applied.exchange)
    for text in (applied.apphost, undone.apphost):
        assert untouched_parts(text, managed) == before
        assert back_end_and_protected(text) == protected
    assert text.startswith("\ufeff") and "\r\n" in text and "\n" not in text.replace("\r\n", "")


def test_apply_twice_changes_nothing_the_second_time(case):
    plan, flavour, files, apphost = case
    script = files["exchange/apply-EX01.ps1"]
    first = iisinterp.run(apphost, script, server="EX01")
    second = iisinterp.run(first.apphost, script, server="EX01", exchange=first.exchange)
    assert second.executed == [] and second.changed_pools == []
    assert second.apphost == first.apphost
    undo = files["exchange/undo-EX01.ps1"]
    u1 = iisinterp.run(first.apphost, undo, server="EX01", exchange=first.exchange)
    u2 = iisinterp.run(u1.apphost, undo, server="EX01", exchange=u1.exchange)
    assert u2.executed == [] and u2.apphost == u1.apphost


def test_only_the_pools_of_changed_locations_are_recycled(case):
    plan, flavour, files, apphost = case
    run = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01")
    pools = Document(apphost).site_paths()
    managed = [loc for loc in plan.exchange.appcmd_locations]
    before = effective_flags(apphost, managed)
    after = effective_flags(run.apphost, managed)
    changed = [loc for loc in managed if before[loc] != after[loc]]
    assert sorted(run.changed_pools) == sorted({pools[loc.lower()] for loc in changed})


def test_no_line_names_the_back_end_site_or_changes_the_site_root(case):
    plan, flavour, files, apphost = case
    for rel, text in files.items():
        for line in text.splitlines():
            assert "exchange back end" not in line.lower(), (rel, line)
    run = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01")
    for line in run.executed:
        assert not re.search(r"['\"]Default Web Site['\"]", line), line
        assert "PowerShell" not in line


def test_verify_is_read_only(case):
    plan, flavour, files, apphost = case
    text = files["exchange/verify-EX01.ps1"]
    run = iisinterp.run(apphost, text, server="EX01")     # no changes region, no change command anywhere
    assert run.executed == [] and run.apphost == apphost
    assert iisinterp.BEGIN not in text


# ---- scenario-specific facts ---------------------------------------------------------------------------------

def test_2013_offload_sets_every_front_end_vdir_to_none_and_rpc_through_outlook_anywhere(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload", mrsproxy=True))
    for flavour in FLAVOURS:
        files = rendered(plan, flavour)
        run = iisinterp.run(iisinterp.load_fixture(2013), files["exchange/apply-EX01.ps1"], server="EX01")
        flags = effective_flags(run.apphost, ["Default Web Site/owa", "Default Web Site/ecp", "Default Web Site/EWS",
                                              "Default Web Site/Microsoft-Server-ActiveSync", "Default Web Site/OAB",
                                              "Default Web Site/mapi", "Default Web Site/Autodiscover", RPC,
                                              "Default Web Site/owa/Integrated", "Default Web Site/owa/oma",
                                              "Default Web Site/owa/Calendar"])
        assert set(flags.values()) == {"None"}
        # untouched: the site root, the PowerShell vdir and the back end's /RpcWithCert (the front end has none:
        # real servers' captures, facts.iis)
        assert effective_flags(run.apphost, [SITE_ROOT, "Default Web Site/PowerShell",
                                             "Exchange Back End/RpcWithCert"]) == {
            SITE_ROOT: "Ssl, Ssl128", "Default Web Site/PowerShell": "SslNegotiateCert",
            "Exchange Back End/RpcWithCert": "None"}
        # Rpc is driven only by Set-OutlookAnywhere; the fixture's Rpc is already None (Exchange's default)
        assert not any("Default Web Site/Rpc" in line for line in run.executed)
        assert run.exchange.ssl_offloading is True and run.exchange.oab_require_ssl is False
        assert run.exchange.mrsproxy_enabled is True
        assert exrender.MRSPROXY_MARKER in run.exchange.markers


def test_2016_bridge_on_defaults_only_turns_outlook_anywhere_offloading_off(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2016, "bridge"))
    for flavour in FLAVOURS:
        files = rendered(plan, flavour)
        state = iisinterp.initial_exchange_state(iisinterp.load_fixture(2016))
        state.outlook_anywhere["ExternalHostname"] = "mail.contoso.com"   # already as the model states it
        run = iisinterp.run(iisinterp.load_fixture(2016), files["exchange/apply-EX02.ps1"], server="EX02",
                            exchange=state)
        # one command: the stated host name goes with its side's *ClientsRequireSsl and method (Exchange's rule)
        assert run.executed == ['Set-OutlookAnywhere -Identity "EX02\\Rpc (Default Web Site)" -SSLOffloading $false '
                                "-ExternalHostname 'mail.contoso.com' -ExternalClientsRequireSsl $true "
                                "-ExternalClientAuthenticationMethod 'Negotiate' -InternalClientsRequireSsl $true "
                                "-ErrorAction Stop"]
        assert effective_flags(run.apphost, [RPC]) == {RPC: "Ssl, Ssl128"}
        assert run.changed_pools == []


def test_switching_an_offloaded_server_to_bridge(tmp_path):
    offload = plan_for(tmp_path, model_yaml(2013, "offload"))
    bridge_dir = tmp_path / "b"
    bridge_dir.mkdir()
    bridge = plan_for(bridge_dir, model_yaml(2013, "bridge"))
    for flavour in FLAVOURS:
        first = iisinterp.run(iisinterp.load_fixture(2013), rendered(offload, flavour)["exchange/apply-EX01.ps1"])
        second = iisinterp.run(first.apphost, rendered(bridge, flavour)["exchange/apply-EX01.ps1"],
                               exchange=first.exchange)
        assert effective_flags(second.apphost, list(bridge.exchange.locations)) == bridge.exchange.locations
        assert second.exchange.ssl_offloading is False and second.exchange.oab_require_ssl is True


def test_mixed_modes_per_service(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload", overrides={"mapi": "bridge", "eas": "bridge",
                                                                     "rpc": "bridge"}))
    for flavour in FLAVOURS:
        run = iisinterp.run(iisinterp.load_fixture(2013), rendered(plan, flavour)["exchange/apply-EX01.ps1"])
        flags = effective_flags(run.apphost, ["Default Web Site/owa", "Default Web Site/mapi",
                                              "Default Web Site/Microsoft-Server-ActiveSync", RPC,
                                              "Default Web Site/EWS"])
        assert flags == {"Default Web Site/owa": "None", "Default Web Site/mapi": "Ssl, Ssl128",
                         "Default Web Site/Microsoft-Server-ActiveSync": "Ssl, Ssl128", RPC: "Ssl, Ssl128",
                         "Default Web Site/EWS": "None"}
        assert run.exchange.ssl_offloading is False


def test_mrsproxy_already_enabled_before_apply_stays_enabled_after_undo(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload", mrsproxy=True))
    files = rendered(plan, "appcmd")
    state = iisinterp.initial_exchange_state(iisinterp.load_fixture(2013))
    state.mrsproxy_enabled = True       # an administrator turned it on for a migration, before lbsync
    applied = iisinterp.run(iisinterp.load_fixture(2013), files["exchange/apply-EX01.ps1"], exchange=state)
    assert not any("MRSProxyEnabled" in line for line in applied.executed)
    assert applied.exchange.markers == set()
    undone = iisinterp.run(applied.apphost, files["exchange/undo-EX01.ps1"], exchange=applied.exchange)
    assert undone.exchange.mrsproxy_enabled is True
    assert not any("MRSProxyEnabled" in line for line in undone.executed)


def test_mrsproxy_off_in_the_model_is_never_touched(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2016, "bridge", mrsproxy=False))
    files = rendered(plan, "webadministration")
    assert "-MRSProxyEnabled $true" not in files["exchange/apply-EX01.ps1"]
    run = iisinterp.run(iisinterp.load_fixture(2016), files["exchange/apply-EX01.ps1"])
    assert run.exchange.mrsproxy_enabled is False


def test_a_model_without_rpc_and_oab_leaves_outlook_anywhere_and_oab_alone(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload", services=("owa", "ecp", "ews", "eas", "mapi")))
    for flavour in FLAVOURS:
        files = rendered(plan, flavour)
        for kind in ("apply", "undo"):
            text = files[f"exchange/{kind}-EX01.ps1"]
            assert "Set-OutlookAnywhere" not in text and "Set-OabVirtualDirectory" not in text
            assert "Default Web Site/OAB" not in text
        state = iisinterp.initial_exchange_state(iisinterp.load_fixture(2013))
        state.ssl_offloading = False
        run = iisinterp.run(iisinterp.load_fixture(2013), files["exchange/apply-EX01.ps1"], exchange=state)
        assert run.exchange.ssl_offloading is False
        assert effective_flags(run.apphost, ["Default Web Site/OAB"]) == {"Default Web Site/OAB": "Ssl, Ssl128"}


# ---- identities, ActiveSync, literal commands ------------------------------------------------------------------

def test_identities_name_each_server(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload", mrsproxy=True, servers=("EX01", "MBX-02", "ex3")))
    for flavour in FLAVOURS:
        files = rendered(plan, flavour)
        assert sorted(files) == sorted(f"exchange/{k}-{s}.ps1" for k in ("apply", "undo", "verify")
                                       for s in ("EX01", "MBX-02", "ex3"))
        for server in ("EX01", "MBX-02", "ex3"):
            apply_text = files[f"exchange/apply-{server}.ps1"]
            assert f'-Identity "{server}\\Rpc (Default Web Site)" -SSLOffloading $true' in apply_text
            assert f'-Identity "{server}\\OAB (Default Web Site)" -RequireSSL $false' in apply_text
            assert f'-Identity "{server}\\EWS (Default Web Site)" -MRSProxyEnabled $true' in apply_text
            assert f"$script:Server = '{server}'" in apply_text
            assert f"$env:COMPUTERNAME -ne '{server}'" in apply_text
            others = {"EX01", "MBX-02", "ex3"} - {server}
            for kind in ("apply", "undo", "verify"):
                text = files[f"exchange/{kind}-{server}.ps1"]
                assert not any(f"{o}\\" in text or f"'{o}'" in text for o in others)
            iisinterp.run(iisinterp.load_fixture(2013), apply_text, server=server)
            with pytest.raises(iisinterp.InterpreterError, match="names server"):
                iisinterp.run(iisinterp.load_fixture(2013), apply_text, server=next(iter(sorted(others))))


def test_activesync_location_is_the_vdir_not_the_app_pool(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload"))
    files = rendered(plan, "appcmd")
    apply_text = files["exchange/apply-EX01.ps1"]
    assert ('& $appcmd set config "Default Web Site/Microsoft-Server-ActiveSync" '
            '/section:system.webServer/security/access /sslFlags:None /commit:APPHOST') in apply_text
    for line in apply_text.splitlines():
        if "MSExchangeSyncAppPool" in line:
            assert line.strip() == "Add-ChangedPool 'MSExchangeSyncAppPool'"
    # Microsoft's doc line (the app pool named as a location) fails loudly in the interpreter
    wrong = apply_text.replace('set config "Default Web Site/Microsoft-Server-ActiveSync"',
                               'set config "Default Web Site/MSExchangeSyncAppPool"')
    with pytest.raises(iisinterp.InterpreterError, match="MSExchangeSyncAppPool"):
        iisinterp.run(iisinterp.load_fixture(2013), wrong)


def test_each_iis_change_is_one_literal_command_per_location(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload"))
    appcmd = rendered(plan, "appcmd")["exchange/apply-EX01.ps1"]
    webadm = rendered(plan, "webadministration")["exchange/apply-EX01.ps1"]
    for loc, value in plan.exchange.locations.items():
        if loc == RPC:
            assert loc not in appcmd and loc not in webadm.replace("'Default Web Site/Rpc'", "")
            continue
        assert appcmd.count(f'& $appcmd set config "{loc}" ') == 1
        assert appcmd.count(f"/sslFlags:{value} /commit:APPHOST") >= 1
        assert webadm.count(f"Set-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST' -Location '{loc}' "
                            f"-Filter 'system.webServer/security/access' -Name sslFlags -Value '{value}'") == 1
    assert "appcmd" not in webadm.split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]


def test_undo_clears_inherited_defaults_and_rewrites_explicit_ones(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload"))
    undo = rendered(plan, "appcmd")["exchange/undo-EX01.ps1"]
    assert '& $appcmd clear config "Default Web Site/owa" /section:system.webServer/security/access ' \
           '/commit:APPHOST' in undo
    assert '& $appcmd set config "Default Web Site/OAB" /section:system.webServer/security/access ' \
           '"/sslFlags:Ssl,Ssl128" /commit:APPHOST' in undo
    assert "-SSLOffloading $true" in undo and "-RequireSSL $true" in undo
    wa = rendered(plan, "webadministration")["exchange/undo-EX01.ps1"]
    assert "Clear-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Location 'Default Web Site/ecp' " \
           "-Filter 'system.webServer/security/access'" in wa


# ---- any combination of services and modes -------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from support.quick import examples  # noqa: E402

L7_SERVICES = ("owa", "ecp", "ews", "eas", "oab", "mapi", "rpc")


@settings(max_examples=examples(25), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(version=st.sampled_from([2013, 2016, 2019]),
       services=st.lists(st.sampled_from(L7_SERVICES), min_size=1, max_size=7, unique=True),
       modes=st.dictionaries(st.sampled_from(L7_SERVICES + ("autodiscover",)), st.sampled_from(["offload", "bridge"])),
       default=st.sampled_from(["offload", "bridge"]), mrsproxy=st.booleans(),
       flavour=st.sampled_from(FLAVOURS))
def test_any_model_applies_undoes_and_is_idempotent(tmp_path_factory, version, services, modes, default, mrsproxy,
                                                    flavour):
    tmp = tmp_path_factory.mktemp("m")
    plan = plan_for(tmp, model_yaml(version, default, overrides=modes or None, mrsproxy=mrsproxy and "ews" in services,
                                    services=tuple(services)))
    ex = plan.exchange
    files = rendered(plan, flavour)
    apphost = iisinterp.load_fixture(version)
    applied = iisinterp.run(apphost, files["exchange/apply-EX02.ps1"], server="EX02")
    assert effective_flags(applied.apphost, list(ex.locations)) == ex.locations
    again = iisinterp.run(applied.apphost, files["exchange/apply-EX02.ps1"], server="EX02", exchange=applied.exchange)
    assert again.executed == []
    undone = iisinterp.run(applied.apphost, files["exchange/undo-EX02.ps1"], server="EX02", exchange=applied.exchange)
    assert effective_flags(undone.apphost, list(ex.locations)) == ex.defaults
    managed = set(ex.locations)
    assert untouched_parts(undone.apphost, managed) == untouched_parts(apphost, managed)


@pytest.mark.parametrize("profile", ["outlook-anywhere-passthrough", "exchange2019-extended-protection",
                                     "exchange2013-offload", "exchange2016-bridge"])
def test_every_bundled_profile_applies_and_undoes(profiles_dir, profile):
    path = profiles_dir / f"{profile}.yaml"
    plan = build_plan(load_model_text(path.read_text(encoding="utf-8"), path))
    ex = plan.exchange
    for flavour in FLAVOURS:
        files = rendered(plan, flavour)
        apphost = iisinterp.load_fixture(ex.version)
        applied = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01")
        assert effective_flags(applied.apphost, list(ex.locations)) == ex.locations
        undone = iisinterp.run(applied.apphost, files["exchange/undo-EX01.ps1"], server="EX01",
                               exchange=applied.exchange)
        assert effective_flags(undone.apphost, list(ex.locations)) == undo_target(ex)
    if profile == "outlook-anywhere-passthrough":   # TLS reaches the server untouched: /Rpc must require SSL
        assert ex.locations[RPC] == "Ssl, Ssl128" and ex.outlook_anywhere.ssl_offloading is False


def test_whatif_changes_nothing_every_change_sits_behind_a_shouldprocess_guard(case):
    plan, flavour, files, apphost = case
    applied = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01")
    for text, kind, state in ((apphost, "apply", None), (applied.apphost, "undo", applied.exchange)):
        before = None if state is None else (state.outlook_anywhere_settings(), state.oab_require_ssl,
                                             state.mrsproxy_enabled, set(state.markers), dict(state.oa_record or {}))
        dry = iisinterp.run(text, files[f"exchange/{kind}-EX01.ps1"], server="EX01", whatif=True,
                            exchange=None if state is None else copy.deepcopy(state))
        assert dry.executed == [] and dry.changed_pools == [] and dry.apphost == text
        if before is None:
            assert dry.exchange.oa_record is None            # -WhatIf records nothing
        else:
            ex = dry.exchange
            assert (ex.outlook_anywhere_settings(), ex.oab_require_ssl, ex.mrsproxy_enabled, ex.markers,
                    dict(ex.oa_record or {})) == before


def test_an_unguarded_change_would_run_under_whatif(tmp_path):
    """The -WhatIf test above can fail: a change written outside its guard runs even with -WhatIf."""
    plan = plan_for(tmp_path, model_yaml(2013, "offload"))
    text = rendered(plan, "appcmd")["exchange/apply-EX01.ps1"]
    unguarded = text.replace("# ==== lbsync:changes begin ====",
                             "# ==== lbsync:changes begin ====\r\n    & $appcmd set config \"Default Web Site/ecp\" "
                             "/section:access /sslFlags:None /commit:APPHOST")
    dry = iisinterp.run(iisinterp.load_fixture(2013), unguarded, whatif=True)
    assert len(dry.executed) == 1
