"""A finding that concerns one load balancer stops only the output for that load balancer (issue #14 item 5):
validate/plan report it as a warning naming the target when the model declares no targets; render without
targets: writes every target it can and says which it skipped and why; --target all explains the ways past it."""

from __future__ import annotations

import yaml
from support.cli import run_cli
from support.plans import model_dict


def _model(tmp_path, targets=None):
    data = model_dict(2016, "bridge")
    data.pop("targets")
    if targets is not None:
        data["targets"] = targets
    path = tmp_path / "lbsync.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_without_targets_validate_and_plan_warn_naming_the_load_balancer(tmp_path):
    path = _model(tmp_path)
    ran = run_cli("validate", path)
    assert ran.returncode == 0, ran.stderr
    (line,) = [ln for ln in ran.stderr.splitlines() if "[nginx-ntlm]" in ln]
    assert ": warning: [nginx-ntlm] (stops only the nginx output: render skips nginx; declare targets: without " \
           "nginx, or allow: [nginx-ntlm])" in line
    assert "valid —" in ran.stdout
    assert run_cli("plan", path, "--json").returncode == 0


def test_without_targets_render_writes_what_it_can_and_says_what_it_skipped(tmp_path):
    path = _model(tmp_path)
    ran = run_cli("render", path, "-o", tmp_path / "out")
    assert ran.returncode == 0, ran.stderr
    assert "skipped nginx: nginx-ntlm (see above)" in ran.stderr
    written = {p.relative_to(tmp_path / "out").parts[0] for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert {"exchange", "haproxy", "f5", "README.txt"} <= written and "nginx" not in written


def test_target_all_is_refused_with_the_ways_past_it(tmp_path):
    path = _model(tmp_path)
    ran = run_cli("render", path, "--target", "all", "-o", tmp_path / "out")
    assert ran.returncode == 2 and not (tmp_path / "out").exists()
    assert "--target all includes nginx, which this model cannot render" in ran.stderr
    assert "render the other targets with --target NAME (or without --target), or allow the code" in ran.stderr
    ran = run_cli("render", path, "--target", "all", "--allow", "nginx-ntlm", "-o", tmp_path / "out")
    assert ran.returncode == 0, ran.stderr


def test_a_declared_load_balancer_with_an_error_still_stops_validate(tmp_path):
    path = _model(tmp_path, targets={"nginx": {}})
    ran = run_cli("validate", path)
    assert ran.returncode == 2 and ": error: [nginx-ntlm]" in ran.stderr
    path = _model(tmp_path, targets={"haproxy": {}})
    ran = run_cli("validate", path)
    assert ran.returncode == 0 and "nginx-ntlm" not in ran.stderr   # not a target of this model: not mentioned
