"""Every generated PowerShell script, for every bundled profile, parses without an error in the real PowerShell
grammar (tree-sitter-powershell) — the same parser the hostile-input tests read structure with."""

from __future__ import annotations

import pytest
from support.paths import ROOT
from support.structure import powershell

from lbsync.model import load_model
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions, render_targets

PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_every_generated_script_parses(profile):
    plan = build_plan(load_model(profile))
    files = render_targets(plan, ["exchange"], RenderOptions())
    scripts = {rel: out.content for rel, out in files.items() if rel.endswith(".ps1")}
    assert any(rel.split("/")[-1].startswith("apply-") for rel in scripts)
    assert any(rel.split("/")[-1].startswith("undo-") for rel in scripts)
    for rel, content in scripts.items():
        ok, kinds = powershell(content)
        assert ok, f"{profile.name}: {rel} does not parse"
        assert "command" in kinds, rel


def test_the_parser_notices_a_broken_script():
    """The check above can fail: an unclosed string and a stray brace are errors to this parser."""
    assert powershell("Set-WebConfigurationProperty -Value 'x\n")[0] is False
    assert powershell("if ($a) { Write-Host 1 \n")[0] is False
    assert powershell("Write-Host 'ok'\n")[0] is True
