"""Outlook Anywhere settings the model states (set by apply, compared by verify and audit), what each virtual
directory accepts (read by verify, compared by audit, never changed), undo with Extended Protection, and the
`lbsync plan` label of owa/Calendar."""

from __future__ import annotations

import io
import json
import re

import iisinterp
import pytest
from rich.console import Console
from support.auditing import applied, audit, drift_set, verify_doc, write
from support.auditing import model_text as audit_model_text
from support.auditing import plan_for as audit_plan_for
from support.scripts import FLAVOURS, RPC, model_yaml, plan_for, rendered

from lbsync.audit import fix as fixmod
from lbsync.audit.apphost import effective_flags
from lbsync.audit.evidence import OA_EXTERNAL_AUTH, OA_EXTERNAL_HOST, OA_INTERNAL_AUTH
from lbsync.cli.planview import print_plan
from lbsync.facts import vdirauth
from lbsync.plan import expected as plan_expected
from lbsync.targets import RenderOptions
from lbsync.targets import exchange as exrender

OA_BLOCK = "  outlook_anywhere:\n    external_hostname: mail.contoso.com\n"
ALL_STATED = {"ExternalHostname": "mail.contoso.com", "InternalHostname": "mail.corp.contoso.com",
              "ExternalClientAuthenticationMethod": "Basic", "InternalClientAuthenticationMethod": "Negotiate"}


def with_oa(text: str, **keys: str) -> str:
    """The model with exactly these exchange.outlook_anywhere keys (none: no outlook_anywhere block)."""
    block = "".join(f"    {k}: {v}\n" for k, v in keys.items())
    assert OA_BLOCK in text
    return text.replace(OA_BLOCK, ("  outlook_anywhere:\n" + block) if keys else "")


def with_auth(text: str, **auth: str) -> str:
    lines = "".join(f"    {svc}: [{methods}]\n" for svc, methods in auth.items())
    return re.sub(r"(  mrsproxy: \w+\n)", lambda m: m.group(1) + "  auth:\n" + lines, text, count=1)


def all_stated(text: str) -> str:
    return with_oa(text, external_hostname="mail.contoso.com", internal_hostname="mail.corp.contoso.com",
                   external_auth="Basic", internal_auth="Negotiate")


def oa_lines(executed: list[str]) -> list[str]:
    return [line for line in executed if line.startswith("Set-OutlookAnywhere")]


def parameters(line: str) -> dict[str, str]:
    """The -Name value pairs of one script line (quotes removed), -Identity and -ErrorAction left out."""
    tokens = iisinterp.tokenize(line, "test")
    pairs = dict(zip(tokens[1::2], tokens[2::2]))
    return {k[1:]: v for k, v in pairs.items() if k not in ("-Identity", "-ErrorAction")}


def literal(value) -> str:
    return ("$true" if value else "$false") if isinstance(value, bool) else value


# ---- 1. Outlook Anywhere settings ------------------------------------------------------------------------------

def test_the_plan_decides_the_one_set_outlookanywhere_apply_runs(tmp_path):
    plan = plan_for(tmp_path, all_stated(model_yaml(2013, "offload")))
    # each stated host name with its side's *ClientsRequireSsl $true and method, in the command's order
    assert list(plan.exchange.outlook_anywhere.apply.items()) == [
        ("SSLOffloading", True), ("ExternalHostname", "mail.contoso.com"), ("ExternalClientsRequireSsl", True),
        ("ExternalClientAuthenticationMethod", "Basic"), ("InternalHostname", "mail.corp.contoso.com"),
        ("InternalClientsRequireSsl", True), ("InternalClientAuthenticationMethod", "Negotiate")]
    # a stated host name without a stated method: the model's default method (Exchange's own: Negotiate, Ntlm)
    host = plan_for(tmp_path, with_oa(model_yaml(2013, "offload"), internal_hostname="int.contoso.com"))
    assert host.exchange.outlook_anywhere.apply == {
        "SSLOffloading": True, "InternalHostname": "int.contoso.com", "InternalClientsRequireSsl": True,
        "InternalClientAuthenticationMethod": "Ntlm"}
    # a stated method without its host name stays a parameter of the command; Ntlm is also the default: stated,
    # so set; the unstated external host name (derived) is not set
    only = plan_for(tmp_path, with_oa(model_yaml(2013, "offload"), internal_auth="Ntlm"))
    assert only.exchange.outlook_anywhere.apply == {"SSLOffloading": True, "InternalClientAuthenticationMethod": "Ntlm"}
    assert only.exchange.outlook_anywhere.external_hostname == "mail.contoso.com"
    # Basic needs SSL on a side with a host name (Exchange refuses Basic over HTTP): its *ClientsRequireSsl $true
    basic = plan_for(tmp_path, with_oa(model_yaml(2013, "offload"), internal_auth="Basic"))
    assert basic.exchange.outlook_anywhere.apply == {
        "SSLOffloading": True, "InternalClientsRequireSsl": True, "InternalClientAuthenticationMethod": "Basic"}
    # bridging: Microsoft's -SSLOffloading $false with both *ClientsRequireSsl $true
    bridge = plan_for(tmp_path, with_oa(model_yaml(2016, "bridge")))
    assert bridge.exchange.outlook_anywhere.apply == {
        "SSLOffloading": False, "ExternalClientsRequireSsl": True, "InternalClientsRequireSsl": True}
    none = plan_for(tmp_path, with_oa(model_yaml(2013, "offload")))
    assert none.exchange.outlook_anywhere.apply == {"SSLOffloading": True}
    no_rpc = plan_for(tmp_path, all_stated(model_yaml(2013, "offload", services=("owa", "ews"))))
    assert no_rpc.exchange.outlook_anywhere.apply == {}
    assert plan_expected.outlook_anywhere(no_rpc.exchange) is None


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_apply_sets_outlook_anywhere_in_one_guarded_command_and_is_idempotent(tmp_path, flavour):
    plan = plan_for(tmp_path, all_stated(model_yaml(2013, "offload")))
    want = plan.exchange.outlook_anywhere.apply
    args = "".join(f" -{k} {literal(v) if isinstance(v, bool) else repr(v)}" for k, v in want.items())
    apply_text = rendered(plan, flavour)["exchange/apply-EX01.ps1"]
    region = apply_text.split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    assert f"if (Test-OutlookAnywhereSettings{args}) {{" in region
    assert f'Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)"{args} -ErrorAction Stop' in region
    assert region.count("Set-OutlookAnywhere -") == 1
    fixture = iisinterp.load_fixture(2013)
    run = iisinterp.run(fixture, apply_text, server="EX01")
    assert run.exchange.outlook_anywhere == ALL_STATED
    assert len(oa_lines(run.executed)) == 1
    again = iisinterp.run(run.apphost, apply_text, server="EX01", exchange=run.exchange)
    assert again.executed == []
    # one setting differs (the others already right, a host name in other case): the whole command runs once
    state = iisinterp.initial_exchange_state(fixture)
    state.outlook_anywhere.update({**ALL_STATED, "ExternalHostname": "MAIL.contoso.com",   # case-insensitive
                                   "InternalClientAuthenticationMethod": "Ntlm"})
    state.external_clients_require_ssl = state.internal_clients_require_ssl = True
    one = iisinterp.run(run.apphost, apply_text, server="EX01", exchange=state)
    assert [parameters(line) for line in oa_lines(one.executed)] == [{k: literal(v) for k, v in want.items()}]
    assert one.exchange.outlook_anywhere["InternalClientAuthenticationMethod"] == "Negotiate"
    state.outlook_anywhere["InternalClientAuthenticationMethod"] = "negotiate"
    assert oa_lines(iisinterp.run(run.apphost, apply_text, server="EX01", exchange=state).executed) == []
    # -WhatIf changes nothing
    dry = iisinterp.run(fixture, apply_text, server="EX01", whatif=True)
    assert dry.executed == [] and dry.exchange.outlook_anywhere == iisinterp.OA_DEFAULTS


def test_unstated_keys_are_never_set(tmp_path):
    plan = plan_for(tmp_path, with_oa(model_yaml(2016, "bridge"), external_auth="Ntlm"))
    for flavour in FLAVOURS:
        text = rendered(plan, flavour)["exchange/apply-EX01.ps1"]
        assert "-ExternalClientAuthenticationMethod 'Ntlm'" in text
        for other in ("-ExternalHostname", "-InternalHostname", "-InternalClientAuthenticationMethod"):
            assert other not in text.split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    no_rpc = plan_for(tmp_path, all_stated(model_yaml(2013, "offload", services=("owa", "ews"))))
    for kind in ("apply", "undo"):
        assert "Set-OutlookAnywhere" not in rendered(no_rpc, "appcmd")[f"exchange/{kind}-EX01.ps1"]


def test_undo_sets_the_outlook_anywhere_settings_back(tmp_path):
    """Undo sets back what apply recorded, in one command (tests/targets/test_exchange_oa_record.py has the
    details)."""
    plan = plan_for(tmp_path, all_stated(model_yaml(2013, "offload")))
    files = rendered(plan, "appcmd")
    first = iisinterp.run(iisinterp.load_fixture(2013), files["exchange/apply-EX01.ps1"], server="EX01")
    assert first.exchange.outlook_anywhere == ALL_STATED
    undone = iisinterp.run(first.apphost, files["exchange/undo-EX01.ps1"], server="EX01", exchange=first.exchange)
    assert undone.exchange.outlook_anywhere == iisinterp.OA_DEFAULTS
    assert len(oa_lines(undone.executed)) == 1
    readme = " ".join(exrender.readme(plan, RenderOptions(flavour="appcmd")).split())
    assert "undo sets them all back in one Set-OutlookAnywhere where the server differs and removes the file" in readme


@pytest.mark.parametrize("keys", [{}, {"external_hostname": "mail.contoso.com", "external_auth": "Basic"},
                                  {"internal_auth": "Basic"}, {"internal_hostname": "int.contoso.com"}],
                         ids=["none", "external", "internal-basic", "internal-host"])
@pytest.mark.parametrize("version, mode", [(2013, "offload"), (2016, "bridge")])
def test_verify_compares_exactly_what_apply_sets(tmp_path, keys, version, mode):
    plan = plan_for(tmp_path, with_oa(model_yaml(version, mode), **keys))
    expected = plan_expected.exchange_state(plan.exchange)
    apply_text = rendered(plan, "appcmd")["exchange/apply-EX01.ps1"]
    line = next(s.strip() for s in apply_text.splitlines() if s.strip().startswith("Set-OutlookAnywhere -"))
    assert parameters(line) == {k: literal(v) for k, v in expected["outlook_anywhere"].items()}
    assert expected["outlook_anywhere"] == plan.exchange.outlook_anywhere.apply
    text = rendered(plan, "appcmd")["exchange/verify-EX01.ps1"]
    embedded = json.loads(text.split("$Expected = ConvertFrom-Json @'")[1].split("'@")[0])
    assert embedded == expected
    assert "ExternalClientAuthenticationMethod = (ConvertTo-Text $oa.ExternalClientAuthenticationMethod)" in text
    assert "InternalClientAuthenticationMethod = (ConvertTo-Text $oa.InternalClientAuthenticationMethod)" in text
    assert ("foreach ($key in 'ExternalHostname', 'InternalHostname', 'ExternalClientAuthenticationMethod', "
            "'InternalClientAuthenticationMethod')") in text


# ---- the interpreter understands the one Set-OutlookAnywhere ------------------------------------------------

def region(*lines: str) -> str:
    return "\n".join([iisinterp.BEGIN, *lines, iisinterp.END]) + "\n"


OA = 'Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)"'


def test_interpreter_sets_outlook_anywhere_settings_and_refuses_bad_ones():
    fixture = iisinterp.load_fixture(2013)
    run = iisinterp.run(fixture, region(
        f"{OA} -ExternalHostname 'mail.contoso.com' -ExternalClientsRequireSsl $true "
        "-ExternalClientAuthenticationMethod 'Ntlm' -InternalClientAuthenticationMethod 'negotiate' -ErrorAction Stop"),
        server="EX01")
    assert run.exchange.outlook_anywhere["ExternalHostname"] == "mail.contoso.com"
    assert run.exchange.outlook_anywhere["InternalClientAuthenticationMethod"] == "Negotiate"
    assert run.exchange.external_clients_require_ssl is True
    assert run.apphost == fixture and run.exchange.ssl_offloading is True     # no IIS effect, offloading untouched
    bad = [("-ExternalClientAuthenticationMethod 'Kerberos'", "must be one of"),
           ("-ExternalHostname 'mail contoso' -ExternalClientsRequireSsl $true "
            "-ExternalClientAuthenticationMethod 'Ntlm'", "not a host name"),
           ("-IISAuthenticationMethods 'Ntlm'", "unexpected argument"),
           ("", "sets nothing")]
    for args, match in bad:
        with pytest.raises(iisinterp.InterpreterError, match=match):
            iisinterp.run(fixture, region(f"{OA} {args} -ErrorAction Stop"))
    with pytest.raises(iisinterp.InterpreterError, match="unexpected argument"):
        iisinterp.run(fixture, region("if (Test-OutlookAnywhereSettings -Name 'SSLOffloading' -Value 'x') {", "}"))


@pytest.mark.parametrize("side", ["External", "Internal"])
@pytest.mark.parametrize("missing", ["ClientsRequireSsl", "ClientAuthenticationMethod", "both"])
def test_the_interpreter_refuses_a_host_name_without_its_sides_ssl_and_method(side, missing):
    """Exchange's parameter rule (SetRpcHttp: ErrorRpcHttpMustSpecify...; Microsoft's documented form passes the
    three together): refused as written, even where the line would not run, and where its value is read at run
    time; accepted with both, and a host name of $null needs neither."""
    fixture = iisinterp.load_fixture(2016)
    partners = {"ClientsRequireSsl": "$true", "ClientAuthenticationMethod": "'Ntlm'"}
    given = {k: v for k, v in partners.items() if missing not in (k, "both")}
    args = f"-{side}Hostname 'x.contoso.com'" + "".join(f" -{side}{k} {v}" for k, v in given.items())
    first = "ClientsRequireSsl" if missing == "both" else missing
    error = f"ErrorRpcHttpMustSpecify{side}{first.replace('Method', '')}Parameter"
    with pytest.raises(iisinterp.InterpreterError, match=f"refuses -{side}Hostname without -{side}{first}.*{error}"):
        iisinterp.run(fixture, region(f"{OA} {args} -ErrorAction Stop"), server="EX01")
    with pytest.raises(iisinterp.InterpreterError, match=error):   # not run: still refused
        iisinterp.run(fixture, region("if (Test-LbsyncMarker 'never') {", f"{OA} {args} -ErrorAction Stop", "}"))
    state = iisinterp.initial_exchange_state(fixture)
    state.oa_record = {f"{side}Hostname": "y.contoso.com"}
    with pytest.raises(iisinterp.InterpreterError, match=error):   # a value read from $script:OaWant
        iisinterp.run(fixture, region("if (Test-OutlookAnywhereRecord) {",
                                      "if (Test-OutlookAnywhereRestore -ExtendedProtection $false) {",
                                      f"{OA} -{side}Hostname $script:OaWant.{side}Hostname"
                                      + "".join(f" -{side}{k} $script:OaWant.{side}{k}" for k in given)
                                      + " -ErrorAction Stop", "}", "}"), server="EX01", exchange=state)
    whole = f"{OA} -{side}Hostname 'x.contoso.com'" + "".join(f" -{side}{k} {v}" for k, v in partners.items())
    done = iisinterp.run(fixture, region(whole + " -ErrorAction Stop"), server="EX01")
    assert done.exchange.outlook_anywhere[f"{side}Hostname"] == "x.contoso.com"
    cleared = iisinterp.run(fixture, region(f"{OA} -{side}Hostname $null -ErrorAction Stop"), server="EX01",
                            exchange=done.exchange)
    assert cleared.exchange.outlook_anywhere[f"{side}Hostname"] is None


def test_the_interpreter_refuses_what_exchange_refuses_to_store():
    """The merged-state rules (SetRpcHttp): SSLOffloading $false, or Basic, on a side with a host name that does
    not require SSL; a fresh server has its FQDN as internal host name and does not require SSL."""
    fixture = iisinterp.load_fixture(2013)
    for line, error in ((f"{OA} -SSLOffloading $false -ExternalClientsRequireSsl $true", "SSLOffloadingDisabled"),
                        (f"{OA} -InternalClientAuthenticationMethod 'Basic'", "BasicAuthOverHttpDisallowed")):
        with pytest.raises(iisinterp.InterpreterError, match=f"Internal.*ErrorRpcHttp{error}"):
            iisinterp.run(fixture, region(line + " -ErrorAction Stop"), server="EX01")
        state = iisinterp.initial_exchange_state(fixture)
        state.outlook_anywhere["InternalHostname"] = None      # no internal host name: nothing to refuse
        iisinterp.run(fixture, region(line + " -ErrorAction Stop"), server="EX01", exchange=state)
        iisinterp.run(fixture, region(line + " -InternalClientsRequireSsl $true -ErrorAction Stop"), server="EX01")


# ---- audit of the Outlook Anywhere settings --------------------------------------------------------------------

def oa_plan(tmp_path):
    return audit_plan_for(tmp_path, all_stated(audit_model_text(2013, "offload")))


def evidence_after_apply(plan, tmp_path, server: str, **oa_overrides) -> str:
    text, state = applied(plan, server)
    doc = verify_doc(plan, server, text, state)
    doc["outlook_anywhere"].update({"InternalHostname": state.outlook_anywhere["InternalHostname"],
                                    "ExternalClientAuthenticationMethod":
                                        state.outlook_anywhere["ExternalClientAuthenticationMethod"],
                                    "InternalClientAuthenticationMethod":
                                        state.outlook_anywhere["InternalClientAuthenticationMethod"]})
    doc["outlook_anywhere"].update(oa_overrides)
    return write(tmp_path, f"ev/verify-{server}.json", json.dumps(doc))


def test_audit_reports_outlook_anywhere_settings_that_differ_and_the_fix_repairs_them(tmp_path):
    plan = oa_plan(tmp_path)
    evidence_after_apply(plan, tmp_path, "EX01")
    evidence_after_apply(plan, tmp_path, "EX02", ExternalClientAuthenticationMethod="Ntlm",
                         ExternalHostname="OLD.contoso.com")
    report = audit(plan, evidence_dir=str(tmp_path / "ev"))
    assert drift_set(report) == {("EX02", OA_EXTERNAL_AUTH, "outlook-anywhere-settings"),
                                 ("EX02", OA_EXTERNAL_HOST, "outlook-anywhere-settings")}
    auth = next(d for d in report.drift if d.location == OA_EXTERNAL_AUTH)
    assert (auth.expected, auth.actual) == ("Basic", "Ntlm")
    scripts, unrepaired = fixmod.fix_scripts(plan, report)
    assert set(scripts) == {"EX02"} and unrepaired == []
    # the fix is apply's one Set-OutlookAnywhere with every parameter of the plan, not one line per drifted item
    region = scripts["EX02"].split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    want = plan.exchange.outlook_anywhere.apply
    assert region.count("Set-OutlookAnywhere -") == 1
    apphost, state = applied(plan, "EX02")
    state.outlook_anywhere.update({"ExternalClientAuthenticationMethod": "Ntlm", "ExternalHostname": "old.contoso.com"})
    run = iisinterp.run(apphost, scripts["EX02"], server="EX02", exchange=state)
    assert [parameters(line) for line in run.executed] == [{k: literal(v) for k, v in want.items()}]
    assert run.exchange.outlook_anywhere == ALL_STATED and run.apphost == apphost
    assert iisinterp.run(apphost, scripts["EX02"], server="EX02", exchange=run.exchange).executed == []


def test_audit_compares_authentication_methods_only_when_the_evidence_carries_them(tmp_path):
    plan = oa_plan(tmp_path)
    for server in ("EX01", "EX02"):
        text, state = applied(plan, server)
        doc = verify_doc(plan, server, text, state)   # an older verify JSON: no *ClientAuthenticationMethod keys
        doc["outlook_anywhere"]["InternalHostname"] = "mail.corp.contoso.com"
        write(tmp_path, f"ev/verify-{server}.json", json.dumps(doc))
    report = audit(plan, evidence_dir=str(tmp_path / "ev"))
    assert report.in_sync
    assert {(n.server, n.what) for n in report.not_checked} >= {(s, i) for s in ("EX01", "EX02")
                                                                for i in (OA_EXTERNAL_AUTH, OA_INTERNAL_AUTH)}
    # Get-OutlookAnywhere | ConvertTo-Json writes the enum as a number: not read, not compared
    raw = {"ServerName": "EX01", "SSLOffloading": True, "ExternalClientsRequireSsl": True,
           "InternalClientsRequireSsl": True, "ExternalHostname": "mail.contoso.com",
           "InternalHostname": "mail.corp.contoso.com", "ExternalClientAuthenticationMethod": 2,
           "InternalClientAuthenticationMethod": 13}
    path = write(tmp_path, "oa-EX01.json", json.dumps(raw))
    report = audit(plan, outlook_anywhere=[f"EX01={path}"])
    assert not [d for d in report.drift if d.server == "EX01"]


# ---- 2. what each virtual directory accepts ---------------------------------------------------------------------

def test_comparable_methods_follow_what_the_cmdlets_can_show():
    assert vdirauth.comparable("ews", ("Ntlm", "Negotiate")) == ["Windows"]
    assert vdirauth.comparable("ews", ("Negotiate",)) == ["Windows"]
    assert vdirauth.comparable("autodiscover", ("Basic", "Ntlm", "Negotiate")) == ["Basic", "Windows"]
    assert vdirauth.comparable("owa", ("Forms",)) == ["Forms"]
    assert vdirauth.comparable("owa", ("Forms", "Basic")) == ["Forms"]
    assert vdirauth.comparable("eas", ("Basic",)) == ["Basic"]
    assert vdirauth.comparable("mapi", ("Negotiate", "Ntlm")) == ["Ntlm", "Negotiate"]
    assert vdirauth.normalise(["negotiate", "OAuth", "ntlm"]) == ["Ntlm", "Negotiate", "OAuth"]


def test_the_plan_carries_each_vdirs_auth_and_verify_reads_every_managed_vdir(tmp_path):
    plan = plan_for(tmp_path, with_auth(model_yaml(2013, "offload"), ews="Basic", mapi="Negotiate"))
    ex = plan.exchange
    assert ex.auth == {"owa": ("Forms",), "ecp": ("Forms",), "ews": ("Basic",), "eas": ("Basic",),
                       "oab": ("Ntlm", "Negotiate"), "mapi": ("Negotiate",),
                       "autodiscover": ("Basic", "Ntlm", "Negotiate")}     # rpc: Outlook Anywhere's own settings
    expected = plan_expected.exchange_state(plan.exchange)["vdir_auth"]
    assert expected == {"owa": ["Forms"], "ecp": ["Forms"], "ews": ["Basic"], "eas": ["Basic"], "oab": ["Windows"],
                        "mapi": ["Negotiate"], "autodiscover": ["Basic", "Windows"]}
    for flavour in FLAVOURS:
        text = rendered(plan, flavour)["exchange/verify-EX01.ps1"]
        for svc, methods in expected.items():
            cmdlet, vdir, shape = vdirauth.VDIRS[svc]
            call = f"({cmdlet} -Identity \"EX01\\{vdir}\" -ADPropertiesOnly -ErrorAction Stop)"
            assert (f"$vdirAuth['{svc}'] = Get-VdirAuth {call} "
                    f"'{shape}'") in text
            assert f"Add-Check '{vdirauth.item(svc)}' '{', '.join(methods)}' ($vdirAuth['{svc}'].methods" in text
        assert "vdir_auth = $vdirAuth" in text
        iisinterp.run(iisinterp.load_fixture(2013), text)          # still read-only: no change command anywhere
        apply_text = rendered(plan, flavour)["exchange/apply-EX01.ps1"]
        assert not re.search(r"Set-\w+VirtualDirectory[^\n]*(Authentication|AuthEnabled)", apply_text)
    few = plan_for(tmp_path, model_yaml(2013, "offload", services=("ews", "mapi")))
    assert set(plan_expected.exchange_state(few.exchange)["vdir_auth"]) == {"ews", "mapi", "autodiscover"}
    assert "Get-OwaVirtualDirectory" not in rendered(few, "appcmd")["exchange/verify-EX01.ps1"]


def vdir_evidence(plan, tmp_path, server: str, **overrides) -> None:
    text, state = applied(plan, server)
    doc = verify_doc(plan, server, text, state)
    auth = {svc: {"methods": list(m), "properties": {}} for svc, m in plan_expected.vdir_auth(plan.exchange).items()}
    for svc, methods in overrides.items():
        auth[svc]["methods"] = methods
    doc["vdir_auth"] = auth
    write(tmp_path, f"ev/verify-{server}.json", json.dumps(doc))


def test_audit_reports_a_vdir_that_accepts_other_methods_and_no_fix_script_changes_it(tmp_path):
    plan = audit_plan_for(tmp_path, audit_model_text(2013, "offload"))
    vdir_evidence(plan, tmp_path, "EX01")
    vdir_evidence(plan, tmp_path, "EX02", ews=["basic", "Windows"], mapi=["Ntlm"])
    report = audit(plan, evidence_dir=str(tmp_path / "ev"))
    assert drift_set(report) == {("EX02", "Authentication: EWS (Default Web Site)", "vdir-auth-differs"),
                                 ("EX02", "Authentication: mapi (Default Web Site)", "vdir-auth-differs")}
    ews = next(d for d in report.drift if "EWS" in d.location)
    assert (ews.expected, ews.actual) == ("Windows", "Basic, Windows")
    scripts, unrepaired = fixmod.fix_scripts(plan, report)
    assert scripts == {} and {d.code for d in unrepaired} == {"vdir-auth-differs"}


def test_audit_without_vdir_auth_in_the_evidence_compares_nothing_of_it(tmp_path):
    plan = audit_plan_for(tmp_path, audit_model_text(2013, "offload"))
    for server in ("EX01", "EX02"):
        text, state = applied(plan, server)
        write(tmp_path, f"ev/verify-{server}.json", json.dumps(verify_doc(plan, server, text, state)))
    report = audit(plan, evidence_dir=str(tmp_path / "ev"))
    assert report.in_sync and not any(d.code == "vdir-auth-differs" for d in report.drift)


# ---- 3. undo with Extended Protection ---------------------------------------------------------------------------

def ep_model(default: str = "bridge") -> str:
    return model_yaml(2019, default).replace("  cu: 13\n", "  cu: 14\n")


def test_undo_keeps_outlook_anywhere_ssl_offloading_off_with_extended_protection(tmp_path):
    plan = plan_for(tmp_path, ep_model())
    assert plan.exchange.extended_protection is True
    assert plan.exchange.undo_outlook_anywhere_ssl_offloading is False
    for flavour in FLAVOURS:
        undo = rendered(plan, flavour)["exchange/undo-EX01.ps1"]
        assert "-SSLOffloading $true" not in undo
        assert ('Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading $false '
                '-ExternalClientsRequireSsl $true -InternalClientsRequireSsl $true') in undo
        fixture = iisinterp.load_fixture(2019)
        applied_run = iisinterp.run(fixture, rendered(plan, flavour)["exchange/apply-EX01.ps1"], server="EX01")
        undone = iisinterp.run(applied_run.apphost, undo, server="EX01", exchange=applied_run.exchange)
        assert undone.exchange.ssl_offloading is False
        assert effective_flags(undone.apphost, [RPC]) == {RPC: "Ssl, Ssl128"}
        # a server someone left with offloading on: undo turns it off (and tells clients to use SSL)
        state = iisinterp.initial_exchange_state(fixture)
        assert state.ssl_offloading is True
        fixed = iisinterp.run(fixture, undo, server="EX01", exchange=state)
        assert fixed.exchange.ssl_offloading is False and fixed.exchange.external_clients_require_ssl
    text = exrender.readme(plan, RenderOptions(flavour="appcmd"))
    assert "SSLOffloading $false (Extended Protection is on" in text
    assert "Microsoft requires SSL\noffloading off for Outlook Anywhere with Extended Protection" in text


def test_undo_without_extended_protection_restores_exchanges_default(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2019, "bridge"))
    assert plan.exchange.extended_protection is False
    assert plan.exchange.undo_outlook_anywhere_ssl_offloading is True
    assert "-SSLOffloading $true" in rendered(plan, "appcmd")["exchange/undo-EX01.ps1"]
    no_rpc = plan_for(tmp_path, model_yaml(2019, "bridge", services=("owa", "ews")))
    assert no_rpc.exchange.undo_outlook_anywhere_ssl_offloading is None


# ---- 4. `lbsync plan`: owa/Calendar ----------------------------------------------------------------------------

def test_plan_view_says_apply_sets_owa_calendar_only_if_it_differs(tmp_path):
    plan = plan_for(tmp_path, model_yaml(2013, "offload"))
    out = io.StringIO()
    print_plan(plan, Console(file=out, width=400, soft_wrap=True))
    row = next(line for line in out.getvalue().splitlines() if "owa/Calendar" in line)
    assert "kept as is" not in row
    assert "appcmd / WebAdministration (None in every mode, set only if it differs)" in row
    # and that is what apply does: the guarded step exists, and it runs only where Calendar is not None
    text = rendered(plan, "appcmd")["exchange/apply-EX01.ps1"]
    assert "Test-SslFlagsChange -Location 'Default Web Site/owa/Calendar' -Value 'None'" in text
    run = iisinterp.run(iisinterp.load_fixture(2013), text, server="EX01")
    assert not any("owa/Calendar" in line for line in run.executed)


def test_evidence_with_the_new_optional_keys_follows_the_documented_schema_and_is_in_sync(tmp_path):
    import jsonschema
    from test_exchange_render import doc_blocks
    example, schema = doc_blocks()
    plan = oa_plan(tmp_path)
    for server in ("EX01", "EX02"):
        text, state = applied(plan, server)
        doc = verify_doc(plan, server, text, state)
        doc["outlook_anywhere"].update({k: state.outlook_anywhere[k] for k in ALL_STATED})
        doc["vdir_auth"] = {svc: {"methods": m, "properties": {"WindowsAuthentication": "Windows" in m}}
                            for svc, m in plan_expected.vdir_auth(plan.exchange).items()}
        jsonschema.validate(doc, schema)
        write(tmp_path, f"ev/verify-{server}.json", json.dumps(doc))
    report = audit(plan, evidence_dir=str(tmp_path / "ev"))
    assert report.in_sync, report.drift
    assert not [n for n in report.not_checked if "Authentication" in n.what or "Outlook" in n.what]
    # the schema refuses a word the verify script never writes
    doc["vdir_auth"]["ews"]["methods"] = ["Kerberos"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
