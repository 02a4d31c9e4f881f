"""Apply sets Outlook Anywhere in one Set-OutlookAnywhere; undo sets back, in one, what apply recorded.

Exchange takes a non-empty host name only together with that side's *ClientsRequireSsl and client authentication
method in the same call, and checks the settings it would store as a whole (SSLOffloading $false, or Basic, on a side
with a host name that does not require SSL is refused); tests/iisinterp.py refuses both as Exchange does. Before apply
changes Outlook Anywhere it records every parameter its command sets, as it is, once, in %ProgramData%\\lbsync\\SERVER
(the interpreter's ExchangeState.oa_record); undo sets every recorded value back in one command where the server
differs, then removes the record. Exchange's defaults are not one fixed set (SSLOffloading $true before 2019 CU14,
$false after setup enables Extended Protection), so undo restores what was there rather than a guess. With Extended
Protection on, SSLOffloading is never set back to $true. The scripts run through tests/iisinterp.py."""

from __future__ import annotations

import copy
import re

import iisinterp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.quick import examples
from support.scripts import FLAVOURS, RPC, model_yaml, plan_for, rendered

from lbsync.plan.types import OutlookAnywherePlan
from lbsync.targets import exchange as exrender

OA_BLOCK = "  outlook_anywhere:\n    external_hostname: mail.contoso.com\n"
KEYS = {"external_hostname": "ExternalHostname", "internal_hostname": "InternalHostname",
        "external_auth": "ExternalClientAuthenticationMethod", "internal_auth": "InternalClientAuthenticationMethod"}
ALL_KEYS = {"external_hostname": "mail.contoso.com", "internal_hostname": "mail.corp.contoso.com",
            "external_auth": "Basic", "internal_auth": "Negotiate"}


def model(version, mode: str = "bridge", *, ep: bool = False, **oa: str) -> str:
    """A two-server model with exactly these exchange.outlook_anywhere keys (none: no outlook_anywhere block);
    ep: Exchange 2019 CU14, Extended Protection on by default."""
    text = model_yaml(version, mode)
    if ep:
        assert version == 2019
        text = text.replace("  cu: 13\n", "  cu: 14\n")
    block = "".join(f"    {k}: {v}\n" for k, v in oa.items())
    return text.replace(OA_BLOCK, ("  outlook_anywhere:\n" + block) if oa else "")


def start(version: int, **oa) -> tuple[str, iisinterp.ExchangeState]:
    """applicationHost.config and Exchange state of a server whose Outlook Anywhere shows these settings (by
    Set-OutlookAnywhere parameter); /Rpc's sslFlags follow SSLOffloading as the Service Host writes them."""
    apphost = iisinterp.load_fixture(version)
    state = iisinterp.initial_exchange_state(apphost)
    for key, value in oa.items():
        if key == "SSLOffloading":
            state.ssl_offloading = value
        elif key == "ExternalClientsRequireSsl":
            state.external_clients_require_ssl = value
        elif key == "InternalClientsRequireSsl":
            state.internal_clients_require_ssl = value
        else:
            assert key in iisinterp.OA_DEFAULTS
            state.outlook_anywhere[key] = value
    apphost = iisinterp.set_access(apphost, RPC, "None" if state.ssl_offloading else "Ssl, Ssl128")
    return apphost, state


# Exchange 2013 after setup: SSL offloading on, clients not told to use SSL, the server's FQDN as internal host name
FRESH_2013 = {"SSLOffloading": True, "ExternalClientsRequireSsl": False, "InternalClientsRequireSsl": False,
              "ExternalHostname": None, "InternalHostname": "ex01.corp.contoso.com",
              "ExternalClientAuthenticationMethod": "Negotiate", "InternalClientAuthenticationMethod": "Ntlm"}
# a server with Extended Protection (2019 CU14+ setup, or Microsoft's EP script): offloading off, SSL required
EP_SERVER = {"SSLOffloading": False, "ExternalClientsRequireSsl": True, "InternalClientsRequireSsl": True,
             "ExternalHostname": "old.contoso.com", "InternalHostname": "ex01.corp.contoso.com",
             "ExternalClientAuthenticationMethod": "Ntlm", "InternalClientAuthenticationMethod": "Ntlm"}


def apply_then_undo(plan, flavour: str, apphost: str, state, server: str = "EX01"):
    files = rendered(plan, flavour)
    applied = iisinterp.run(apphost, files[f"exchange/apply-{server}.ps1"], server=server,
                            exchange=copy.deepcopy(state))
    undone = iisinterp.run(applied.apphost, files[f"exchange/undo-{server}.ps1"], server=server,
                           exchange=copy.deepcopy(applied.exchange))
    return applied, undone


def rpc_flags(apphost: str) -> str:
    return iisinterp.effective_flags(apphost, [RPC])[RPC]   # apphost.effective_flags, on a cached parse


def oa_calls(executed: list[str]) -> list[str]:
    return [line for line in executed if line.startswith("Set-OutlookAnywhere")]


def literal(value) -> str:
    return ("$true" if value else "$false") if isinstance(value, bool) else value


# ---- apply: one command, whatever the model states and whatever the server has -----------------------------------

SUBSETS = [{k: v for i, (k, v) in enumerate(ALL_KEYS.items()) if mask & (1 << i)} for mask in range(16)]


@pytest.mark.parametrize("oa", SUBSETS, ids=["+".join(k) or "none" for k in SUBSETS])
def test_apply_is_one_set_outlookanywhere_that_exchange_accepts_and_reaches_the_plan(tmp_path, oa):
    """Every combination of stated keys, offloading and bridging, on a fresh 2013 server and on a server with
    Extended Protection (each refused by the interpreter as Exchange refuses it: a host name without its side's
    *ClientsRequireSsl and method, SSL offloading off or Basic on a side with a host name that does not require
    SSL)."""
    for mode in ("offload", "bridge"):
        (tmp_path / mode).mkdir()
        plan = plan_for(tmp_path / mode, model(2013, mode, **oa))
        want = plan.exchange.outlook_anywhere.apply
        assert want["SSLOffloading"] is (mode == "offload")
        text = rendered(plan, "appcmd")["exchange/apply-EX01.ps1"]
        for name, before in (("fresh-2013", FRESH_2013), ("ep-server", EP_SERVER)):
            apphost, state = start(2013, **before)
            run = iisinterp.run(apphost, text, server="EX01", exchange=copy.deepcopy(state))
            differs = any(before[k] != v for k, v in want.items())
            calls = oa_calls(run.executed)
            assert len(calls) == (1 if differs else 0), (mode, name)
            if calls:   # every parameter of the plan, literally, in that one call
                tokens = iisinterp.tokenize(calls[0], "test")
                assert dict(zip(tokens[3::2], tokens[4::2])) == {
                    **{f"-{k}": literal(v) for k, v in want.items()}, "-ErrorAction": "Stop"}
            after = run.exchange.outlook_anywhere_settings()
            assert {k: after[k] for k in want} == want, (mode, name)
            # what the plan does not set stays as it was
            assert {k: after[k] for k in after if k not in want} == {k: before[k] for k in before if k not in want}
            assert rpc_flags(run.apphost) == ("None" if want["SSLOffloading"] else "Ssl, Ssl128")
            again = iisinterp.run(run.apphost, text, server="EX01", exchange=copy.deepcopy(run.exchange))
            assert again.executed == [] and again.exchange.oa_record == run.exchange.oa_record


def test_the_old_way_one_line_per_setting_would_stop_half_way_on_a_real_server():
    """What apply did before: -ExternalHostname on its own line. Exchange refuses it; with -ErrorAction Stop the run
    stops with IIS already changed. The interpreter refuses it the same way."""
    apphost, state = start(2013, **FRESH_2013)
    line = ("Set-OutlookAnywhere -Identity \"EX01\\Rpc (Default Web Site)\" -ExternalHostname 'mail.contoso.com' "
            "-ErrorAction Stop")
    text = "\n".join([iisinterp.BEGIN, line, iisinterp.END]) + "\n"
    with pytest.raises(iisinterp.InterpreterError, match="ErrorRpcHttpMustSpecifyExternalClientsRequireSslParameter"):
        iisinterp.run(apphost, text, server="EX01", exchange=state)
    # and -SSLOffloading $false alone on a fresh server (its FQDN as internal host name, SSL not required)
    line = 'Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading $false -ErrorAction Stop'
    with pytest.raises(iisinterp.InterpreterError, match="ErrorRpcHttpSSLOffloadingDisabled"):
        iisinterp.run(apphost, "\n".join([iisinterp.BEGIN, line, iisinterp.END]) + "\n", server="EX01",
                      exchange=copy.deepcopy(state))


# ---- apply -> undo gives back exactly what was there -----------------------------------------------------------

CASES = [
    ("fresh-2013", 2013, False, FRESH_2013),
    ("fresh-2013-style-on-2016", 2016, False, FRESH_2013),
    ("2019-cu13", 2019, False, FRESH_2013),
    ("ep-server-without-ep-plan", 2016, False, EP_SERVER),
    ("ep-server", 2019, True, EP_SERVER),
]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("oa", [{}, {"external_hostname": "mail.contoso.com"}, ALL_KEYS],
                         ids=["no-keys", "external-hostname", "all-keys"])
@pytest.mark.parametrize("sid, version, ep, before", CASES, ids=[c[0] for c in CASES])
def test_bridged_apply_then_undo_restores_outlook_anywhere_exactly(tmp_path, sid, version, ep, before, oa, flavour):
    plan = plan_for(tmp_path, model(version, ep=ep, **oa))
    assert plan.exchange.undo_outlook_anywhere_ssl_offloading is (not ep)
    apphost, state = start(version, **before)
    applied, undone = apply_then_undo(plan, flavour, apphost, state)
    after_apply = applied.exchange.outlook_anywhere_settings()
    assert after_apply["SSLOffloading"] is False and after_apply["ExternalClientsRequireSsl"] is True
    for key, value in oa.items():
        assert after_apply[KEYS[key]].lower() == value.lower()
    # the record holds every parameter apply's command sets, as it was before
    assert applied.exchange.oa_record == {k: before[k] for k in plan.exchange.outlook_anywhere.apply}
    # undo: every setting back in at most one command, the record gone, /Rpc's sslFlags as they were
    assert undone.exchange.outlook_anywhere_settings() == before
    assert len(oa_calls(undone.executed)) <= 1
    assert undone.exchange.oa_record is None
    assert rpc_flags(undone.apphost) == rpc_flags(apphost)
    # the record is gone: a second undo does what undo did before there was a record (Exchange's default
    # SSLOffloading $true without Extended Protection), which changes nothing where the server had it
    again = iisinterp.run(undone.apphost, rendered(plan, flavour)["exchange/undo-EX01.ps1"], server="EX01",
                          exchange=copy.deepcopy(undone.exchange))
    fallback_holds = before["SSLOffloading"] if not ep else (
        not before["SSLOffloading"] and before["ExternalClientsRequireSsl"] and before["InternalClientsRequireSsl"])
    assert [line for line in again.executed if "OutlookAnywhere" in line] == ([] if fallback_holds else [
        'Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading $true -ErrorAction Stop'])


def test_a_host_name_recorded_as_null_is_set_back_to_null_in_the_one_command(tmp_path):
    plan = plan_for(tmp_path, model(2013, **ALL_KEYS))
    apphost, state = start(2013, **FRESH_2013)
    applied, undone = apply_then_undo(plan, "appcmd", apphost, state)
    assert applied.exchange.oa_record["ExternalHostname"] is None
    assert applied.exchange.outlook_anywhere["ExternalHostname"] == "mail.contoso.com"
    assert undone.exchange.outlook_anywhere["ExternalHostname"] is None
    # one command sets every setting back together (Exchange checks only the result)
    (line,) = oa_calls(undone.executed)
    assert line == ('Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" '
                    + " ".join(f"-{k} $script:OaWant.{k}" for k in OutlookAnywherePlan.SETTINGS)
                    + " -ErrorAction Stop")
    assert undone.exchange.outlook_anywhere_settings() == FRESH_2013


def test_offload_apply_then_undo_restores_outlook_anywhere_exactly(tmp_path):
    """Offloading turns SSLOffloading on: undo turns it off again where it was off (here Exchange's default is
    not what the server had)."""
    plan = plan_for(tmp_path, model(2013, "offload", **ALL_KEYS))
    for before in (FRESH_2013, {**EP_SERVER, "ExternalClientAuthenticationMethod": "Basic"}):
        apphost, state = start(2013, **before)
        applied, undone = apply_then_undo(plan, "webadministration", apphost, state)
        assert applied.exchange.ssl_offloading is True
        assert undone.exchange.outlook_anywhere_settings() == before
        assert rpc_flags(undone.apphost) == rpc_flags(apphost)


# ---- any starting state, any model --------------------------------------------------------------------------

HOSTS = st.sampled_from([None, "ex01.corp.contoso.com", "mail.contoso.com", "OLD.contoso.com"])
METHODS = st.sampled_from(iisinterp.OA_AUTH_METHODS)


def exchange_accepts(s: dict) -> bool:
    """A state Exchange stores: SSL offloading off, and Basic, need SSL required on each side with a host name."""
    return all(not s[f"{side}Hostname"] or s[f"{side}ClientsRequireSsl"]
               or (s["SSLOffloading"] and s[f"{side}ClientAuthenticationMethod"] != "Basic")
               for side in ("External", "Internal"))


@st.composite
def starting_states(draw):
    s = {"SSLOffloading": draw(st.booleans()), "ExternalClientsRequireSsl": draw(st.booleans()),
         "InternalClientsRequireSsl": draw(st.booleans()), "ExternalHostname": draw(HOSTS),
         "InternalHostname": draw(HOSTS), "ExternalClientAuthenticationMethod": draw(METHODS),
         "InternalClientAuthenticationMethod": draw(METHODS)}
    assume(exchange_accepts(s))
    return s


@settings(max_examples=examples(80), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=starting_states(),
       target=st.sampled_from([(2013, "bridge", False), (2013, "offload", False), (2016, "bridge", False),
                               (2019, "bridge", False), (2019, "bridge", True)]),
       oa=st.sets(st.sampled_from(sorted(KEYS))),
       values=st.fixed_dictionaries({"external_hostname": st.sampled_from(["mail.contoso.com", "ex.contoso.com"]),
                                     "internal_hostname": st.sampled_from(["ex01.corp.contoso.com", "int.contoso.com"]),
                                     "external_auth": METHODS, "internal_auth": METHODS}),
       flavour=st.sampled_from(FLAVOURS), twice=st.booleans())
def test_any_starting_state_comes_back_after_apply_and_undo(tmp_path_factory, before, target, oa, values, flavour,
                                                           twice):
    """Host names set or not on either side, any methods and requirements Exchange accepts: apply and undo each run
    at most one Set-OutlookAnywhere, which the interpreter checks against both of Exchange's rules (the parameter
    rule on the call, the stored-state rules on the result); undo gives back the starting state."""
    version, mode, ep = target
    stated = {k: values[k] for k in oa}
    plan = plan_for(tmp_path_factory.mktemp("m"), model(version, mode, ep=ep, **stated))
    apphost, state = start(version, **before)
    files = rendered(plan, flavour)
    applied = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01", exchange=copy.deepcopy(state))
    assert len(oa_calls(applied.executed)) <= 1
    after = applied.exchange.outlook_anywhere_settings()
    assert {k: after[k] for k in plan.exchange.outlook_anywhere.apply} == plan.exchange.outlook_anywhere.apply
    assert exchange_accepts(after)
    if twice:   # a second apply changes nothing, the record included
        record = copy.deepcopy(applied.exchange.oa_record)
        applied = iisinterp.run(applied.apphost, files["exchange/apply-EX01.ps1"], server="EX01",
                                exchange=applied.exchange)
        assert applied.executed == [] and applied.exchange.oa_record == record
    undone = iisinterp.run(applied.apphost, files["exchange/undo-EX01.ps1"], server="EX01",
                           exchange=copy.deepcopy(applied.exchange))
    assert len(oa_calls(undone.executed)) <= 1
    want = dict(before)
    if ep and before["SSLOffloading"]:   # Extended Protection: SSL offloading stays off, clients told to use SSL
        want.update(SSLOffloading=False, ExternalClientsRequireSsl=True, InternalClientsRequireSsl=True)
    assert undone.exchange.outlook_anywhere_settings() == want
    assert undone.exchange.oa_record is None
    assert rpc_flags(undone.apphost) == ("None" if want["SSLOffloading"] else "Ssl, Ssl128")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_undo_keeps_ssl_required_where_the_record_would_be_refused_and_says_so(tmp_path, flavour):
    """The record is kept per setting, once: a host name someone set after apply (not recorded) with the recorded
    ExternalClientsRequireSsl $false and SSLOffloading $false would be refused by Exchange; undo keeps
    ExternalClientsRequireSsl $true for that side and sets back everything else."""
    before = {**FRESH_2013, "SSLOffloading": False, "InternalClientsRequireSsl": True}
    plan = plan_for(tmp_path, model(2016))      # bridge, no keys stated: SSLOffloading and both flags recorded
    files = rendered(plan, flavour)
    apphost, state = start(2016, **before)
    applied = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01", exchange=copy.deepcopy(state))
    assert applied.exchange.oa_record == {"SSLOffloading": False, "ExternalClientsRequireSsl": False,
                                          "InternalClientsRequireSsl": True}
    applied.exchange.outlook_anywhere.update(ExternalHostname="new.contoso.com",       # by hand, after apply
                                             InternalClientAuthenticationMethod="Basic")
    undone = iisinterp.run(applied.apphost, files["exchange/undo-EX01.ps1"], server="EX01",
                           exchange=copy.deepcopy(applied.exchange))
    after = undone.exchange.outlook_anywhere_settings()
    assert after == {**before, "ExternalHostname": "new.contoso.com", "ExternalClientsRequireSsl": True,
                     "InternalClientAuthenticationMethod": "Basic"}
    assert undone.exchange.oa_record is None
    text = files["exchange/undo-EX01.ps1"]
    assert ('Write-Host "  note:   Outlook Anywhere $require stays True, not False: Exchange refuses SSLOffloading '
            'False or Basic authentication while $($side)Hostname is set and SSL is not required"') in text


# ---- the record: once, under -WhatIf, without a record --------------------------------------------------------

def test_a_second_apply_keeps_the_first_record_and_undo_restores_the_original(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = plan_for(tmp_path / "a", model(2016, external_hostname="mail.contoso.com"))
    second = plan_for(tmp_path / "b", model(2016, external_hostname="new.contoso.com", internal_auth="Negotiate"))
    for flavour in FLAVOURS:
        apphost, state = start(2016, **FRESH_2013)
        one = iisinterp.run(apphost, rendered(first, flavour)["exchange/apply-EX01.ps1"], server="EX01",
                            exchange=copy.deepcopy(state))
        assert one.exchange.oa_record == {"SSLOffloading": True, "ExternalClientsRequireSsl": False,
                                          "InternalClientsRequireSsl": False, "ExternalHostname": None,
                                          "ExternalClientAuthenticationMethod": "Negotiate"}
        two = iisinterp.run(one.apphost, rendered(second, flavour)["exchange/apply-EX01.ps1"], server="EX01",
                            exchange=copy.deepcopy(one.exchange))
        assert two.exchange.outlook_anywhere["ExternalHostname"] == "new.contoso.com"
        # ExternalHostname keeps the value from before the first apply; the method is recorded when first set
        assert two.exchange.oa_record == {**one.exchange.oa_record, "InternalClientAuthenticationMethod": "Ntlm"}
        undone = iisinterp.run(two.apphost, rendered(second, flavour)["exchange/undo-EX01.ps1"], server="EX01",
                               exchange=copy.deepcopy(two.exchange))
        assert undone.exchange.outlook_anywhere_settings() == FRESH_2013
        assert undone.exchange.oa_record is None


@pytest.mark.parametrize("ep", [False, True])
def test_undo_without_a_record_behaves_as_before_and_says_what_it_leaves(tmp_path, ep):
    plan = plan_for(tmp_path, model(2019, ep=ep, **ALL_KEYS))
    for flavour in FLAVOURS:
        apphost, state = start(2019, **FRESH_2013)
        applied, _ = apply_then_undo(plan, flavour, apphost, state)
        applied.exchange.oa_record = None           # e.g. applied by an lbsync from before the record
        undone = iisinterp.run(applied.apphost, rendered(plan, flavour)["exchange/undo-EX01.ps1"], server="EX01",
                               exchange=copy.deepcopy(applied.exchange))
        oa = oa_calls(undone.executed)
        after = undone.exchange.outlook_anywhere_settings()
        # host names and methods stay as apply set them
        assert {k: after[k] for k in iisinterp.OA_DEFAULTS} == {
            "ExternalHostname": "mail.contoso.com", "InternalHostname": "mail.corp.contoso.com",
            "ExternalClientAuthenticationMethod": "Basic", "InternalClientAuthenticationMethod": "Negotiate"}
        if ep:   # already SSLOffloading $false with both client flags $true: nothing to do
            assert oa == [] and (after["SSLOffloading"], after["ExternalClientsRequireSsl"]) == (False, True)
        else:    # Exchange's default SSLOffloading $true; the client flags stay $true
            assert oa == ['Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading $true '
                          '-ErrorAction Stop']
            assert after["SSLOffloading"] is True and after["ExternalClientsRequireSsl"] is True
        text = rendered(plan, flavour)["exchange/undo-EX01.ps1"]
        note = re.search(r'"  note:   no record of Outlook Anywhere before lbsync \(.*?\): (.*?)"', text).group(1)
        assert note == ("its host names and client authentication methods are left as they are" if ep else
                        "its host names, client authentication methods and *ClientsRequireSsl are left as they are")


def test_whatif_writes_no_record_and_removes_none(tmp_path):
    plan = plan_for(tmp_path, model(2016, **ALL_KEYS))
    for flavour in FLAVOURS:
        files = rendered(plan, flavour)
        apphost, state = start(2016, **FRESH_2013)
        dry = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01", exchange=copy.deepcopy(state),
                            whatif=True)
        assert dry.executed == [] and dry.exchange.oa_record is None
        applied = iisinterp.run(apphost, files["exchange/apply-EX01.ps1"], server="EX01",
                                exchange=copy.deepcopy(state))
        record = copy.deepcopy(applied.exchange.oa_record)
        assert set(record) == set(iisinterp.OA_SETTINGS)
        dry_undo = iisinterp.run(applied.apphost, files["exchange/undo-EX01.ps1"], server="EX01",
                                 exchange=copy.deepcopy(applied.exchange), whatif=True)
        assert dry_undo.executed == [] and dry_undo.exchange.oa_record == record
        assert dry_undo.exchange.outlook_anywhere_settings() == applied.exchange.outlook_anywhere_settings()


# ---- Extended Protection --------------------------------------------------------------------------------------

def test_with_extended_protection_undo_never_sets_ssl_offloading_true(tmp_path):
    plan = plan_for(tmp_path, model(2019, ep=True, **ALL_KEYS))
    assert plan.exchange.undo_outlook_anywhere_ssl_offloading is False
    for flavour in FLAVOURS:
        text = rendered(plan, flavour)["exchange/undo-EX01.ps1"]
        assert "-SSLOffloading $true" not in text and "-SSLOffloading $script:" not in text
        assert "if (Test-OutlookAnywhereRestore -ExtendedProtection $true) {" in text
        # the record says SSLOffloading $true (a server that had offloading on before apply)
        apphost, state = start(2019, **FRESH_2013)
        applied, undone = apply_then_undo(plan, flavour, apphost, state)
        assert applied.exchange.oa_record["SSLOffloading"] is True
        after = undone.exchange.outlook_anywhere_settings()
        assert (after["SSLOffloading"], after["ExternalClientsRequireSsl"], after["InternalClientsRequireSsl"]) == (
            False, True, True)
        assert {k: after[k] for k in iisinterp.OA_DEFAULTS} == {k: FRESH_2013[k] for k in iisinterp.OA_DEFAULTS}
        assert rpc_flags(undone.apphost) == "Ssl, Ssl128" and undone.exchange.oa_record is None


def test_without_extended_protection_the_record_may_set_ssl_offloading_true_with_the_client_flags(tmp_path):
    plan = plan_for(tmp_path, model(2016))
    text = rendered(plan, "appcmd")["exchange/undo-EX01.ps1"]
    assert ("Set-OutlookAnywhere -Identity \"EX01\\Rpc (Default Web Site)\" "
            "-SSLOffloading $script:OaWant.SSLOffloading -ExternalHostname $script:OaWant.ExternalHostname "
            "-ExternalClientsRequireSsl $script:OaWant.ExternalClientsRequireSsl ") in text
    apphost, state = start(2016, **FRESH_2013)
    applied, undone = apply_then_undo(plan, "appcmd", apphost, state)
    assert undone.exchange.outlook_anywhere_settings() == FRESH_2013    # SSLOffloading $true, client flags $false


# ---- what the scripts say ---------------------------------------------------------------------------------------

def region_lines(text: str) -> list[str]:
    """The changes region's code lines, comments left out."""
    lines = [s.strip() for s in text.split(iisinterp.BEGIN)[1].split(iisinterp.END)[0].splitlines()]
    return [s for s in lines if s and not s.startswith("#")]


@pytest.mark.parametrize("mode", ["offload", "bridge"])
def test_apply_records_every_outlook_anywhere_setting_it_sets_before_its_one_command(tmp_path, mode):
    plan = plan_for(tmp_path, model(2013, mode, **ALL_KEYS))
    for flavour in FLAVOURS:
        lines = region_lines(rendered(plan, flavour)["exchange/apply-EX01.ps1"])
        oa = [i for i, line in enumerate(lines) if "OutlookAnywhere" in line]
        assert lines[oa[0]].startswith("Save-OutlookAnywhereRecord ")     # first, outside any guard
        assert lines[oa[0] - 1] == "}" and not lines[oa[0] - 2].startswith("if")
        saved = [s.strip(" '") for s in lines[oa[0]][len("Save-OutlookAnywhereRecord "):].split(",")]
        assert lines[oa[1]].startswith("if (Test-OutlookAnywhereSettings ") and len(oa) == 3
        changed = [p for p in re.findall(r" -(\w+)", lines[oa[2]]) if p not in ("Identity", "ErrorAction")]
        guarded = re.findall(r" -(\w+)", lines[oa[1]])
        assert saved == changed == guarded == list(plan.exchange.outlook_anywhere.apply)
    text = rendered(plan, "appcmd")["exchange/apply-EX01.ps1"]
    assert f"$script:OaRecordFile = Join-Path $script:StateDir '{exrender.OA_RECORD}'" in text
    assert "Set-Content -LiteralPath $script:OaRecordFile -Value (ConvertTo-Json -InputObject $record)" in text
    save = text[text.index("function Save-OutlookAnywhereRecord"):text.index("function Test-OutlookAnywhereRecord")]
    assert save.index("$script:Cmdlet.ShouldProcess") < save.index("Set-Content")   # -WhatIf writes nothing


def test_the_scripts_say_why_every_exchange_cmdlet_carries_error_action_stop(tmp_path):
    plan = plan_for(tmp_path, model(2016))
    for kind in ("apply", "undo"):
        text = " ".join(line.lstrip("# ") for line in rendered(plan, "appcmd")[f"exchange/{kind}-EX01.ps1"].splitlines()
                        if line.startswith("#"))
        assert ("The Exchange cmdlets are functions of an implicit-remoting session in the Exchange Management "
                "Shell: their errors are non-terminating") in text


# ---- the interpreter's side of it -------------------------------------------------------------------------------

def region(*lines: str) -> str:
    return "\n".join([iisinterp.BEGIN, *lines, iisinterp.END]) + "\n"


OA = 'Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)"'


@pytest.mark.parametrize("line, match", [
    (f"{OA} -SSLOffloading $true", "needs -ErrorAction Stop"),
    (f"{OA} -SSLOffloading $true -ErrorAction Continue", "needs -ErrorAction Stop"),
    ('Set-OabVirtualDirectory -Identity "EX01\\OAB (Default Web Site)" -RequireSSL $true', "needs -ErrorAction Stop"),
    ('Set-WebServicesVirtualDirectory -Identity "EX01\\EWS (Default Web Site)" -MRSProxyEnabled $true',
     "needs -ErrorAction Stop"),
    ("Get-OutlookAnywhere -Identity EX01 -ErrorAction Stop", "Exchange cmdlet this interpreter does not know"),
    ("Set-ExchangeServer -Identity EX01 -ErrorAction Stop", "Exchange cmdlet this interpreter does not know"),
    (f"{OA} -ExternalHostname $script:OaWant.InternalHostname -ErrorAction Stop", "wanted InternalHostname"),
    (f"{OA} -ExternalHostname $script:OaBefore.ExternalHostname -ErrorAction Stop", "may not read"),
    (f"{OA} -SSLOffloading $script:OaWant.SSLOffloading -ErrorAction Stop", "before the guard"),
    (f"{OA} -ExternalClientAuthenticationMethod $null -ErrorAction Stop", "cannot be"),
    (f"{OA} -ExternalHostname 'x.contoso.com' -ErrorAction Stop", "ErrorRpcHttpMustSpecifyExternalClientsRequireSsl"),
    (f"{OA} -SSLOffloading $false -ExternalClientsRequireSsl $false -InternalClientsRequireSsl $true "
     "-ErrorAction Stop", "Exchange refuses"),
    ("if (Test-OutlookAnywhereSettings) {", "compares nothing"),
    ("if (Test-OutlookAnywhereRestore -ExtendedProtection $false) {", "before the guard"),
    ("Save-OutlookAnywhereRecord 'SSLOffloading', 'IISAuthenticationMethods'", "not an Outlook Anywhere setting"),
    ("} else {", "an else must close an if"),
])
def test_the_interpreter_refuses(line, match):
    state = iisinterp.initial_exchange_state(iisinterp.load_fixture(2016))
    state.outlook_anywhere["ExternalHostname"] = "mail.contoso.com"
    with pytest.raises(iisinterp.InterpreterError, match=match):
        iisinterp.run(iisinterp.load_fixture(2016), region(line, *(["}"] if line.startswith("if") else [])),
                      server="EX01", exchange=state)


def test_the_interpreter_runs_else_branches_and_null_host_names():
    fixture = iisinterp.load_fixture(2016)
    state = iisinterp.initial_exchange_state(fixture)
    state.outlook_anywhere["ExternalHostname"] = "mail.contoso.com"
    text = region("if (Test-OutlookAnywhereRecord) {",
                  f"{OA} -SSLOffloading $false -ExternalClientsRequireSsl $true -InternalClientsRequireSsl $true "
                  "-ErrorAction Stop",
                  "} else {",
                  f"{OA} -ExternalHostname $null -ErrorAction Stop",
                  "}")
    run = iisinterp.run(fixture, text, server="EX01", exchange=state)
    assert run.exchange.outlook_anywhere["ExternalHostname"] is None and run.exchange.ssl_offloading is True
    assert run.executed == [f"{OA} -ExternalHostname $null -ErrorAction Stop"]
    state.oa_record = {"ExternalHostname": "x.contoso.com"}
    run = iisinterp.run(fixture, text, server="EX01", exchange=state)
    assert run.exchange.ssl_offloading is False and len(run.executed) == 1
