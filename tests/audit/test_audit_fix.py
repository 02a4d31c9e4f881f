"""--fix-script: lbsync's apply script restricted to exactly the drifted items on exactly the drifted servers.

Each fix is run through tests/iisinterp.py on the drifted applicationHost.config; the audit must then be in sync,
and nothing outside the drifted locations may have changed (byte for byte)."""

from __future__ import annotations

import json
import re

import iisinterp
import pytest
from support.auditing import (
    AUDIT,
    CU_RESET,
    SITE,
    applied,
    audit,
    cu_reset,
    default_state,
    drift_set,
    model_text,
    plan_for,
    verify_doc,
    write,
)

from lbsync.audit import fix as fixmod
from lbsync.audit.apphost import Document
from lbsync.audit.evidence import EWS_MRSPROXY, OAB_REQUIRE_SSL


def location_blocks(text: str) -> tuple[dict[str, str], str]:
    """(<location> element text by lower-case path, the rest of the file with those elements cut out)."""
    doc = Document(text)
    blocks, rest, pos = {}, [], 0
    for path, el in doc.locations():
        blocks[path.lower()] = text[el.start:el.end]
        rest.append(text[pos:el.start])
        pos = el.end
    rest.append(text[pos:])
    return blocks, "".join(rest)


def assert_only_changed(before: str, after: str, locations: set[str]) -> None:
    b_blocks, b_rest = location_blocks(before)
    a_blocks, a_rest = location_blocks(after)
    assert a_rest == b_rest, "text outside the <location> elements changed"
    changed = {p for p in set(b_blocks) | set(a_blocks) if b_blocks.get(p) != a_blocks.get(p)}
    assert changed == {loc.lower() for loc in locations}


def run_fix(script: str, text: str, server: str, state=None):
    return iisinterp.run(text, script, server=server, exchange=state)


def verify_ex01_applied_now(tmp_path) -> str:
    """tests/fixtures/audit/verify-EX01.json (a server applied by an earlier lbsync) with Outlook Anywhere as this
    lbsync's apply leaves it: the stated external host name with ExternalClientsRequireSsl $true."""
    doc = json.loads((AUDIT / "verify-EX01.json").read_text(encoding="utf-8"))
    doc["outlook_anywhere"]["ExternalClientsRequireSsl"] = True
    return write(tmp_path, "verify-EX01-now.json", json.dumps(doc))


@pytest.mark.parametrize("flavour", ["appcmd", "webadministration"])
@pytest.mark.parametrize("version", [2013, 2016])
def test_cu_reset_fixed_on_that_server_only(tmp_path, version, flavour):
    plan = plan_for(tmp_path, model_text(version, "offload"))
    ex01, _ = applied(plan, "EX01")
    ex02 = cu_reset(applied(plan, "EX02")[0], CU_RESET)
    specs = [f"EX01={write(tmp_path, '1.config', ex01)}", f"EX02={write(tmp_path, '2.config', ex02)}"]
    report = audit(plan, apphost=specs)
    scripts, unrepaired = fixmod.fix_scripts(plan, report, base=tmp_path / "fix.ps1", flavour=flavour)
    assert list(scripts) == ["EX02"] and unrepaired == []
    run = run_fix(scripts["EX02"], ex02, "EX02")
    # exactly the drifted locations were changed, by one command each, and only their app pools recycle
    changed = [re.search(r'"([^"]+)"|-Location \'([^\']+)\'', line) for line in run.executed]
    assert sorted(m.group(1) or m.group(2) for m in changed) == sorted(CU_RESET)
    assert sorted(run.changed_pools) == sorted({plan.exchange.location_pool[loc] for loc in CU_RESET})
    assert_only_changed(ex02, run.apphost, set(CU_RESET))
    fixed = write(tmp_path, "2-fixed.config", run.apphost)
    assert audit(plan, apphost=[specs[0], f"EX02={fixed}"]).drift == []
    # the guards make a second run a no-op
    assert run_fix(scripts["EX02"], run.apphost, "EX02").executed == []


def test_fix_script_is_the_apply_script_style_with_a_header_of_what_it_repairs(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    ex02 = cu_reset(applied(plan, "EX02")[0], {f"{SITE}/ecp": None})
    report = audit(plan, apphost=[f"EX02={write(tmp_path, '2.config', ex02)}"])
    scripts, unrepaired = fixmod.fix_scripts(plan, report, base=tmp_path / "repair.ps1")
    text = scripts["EX02"]
    assert text.startswith("\ufeff# lbsync audit fix for EX02: repairs 1 drifted item(s)")
    assert f"#   {SITE}/ecp: Ssl, Ssl128 -> None  [ssl-still-required]" in text
    for marker in ("[CmdletBinding(SupportsShouldProcess = $true)]", "function Backup-ApplicationHost",
                   "Assert-Server", "Complete-Changes", ".\\repair-EX02.ps1 -WhatIf", "$script:Server = 'EX02'"):
        assert marker in text, marker
    changes = text.split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    assert changes.count("appcmd set config") == 1 and f'"{SITE}/ecp"' in changes
    assert "Set-OutlookAnywhere" not in changes and "Set-OabVirtualDirectory" not in changes
    assert "Set-WebServicesVirtualDirectory" not in changes
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    # server-missing for EX01 cannot be repaired by a script: it is listed
    assert [(d.server, d.code) for d in unrepaired] == [("EX01", "server-missing")]
    assert fixmod.script_path(tmp_path / "repair.ps1", "EX02").name == "repair-EX02.ps1"
    assert fixmod.script_path(tmp_path / "repair", "EX02").name == "repair-EX02.ps1"


def test_hand_edited_servers_fixed_and_nothing_else_touched(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    path = AUDIT / "exchange2013.hand-edited.applicationHost.config"
    text = path.read_bytes().decode("utf-8")
    report = audit(plan, apphost=[f"EX01={path}", f"EX02={path}"])
    drifted = {d.location for d in report.drift}
    scripts, _ = fixmod.fix_scripts(plan, report)
    assert set(scripts) == {"EX01", "EX02"}
    fixed = {}
    for server in ("EX01", "EX02"):
        run = run_fix(scripts[server], text, server)
        assert_only_changed(text, run.apphost, drifted)
        fixed[server] = write(tmp_path, f"{server}.config", run.apphost)
    assert audit(plan, apphost=[f"{s}={p}" for s, p in fixed.items()]).drift == []


def test_oab_and_mrsproxy_fixed_through_exchange_cmdlets_only(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    report = audit(plan, outlook_anywhere=[f"EX01={verify_ex01_applied_now(tmp_path)}"])
    assert {d.location for d in report.drift if d.server == "EX01"} == {OAB_REQUIRE_SSL, EWS_MRSPROXY}
    scripts, _ = fixmod.fix_scripts(plan, report)
    changes = scripts["EX01"].split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    assert "appcmd" not in changes and "Set-OutlookAnywhere" not in changes
    assert 'Set-OabVirtualDirectory -Identity "EX01\\OAB (Default Web Site)" -RequireSSL $false' in changes
    assert 'Set-WebServicesVirtualDirectory -Identity "EX01\\EWS (Default Web Site)" -MRSProxyEnabled $true' in changes
    # the server as the evidence describes it: IIS already offloaded, OAB RequireSSL $true, MRSProxy off
    text, state = applied(plan, "EX01")
    state.oab_require_ssl, state.mrsproxy_enabled = True, False
    run = run_fix(scripts["EX01"], text, "EX01", state)
    assert run.apphost == text
    assert (run.exchange.oab_require_ssl, run.exchange.mrsproxy_enabled) == (False, True)
    after = write(tmp_path, "v.json", json.dumps(verify_doc(plan, "EX01", run.apphost, run.exchange)))
    assert drift_set(audit(plan, outlook_anywhere=[f"EX01={after}"])) == {("EX02", None, "server-missing")}


def test_bridge_outlook_anywhere_fixed_with_set_outlookanywhere(tmp_path):
    plan = plan_for(tmp_path, model_text(2016, "bridge"))
    base = iisinterp.load_fixture(2016)
    state = default_state(base)
    doc = verify_doc(plan, "EX01", base, state)
    report = audit(plan, apphost=[f"EX01={write(tmp_path, 'a.config', base)}"],
                   outlook_anywhere=[f"EX01={write(tmp_path, 'v.json', json.dumps(doc))}"])
    assert {(d.location, d.code) for d in report.drift if d.server == "EX01"} == {
        (f"{SITE}/Rpc", "ssl-missing"), ("Outlook Anywhere: SSLOffloading", "outlook-anywhere-offloading"),
        ("Outlook Anywhere: ExternalClientsRequireSsl", "outlook-anywhere-client-ssl"),
        ("Outlook Anywhere: InternalClientsRequireSsl", "outlook-anywhere-client-ssl"),
        (EWS_MRSPROXY, "mrsproxy-state")}   # a fresh server: MRSProxy off, the model routes it
    scripts, _ = fixmod.fix_scripts(plan, report)
    changes = scripts["EX01"].split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    assert "appcmd" not in changes and "Set-OabVirtualDirectory" not in changes
    assert "Set-OutlookAnywhere -Identity \"EX01\\Rpc (Default Web Site)\" -SSLOffloading $false" in changes
    assert "Restart-Service MSExchangeServiceHost" in scripts["EX01"].split("<#")[0]
    run = run_fix(scripts["EX01"], base, "EX01", state)
    assert_only_changed(base, run.apphost, {f"{SITE}/Rpc"})
    after = verify_doc(plan, "EX01", run.apphost, run.exchange)
    report = audit(plan, apphost=[f"EX01={write(tmp_path, 'b.config', run.apphost)}"],
                   outlook_anywhere=[f"EX01={write(tmp_path, 'w.json', json.dumps(after))}"])
    assert drift_set(report) == {("EX02", None, "server-missing")}


@pytest.mark.parametrize("mode", ["offload", "bridge"])
def test_outlook_anywhere_drift_is_repaired_with_applys_one_command(tmp_path, mode):
    """A server applied by an earlier lbsync (its external host name set on its own, ExternalClientsRequireSsl left
    $false) whose host name someone changed since: every drifted Outlook Anywhere item is repaired by the plan's one
    Set-OutlookAnywhere (a host name needs its side's *ClientsRequireSsl and method in the same call), accepted
    by the interpreter's Exchange rules; afterwards the audit is in sync and a second run changes nothing."""
    version = 2013 if mode == "offload" else 2016
    plan = plan_for(tmp_path, model_text(version, mode))
    want = plan.exchange.outlook_anywhere.apply
    text, state = applied(plan, "EX01")
    state.external_clients_require_ssl = False
    state.outlook_anywhere.update(ExternalHostname="old.contoso.com")
    if mode == "bridge":   # Exchange would not have stored $false with a host name and offloading off
        state.ssl_offloading = True
        text = iisinterp.set_access(text, f"{SITE}/Rpc", "None")
    doc = verify_doc(plan, "EX01", text, state)
    doc["outlook_anywhere"] = state.outlook_anywhere_settings()
    report = audit(plan, apphost=[f"EX01={write(tmp_path, 'a.config', text)}"],
                   outlook_anywhere=[f"EX01={write(tmp_path, 'v.json', json.dumps(doc))}"])
    oa_drift = {(d.location, d.code) for d in report.drift if d.server == "EX01" and d.location != f"{SITE}/Rpc"}
    assert oa_drift == {("Outlook Anywhere: ExternalHostname", "outlook-anywhere-settings"),
                        ("Outlook Anywhere: ExternalClientsRequireSsl", "outlook-anywhere-client-ssl"),
                        *([("Outlook Anywhere: SSLOffloading", "outlook-anywhere-offloading")]
                          if mode == "bridge" else [])}
    scripts, unrepaired = fixmod.fix_scripts(plan, report)
    assert [d for d in unrepaired if d.server == "EX01"] == []
    region = scripts["EX01"].split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    calls = [line.strip() for line in region.splitlines() if line.strip().startswith("Set-OutlookAnywhere")]
    assert calls == ['Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" '
                     + " ".join(f"-{k} " + ((("$true" if v else "$false") if isinstance(v, bool) else f"'{v}'"))
                                for k, v in want.items()) + " -ErrorAction Stop"]
    run = run_fix(scripts["EX01"], text, "EX01", state)
    assert len([line for line in run.executed if line.startswith("Set-OutlookAnywhere")]) == 1
    settings = run.exchange.outlook_anywhere_settings()
    assert {k: settings[k] for k in want} == want
    after = verify_doc(plan, "EX01", run.apphost, run.exchange)
    after["outlook_anywhere"] = run.exchange.outlook_anywhere_settings()
    report = audit(plan, apphost=[f"EX01={write(tmp_path, 'b.config', run.apphost)}"],
                   outlook_anywhere=[f"EX01={write(tmp_path, 'w.json', json.dumps(after))}"])
    assert drift_set(report) == {("EX02", None, "server-missing")}
    assert run_fix(scripts["EX01"], run.apphost, "EX01", run.exchange).executed == []


def test_what_lbsync_never_touches_is_not_in_a_fix_script(tmp_path):
    plan = plan_for(tmp_path, model_text(2016, "bridge"))
    path = AUDIT / "exchange2016.backend-touched.applicationHost.config"
    report = audit(plan, apphost=[f"EX01={path}", f"EX02={path}"])
    scripts, unrepaired = fixmod.fix_scripts(plan, report)
    assert scripts == {}
    assert {d.code for d in unrepaired} == {"back-end-modified"}


def test_restricted_plan_leaves_the_real_plan_alone(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    before = plan.as_json()
    report = audit(plan, outlook_anywhere=[f"EX01={verify_ex01_applied_now(tmp_path)}"])
    narrowed = fixmod.restricted_plan(plan, "EX01", report.for_server("EX01"))
    assert [s.name for s in narrowed.exchange.servers] == ["EX01"]
    assert narrowed.exchange.appcmd_locations == [] and narrowed.exchange.outlook_anywhere.ssl_offloading is None
    assert plan.as_json() == before and len(plan.exchange.servers) == 2


# ---- any drift: reported exactly, repaired exactly -------------------------------------------------------------

from functools import lru_cache  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from support.quick import examples  # noqa: E402

from lbsync.audit.drift import flags_code  # noqa: E402

EDITS = ["None", "Ssl", "Ssl, Ssl128", "Ssl, SslNegotiateCert, Ssl128", None]   # None: clear (inherit)


@lru_cache(maxsize=None)
def _case(version: int, mode: str, root: str):
    from pathlib import Path as P
    folder = P(root) / f"{version}-{mode}"
    folder.mkdir(parents=True, exist_ok=True)
    plan = plan_for(folder, model_text(version, mode))
    return plan, applied(plan, "EX01")[0], applied(plan, "EX02")[0]


@settings(max_examples=examples(30), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(version=st.sampled_from([2013, 2016]), mode=st.sampled_from(["offload", "bridge"]),
       edits=st.dictionaries(st.integers(0, 9), st.sampled_from(EDITS), max_size=5),
       flavour=st.sampled_from(["appcmd", "webadministration"]))
def test_any_cu_reset_is_reported_exactly_and_the_fix_repairs_only_that(tmp_path_factory, version, mode, edits,
                                                                        flavour):
    root = str(tmp_path_factory.getbasetemp() / "audit-property")
    plan, ex01, ex02 = _case(version, mode, root)
    locs = plan.exchange.appcmd_locations
    changed = ex02
    for index, value in edits.items():
        loc = locs[index % len(locs)]
        changed = iisinterp.clear_access(changed, loc) if value is None else iisinterp.set_access(changed, loc, value)
    folder = tmp_path_factory.mktemp("case")
    specs = [f"EX01={write(folder, '1.config', ex01)}", f"EX02={write(folder, '2.config', changed)}"]
    report = audit(plan, apphost=specs)
    doc = Document(changed)
    want = set()
    for loc, flags in plan.exchange.locations.items():
        code = flags_code(flags, doc.effective(loc))
        if code:
            want.add(("EX02", loc, code))
    assert drift_set(report) == want
    scripts, unrepaired = fixmod.fix_scripts(plan, report, flavour=flavour)
    assert unrepaired == []
    if not want:
        assert scripts == {}
        return
    assert list(scripts) == ["EX02"]
    region = scripts["EX02"].split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    named = set(re.findall(r"-Location '([^']+)'", region))
    # the drifted locations, plus the managed ones under them: repairing a parent changes what they inherit, so
    # their guarded lines re-check them (found by this test: owa/Calendar without its own None, owa drifted)
    repaired = {loc for _, loc, _ in want if loc in plan.exchange.appcmd_locations}
    assert named == set(fixmod.with_managed_descendants(plan.exchange.appcmd_locations, repaired))
    assert ("Set-OutlookAnywhere" in region) == any(loc.endswith("/Rpc") for _, loc, _ in want)
    fixed = run_fix(scripts["EX02"], changed, "EX02").apphost
    assert audit(plan, apphost=[specs[0], f"EX02={write(folder, '3.config', fixed)}"]).drift == []
    drifted = {loc for _, loc, _ in want} | named
    b_blocks, b_rest = location_blocks(changed)
    a_blocks, a_rest = location_blocks(fixed)
    assert a_rest == b_rest
    assert {p for p in set(a_blocks) | set(b_blocks) if a_blocks.get(p) != b_blocks.get(p)} <= {
        d.lower() for d in drifted}
