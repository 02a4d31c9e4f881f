"""Real Exchange servers' applicationHost.config captures (test data Microsoft's CSS team publishes in
microsoft/CSS-Exchange) against everything lbsync believes about them: the facts kept in
tests/fixtures/captures/facts.json (checked against the files themselves where ../shared/reference is present), the
catalog (facts.iis), the fixture generator, lbsync's own reader, and the audit's verdict per location.

The costliest defect lbsync had came from fixtures generated from its own belief (every back-end location
"Ssl, Ssl128"); here the belief is checked against what real servers wrote.
"""

from __future__ import annotations

import pytest
from support import captures as cap
from support.auditing import audit, drift_set, write
from support.paths import FIXTURES
from support.plans import model_dict, plan_of

from lbsync.audit import clixml
from lbsync.audit.apphost import Document
from lbsync.facts import iis
from lbsync.facts.versions import ExVersion

FACTS = cap.load_facts()["captures"]
PARSED = [k for k, c in FACTS.items() if c["read"] == "parsed"]
# captures of servers as Exchange set them up (E16cu21x is a modified server; E15cas has almost no back end)
DEFAULT = {"E15nc": False, "E16cu22": False, "E19cu11": False}
EP = {"E19cu12ep": True}
FIXTURE_OF = {"exchange2013": "E15nc", "exchange2016": "E16cu22", "exchange2019-ep": "E19cu12ep"}
BUILD_FOLDER = ("/15.",)   # build-numbered folders (owa/15.2.1118.7) differ from one CU to the next


def _local_text(key: str) -> str:
    path = cap.local_capture(FACTS[key]["local_name"])
    if path is None:
        pytest.skip(f"the capture {FACTS[key]['local_name']} is not on this machine (../shared/reference)")
    return cap.config_text(path.read_bytes())


def _fixture_text(name: str) -> str:
    return (FIXTURES / "apphost" / f"{name}.applicationHost.config").read_bytes().decode("utf-8")


# ---- the facts are the captures' -------------------------------------------------------------------------------

@pytest.mark.parametrize("key", PARSED)
def test_the_kept_facts_are_exactly_what_the_capture_holds(key):
    assert cap.extract(_local_text(key)) == FACTS[key]["locations"]


@pytest.mark.parametrize("key", PARSED)
def test_lbsync_reads_every_path_of_a_real_capture_as_an_independent_parser_does(key):
    text = _local_text(key)
    doc = Document(text)
    for path, fact in FACTS[key]["locations"].items():
        assert doc.effective(path) == fact["effective"], path
        assert doc.explicit_flags(path) == fact["explicit"], path


def test_healthcheckers_clixml_capture_is_read_through_its_xd_document():
    """GetApplicationHostConfig.xml (Export-Clixml of an [xml]): lbsync's CLIXML reader gives the same document."""
    path = cap.local_capture(FACTS["E16cu21x"]["local_name"])
    if path is None:
        pytest.skip("the CLIXML capture is not on this machine")
    text = path.read_bytes().decode("utf-8-sig")
    assert clixml.is_clixml(text)
    doc = Document(clixml.xml_document(text, str(path)))
    for p, fact in FACTS["E16cu21x"]["locations"].items():
        assert doc.effective(p) == fact["effective"], p


# ---- the catalog is the captures' ------------------------------------------------------------------------------

def _version(key: str) -> int:
    return FACTS[key]["version"]


@pytest.mark.parametrize("key", [*DEFAULT, *EP])
def test_every_catalog_location_is_as_the_real_server_has_it(key):
    ep = key in EP
    locations = FACTS[key]["locations"]
    version = _version(key)
    for loc in iis.FRONT_END + iis.BACK_END:
        fact = locations.get(loc.full)
        if not loc.exists_on(version):
            assert fact is None, f"{loc.full} is not on Exchange {version}"
            continue
        assert fact is not None, f"{key} has no {loc.full}"
        assert fact["effective"] == iis.effective(loc, ep), loc.full
        assert fact["app_pool"] == loc.app_pool, loc.full
        assert tuple(fact["auth"]) == loc.auth, loc.full
        if not ep:   # E19cu12ep's history (which locations inherit) is not known; its values are compared above
            assert fact["explicit"] == loc.explicit_on(version), loc.full


def test_the_catalog_names_what_the_issue_found_wrong_before():
    """The facts the generated fixtures got wrong, each asserted on its own (E15nc, E16cu22, E19cu12ep)."""
    be = {loc.path: loc for loc in iis.BACK_END}
    assert iis.effective(be["Rpc"]) == "None" and iis.effective(be["RpcWithCert"]) == "None"
    assert iis.effective(be["mapi/emsmdb"]) == "Ssl" and iis.effective(be["mapi/nspi"]) == "Ssl"
    assert iis.effective(be["PowerShell"]) == "Ssl, SslNegotiateCert, Ssl128"
    assert iis.effective(be["owa/Calendar"]) == "None"
    for path in ("Rpc", "RpcWithCert", "mapi/emsmdb", "mapi/nspi"):
        assert iis.effective(be[path], extended_protection=True) == "Ssl, Ssl128"
    assert "Default Web Site/RpcWithCert" not in iis.BY_FULL   # only the back end has it
    assert iis.BY_FULL["default web site/api"].app_pool == "MSExchangeRestFrontEndAppPool"
    for key in ("E15nc", "E16cu22"):
        assert FACTS[key]["locations"]["Exchange Back End/Rpc"]["explicit"] == "None"
        assert "Default Web Site/RpcWithCert" not in FACTS[key]["locations"]
    assert "Default Web Site/API" not in FACTS["E15nc"]["locations"]


def test_the_front_end_service_locations_and_pools_agree_with_the_captured_catalog():
    from lbsync.facts import catalog
    for svc in catalog.SERVICES.values():
        for loc in svc.locations:
            fact = iis.BY_FULL[loc.full.lower()]
            assert loc.app_pool == fact.app_pool, loc.full
            if not loc.follows_mode:
                assert loc.fixed == fact.flags, loc.full


# ---- the fixtures are the captures' ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FIXTURE_OF))
def test_each_generated_fixture_reproduces_its_capture(name):
    got = cap.extract(_fixture_text(name))
    want = FACTS[FIXTURE_OF[name]]["locations"]
    for path, fact in want.items():
        if any(b in path for b in BUILD_FOLDER):
            continue
        assert path in got, path
        for key in ("explicit", "effective", "app_pool", "auth"):
            assert got[path][key] == fact[key], (path, key)


# ---- the audit's verdict ---------------------------------------------------------------------------------------

def _bridge(version, ep=None, services=("owa", "ecp", "ews", "eas", "oab", "mapi"), **exchange):
    data = model_dict(version=version, mode="bridge", services=list(services), **exchange)
    if ep is not None:
        data["exchange"]["extended_protection"] = ep
    return plan_of(data)


def _audit_text(tmp_path, plan, text):
    f = write(tmp_path, "a.config", text)
    return audit(plan, apphost=[f"EX01={f}", f"EX02={f}"])


@pytest.mark.parametrize("name,version,ep", [("exchange2013", 2013, False), ("exchange2016", 2016, False),
                                             ("exchange2016", 2019, False), ("exchange2019-ep", 2019, True),
                                             ("exchange2019-ep", "SE", None)])
def test_an_unmodified_server_matching_the_model_is_in_sync(tmp_path, name, version, ep):
    plan = _bridge(version, ep)
    report = _audit_text(tmp_path, plan, _fixture_text(name))
    assert report.drift == [], drift_set(report)
    assert set(report.checked) == {"EX01", "EX02"}


@pytest.mark.parametrize("key,version,ep", [("E15nc", 2013, False), ("E16cu22", 2016, False),
                                            ("E15ep", 2013, True), ("E15cas", 2013, False)])
def test_an_unmodified_real_capture_is_in_sync_with_a_matching_model(tmp_path, key, version, ep):
    """The real files: every front-end location the plan manages, the site root and each back-end location."""
    text = _local_text(key)
    plan = _bridge(version, ep)
    report = _audit_text(tmp_path, plan, text)
    assert report.drift == [], drift_set(report)
    back = [p for p in FACTS[key]["locations"] if p.lower() in iis.BY_FULL and p.startswith(iis.BACK_END_SITE)]
    assert len(back) >= (2 if key == "E15cas" else 15)


def test_the_modified_clixml_capture_shows_exactly_its_modifications(tmp_path):
    """E16cu21x, read through its CLIXML: the site root without Ssl128 (inherited by owa, ecp, EWS and Autodiscover;
    ActiveSync has its own value on 2016) and mapi without Ssl128 — exactly those, front end; its back end is
    Exchange's."""
    path = cap.local_capture(FACTS["E16cu21x"]["local_name"])
    if path is None:
        pytest.skip("the CLIXML capture is not on this machine")
    plan = _bridge(2016)
    report = audit(plan, apphost=[f"EX01={path}"])
    got = {(d.location, d.code) for d in report.drift if d.server == "EX01"}
    assert got == {("Default Web Site", "site-root-modified"),
                   ("Default Web Site/owa", "ssl-flags-differ"), ("Default Web Site/ecp", "ssl-flags-differ"),
                   ("Default Web Site/EWS", "ssl-flags-differ"), ("Default Web Site/mapi", "ssl-flags-differ"),
                   ("Default Web Site/Autodiscover", "ssl-flags-differ")}
    mapi = next(d for d in report.drift if d.location == "Default Web Site/mapi")
    assert (mapi.expected, mapi.actual) == ("Ssl, Ssl128", "Ssl")


def test_extended_protection_back_end_values_are_drift_only_when_the_model_says_it_is_off(tmp_path):
    """Microsoft's current EP script sets Ssl, Ssl128 on four back-end locations (E19cu12ep); its first versions
    left them alone (E15ep). With EP in the model both are Exchange's; without EP the script's values are drift."""
    ep_text = _fixture_text("exchange2019-ep")
    report = _audit_text(tmp_path, _bridge(2019, ep=False), ep_text)
    assert drift_set(report) == {(s, f"Exchange Back End/{p}", "back-end-modified") for s in ("EX01", "EX02")
                                 for p in ("Rpc", "RpcWithCert", "mapi/emsmdb", "mapi/nspi")}
    rpc = next(d for d in report.drift if d.location == "Exchange Back End/Rpc")
    assert (rpc.expected, rpc.actual) == ("None", "Ssl, Ssl128")
    report = _audit_text(tmp_path, _bridge(2016, ep=True), _fixture_text("exchange2016"))
    assert report.drift == []
    plan = _bridge(2019, ep=True)
    touched = _fixture_text("exchange2016").replace(
        '<location path="Exchange Back End/Rpc" overrideMode="Allow">\r\n        <system.webServer>\r\n'
        '            <security>\r\n                <access sslFlags="None" />',
        '<location path="Exchange Back End/Rpc" overrideMode="Allow">\r\n        <system.webServer>\r\n'
        '            <security>\r\n                <access sslFlags="Ssl" />')
    assert touched != _fixture_text("exchange2016")
    report = _audit_text(tmp_path, plan, touched)
    (d, _) = sorted(report.drift, key=lambda d: d.server)
    assert (d.location, d.code, d.expected, d.actual) == ("Exchange Back End/Rpc", "back-end-modified",
                                                          "Ssl, Ssl128 | None", "Ssl")


def test_se_has_2019s_locations():
    """No SE capture exists; SE RTM is 2019 CU15's code: every location of 2019 is an SE location."""
    for loc in iis.FRONT_END + iis.BACK_END:
        assert loc.exists_on(ExVersion.SE) == loc.exists_on(ExVersion.E2019)


@pytest.mark.parametrize("key,version", [("E15nc", 2013), ("E16cu22", 2016), ("E16cu21x", 2016)])
def test_lbsync_audit_on_a_real_capture_exits_0_when_it_matches_and_1_when_it_does_not(tmp_path, key, version):
    """The command an admin runs, on the captured file itself (the CLIXML one through its <XD>)."""
    import yaml
    from support.cli import run_cli
    path = cap.local_capture(FACTS[key]["local_name"])
    if path is None:
        pytest.skip("the captures are not on this machine")
    model = tmp_path / "lbsync.yaml"
    model.write_text(yaml.safe_dump(model_dict(version=version, mode="bridge",
                                               services=["owa", "ecp", "ews", "eas", "oab", "mapi"]), sort_keys=False))
    ran = run_cli("audit", model, "--apphost", f"EX01={path}", "--apphost", f"EX02={path}")
    if key == "E16cu21x":     # an administrator-modified server: drift, exit 1
        assert ran.returncode == 1 and "site-root-modified" in ran.stdout, ran.stdout + ran.stderr
    else:
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "in sync with the plan" in ran.stdout
