"""Coexistence end results: the Exchange side (scripts only for 2013+ groups, README manual steps for 2007/2010),
the LB configs (legacy namespace -> legacy pools with the logon-page health check), and san-coverage of legacy
namespaces."""

from __future__ import annotations

import json
import os

import iisinterp
import pytest
from click.testing import CliRunner
from pki import Pki, make_ca, make_leaf, shared_key
from support.paths import ROOT  # noqa: E402

from lbsync.audit.apphost import effective_flags
from lbsync.cli import main
from lbsync.model import load_model, load_model_text
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions
from lbsync.targets import exchange as exrender

P2007 = ROOT / "profiles" / "coexistence-2013-2007.yaml"
P2010 = ROOT / "profiles" / "coexistence-2013-2010.yaml"


def rendered(plan) -> dict[str, str]:
    return {rel: out.content for rel, out in exrender.render(plan, RenderOptions(flavour="appcmd")).items()}


def test_scripts_only_for_the_2013_servers_and_readme_has_the_2007_manual_steps():
    plan = build_plan(load_model(P2007))
    files = rendered(plan)
    servers = {rel.split("-", 1)[1][:-4] for rel in files}
    assert servers == {"EX2013A", "EX2013B"}
    assert not any("EX2007" in text for text in files.values())
    readme = exrender.readme(plan, RenderOptions(flavour="appcmd"))
    section = readme[readme.index("Coexistence: group legacy2007"):]
    assert "lbsync writes NO scripts for Exchange 2007" in section
    assert "EX2007A, EX2007B" in section and "/owa/auth/logon.aspx" in section
    assert ('Set-OwaVirtualDirectory -Identity "EX2007B\\owa (Default Web Site)" -ExternalUrl '
            "https://legacy.contoso.com/owa") in section
    assert "keep 'Require SSL' on EWS" in section
    assert "2013+ redirects the browser to this group's ExternalUrl: legacy.contoso.com" in section


def test_readme_for_an_offloaded_2010_group_names_the_offloading_steps():
    plan = build_plan(load_model(P2010))
    section = exrender.readme(plan, RenderOptions(flavour="appcmd")).split("Coexistence: group legacy2010")[1]
    assert "SSLOffloaded = 1 under HKLM\\SYSTEM\\CurrentControlSet\\Services\\MSExchange OWA" in section
    assert "IIS Manager > Default Web Site > ecp > SSL Settings: clear 'Require SSL'" in section


def test_the_main_groups_scripts_are_those_of_the_same_model_without_the_legacy_group():
    """Adding a legacy group changes nothing in the 2013 servers' scripts."""
    text = P2007.read_text()
    with_group = rendered(build_plan(load_model_text(text, P2007)))
    start = text.index("groups:")
    plain = text[:start] + text[text.index("servers:"):]
    plain = plain[:plain.index("  - name: EX2007A")] + plain[plain.index("namespaces:"):]
    plain = plain[:plain.index("  - host: legacy.contoso.com")] + plain[plain.index("tls:"):]
    without = rendered(build_plan(load_model_text(plain, P2007)))
    assert with_group == without


MIXED_2019_2016 = """\
version: 1
exchange:
  version: 2019
  cu: 13
groups:
  ex2016:
    version: 2016
    tls: {default: bridge, services: {owa: offload}}
servers:
  - {name: EX19, address: 192.0.2.11}
  - {name: EX16, address: 192.0.2.21, group: ex2016}
namespaces:
  - {host: mail.contoso.com, services: [owa, ews, mapi]}
  - {host: mail2016.contoso.com, group: ex2016, services: [owa, ecp, oab]}
tls:
  default: bridge
allow: [offload-unsupported]
"""


def test_a_2016_group_gets_its_own_scripts_that_apply_and_undo():
    plan = build_plan(load_model_text(MIXED_2019_2016, "/tmp/lbsync.yaml"))
    files = rendered(plan)
    assert {"exchange/apply-EX19.ps1", "exchange/apply-EX16.ps1"} <= set(files)
    (ex16,) = plan.group_exchanges
    assert ex16.locations["Default Web Site/owa"] == "None" and "Default Web Site/mapi" not in ex16.locations
    assert plan.exchange.locations["Default Web Site/owa"] == "Ssl, Ssl128"
    apphost = iisinterp.load_fixture(2016)
    applied = iisinterp.run(apphost, files["exchange/apply-EX16.ps1"], server="EX16")
    assert effective_flags(applied.apphost, list(ex16.locations)) == ex16.locations
    undone = iisinterp.run(applied.apphost, files["exchange/undo-EX16.ps1"], server="EX16",
                           exchange=applied.exchange)
    assert effective_flags(undone.apphost, list(ex16.locations)) == ex16.defaults
    assert "offload-unsupported" in {f.code for f in plan.findings if f.allowed}


@pytest.mark.parametrize("target", ["haproxy", "nginx"])
def test_lb_configs_route_the_legacy_namespace_to_the_legacy_pool_with_its_health(target, tmp_path):
    from lbsync.targets import haproxy, nginx
    text = P2010.read_text().replace("  f5: {", "  nginx: {plus: true}\n  f5: {")
    plan = build_plan(load_model_text(text, P2010))
    files = {"haproxy": haproxy, "nginx": nginx}[target].render(plan, RenderOptions())
    conf = "\n".join(o.content for o in files.values())
    assert "/owa/auth/logon.aspx" in conf
    legacy_pool = [ln for ln in conf.splitlines() if "192.0.2.21" in ln or "192.0.2.22" in ln]
    assert legacy_pool and all("192.0.2.1" not in ln for ln in legacy_pool)


# --- certificates: san-coverage covers the legacy namespace ---------------------------------------------------------

PW = "Legacy-123!"
ENV = "LBSYNC_T_COEX_PW"


@pytest.fixture(scope="module")
def issuers():
    root = make_ca()
    return root, make_ca("lbsync test intermediate", issuer=root)


@pytest.mark.parametrize("with_legacy_san", [True, False])
def test_san_coverage_includes_the_legacy_namespace(tmp_path, issuers, with_legacy_san):
    root, inter = issuers
    names = ["mail.contoso.com", "autodiscover.contoso.com"] + (["legacy.contoso.com"] if with_legacy_san else [])
    pki = Pki(root, inter, make_leaf(inter, names, key=shared_key()))
    (tmp_path / "mail.pfx").write_bytes(pki.pfx(PW.encode()))
    (tmp_path / "ca.pem").write_bytes(root.cert_pem())
    text = P2007.read_text().replace("# server_ca: certs/internal-ca.pem", "server_ca: ca.pem") + \
        f"certificate:\n  pfx: mail.pfx\n  password_env: {ENV}\n"
    model = tmp_path / "lbsync.yaml"
    model.write_text(text)
    result = CliRunner().invoke(main, ["cert", "check", str(model), "--json"], env={ENV: PW},
                                catch_exceptions=False)
    doc = json.loads(result.stdout)
    san = next(c for c in doc["checks"] if c["id"] == "san-coverage")
    if with_legacy_san:
        assert san["status"] == "ok" and "legacy.contoso.com" in san["message"], san
        assert result.exit_code == 0, result.output
    else:
        assert san["status"] == "fail" and "legacy.contoso.com" in san["message"], san
        assert result.exit_code == 1
        missing = san["message"].split("(SANs:")[0]
        assert "legacy.contoso.com" in missing and "mail.contoso.com" not in missing, san
    assert PW not in result.output and os.environ.get(ENV) is None


def test_f5_pools_and_monitors_for_the_legacy_namespace():
    from lbsync.targets.f5 import tmsh as f5_tmsh
    plan = build_plan(load_model(P2007))
    text = "\n".join(o.content for o in f5_tmsh.render(plan, RenderOptions()).values())
    pool = text[text.index("ltm pool /Common/lbsync_owa_legacy.contoso.com {"):]
    pool = pool[:pool.index("\n}\n")]
    assert "192.0.2.21" in pool and "192.0.2.22" in pool and "192.0.2.11" not in pool
    mon = text[text.index("ltm monitor https /Common/lbsync_owa_legacy.contoso.com_mon {"):]
    assert 'send "GET /owa/auth/logon.aspx HTTP/1.1' in mon[:mon.index("\n}\n")]


def test_legacy_health_is_per_server_and_the_haproxy_output_says_so(tmp_path):
    plan = build_plan(load_model(P2007))
    legacy = [s for s in plan.services if s.group != "main"]
    main_routes = [s for s in plan.services if s.group == "main"]
    assert legacy and all(not s.health.per_protocol for s in legacy)
    assert main_routes and all(s.health.per_protocol for s in main_routes)
    result = CliRunner().invoke(main, ["render", str(P2007), "--target", "haproxy", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    cfg = (tmp_path / "haproxy" / "haproxy.cfg").read_text()
    blocks = cfg.split("\nbackend ")
    for s in legacy:
        block = next(b for b in blocks if b.startswith(s.pool + "\n"))
        assert "# per-server health" in block and "# per-protocol health" not in block
    for s in main_routes:
        block = next(b for b in blocks if b.startswith(s.pool + "\n"))
        assert "# per-protocol health" in block
    readme = (tmp_path / "README.txt").read_text()
    assert "one check per server, not per protocol" in readme
