"""lbsync audit, library level: evidence readers and drift against the plan, scenario by scenario, each asserting the
exact drift set (no false positives). The "after apply" states are produced by running the generated apply script
through tests/iisinterp.py on the applicationHost.config fixtures; hand-edited and back-end-touched states are
fixtures under tests/fixtures/audit/."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import iisinterp
import pytest
from support.auditing import (  # noqa: F401
    AUDIT,
    CU_RESET,
    OFFLOADED_2013,
    SITE,
    applied,
    audit,
    cu_reset,
    default_state,
    drift_set,
    model_text,
    per_server,
    plan_for,
    verify_doc,
    write,
)
from support.clixml_samples import OA_TEXT
from support.paths import ROOT

from lbsync.audit import drift as driftmod
from lbsync.audit import evidence as evmod
from lbsync.audit.apphost import Document
from lbsync.errors import LbsyncError


def verify_doc_now(plan, server: str, apphost_text: str, state) -> dict:
    """The verify JSON as this lbsync's verify-SERVER.ps1 writes it: every Outlook Anywhere setting, the client
    authentication methods included (support.auditing.verify_doc leaves them out, as earlier versions did), so that
    everything apply's Set-OutlookAnywhere sets is compared."""
    doc = verify_doc(plan, server, apphost_text, state)
    doc["outlook_anywhere"] = state.outlook_anywhere_settings()
    return doc


# ---- applicationHost.config scenarios --------------------------------------------------------------------------

def test_2013_baseline_against_offload_plan_every_offloaded_location_still_requires_ssl(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    base = iisinterp.load_fixture(2013)
    files = [write(tmp_path, f"{s}.config", base) for s in ("EX01", "EX02")]
    report = audit(plan, apphost=[f"EX01={files[0]}", f"ex02={files[1]}"])
    # owa/Calendar (None by default) and Rpc (None: SSLOffloading is on by default) already match
    assert drift_set(report) == per_server(("EX01", "EX02"), [(loc, "ssl-still-required") for loc in OFFLOADED_2013])
    first = next(d for d in report.drift if d.location == f"{SITE}/owa")
    assert (first.expected, first.actual) == ("None", "Ssl, Ssl128")
    assert {n.what for n in report.not_checked} == {"Outlook Anywhere", "OAB", "EWS"}


@pytest.mark.parametrize("version", [2013, 2016])
def test_baseline_against_bridge_plan_only_rpc_differs(tmp_path, version):
    """Bridging keeps Exchange's defaults except Outlook Anywhere: SSLOffloading $false makes Rpc require SSL."""
    plan = plan_for(tmp_path, model_text(version, "bridge"))
    path = write(tmp_path, "a.config", iisinterp.load_fixture(version))
    report = audit(plan, apphost=[f"EX01={path}", f"EX02={path}"])
    assert drift_set(report) == per_server(("EX01", "EX02"), [(f"{SITE}/Rpc", "ssl-missing")])


@pytest.mark.parametrize("version,mode", [(2013, "offload"), (2013, "bridge"), (2016, "bridge"), (2019, "bridge"),
                                          (2016, "offload")])
@pytest.mark.parametrize("flavour", ["appcmd", "webadministration"])
def test_after_apply_everything_is_in_sync(tmp_path, version, mode, flavour):
    plan = plan_for(tmp_path, model_text(version, mode))
    specs, oa = [], []
    for server in ("EX01", "EX02"):
        text, state = applied(plan, server, flavour=flavour)
        specs.append(f"{server}={write(tmp_path, server + '.config', text)}")
        doc = verify_doc_now(plan, server, text, state)
        oa.append(f"{server}={write(tmp_path, server + '.json', json.dumps(doc))}")
    report = audit(plan, apphost=specs, outlook_anywhere=oa)
    assert report.drift == [] and report.in_sync
    assert report.not_checked == []
    assert all(report.checked[s] >= len(plan.exchange.locations) + 3 for s in ("EX01", "EX02"))




@pytest.mark.parametrize("version", [2013, 2016])
def test_cu_reset_on_one_server_shows_exactly_those_locations_there(tmp_path, version):
    plan = plan_for(tmp_path, model_text(version, "offload"))
    ex01, _ = applied(plan, "EX01")
    ex02, _ = applied(plan, "EX02")
    ex02 = cu_reset(ex02, CU_RESET)
    report = audit(plan, apphost=[f"EX01={write(tmp_path, '1.config', ex01)}",
                                  f"EX02={write(tmp_path, '2.config', ex02)}"])
    assert drift_set(report) == {("EX02", loc, "ssl-still-required") for loc in CU_RESET}


def test_hand_edited_partial_changes_any_case_and_spelling(tmp_path):
    """Lower-case 'default web site/OWA' with 'none', 'ssl128,  SSL', mapi without Ssl128, owa/oma forgotten."""
    path = str(AUDIT / "exchange2013.hand-edited.applicationHost.config")
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    report = audit(plan, apphost=[f"EX01={path}", f"EX02={path}"])
    still = [f"{SITE}/{p}" for p in ("owa/oma", "ecp", "EWS", "Microsoft-Server-ActiveSync", "OAB", "mapi",
                                     "Autodiscover")]
    assert drift_set(report) == per_server(("EX01", "EX02"), [(loc, "ssl-still-required") for loc in still])
    ecp = next(d for d in report.drift if d.location == f"{SITE}/ecp" and d.server == "EX01")
    mapi = next(d for d in report.drift if d.location == f"{SITE}/mapi" and d.server == "EX01")
    assert ecp.actual == "Ssl, Ssl128" and mapi.actual == "Ssl"

    bridge = plan_for(tmp_path, model_text(2013, "bridge"))
    report = audit(bridge, apphost=[f"EX01={path}"], outlook_anywhere=[])
    assert drift_set(report) == {
        ("EX01", f"{SITE}/owa", "ssl-missing"), ("EX01", f"{SITE}/owa/Integrated", "ssl-missing"),
        ("EX01", f"{SITE}/mapi", "ssl-flags-differ"), ("EX01", f"{SITE}/Rpc", "ssl-missing"),
        ("EX02", None, "server-missing")}


def test_back_end_touched_is_reported_against_exchange_defaults(tmp_path):
    path = str(AUDIT / "exchange2016.backend-touched.applicationHost.config")
    plan = plan_for(tmp_path, model_text(2016, "bridge"))
    report = audit(plan, apphost=[f"EX01={path}", f"EX02={path}"])
    assert drift_set(report) == per_server(("EX01", "EX02"), [("Exchange Back End/owa", "back-end-modified"),
                                                              ("Exchange Back End/EWS", "back-end-modified")])
    d = next(d for d in report.drift if d.location == "Exchange Back End/owa")
    assert (d.expected, d.actual) == ("Ssl, Ssl128", "None")


def test_site_root_modified(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "bridge"))
    text = iisinterp.set_access(applied(plan, "EX01")[0], SITE, "None")
    report = audit(plan, apphost=[f"EX01={write(tmp_path, 'a.config', text)}"])
    # the root's None is inherited by owa, ecp, EWS, Autodiscover and (on 2013, E15nc) ActiveSync: they lose SSL too
    assert drift_set(report) == {("EX01", SITE, "site-root-modified"), ("EX02", None, "server-missing")} | {
        ("EX01", f"{SITE}/{p}", "ssl-missing") for p in ("owa", "ecp", "EWS", "Autodiscover",
                                                        "Microsoft-Server-ActiveSync")}


def test_servers_that_differ_from_each_other_on_what_lbsync_does_not_manage(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    one, _ = applied(plan, "EX01")
    two, _ = applied(plan, "EX02")
    two = iisinterp.set_access(two, f"{SITE}/PowerShell", "None")
    report = audit(plan, apphost=[f"EX01={write(tmp_path, '1.config', one)}",
                                  f"EX02={write(tmp_path, '2.config', two)}"])
    assert drift_set(report) == {("EX02", f"{SITE}/PowerShell", "servers-differ")}
    d = report.drift[0]
    assert (d.expected, d.actual) == ("SslNegotiateCert", "None")


def test_three_servers_the_odd_one_out_is_named(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload", servers=("EX01", "EX02", "EX03")))
    texts = [applied(plan, s)[0] for s in ("EX01", "EX02", "EX03")]
    texts[0] = iisinterp.set_access(texts[0], f"{SITE}/PowerShell", "Ssl")
    specs = [f"EX0{i + 1}={write(tmp_path, f'{i}.config', t)}" for i, t in enumerate(texts)]
    assert drift_set(audit(plan, apphost=specs)) == {("EX01", f"{SITE}/PowerShell", "servers-differ")}


def test_server_missing_from_the_evidence(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    text, _ = applied(plan, "EX01")
    report = audit(plan, apphost=[f"EX01={write(tmp_path, 'a.config', text)}"])
    assert drift_set(report) == {("EX02", None, "server-missing")}


def test_location_missing_from_the_evidence(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    text, state = applied(plan, "EX01")
    doc = verify_doc_now(plan, "EX01", text, state)
    del doc["locations"][f"{SITE}/mapi"]
    del doc["oab"]
    report = audit(plan, outlook_anywhere=[f"EX01={write(tmp_path, 'v.json', json.dumps(doc))}"])
    assert drift_set(report) == {("EX01", f"{SITE}/mapi", "location-missing"), ("EX02", None, "server-missing")}
    assert [(n.server, n.what) for n in report.not_checked] == [("EX01", "OAB")]


def test_location_missing_in_apphost_when_the_vdir_does_not_exist(tmp_path):
    """An Exchange 2013 RTM server has no mapi virtual directory (MAPI over HTTP came with SP1)."""
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    text, _ = applied(plan, "EX01")
    doc = Document(text)
    site = next(s for s in doc.sites() if s.attrs["name"] == SITE)
    app = next(a for a in site.children if a.name == "application" and a.attrs.get("path") == "/mapi")
    loc = next(el for p, el in doc.locations() if p == f"{SITE}/mapi")
    for el in sorted((app, loc), key=lambda e: -e.start):
        text = text[:el.start] + text[el.end:]
    report = audit(plan, apphost=[f"EX01={write(tmp_path, 'a.config', text)}"])
    assert drift_set(report) == {("EX01", f"{SITE}/mapi", "location-missing"), ("EX02", None, "server-missing")}


# ---- Outlook Anywhere and verify evidence ----------------------------------------------------------------------

def test_get_outlookanywhere_utf16_le_with_bom_single_object(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    path = str(AUDIT / "get-outlookanywhere-EX01.utf16le.json")
    assert Path(path).read_bytes().startswith(codecs.BOM_UTF16_LE)
    ev = evmod.collect(plan, outlook_anywhere=[f"EX01={path}"])
    assert ev["EX01"].settings == {
        evmod.OA_SSL_OFFLOADING: True, evmod.OA_EXTERNAL_SSL: True, evmod.OA_INTERNAL_SSL: True,
        evmod.OA_EXTERNAL_HOST: "mail.contoso.com", evmod.OA_INTERNAL_HOST: "mail.contoso.com"}
    report = driftmod.compare(plan, ev)
    assert drift_set(report) == {("EX02", None, "server-missing")}
    # against a bridging plan, SSLOffloading $true is drift
    bridge = plan_for(tmp_path, model_text(2013, "bridge"))
    report = audit(bridge, outlook_anywhere=[f"EX01={path}"])
    assert drift_set(report) == {("EX01", evmod.OA_SSL_OFFLOADING, "outlook-anywhere-offloading"),
                                 ("EX02", None, "server-missing")}


def test_get_outlookanywhere_array_for_every_server(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    path = str(AUDIT / "get-outlookanywhere-all.json")
    report = audit(plan, outlook_anywhere=[f"EX01={path}", f"EX02={path}"])
    assert drift_set(report) == {("EX02", evmod.OA_SSL_OFFLOADING, "outlook-anywhere-offloading"),
                                 ("EX02", evmod.OA_INTERNAL_HOST, "servers-differ")}
    d = next(d for d in report.drift if d.code == "servers-differ")
    assert (d.expected, d.actual) == ("mail.contoso.com", "ex02.contoso.local")


def test_servers_of_the_organisation_outside_the_model_are_ignored(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    org = json.loads((AUDIT / "get-outlookanywhere-all.json").read_text())
    other = dict(org[0], ServerName="EX09", Server="EX09", Identity="EX09\\Rpc (Default Web Site)", SSLOffloading=False)
    path = write(tmp_path, "org.json", json.dumps([other] + org))
    report = audit(plan, outlook_anywhere=[f"EX01={path}"])
    assert drift_set(report) == {("EX02", None, "server-missing")}
    folder = tmp_path / "ev"
    write(folder, "outlook-anywhere.json", json.dumps([other, org[0]]))
    assert drift_set(audit(plan, evidence_dir=str(folder))) == {("EX02", None, "server-missing")}
    only_other = write(tmp_path, "o.json", json.dumps(other))
    assert "no Outlook Anywhere entry for server EX01 (it has: EX09)" in error_of(
        lambda: audit(plan, outlook_anywhere=[f"EX01={only_other}"]))


def test_outlook_anywhere_without_offloading_must_require_ssl_of_clients(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "bridge"))
    text, state = applied(plan, "EX01")
    state.external_clients_require_ssl = False
    doc = verify_doc(plan, "EX01", text, state)
    report = audit(plan, outlook_anywhere=[f"EX01={write(tmp_path, 'v.json', json.dumps(doc))}"])
    assert drift_set(report) == {("EX01", evmod.OA_EXTERNAL_SSL, "outlook-anywhere-client-ssl"),
                                 ("EX02", None, "server-missing")}


def test_verify_json_as_powershell_writes_it_oab_and_mrsproxy(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    report = audit(plan, outlook_anywhere=[f"EX01={AUDIT / 'verify-EX01.json'}"])
    # the evidence is of a server applied by an earlier lbsync: its stated external host name came without
    # ExternalClientsRequireSsl $true, which Exchange wants together with it (apply now sets them in one command)
    assert drift_set(report) == {("EX01", evmod.OAB_REQUIRE_SSL, "oab-require-ssl"),
                                 ("EX01", evmod.EWS_MRSPROXY, "mrsproxy-state"),
                                 ("EX01", evmod.OA_EXTERNAL_SSL, "outlook-anywhere-client-ssl"),
                                 ("EX02", None, "server-missing")}
    oab = next(d for d in report.drift if d.code == "oab-require-ssl")
    assert (oab.expected, oab.actual) == (False, True)


def documented(section: str):
    """A JSON block of docs/verify-json.md (the format contract of the verify evidence)."""
    import re
    text = (ROOT / "docs" / "verify-json.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1]
    return json.loads(re.search(r"```json\n(.*?)```", body, re.S).group(1))


def test_the_documented_verify_example_is_read_as_documented(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    path = write(tmp_path, "verify-EX01.json", json.dumps(documented("Example"), indent=4).replace("\n", "\r\n"))
    report = audit(plan, outlook_anywhere=[f"EX01={path}"])
    assert drift_set(report) == {("EX01", f"{SITE}/Autodiscover", "ssl-still-required"),
                                 ("EX02", None, "server-missing")}


def test_the_evidence_these_tests_build_follows_the_documented_schema(tmp_path):
    import jsonschema
    schema = documented("JSON Schema")
    for version, mode in ((2013, "offload"), (2016, "bridge")):
        plan = plan_for(tmp_path, model_text(version, mode))
        text, state = applied(plan, "EX01")
        jsonschema.validate(verify_doc(plan, "EX01", text, state), schema)
    jsonschema.validate(json.loads((AUDIT / "verify-EX01.json").read_text()), schema)


def test_mrsproxy_not_in_the_model_is_not_drift_but_compared_between_servers(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload", mrsproxy=False))
    docs = []
    for server, enabled in (("EX01", False), ("EX02", True)):
        text, state = applied(plan, server)
        state.mrsproxy_enabled = enabled
        docs.append(f"{server}={write(tmp_path, server + '.json', json.dumps(verify_doc(plan, server, text, state)))}")
    assert drift_set(audit(plan, outlook_anywhere=docs)) == {("EX02", evmod.EWS_MRSPROXY, "servers-differ")}


def test_evidence_folder_layout(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    folder = tmp_path / "evidence"
    t1, s1 = applied(plan, "EX01")
    t2, s2 = applied(plan, "EX02")
    write(folder, "verify-EX01.json", json.dumps(verify_doc_now(plan, "EX01", t1, s1)))
    write(folder, "ex02/applicationHost.config", cu_reset(t2, {f"{SITE}/owa": None}))
    write(folder, "EX02/verify-EX02.json", json.dumps(verify_doc_now(plan, "EX02", t2, s2)))
    write(folder, "notes.txt", "collected after CU14")
    report = audit(plan, evidence_dir=str(folder))
    # EX02's applicationHost.config (the raw file) wins over its verify JSON for the IIS locations
    assert drift_set(report) == {("EX02", f"{SITE}/owa", "ssl-still-required")}
    assert report.not_checked == []


def test_evidence_folder_outlook_anywhere_for_all_servers(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    folder = tmp_path / "ev"
    write(folder, "outlook-anywhere.json", (AUDIT / "get-outlookanywhere-all.json").read_bytes())
    for s in ("EX01", "EX02"):
        write(folder, f"{s}/applicationHost.config", applied(plan, s)[0])
    report = audit(plan, evidence_dir=str(folder))
    assert drift_set(report) == {("EX02", evmod.OA_SSL_OFFLOADING, "outlook-anywhere-offloading"),
                                 ("EX02", evmod.OA_INTERNAL_HOST, "servers-differ")}


def _clixml_xd(text: str) -> str:
    """An applicationHost.config as HealthChecker keeps it: Export-Clixml of an [xml] (one <XD>, escaped once,
    line breaks as PowerShell's _x000D__x000A_ escapes)."""
    inner = text.lstrip("\ufeff").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    inner = inner.replace("\r\n", "_x000D__x000A_")
    return ('\ufeff<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">\n'
            f'  <Obj RefId="0">\n    <XD>{inner}</XD>\n  </Obj>\n</Objs>')


def test_evidence_folder_of_clixml_files(tmp_path):
    """What admins already have: HealthChecker's GetApplicationHostConfig.xml per server and
    Get-OutlookAnywhere | Export-Clixml for all servers (tests/support/clixml_samples.py)."""
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    folder = tmp_path / "ev"
    write(folder, "outlook-anywhere.xml", OA_TEXT)
    t1, t2 = applied(plan, "EX01")[0], applied(plan, "EX02")[0]
    write(folder, "EX01/GetApplicationHostConfig.xml", _clixml_xd(t1))
    write(folder, "EX02/GetApplicationHostConfig.xml", _clixml_xd(cu_reset(t2, {f"{SITE}/owa": None})))
    report = audit(plan, evidence_dir=str(folder))
    # EX02: its owa reset by a CU (the XD document), Outlook Anywhere offloading off and another internal host name
    assert drift_set(report) == {("EX02", f"{SITE}/owa", "ssl-still-required"),
                                 ("EX02", evmod.OA_SSL_OFFLOADING, "outlook-anywhere-offloading"),
                                 ("EX02", evmod.OA_INTERNAL_HOST, "servers-differ")}
    # the same files given one by one, by name
    report = audit(plan, apphost=[f"EX01={folder / 'EX01' / 'GetApplicationHostConfig.xml'}"],
                   outlook_anywhere=[f"EX01={folder / 'outlook-anywhere.xml'}"])
    assert drift_set(report) == {("EX02", None, "server-missing")}
    # a CLIXML file of objects is not an applicationHost.config: one line naming what it is
    msg = error_of(lambda: audit(plan, apphost=[f"EX01={folder / 'outlook-anywhere.xml'}"]))
    assert "outlook-anywhere.xml" in msg and "not one [xml] document" in msg


# ---- decoding and bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding,bom", [("utf-8", b""), ("utf-8", codecs.BOM_UTF8),
                                          ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
                                          ("utf-16-le", b"")])
def test_decode_as_windows_writes_files(encoding, bom):
    text = '{"SSLOffloading":  true, "Identity":  "EX01\\\\Rpc (Default Web Site)", "Note": "Zürich"}\r\n'
    assert evmod.decode(bom + text.encode(encoding), "f") == text


def test_apphost_in_utf16_is_read_too(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    text, _ = applied(plan, "EX01")
    data = codecs.BOM_UTF16_LE + text.lstrip("\ufeff").encode("utf-16-le")
    report = audit(plan, apphost=[f"EX01={write(tmp_path, 'a.config', data)}"])
    assert drift_set(report) == {("EX02", None, "server-missing")}


def error_of(fn) -> str:
    with pytest.raises(LbsyncError) as info:
        fn()
    return str(info.value)


def test_bad_input_is_one_line_naming_file_and_line(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    broken = str(AUDIT / "broken.applicationHost.config")
    msg = error_of(lambda: audit(plan, apphost=[f"EX01={broken}"]))
    assert msg.startswith(f"{broken}:5: error:") and "\n" not in msg
    bad_json = write(tmp_path, "oa.json", '{\r\n  "SSLOffloading": tru\r\n}\r\n')
    assert error_of(lambda: audit(plan, outlook_anywhere=[f"EX01={bad_json}"])).startswith(f"{bad_json}:2:")
    assert "unknown server 'EX09'" in error_of(lambda: audit(plan, apphost=[f"EX09={broken}"]))
    assert "SERVER=FILE" in error_of(lambda: audit(plan, apphost=[broken]))
    assert "no such file" in error_of(lambda: audit(plan, apphost=[f"EX01={tmp_path / 'nope.config'}"]))
    assert "given twice" in error_of(lambda: audit(plan, apphost=[f"EX01={broken}", f"ex01={broken}"]))
    flags = write(tmp_path, "f.config", iisinterp.set_access(iisinterp.load_fixture(2013), f"{SITE}/owa", "Ssl")
                  .replace('sslFlags="Ssl" />', 'sslFlags="Ssl, Sssl128" />', 1))
    msg = error_of(lambda: audit(plan, apphost=[f"EX01={flags}"]))
    assert msg.startswith(f"{flags}:") and "sssl128" in msg.lower()


def test_outlook_anywhere_evidence_for_another_server_is_refused(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    single = str(AUDIT / "get-outlookanywhere-EX01.utf16le.json")
    assert "no Outlook Anywhere entry for server EX02" in error_of(
        lambda: audit(plan, outlook_anywhere=[f"EX02={single}"]))
    assert "is for server EX01, not EX02" in error_of(
        lambda: audit(plan, outlook_anywhere=[f"EX02={AUDIT / 'verify-EX01.json'}"]))
    other = write(tmp_path, "x.json", json.dumps({"Name": "something else"}))
    assert "neither the verify JSON" in error_of(lambda: audit(plan, outlook_anywhere=[f"EX01={other}"]))


def test_evidence_folder_with_an_unknown_server_is_bad_input(tmp_path):
    plan = plan_for(tmp_path, model_text(2013, "offload"))
    write(tmp_path / "ev", "verify-EX07.json", "{}")
    assert "unknown server 'EX07'" in error_of(lambda: audit(plan, evidence_dir=str(tmp_path / "ev")))
    write(tmp_path / "empty", "readme.txt", "x")
    assert "no evidence files" in error_of(lambda: audit(plan, evidence_dir=str(tmp_path / "empty")))


def test_flags_code_classification():
    assert driftmod.flags_code("None", "none") is None
    assert driftmod.flags_code("Ssl, Ssl128", "ssl128,ssl") is None
    assert driftmod.flags_code("None", "Ssl") == "ssl-still-required"
    assert driftmod.flags_code("Ssl, Ssl128", "None") == "ssl-missing"
    assert driftmod.flags_code("Ssl, Ssl128", "Ssl") == "ssl-flags-differ"
    assert driftmod.flags_code("Ssl, Ssl128", "Ssl, SslRequireCert, Ssl128") == "ssl-flags-differ"
    assert set(driftmod.CODES) >= {"ssl-still-required", "ssl-missing", "outlook-anywhere-offloading",
                                   "oab-require-ssl", "mrsproxy-state", "back-end-modified", "servers-differ",
                                   "location-missing", "server-missing"}


# ---- server groups (groups:): each server against its own group's plan ----------------------------------------

GROUPS_MODEL = """version: 1
exchange:
  version: 2016
  cu: 23
groups:
  e2013:
    version: 2013
    tls:
      default: offload
  legacy:
    version: 2010
servers:
  - {name: EXNEW1, address: 192.0.2.11}
  - {name: EXNEW2, address: 192.0.2.12}
  - {name: EXOLD1, address: 192.0.2.21, group: e2013}
  - {name: EXOLD2, address: 192.0.2.22, group: e2013}
  - {name: EX2010, address: 192.0.2.31, group: legacy}
namespaces:
  - host: mail.contoso.com
    services: [owa, ecp, ews, eas, oab, rpc]
  - host: autodiscover.contoso.com
    services: [autodiscover]
  - host: mail2013.contoso.com
    group: e2013
    services: [owa, ecp, ews, eas, oab, rpc]
  - host: legacy.contoso.com
    group: legacy
    services: [owa]
tls:
  default: bridge
  server_ca: /etc/ssl/certs/ca-certificates.crt
"""


def test_groups_each_server_is_audited_against_its_groups_plan(tmp_path):
    plan = plan_for(tmp_path, GROUPS_MODEL)
    assert [ex.group for ex in plan.exchanges] == ["main", "e2013"]
    groups = evmod.server_exchange(plan)
    specs = []
    for server, ex in groups.items():
        view = __import__("dataclasses").replace(plan, exchange=ex)
        text, _ = applied(view, server)
        specs.append(f"{server}={write(tmp_path, server + '.config', text)}")
    report = audit(plan, apphost=specs)
    assert report.drift == [] and set(report.checked) == {"EXNEW1", "EXNEW2", "EXOLD1", "EXOLD2"}
    # the 2013 group offloads, the 2016 main group bridges: the same file is drift in one and not the other
    new_file = specs[0].split("=", 1)[1]
    report = audit(plan, apphost=specs[:3] + [f"EXOLD2={new_file}"])
    still = [f"{SITE}/{p}" for p in ("owa", "owa/Integrated", "owa/oma", "ecp", "EWS", "Microsoft-Server-ActiveSync",
                                     "OAB", "Rpc")]     # autodiscover is the main group's only
    # (the 2016 file also has the /API virtual directory, which 2013 servers such as EXOLD1 do not have)
    assert drift_set(report) == {("EXOLD2", loc, "ssl-still-required") for loc in still} | {
        ("EXOLD2", f"{SITE}/API", "servers-differ")}
    # servers of different groups are not compared with each other: EXNEW1's 2016 file has /API too
    from lbsync.audit import fix as fixmod
    scripts, unrepaired = fixmod.fix_scripts(plan, report)
    assert list(scripts) == ["EXOLD2"] and [d.location for d in unrepaired] == [f"{SITE}/API"]
    assert "Exchange 2013" in scripts["EXOLD2"] and "/sslFlags:None" in scripts["EXOLD2"]
    fixed = iisinterp.run(Path(new_file).read_text(encoding="utf-8-sig"), scripts["EXOLD2"], server="EXOLD2")
    report = audit(plan, apphost=specs[:3] + [f"EXOLD2={write(tmp_path, 'fixed.config', fixed.apphost)}"])
    assert drift_set(report) == {("EXOLD2", f"{SITE}/API", "servers-differ")}
    # a 2010 server is configured by hand: naming it is bad input that says why
    msg = error_of(lambda: audit(plan, apphost=[f"EX2010={new_file}"]))
    assert "EX2010 is in group legacy (Exchange 2010)" in msg and "does not audit it" in msg
