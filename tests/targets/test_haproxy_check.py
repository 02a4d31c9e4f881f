"""`lbsync render --check` with the real haproxy: verdict, rejection (exit 2, nothing written), binary missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.cli import run_cli

from lbsync.targets import check_files


def cli(*args, env=None):
    return run_cli(*args, env=env)


def test_check_passes_and_writes(profiles_dir, tmp_path):
    out = tmp_path / "out"
    proc = cli("render", str(profiles_dir / "outlook-anywhere-passthrough.yaml"), "--target", "haproxy",
                   "--check", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "check: haproxy -c: configuration valid" in proc.stderr
    # the certificate only exists on the load balancer: provided at its path for the check, nowhere else
    assert ("/etc/haproxy/certs/lbsync.pem is not on this machine: a placeholder was provided at that path"
            in proc.stderr)
    assert (out / "haproxy" / "haproxy.cfg").is_file() and not Path("/etc/haproxy/certs/lbsync.pem").exists()


def test_the_check_reads_exactly_the_bytes_written(profiles_dir, tmp_path, monkeypatch):
    from lbsync.output import check as checks
    seen = []
    real = checks.run

    def spy(argv, cwd):
        seen.append((cwd / "haproxy.cfg").read_bytes())
        return real(argv, cwd)
    monkeypatch.setattr(checks, "run", spy)
    out = tmp_path / "out"
    proc = cli("render", str(profiles_dir / "outlook-anywhere-passthrough.yaml"), "--target", "haproxy",
               "--check", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert seen == [(out / "haproxy" / "haproxy.cfg").read_bytes()]


def test_a_config_haproxy_rejects_exits_2_and_writes_nothing(profiles_dir, tmp_path):
    from lbsync.resources import templates_dir
    override = tmp_path / "tpl" / "haproxy"
    override.mkdir(parents=True)
    text = (templates_dir() / "haproxy" / "haproxy.cfg.j2").read_text()
    (override / "haproxy.cfg.j2").write_text(text.replace("option redispatch", "option redispatch-everything"))
    out = tmp_path / "out"
    proc = cli("render", str(profiles_dir / "exchange2016-bridge.yaml"), "--target", "haproxy", "--check",
                   "--templates", str(tmp_path / "tpl"), "-o", str(out))
    assert proc.returncode == 2
    assert "haproxy -c rejected the generated configuration" in proc.stderr
    assert "redispatch-everything" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_missing_binary_is_reported_not_an_error(profiles_dir, tmp_path):
    env = dict(os.environ, PATH="/nonexistent")
    out = tmp_path / "out"
    proc = cli("render", str(profiles_dir / "exchange2016-bridge.yaml"), "--target", "haproxy", "--check",
                   "-o", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "haproxy is not installed here: haproxy/haproxy.cfg was NOT checked" in proc.stderr
    assert (out / "haproxy" / "haproxy.cfg").is_file()


def test_check_files_returns_the_verdicts(profiles_dir):
    from lbsync.model import load_model
    from lbsync.plan import build_plan
    from lbsync.targets import RenderOptions, render_targets
    plan = build_plan(load_model(profiles_dir / "exchange2013-offload.yaml"))
    files = render_targets(plan, ["haproxy"], RenderOptions())
    verdicts = check_files(plan, files, ["haproxy", "exchange"])
    assert len(verdicts) == 1 and verdicts[0].startswith("haproxy -c: configuration valid")


def test_a_multi_namespace_config_checks_without_a_warning(profiles_dir):
    """Several namespaces on one listener (the root redirects and the routes of each): haproxy -c says nothing."""
    from lbsync.model import load_model
    from lbsync.plan import build_plan
    from lbsync.targets import RenderOptions, render_targets
    plan = build_plan(load_model(profiles_dir / "coexistence-2013-2010.yaml"))
    assert len([ns for ns in plan.namespaces if ns.root_redirect]) >= 2
    files = render_targets(plan, ["haproxy"], RenderOptions())
    (verdict,) = check_files(plan, files, ["haproxy"])
    assert verdict.startswith("haproxy -c: configuration valid") and "WARNING" not in verdict, verdict


def test_warnings_are_shown_in_the_verdict(profiles_dir, tmp_path):
    """A configuration haproxy accepts with a warning still passes, and the verdict says what the warning is."""
    from lbsync.resources import templates_dir
    override = tmp_path / "tpl" / "haproxy"
    override.mkdir(parents=True)
    text = (templates_dir() / "haproxy" / "haproxy.cfg.j2").read_text()
    late = "    default_backend no_route_{{ l.key }}\n"
    assert late in text
    (override / "haproxy.cfg.j2").write_text(text.replace(late, late + "    http-request set-header X-Late 1\n"))
    out = tmp_path / "out"
    proc = cli("render", str(profiles_dir / "exchange2016-bridge.yaml"), "--target", "haproxy", "--check",
                   "--templates", str(tmp_path / "tpl"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("check: haproxy -c"))
    assert "configuration valid, with 1 WARNING(S)" in line
    assert "placed after a 'use_backend' rule" in line and "haproxy/haproxy.cfg:" in line
    assert str(tmp_path) not in line.split("haproxy/haproxy.cfg:")[0]


@pytest.mark.parametrize("version,mode", [(2010, "passthrough"), (2010, "bridge"), (2007, "bridge"),
                                          (2010, "offload")])
def test_legacy_group_decisions_render_configs_both_programs_accept_without_warnings(version, mode):
    """Persistence (cookie, stick table, hash), TLS 1.0 toward 2007/2010, at L7 and at L4 (passthrough)."""
    from support.plans import plan_of, with_group

    from lbsync.targets import RenderOptions, render_targets
    services = ["owa", "ews", "rpc"] if version == 2007 else ["owa", "ecp", "ews", "rpc"]
    data = with_group(version, mode, services)
    data["targets"] = {"haproxy": {}, "nginx": {}}
    data["allow"] += ["nginx-ntlm", "nginx-negotiate"]
    plan = plan_of(data)
    assert {s.persistence for s in plan.services if s.group == "old"} - {"none"}
    files = render_targets(plan, ["haproxy", "nginx"], RenderOptions())
    verdicts = check_files(plan, files, ["haproxy", "nginx"])
    assert len(verdicts) == 2
    for verdict in verdicts:
        assert "configuration valid" in verdict and "WARNING" not in verdict, verdict
