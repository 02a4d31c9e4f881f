"""The render folder is lbsync's: a manifest of what it wrote; files it wrote before and no longer produces are
removed (and shown by --diff); no other file is ever touched, whatever the manifest says."""

from __future__ import annotations

import json
import os

import yaml
from support.cli import run_cli
from support.plans import model_dict

from lbsync.output.writer import MANIFEST


def _model(tmp_path, servers=("EX01", "EX02")):
    data = model_dict(2016, "bridge")
    data["servers"] = [{"name": n, "address": f"192.0.2.{11 + i}"} for i, n in enumerate(servers)]
    path = tmp_path / "lbsync.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_renamed_server_leaves_no_old_scripts_and_other_files_stay(tmp_path):
    out = tmp_path / "out"
    assert run_cli("render", _model(tmp_path), "-o", out).returncode == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert "exchange/apply-EX02.ps1" in manifest["files"] and "README.txt" in manifest["files"]
    (out / "notes.txt").write_text("mine")
    (out / "exchange" / "my-own.ps1").write_text("mine too")
    model = _model(tmp_path, servers=("EX01", "EX03"))
    ran = run_cli("render", model, "-o", out, "--diff", "--exit-code")
    assert ran.returncode == 1
    for kind in ("apply", "undo", "verify"):
        assert f"--- {out}/exchange/{kind}-EX02.ps1\n+++ /dev/null\n(removed: lbsync wrote it before" in ran.stdout
    assert "notes.txt" not in ran.stdout and "my-own.ps1" not in ran.stdout
    ran = run_cli("render", model, "-o", out)
    assert ran.returncode == 0, ran.stderr
    assert f"removed {out}/exchange/apply-EX02.ps1 (written by an earlier render, no longer produced)" in ran.stdout
    assert not (out / "exchange" / "apply-EX02.ps1").exists() and (out / "exchange" / "apply-EX03.ps1").exists()
    assert (out / "notes.txt").read_text() == "mine" and (out / "exchange" / "my-own.ps1").read_text() == "mine too"
    ran = run_cli("render", model, "-o", out, "--diff", "--exit-code")
    assert ran.returncode == 0 and ran.stdout.strip() == "no differences"


def test_rendering_fewer_targets_removes_the_others_files(tmp_path):
    out = tmp_path / "out"
    model = _model(tmp_path)
    assert run_cli("render", model, "--target", "all", "--allow", "nginx-ntlm", "-o", out).returncode == 0
    assert (out / "nginx" / "lbsync.conf").exists()
    assert run_cli("render", model, "--target", "haproxy", "-o", out).returncode == 0
    assert not (out / "nginx").exists()     # the folder held only what lbsync wrote
    assert not (out / "exchange" / "apply-EX01.ps1").exists() and (out / "haproxy" / "haproxy.cfg").exists()
    readme = (out / "README.txt").read_text()
    assert "Targets in this folder: haproxy" in readme


def test_a_manifest_naming_files_outside_the_folder_is_refused_and_nothing_is_touched(tmp_path):
    out = tmp_path / "out"
    model = _model(tmp_path)
    assert run_cli("render", model, "-o", out).returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    for bad in ("../victim.txt", str(victim), "exchange/../../victim.txt", "C:\\x"):
        (out / MANIFEST).write_text(json.dumps({"lbsync_manifest": 1, "files": [bad]}))
        ran = run_cli("render", model, "-o", out)
        assert ran.returncode == 2 and "names a file outside the folder" in ran.stderr, bad
        assert victim.read_text() == "keep"
    # a folder inside the output that is a link to elsewhere: what is behind it is never removed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.cfg").write_text("keep")
    os.symlink(elsewhere, out / "linked")
    (out / MANIFEST).write_text(json.dumps({"lbsync_manifest": 1, "files": ["linked/x.cfg"]}))
    assert run_cli("render", model, "-o", out).returncode == 0
    assert (elsewhere / "x.cfg").read_text() == "keep"


def test_exit_code_needs_diff(tmp_path):
    ran = run_cli("render", _model(tmp_path), "-o", tmp_path / "out", "--exit-code")
    assert ran.returncode == 2 and "--exit-code goes with --diff" in ran.stderr


def test_a_manifest_name_the_file_system_refuses_is_not_a_crash(tmp_path):
    out = tmp_path / "out"
    assert run_cli("render", _model(tmp_path), "-o", out).returncode == 0
    doc = json.loads((out / MANIFEST).read_text())
    doc["files"].append("exchange/" + "x" * 300 + ".ps1")          # ENAMETOOLONG
    (out / MANIFEST).write_text(json.dumps(doc))
    ran = run_cli("render", _model(tmp_path), "-o", out)
    assert ran.returncode == 0 and "internal error" not in ran.stderr, ran.stderr


def test_a_failed_move_aside_leaves_no_placeholder(tmp_path, monkeypatch):
    """The previous version cannot be moved aside: nothing changes and no empty .NAME.*.old file stays."""
    from lbsync.output import writer
    out = tmp_path / "out"
    assert run_cli("render", _model(tmp_path), "-o", out).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real = os.replace

    def failing(src, dst, *a, **kw):
        if str(dst).endswith(".old"):
            raise PermissionError(13, "Permission denied")
        return real(src, dst, *a, **kw)
    monkeypatch.setattr(writer.os, "replace", failing)
    model = _model(tmp_path, servers=("EX01", "EX03"))
    from lbsync.errors import LbsyncError
    from lbsync.model import load_model
    from lbsync.plan import build_plan
    from lbsync.targets import RenderOptions, render_targets
    files = render_targets(build_plan(load_model(str(model))), ["exchange"], RenderOptions())
    try:
        writer.write_all(out, files, manifest=True)
        raise AssertionError("the write should have failed")
    except LbsyncError as exc:
        assert "nothing was changed" in str(exc)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and not list(out.rglob("*.old"))


def test_the_same_model_by_another_path_is_no_difference(tmp_path, monkeypatch):
    """report.html and README.txt name the model by its file name: `render --diff --exit-code` after a render is
    quiet whether the model is given relative or absolute."""
    model = _model(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run_cli("render", "lbsync.yaml", "-o", "out").returncode == 0
    ran = run_cli("render", str(model.resolve()), "-o", "out", "--diff", "--exit-code")
    assert ran.returncode == 0 and ran.stdout.strip() == "no differences", ran.stdout[:2000]
