"""One header limit, both sides (issue #15): http.max_header_bytes sets the load balancers' buffers (HAProxy,
NGINX, F5 tmsh / AS3 / push) and, above HTTP.sys's default, the HTTP.sys registry values every server's apply sets,
undo sets back and verify (and `lbsync audit`, through the verify JSON) compares. Each fact is asserted on its own,
every side from the same value; the scripts are run by the interpreter (tests/iisinterp.py) and parsed by the real
PowerShell grammar."""

from __future__ import annotations

import json
import re

import iisinterp
import pytest
from support.auditing import audit, drift_set, verify_doc, write
from support.scripts import FLAVOURS, model_yaml, plan_for, rendered
from support.structure import powershell

from lbsync.audit import evidence as evmod
from lbsync.audit import fix as fixmod
from lbsync.facts import httpsys
from lbsync.plan import expected as plan_expected
from lbsync.targets import RenderOptions, haproxy, nginx
from lbsync.targets.f5.as3 import declaration
from lbsync.targets.f5.tmsh import render as render_tmsh
from lbsync.targets.f5.want import PREFIX, build

KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters"
LIMITS = [16384, 16385, 20000, 65534, 65536, 70656, 16777216]


def model(limit: int | None, version: int = 2019, default: str = "bridge") -> str:
    text = model_yaml(version, default, mrsproxy=True)
    text += "targets:\n  haproxy: {}\n  nginx: {}\n  f5: {host: bigip.example.net, partition: Exchange}\n"
    text += "allow: [nginx-ntlm]\n"
    return text + (f"http:\n  max_header_bytes: {limit}\n" if limit is not None else "")


@pytest.fixture(params=LIMITS, ids=str)
def limit_plan(request, tmp_path):
    return request.param, plan_for(tmp_path, model(request.param))


def test_the_default_is_http_sys_default(tmp_path):
    plan = plan_for(tmp_path, model(None))
    assert plan.max_header_bytes == httpsys.DEFAULT[httpsys.MAX_REQUEST_BYTES] == 16384
    assert not plan.model.http.given and plan.exchange.http_sys == {}


def test_the_plan_holds_the_models_value(limit_plan):
    n, plan = limit_plan
    assert plan.max_header_bytes == n and plan.lb_header_bytes == n - 1024


def test_http_sys_values_follow_above_the_default_only(limit_plan):
    n, plan = limit_plan
    if n <= 16384:
        assert plan.exchange.http_sys == {}
    else:
        assert plan.exchange.http_sys == {"MaxFieldLength": min(n, 65534), "MaxRequestBytes": n}


def test_haproxy_buffers(limit_plan):
    n, plan = limit_plan
    text = haproxy.render(plan, RenderOptions())[haproxy.CONFIG].content
    assert re.findall(r"^\s+tune\.bufsize (\d+)$", text, re.M) == [str(n // 16 * 16)]
    assert re.findall(r"^\s+tune\.maxrewrite (\d+)$", text, re.M) == ["1024"]


def test_nginx_buffers(limit_plan):
    n, plan = limit_plan
    text = nginx.render(plan, RenderOptions())[nginx.HTTP_CONF].content
    size = min(n - 1024, 65536)
    number = -(-(n - 1024) // size)
    spelled = f"{size // 1024}k" if size % 1024 == 0 else str(size)
    found = set(re.findall(r"large_client_header_buffers (\d+) (\w+);", text))
    assert found == {(str(number), spelled)}
    assert number * size >= n - 1024 and size <= 65536


def test_f5_push_tmsh_and_as3_say_the_same_header_size(limit_plan):
    n, plan = limit_plan
    want = [o for o in build(plan).objects if o.kind == "ltm/profile/http"][0]
    assert want.attrs["enforcement"] == {"maxHeaderSize": n - 1024}
    tmsh = render_tmsh(plan, RenderOptions())["f5/lbsync.tmsh"].content
    assert re.findall(r"max-header-size (\d+)", tmsh) == [str(n - 1024)]
    app = declaration(plan)["declaration"]["Exchange"]["lbsync"]
    assert app[f"{PREFIX}http"]["maxHeaderSize"] == n - 1024


def test_the_scripts_say_nothing_of_http_sys_at_the_default(tmp_path):
    plan = plan_for(tmp_path, model(None))
    for flavour in FLAVOURS:
        for rel, text in rendered(plan, flavour).items():
            assert "HttpSys" not in text and "ItemProperty" not in text, rel
            if "/verify-" in rel:
                embedded = json.loads(text.split("$Expected = ConvertFrom-Json @'")[1].split("'@")[0])
                assert embedded["http_sys"] is None


def test_apply_sets_the_values_on_every_server_with_the_restart_note(tmp_path):
    plan = plan_for(tmp_path, model(70656))
    for flavour in FLAVOURS:
        files = rendered(plan, flavour)
        for server in plan.exchange.servers:
            text = files[f"exchange/apply-{server.name}.ps1"]
            assert f"Set-ItemProperty -LiteralPath '{KEY}' -Name 'MaxFieldLength' -Value 65534 -Type DWord" in text
            assert f"Set-ItemProperty -LiteralPath '{KEY}' -Name 'MaxRequestBytes' -Value 70656 -Type DWord" in text
            assert "net stop http /y" in text and "Write-HttpSysNote" in text
            run = iisinterp.run(iisinterp.load_fixture(2019), text, server=server.name)
            assert run.exchange.http_sys == {"MaxFieldLength": 65534, "MaxRequestBytes": 70656}
            assert run.exchange.http_sys_record == {"MaxFieldLength": None, "MaxRequestBytes": None}
            assert run.exchange.http_sys_restart
            # the sslFlags are as without the limit
            assert iisinterp.Document(run.apphost).effective("Default Web Site/owa") == plan.exchange.locations[
                "Default Web Site/owa"]


def _applied(plan, server="EX01", state=None, script="apply", whatif=False):
    text = rendered(plan, "appcmd")[f"exchange/{script}-{server}.ps1"]
    base = iisinterp.load_fixture(2019)
    return iisinterp.run(base, text, server=server, exchange=state, whatif=whatif)


def test_a_second_apply_changes_nothing_and_says_nothing_of_a_restart(tmp_path):
    plan = plan_for(tmp_path, model(70656))
    first = _applied(plan)
    first.exchange.http_sys_restart = False
    again = _applied(plan, state=first.exchange)
    assert again.executed == [] and not again.exchange.http_sys_restart


def test_apply_under_whatif_changes_and_records_nothing(tmp_path):
    plan = plan_for(tmp_path, model(70656))
    run = _applied(plan, whatif=True)
    assert run.exchange.http_sys == {} and run.exchange.http_sys_record is None and run.executed == []


def test_undo_sets_back_what_was_there_before_lbsync(tmp_path):
    """Values an administrator had set before (Microsoft's Exchange 2007 page: MaxRequestBytes 500000) come back;
    values that were not set are removed (Windows' default)."""
    plan = plan_for(tmp_path, model(70656))
    state = iisinterp.ExchangeState(http_sys={"MaxRequestBytes": 500000})
    applied = _applied(plan, state=state)
    assert applied.exchange.http_sys == {"MaxFieldLength": 65534, "MaxRequestBytes": 70656}
    assert applied.exchange.http_sys_record == {"MaxFieldLength": None, "MaxRequestBytes": 500000}
    # a later apply (another model value) keeps the first record
    raised = plan_for(tmp_path, model(100000))
    applied = _applied(raised, state=applied.exchange)
    assert applied.exchange.http_sys_record == {"MaxFieldLength": None, "MaxRequestBytes": 500000}
    applied.exchange.http_sys_restart = False
    undone = _applied(plan, state=applied.exchange, script="undo")
    assert undone.exchange.http_sys == {"MaxRequestBytes": 500000}
    assert undone.exchange.http_sys_record is None and undone.exchange.http_sys_restart
    again = _applied(plan, state=undone.exchange, script="undo")
    assert again.exchange.http_sys == {"MaxRequestBytes": 500000} and not any("ItemProperty" in x for x in again.executed)


def test_undo_without_a_record_leaves_the_values(tmp_path):
    plan = plan_for(tmp_path, model(70656))
    state = iisinterp.ExchangeState(http_sys={"MaxFieldLength": 65534, "MaxRequestBytes": 70656})
    undone = _applied(plan, state=state, script="undo")
    assert undone.exchange.http_sys == {"MaxFieldLength": 65534, "MaxRequestBytes": 70656}


def test_undo_under_whatif_keeps_the_values_and_the_record(tmp_path):
    plan = plan_for(tmp_path, model(70656))
    applied = _applied(plan)
    undone = _applied(plan, state=applied.exchange, script="undo", whatif=True)
    assert undone.exchange.http_sys == {"MaxFieldLength": 65534, "MaxRequestBytes": 70656}
    assert undone.exchange.http_sys_record == {"MaxFieldLength": None, "MaxRequestBytes": None}


def test_verify_compares_exactly_the_values_apply_sets(tmp_path):
    plan = plan_for(tmp_path, model(70656))
    text = rendered(plan, "appcmd")["exchange/verify-EX01.ps1"]
    embedded = json.loads(text.split("$Expected = ConvertFrom-Json @'")[1].split("'@")[0])
    assert embedded["http_sys"] == {"MaxFieldLength": 65534, "MaxRequestBytes": 70656}
    assert embedded == plan_expected.exchange_state(plan.exchange)
    for name in ("MaxFieldLength", "MaxRequestBytes"):
        assert f"$httpSys['{name}'] = Get-HttpSysValue '{name}'" in text
        assert f"Add-Check 'HTTP.sys {name}' $Expected.http_sys.{name} $httpSys['{name}']" in text
    assert "        http_sys = $httpSys\r\n" in text
    assert "Set-ItemProperty" not in text and "Remove-ItemProperty" not in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_scripts_parse_in_the_real_powershell_grammar(tmp_path, flavour):
    plan = plan_for(tmp_path, model(70656))
    for rel, text in rendered(plan, flavour).items():
        ok, kinds = powershell(text)
        assert ok, rel


def test_the_interpreter_refuses_what_http_sys_would_not_take(tmp_path):
    """The checks above can fail: another key, a value out of HTTP.sys's range, a string type."""
    plan = plan_for(tmp_path, model(70656))
    text = rendered(plan, "appcmd")["exchange/apply-EX01.ps1"]
    base = iisinterp.load_fixture(2019)
    for old, new in (("Services\\HTTP\\Parameters' -Name 'MaxFieldLength'",
                      "Services\\W3SVC\\Parameters' -Name 'MaxFieldLength'"),
                     ("-Value 65534 -Type DWord", "-Value 65536 -Type DWord"),
                     ("-Value 70656 -Type DWord", "-Value 70656 -Type String")):
        assert old in text
        with pytest.raises(iisinterp.InterpreterError):
            iisinterp.run(base, text.replace(old, new), server="EX01")


# ---- audit: the verify JSON's http_sys -------------------------------------------------------------------------

def _evidence(tmp_path, plan, values: dict[str, dict]):
    specs = []
    for server, regs in values.items():
        run = _applied(plan, server)
        run.exchange.http_sys = regs
        doc = verify_doc(plan, server, run.apphost, run.exchange)
        doc["http_sys"] = {n: regs.get(n) for n in httpsys.VALUES}
        specs.append(f"{server}={write(tmp_path, f'verify-{server}.json', json.dumps(doc))}")
    return specs


def test_audit_finds_a_server_whose_http_sys_values_differ(tmp_path):
    plan = plan_for(tmp_path, model(70656))
    good = {"MaxFieldLength": 65534, "MaxRequestBytes": 70656}
    report = audit(plan, outlook_anywhere=_evidence(tmp_path, plan, {"EX01": good,
                                                                     "EX02": {"MaxFieldLength": 65534}}))
    assert drift_set(report) == {("EX02", evmod.HTTP_SYS["MaxRequestBytes"], "http-sys-limits")}
    d = next(d for d in report.drift if d.code == "http-sys-limits")
    assert (d.expected, d.actual) == (70656, None)
    scripts, unrepaired = fixmod.fix_scripts(plan, report)
    assert list(scripts) == ["EX02"] and not unrepaired
    assert f"Set-ItemProperty -LiteralPath '{KEY}' -Name 'MaxRequestBytes' -Value 70656 -Type DWord" in scripts["EX02"]
    assert "Set-OutlookAnywhere -Identity" not in scripts["EX02"].split("# ==== lbsync:changes begin")[1]


def test_audit_without_http_sys_in_the_evidence_says_it_was_not_checked(tmp_path):
    plan = plan_for(tmp_path, model(70656))
    specs = []
    for server in ("EX01", "EX02"):
        run = _applied(plan, server)
        doc = verify_doc(plan, server, run.apphost, run.exchange)   # a verify JSON without http_sys
        specs.append(f"{server}={write(tmp_path, f'verify-{server}.json', json.dumps(doc))}")
    report = audit(plan, outlook_anywhere=specs)
    assert not [d for d in report.drift if d.code == "http-sys-limits"]
    assert {n.what for n in report.not_checked} >= {"HTTP.sys"}


def test_audit_refuses_an_http_sys_value_that_is_not_a_number(tmp_path):
    from lbsync.errors import LbsyncError
    plan = plan_for(tmp_path, model(70656))
    run = _applied(plan, "EX01")
    doc = verify_doc(plan, "EX01", run.apphost, run.exchange)
    doc["http_sys"] = {"MaxFieldLength": "65534", "MaxRequestBytes": 70656}
    path = write(tmp_path, "verify-EX01.json", json.dumps(doc))
    with pytest.raises(LbsyncError, match="http_sys.MaxFieldLength"):
        audit(plan, outlook_anywhere=[f"EX01={path}"])


# ---- the finding ---------------------------------------------------------------------------------------------------

def test_a_raised_limit_is_an_info_finding_with_the_restart_note(tmp_path):
    assert "header-limit-raised" not in {f.code for f in plan_for(tmp_path, model(None)).findings}
    plan = plan_for(tmp_path, model(70656))
    f = next(f for f in plan.findings if f.code == "header-limit-raised")
    assert f.level == "info" and f.where == ("http", "max_header_bytes") and f not in plan.blocking()
    assert "MaxFieldLength 65534, MaxRequestBytes 70656" in f.message and "net stop http /y" in f.message
    assert "69632 bytes from a client" in f.message and "by hand" not in f.message


def test_the_finding_names_the_legacy_groups_to_set_by_hand(tmp_path):
    from support.paths import ROOT
    text = (ROOT / "profiles" / "coexistence-2013-2010.yaml").read_text() + "http:\n  max_header_bytes: 70656\n"
    (tmp_path / "lbsync.yaml").write_text(text)
    from lbsync.model import load_model
    from lbsync.plan import build_plan
    plan = build_plan(load_model(tmp_path / "lbsync.yaml"))
    f = next(f for f in plan.findings if f.code == "header-limit-raised")
    legacy = [g for g in plan.model.groups.values() if g.version == 2010]
    assert legacy and all(f"groups {g.name}" in f.message for g in legacy) and "by hand" in f.message


def test_the_readme_gives_the_values_and_microsofts_restart_note(tmp_path):
    from lbsync.targets import exchange as exrender
    assert "HTTP.sys" not in exrender.readme(plan_for(tmp_path, model(None)), RenderOptions())
    text = exrender.readme(plan_for(tmp_path, model(70656)), RenderOptions())
    section = text[text.index("HTTP.sys request-head limits (http.max_header_bytes 70656)"):]
    assert "MaxFieldLength = 65534" in section and "MaxRequestBytes = 70656" in section
    assert "net stop http /y" in section and "KB 820129" in section and "69632 bytes from a client" in section
