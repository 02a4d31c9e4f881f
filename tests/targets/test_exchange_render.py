"""`lbsync render --target exchange`: files, layout (one golden scenario), the safety facts of the scripts each
asserted on its own, the README section, and the verify evidence format (docs/verify-json.md)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import iisinterp
import jsonschema
import pytest
from support.cli import run_cli
from support.paths import ROOT  # noqa: E402

from lbsync import __version__
from lbsync.audit.apphost import Document, effective_flags
from lbsync.model import load_model_text
from lbsync.plan import build_plan
from lbsync.plan import expected as plan_expected
from lbsync.targets import RenderOptions, render_targets
from lbsync.targets import exchange as exrender

GOLDEN = ROOT / "tests" / "fixtures" / "apphost" / "golden"
DOC = ROOT / "docs" / "verify-json.md"
PROFILE_2013 = ROOT / "profiles" / "exchange2013-offload.yaml"
PROFILE_2016 = ROOT / "profiles" / "exchange2016-bridge.yaml"


def plan_of(path: Path):
    return build_plan(load_model_text(path.read_text(encoding="utf-8"), path))


def files_of(plan, flavour="appcmd") -> dict[str, str]:
    return {rel: out.content for rel, out in exrender.render(plan, RenderOptions(flavour=flavour)).items()}


def raised_model(tmp_path: Path, limit: int = 70656) -> Path:
    """The 2013 profile with http.max_header_bytes raised above HTTP.sys's default."""
    path = tmp_path / "raised.yaml"
    path.write_text(PROFILE_2013.read_text(encoding="utf-8") + f"http:\n  max_header_bytes: {limit}\n",
                    encoding="utf-8")
    return path


def lbsync(*args: str, cwd: Path | None = None):
    return run_cli(*args, cwd=cwd)


@pytest.fixture(scope="module")
def plan2013():
    return plan_of(PROFILE_2013)


@pytest.fixture(scope="module")
def files2013(plan2013):
    return {f: files_of(plan2013, f) for f in ("appcmd", "webadministration")}


# ---- the command line --------------------------------------------------------------------------------------------

def test_cli_renders_three_scripts_per_server_and_the_readme(tmp_path):
    out = tmp_path / "out"
    r = lbsync("render", str(PROFILE_2013), "--target", "exchange", "-o", str(out), "--flavour", "webadministration")
    assert r.returncode == 0, r.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [".lbsync-manifest.json", "README.txt"] + sorted(
        f"exchange/{k}-{s}.ps1" for k in ("apply", "undo", "verify") for s in ("EX01", "EX02")) + ["report.html"]
    raw = (out / "exchange" / "apply-EX01.ps1").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert raw[3:].isascii()          # Windows PowerShell 5.1 reads it the same whatever the code page
    assert b"Set-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST'" in raw and b"$appcmd set" not in raw
    again = lbsync("render", str(PROFILE_2013), "--target", "exchange", "-o", str(out), "--flavour",
                   "webadministration", "--diff")
    assert again.returncode == 0 and again.stdout.strip() == "no differences"
    other = lbsync("render", str(PROFILE_2013), "--target", "exchange", "-o", str(out), "--diff")
    assert other.returncode == 0 and "+        & $appcmd set config \"Default Web Site/owa\"" in other.stdout


def test_cli_rejects_an_unknown_flavour_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    r = lbsync("render", str(PROFILE_2013), "--target", "exchange", "-o", str(out), "--flavour", "dsc")
    assert r.returncode == 2 and not out.exists() and "Traceback" not in r.stderr


def test_an_unknown_flavour_given_to_the_library_is_an_lbsync_error(plan2013):
    from lbsync.errors import LbsyncError
    with pytest.raises(LbsyncError, match="flavour 'dsc'"):
        exrender.render(plan2013, RenderOptions(flavour="dsc"))


def test_a_template_override_is_used_and_undefined_names_fail_cleanly(tmp_path):
    tdir = tmp_path / "tpl" / "exchange"
    tdir.mkdir(parents=True)
    (tdir / "README.txt.j2").write_text("Our own Exchange notes for {{ servers | join(' and ') }}\n")
    out = tmp_path / "out"
    r = lbsync("render", str(PROFILE_2013), "--target", "exchange", "-o", str(out), "--templates",
               str(tmp_path / "tpl"))
    assert r.returncode == 0, r.stderr
    assert "Our own Exchange notes for EX01 and EX02" in (out / "README.txt").read_text()
    (tdir / "README.txt.j2").write_text("{{ no_such_thing }}\n")
    out2 = tmp_path / "out2"
    r = lbsync("render", str(PROFILE_2013), "--target", "exchange", "-o", str(out2), "--templates",
               str(tmp_path / "tpl"))
    assert r.returncode == 2 and not out2.exists()
    assert len(r.stderr.strip().splitlines()) == 1 and "no_such_thing" in r.stderr and "Traceback" not in r.stderr


# ---- layout: one golden scenario (2013 offload, appcmd, EX01); every fact is also asserted on its own -----------

@pytest.mark.parametrize("kind", ["apply", "undo", "verify"])
def test_golden_layout(files2013, kind):
    text = files2013["appcmd"][f"exchange/{kind}-EX01.ps1"].replace(f"lbsync {__version__}", "lbsync VERSION")
    golden = GOLDEN / f"{kind}-EX01.appcmd.ps1"
    if os.environ.get("LBSYNC_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(text.encode("utf-8"))
    assert text == golden.read_bytes().decode("utf-8"), f"layout changed: LBSYNC_UPDATE_GOLDEN=1 to accept ({golden})"


# ---- safety facts, each on its own ----------------------------------------------------------------------------

@pytest.mark.parametrize("flavour", ["appcmd", "webadministration"])
@pytest.mark.parametrize("kind", ["apply", "undo"])
def test_changing_scripts_are_safe(files2013, flavour, kind):
    text = files2013[flavour][f"exchange/{kind}-EX01.ps1"]
    assert "[CmdletBinding(SupportsShouldProcess = $true)]" in text           # -WhatIf / -Confirm
    assert re.search(r"^\$ErrorActionPreference = 'Stop'\r?$", text, re.M)      # stop on the first error
    assert "[switch]$Force" in text and "if ($env:COMPUTERNAME -ne 'EX01' -and -not $Force) {" in text
    assert "[switch]$IisReset" in text and "& iisreset.exe /noforce" in text
    # every guarded change asks ShouldProcess and backs up before the first change
    confirm = text[text.index("function Confirm-Change"):text.index("function Test-SslFlagsChange")]
    assert confirm.index("ShouldProcess") < confirm.index("Backup-ApplicationHost") < confirm.index("Changes++")
    backup = text[text.index("function Backup-ApplicationHost"):text.index("function Confirm-Change")]
    assert ("$null = & $appcmd add backup $name" if flavour == "appcmd" else
            "$null = Backup-WebConfiguration -Name $name") in backup
    assert "if ($null -ne $script:Backup) { return }" in backup               # once
    # recycling: only the pools the changes recorded
    done = text[text.index("function Complete-Changes"):]
    assert "foreach ($pool in $script:ChangedPools)" in done
    assert ("& $appcmd recycle apppool /apppool.name:$pool" if flavour == "appcmd" else
            "Restart-WebAppPool -Name $pool") in done
    # every guard is one of the helpers the script defines
    region = text.split(iisinterp.BEGIN)[1].split(iisinterp.END)[0]
    for guard in set(re.findall(r"if \((Test-[A-Za-z]+)", region)):
        assert f"function {guard}(" in text
    if flavour == "appcmd":   # appcmd does not throw: its exit code is checked after every call
        lines = [s.strip() for s in region.splitlines()]
        for i, line in enumerate(lines):
            if line.startswith("& $appcmd"):
                assert lines[i + 1] == "Assert-LastExitCode"


def test_guards_read_effective_values(files2013):
    text = files2013["appcmd"]["exchange/apply-EX01.ps1"]
    get = text[text.index("function Get-EffectiveSslFlags"):text.index("function Test-SslFlagsSetHere")]
    assert ("Get-WebConfigurationProperty -PSPath $script:ApphostPath -Location $Location "
            "-Filter $script:AccessFilter -Name sslFlags") in get
    assert "$script:ApphostPath = 'MACHINE/WEBROOT/APPHOST'" in text
    assert "$script:AccessFilter = 'system.webServer/security/access'" in text
    guard = text[text.index("function Test-SslFlagsChange"):text.index("function Test-SslFlagsClear")]
    assert "$current = Get-EffectiveSslFlags $Location" in guard and "if ($current -eq $want)" in guard


def test_outlook_anywhere_bridge_also_requires_ssl_for_clients():
    files = files_of(plan_of(PROFILE_2016))
    apply_text = files["exchange/apply-EX01.ps1"]
    # one command: -SSLOffloading $false with both *ClientsRequireSsl $true, the stated host name with its side's
    # method (the profile states external_hostname, external_auth and internal_auth)
    assert ('Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading $false '
            "-ExternalHostname 'mail.contoso.com' -ExternalClientsRequireSsl $true "
            "-ExternalClientAuthenticationMethod 'Negotiate' -InternalClientsRequireSsl $true "
            "-InternalClientAuthenticationMethod 'Ntlm' -ErrorAction Stop") in apply_text
    undo_text = files["exchange/undo-EX01.ps1"]
    assert 'Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading $true' in undo_text
    # without Extended Protection, undo never writes the client flags itself: they come from apply's record
    undo_region = undo_text.split(iisinterp.BEGIN)[1]
    assert "ClientsRequireSsl $true" not in undo_region and "ClientsRequireSsl $false" not in undo_region


# ---- README section -----------------------------------------------------------------------------------------

def test_readme_says_what_to_run_where_and_in_which_order(plan2013):
    files = render_targets(plan2013, ["exchange"], RenderOptions(flavour="appcmd"))
    text = files["README.txt"].content
    assert "Exchange side (folder exchange/, appcmd flavour)" in text
    for needle in ("exchange/apply-EX01.ps1", "exchange/verify-EX02.ps1", "elevated", "Exchange Management Shell",
                   "-WhatIf", "about 15 minutes", "Service Host", "-IisReset", "iisreset /noforce",
                   "recycles only the", "Cumulative Update", "configured identically", "undo-SERVER.ps1",
                   "Offloaded here: owa, ecp, ews, eas, oab, mapi, rpc, autodiscover",
                   "apply the Exchange side first, then switch the load balancer"):
        assert needle in text, needle
    order = [text.index(s) for s in ("1. .\\apply-SERVER.ps1 -WhatIf", "2. .\\apply-SERVER.ps1",
                                     "3. Wait about 15 minutes", "4. .\\verify-SERVER.ps1")]
    assert order == sorted(order)
    assert "exchange back end" not in text.lower()


def test_readme_without_offload_or_outlook_anywhere(tmp_path):
    text = PROFILE_2016.read_text().replace("services: [owa, ecp, ews, eas, oab, mapi, rpc]",
                                            "services: [owa, ecp, ews, eas, oab, mapi]")
    path = tmp_path / "m.yaml"
    path.write_text(text)
    readme = exrender.readme(plan_of(path), RenderOptions())
    assert "Nothing is offloaded" in readme and "lbsync leaves -SSLOffloading alone" in readme
    assert "about 15 minutes" not in readme


# ---- verify and its evidence format ---------------------------------------------------------------------------

def doc_blocks() -> list:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)]


def test_the_documented_example_matches_the_documented_schema():
    example, schema = doc_blocks()
    jsonschema.validate(example, schema)
    assert example["lbsync_verify"] == 1


def test_verify_writes_the_documented_keys_in_the_documented_order(files2013, tmp_path):
    example, schema = doc_blocks()
    text = files2013["appcmd"]["exchange/verify-EX01.ps1"]
    block = text[text.index("$evidence = [ordered]@{"):text.index("$json = $evidence")]
    keys = re.findall(r"^\s{8}(\w+) = ", block, re.M)
    assert keys == list(example)
    # every required key, in order; the optional ones (added to format 1 later) are documented as optional
    assert [k for k in keys if k in schema["required"]] == schema["required"]
    assert [k for k in keys if k not in schema["required"]] == ["vdir_auth"]
    assert "ConvertTo-Json -Depth 8" in text and "UTF8Encoding($false)" in text
    # a model that raises http.max_header_bytes adds http_sys after vdir_auth: the table lists every key
    raised = files_of(plan_of(raised_model(tmp_path)))["exchange/verify-EX01.ps1"]
    block = raised[raised.index("$evidence = [ordered]@{"):raised.index("$json = $evidence")]
    raised_keys = re.findall(r"^\s{8}(\w+) = ", block, re.M)
    assert raised_keys == keys[:keys.index("vdir_auth") + 1] + ["http_sys"] + keys[keys.index("vdir_auth") + 1:]
    table = DOC.read_text(encoding="utf-8").split("## Top-level keys")[1].split("###")[0]
    assert re.findall(r"^\| `(\w+)` \|", table, re.M) == raised_keys


@pytest.mark.parametrize("profile", [PROFILE_2013, PROFILE_2016])
def test_verify_embeds_the_plan_and_checks_every_managed_location(profile):
    plan = plan_of(profile)
    text = files_of(plan)["exchange/verify-EX01.ps1"]
    embedded = json.loads(text.split("$Expected = ConvertFrom-Json @'")[1].split("'@")[0])
    assert embedded == plan_expected.exchange_state(plan.exchange)
    assert embedded["locations"] == plan.exchange.locations
    example, schema = doc_blocks()
    jsonschema.validate(embedded, schema["properties"]["expected"] | {"$defs": schema["$defs"]})
    assert "foreach ($p in $Expected.locations.PSObject.Properties)" in text
    assert "$BackEndPort = 444" in text and '-like "*:${BackEndPort}:*"' in text
    assert 'Get-OutlookAnywhere -Identity "$($script:Server)\\Rpc (Default Web Site)"' in text
    assert "exit 1" in text and "exit 0" in text and "exit 2" in text
    assert "[CmdletBinding()]" in text and "SupportsShouldProcess" not in text


def test_evidence_a_server_would_write_after_apply_is_valid_and_in_sync(plan2013, files2013):
    """What verify would write on the interpreter's applied fixture, built the way the script builds it."""
    example, schema = doc_blocks()
    run = iisinterp.run(iisinterp.load_fixture(2013), files2013["appcmd"]["exchange/apply-EX01.ps1"], server="EX01")
    expected = plan_expected.exchange_state(plan2013.exchange)
    doc = Document(run.apphost)
    locations = effective_flags(run.apphost, list(expected["locations"]))
    evidence = {
        "lbsync_verify": 1, "server": "EX01", "computer_name": "EX01", "collected_at": "2026-11-27T23:40:12Z",
        "generator": {"lbsync_version": __version__, "model": PROFILE_2013.name, "flavour": "appcmd",
                      "exchange_version": 2013},
        "locations": locations,
        "site_root": {"location": "Default Web Site", "sslFlags": doc.effective("Default Web Site")},
        "back_end": {"site": doc.site_bound_to(444), "port": 444, "sslFlags": doc.effective(doc.site_bound_to(444))},
        "outlook_anywhere": {"SSLOffloading": run.exchange.ssl_offloading,
                             "ExternalClientsRequireSsl": run.exchange.external_clients_require_ssl,
                             "InternalClientsRequireSsl": run.exchange.internal_clients_require_ssl,
                             "ExternalHostname": "mail.contoso.com", "InternalHostname": None},
        "oab": {"RequireSSL": run.exchange.oab_require_ssl},
        "ews": {"MRSProxyEnabled": run.exchange.mrsproxy_enabled},
        "expected": expected, "differences": [], "in_sync": True,
    }
    jsonschema.validate(evidence, schema)
    assert evidence["locations"] == expected["locations"]
    assert evidence["site_root"]["sslFlags"] == expected["site_root"]
    assert evidence["back_end"]["sslFlags"] == expected["back_end_root"]
    assert evidence["outlook_anywhere"]["SSLOffloading"] is expected["outlook_anywhere"]["SSLOffloading"]
    assert evidence["oab"] == expected["oab"] and evidence["ews"] == expected["ews"]


@pytest.mark.parametrize("bad", ["Default Web Site", "Default Web Site/", "Exchange Back End/owa",
                                 "Default Web Site/../Exchange Back End", "Other Site/owa"])
def test_the_renderer_refuses_to_change_the_site_root_or_the_back_end(plan2013, bad, monkeypatch):
    from lbsync.errors import LbsyncError
    locations = list(plan2013.exchange.appcmd_locations) + [bad]
    monkeypatch.setattr(plan2013.exchange, "appcmd_locations", locations)
    monkeypatch.setitem(plan2013.exchange.location_service, bad, "owa")
    with pytest.raises(LbsyncError, match="refusing to write a script"):
        exrender.render(plan2013, RenderOptions())
