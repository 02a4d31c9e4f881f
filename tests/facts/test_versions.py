"""Exchange versions, Subscription Edition included: the model's spelling, the order, the build rule, which
versions may share an organisation, and what SE changes downstream (and what it does not)."""

from __future__ import annotations

import json

import pytest
import yaml
from support.cli import run_cli
from support.paths import ROOT
from support.plans import model_dict, plan_of

from lbsync.facts import catalog, versions
from lbsync.facts.versions import SE, ExVersion
from lbsync.targets import RenderOptions, render_targets


def test_se_is_spelt_se_and_orders_after_2019():
    assert versions.parse("SE") is SE and versions.parse(2019) is ExVersion.E2019
    assert SE > ExVersion.E2019 > ExVersion.E2016
    assert f"Exchange {SE}" == "Exchange SE" and str(ExVersion.E2016) == "2016"
    assert json.dumps(versions.json_value(SE)) == '"SE"' and versions.json_value(ExVersion.E2013) == 2013
    for bad in ("se", "2019", 2025, True, 2.0, None):
        with pytest.raises(ValueError):
            versions.parse(bad)


@pytest.mark.parametrize("build,version", [((15, 2, 2562), SE), ((15, 2, 2561), ExVersion.E2019),
                                           ((15, 2, 1748), ExVersion.E2019), ((15, 1, 2507), ExVersion.E2016),
                                           ((15, 0, 1497), ExVersion.E2013), ((14, 3, 123), ExVersion.E2010)])
def test_a_build_number_names_its_version(build, version):
    """CSS-Exchange's rule: 15.2 with build 2562 or later is SE (Get-ExchangeBuildVersionInformation.ps1)."""
    assert versions.of_build(*build) is version


def test_extended_protection_is_on_by_default_on_every_se_server():
    assert catalog.extended_protection_default(SE, None) and catalog.extended_protection_default(SE, 0)
    assert catalog.extended_protection_default(ExVersion.E2019, 14)
    assert not catalog.extended_protection_default(ExVersion.E2019, 13)
    assert not catalog.extended_protection_default(ExVersion.E2019, None)
    assert not catalog.extended_protection_default(ExVersion.E2016, 23)


def test_se_offers_what_2019_offers():
    assert catalog.VERSION_SERVICES[SE] == catalog.VERSION_SERVICES[ExVersion.E2019]
    assert SE in catalog.SCRIPTED_VERSIONS


def test_an_se_model_plans_with_extended_protection_and_says_se_in_json():
    plan = plan_of(model_dict(version="SE", mode="bridge"))
    assert plan.exchange.version is SE and plan.exchange.extended_protection
    assert plan.as_json()["exchange"]["version"] == "SE"
    assert {s.version for s in plan.services} == {SE}


def test_se_scripts_name_se_and_verify_writes_it_as_a_string():
    plan = plan_of(model_dict(version="SE", mode="bridge"))
    files = render_targets(plan, ["exchange"], RenderOptions())
    verify = files["exchange/verify-EX01.ps1"].content
    assert "exchange_version = 'SE' }" in verify
    assert "(Exchange SE)" in files["exchange/apply-EX01.ps1"].content
    rtm = plan_of(model_dict(version="SE", cu=0, mode="bridge"))
    assert rtm.exchange.release == "SE RTM"
    assert "(Exchange SE RTM)" in render_targets(rtm, ["exchange"], RenderOptions())["exchange/apply-EX01.ps1"].content
    assert "# Exchange SE RTM;" in render_targets(rtm, ["haproxy"], RenderOptions())["haproxy/haproxy.cfg"].content
    plan19 = plan_of(model_dict(version=2019, mode="bridge"))
    assert "exchange_version = 2019 }" in render_targets(plan19, ["exchange"], RenderOptions())[
        "exchange/verify-EX01.ps1"].content


def _without_version_words(text: str) -> str:
    return (text.replace("Exchange SE RTM", "Exchange X").replace("Exchange 2019 CU15", "Exchange X")
            .replace("Exchange SE", "Exchange X").replace("Exchange 2019", "Exchange X")
            .replace("'SE'", "X").replace("= 2019 }", "= X }"))


def test_2019_cu15_and_se_get_the_same_configuration_so_one_pool_holds_both():
    """An in-place upgrade (2019 CU14/CU15 -> SE, one server at a time like a CU) keeps every server in one pool:
    lbsync writes the same load-balancer configuration and the same Exchange commands for both."""
    se = plan_of(model_dict(version="SE", cu=0, mode="bridge"))
    e19 = plan_of(model_dict(version=2019, cu=15, mode="bridge"))
    targets = ["exchange", "haproxy", "nginx", "f5-as3", "f5-tmsh"]
    a, b = render_targets(se, targets, RenderOptions()), render_targets(e19, targets, RenderOptions())
    assert a.keys() == b.keys()
    for name in a:
        assert _without_version_words(str(a[name].content)) == _without_version_words(str(b[name].content)), name


@pytest.mark.parametrize("main,group,ok", [("SE", 2019, True), ("SE", 2016, True), ("SE", 2013, False),
                                           ("SE", 2010, False), (2019, 2010, False), (2019, 2013, True),
                                           (2016, 2007, False), (2016, 2010, True), (2013, 2007, True)])
def test_only_versions_that_may_share_an_organisation_are_accepted(tmp_path, main, group, ok):
    data = model_dict(version=main, mode="bridge")
    data["groups"] = {"old": {"version": group}}
    data["servers"].append({"name": "OLD1", "address": "192.0.2.31", "group": "old"})
    data["namespaces"].append({"host": "legacy.contoso.com", "vip": "203.0.113.11", "group": "old",
                               "services": ["owa"]})
    path = tmp_path / "lbsync.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    ran = run_cli("validate", path)
    if ok:
        assert ran.returncode in (0, 1), ran.stderr
        assert "cannot share an organisation" not in ran.stderr
    else:
        assert ran.returncode == 2, ran.stderr
        (line,) = [ln for ln in ran.stderr.splitlines() if "cannot share an organisation" in ln]
        assert line.startswith(f"{path}:") and ("groups.old.version" in line or "exchange.version" in line)
        if main == "SE" and group == 2013:
            assert "Exchange SE setup refuses an organisation with Exchange 2013" in line


def test_the_se_profile_validates_plans_and_renders(tmp_path):
    ran = run_cli("init", "-o", tmp_path / "lbsync.yaml")
    assert ran.returncode == 0, ran.stderr
    text = (tmp_path / "lbsync.yaml").read_text()
    assert text == (ROOT / "profiles" / "exchange-se.yaml").read_text()
    data = yaml.safe_load(text)
    assert data["exchange"]["version"] == "SE" and data["tls"]["default"] == "bridge"
    assert data["exchange"]["extended_protection"] is True
    ran = run_cli("plan", tmp_path / "lbsync.yaml", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["exchange"]["version"] == "SE"
