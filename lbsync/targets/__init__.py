"""Targets: each lays out the Plan for one system (targets.protocol.Target). The registry below is the one place
that lists them: adding a load balancer is a module here, its templates, and one line in TARGETS."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import LbsyncError
from ..output.check import say
from ..output.readme import render_readme
from ..output.writer import Output
from ..plan.types import Plan
from . import exchange, haproxy, nginx
from .f5 import as3, tmsh
from .protocol import RenderOptions, Target

TARGETS: dict[str, Target] = {t.NAME: t for t in (exchange, haproxy, nginx, tmsh, as3)}

__all__ = ["TARGETS", "RenderOptions", "Target", "expand", "default_targets", "finding_targets",
           "render_targets", "check_files"]


def expand(target: str) -> list[str]:
    """A --target value -> target names (all: every target)."""
    if target == "all":
        return list(TARGETS)
    if target not in TARGETS:
        raise LbsyncError(f"unknown target '{target}' (expected one of: {', '.join(TARGETS)}, all)")
    return [target]


def default_targets(plan: Plan) -> list[str]:
    """Without --target: the Exchange side plus the targets the model declares (every target if none)."""
    declared = plan.declared_targets()
    if not declared:
        return list(TARGETS)
    return [name for name, t in TARGETS.items() if t.LB_KIND is None or t.LB_KIND in declared]


def finding_targets(targets: list[str]) -> set[str]:
    """The load-balancer kinds (haproxy, nginx, f5) whose findings rendering these targets involves."""
    return {TARGETS[t].LB_KIND for t in targets if TARGETS[t].LB_KIND}


def render_targets(plan: Plan, targets: list[str], options: RenderOptions) -> dict[str, Output]:
    """Every file of these targets, and README.txt with each target's section."""
    files: dict[str, Output] = {}
    sections = []
    for name in targets:
        files.update(TARGETS[name].render(plan, options))
        sections.append(TARGETS[name].readme(plan, options))
    files["README.txt"] = Output(render_readme(plan, options.templates, targets, sections))
    return files


def check_files(plan: Plan, files: dict[str, Output], targets: list[str]) -> list[str]:
    """Check the rendered files of these targets with the real programs (the targets that have a check); returns
    the verdict lines (also printed). Raises LbsyncError when a program rejects its configuration."""
    verdicts = []
    for name in targets:
        target = TARGETS[name]
        if target.check is None:
            continue
        with tempfile.TemporaryDirectory(prefix=f"lbsync-check-{name}-") as tmp:
            verdict = target.check(plan, files, Path(tmp))
        say(verdict)
        verdicts.append(verdict)
    return verdicts
