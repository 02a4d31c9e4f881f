"""Render the Plan into files. Each target module exposes `render(plan, options) -> dict[str, Output]`
(paths relative to the output folder) and `readme(plan, options) -> str` (its README.txt section)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LbsyncError
from .writer import Output

TARGETS = {
    "exchange": "lbsync.render.exchange",
    "haproxy": "lbsync.render.haproxy",
    "nginx": "lbsync.render.nginx",
    "f5-tmsh": "lbsync.render.f5_tmsh",
    "f5-as3": "lbsync.render.f5_as3",
}
# Which target-specific findings block which render target.
FINDING_TARGET = {"exchange": None, "haproxy": "haproxy", "nginx": "nginx", "f5-tmsh": "f5", "f5-as3": "f5"}


@dataclass
class RenderOptions:
    templates: str | Path | None = None
    flavour: str = "appcmd"            # Exchange scripts: appcmd | webadministration
    extra: dict = field(default_factory=dict)


def expand(target: str) -> list[str]:
    if target == "all":
        return list(TARGETS)
    if target not in TARGETS:
        raise LbsyncError(f"unknown target '{target}' (expected one of: {', '.join(TARGETS)}, all)")
    return [target]


def default_targets(plan) -> list[str]:
    """Without --target: the Exchange side plus the targets the model declares (every target if none)."""
    declared = plan.declared_targets()
    if not declared:
        return list(TARGETS)
    return [t for t in TARGETS if t == "exchange" or FINDING_TARGET[t] in declared]


def finding_targets(targets: list[str]) -> set[str]:
    """The finding targets (haproxy, nginx, f5) that rendering these render targets involves."""
    return {FINDING_TARGET[t] for t in targets if FINDING_TARGET[t]}


def render_targets(plan, targets: list[str], options: RenderOptions) -> dict[str, Output]:
    files: dict[str, Output] = {}
    sections = []
    for target in targets:
        module = importlib.import_module(TARGETS[target])
        files.update(module.render(plan, options))
        sections.append(module.readme(plan, options))
    from .readme import render_readme
    files["README.txt"] = Output(render_readme(plan, options, targets, sections))
    return files
