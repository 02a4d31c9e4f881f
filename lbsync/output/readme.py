"""README.txt for a render: what to run where, in which order (each target contributes its section)."""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..plan.cutover import cutover
from ..plan.types import Plan
from .env import environment, render_template
from .text import printable


def render_readme(plan: Plan, templates: str | Path | None, targets: list[str], sections: list[str]) -> str:
    env = environment(templates)
    return render_template(env, "README.txt.j2", plan=plan, targets=targets, sections=sections, cut=cutover(plan),
                           version=__version__, model=plan.model, model_name=printable(plan.model.path.name))
