"""README.txt for a render: what to run where, in which order."""

from __future__ import annotations

from .. import __version__
from .env import environment, render_template


def render_readme(plan, options, targets: list[str], sections: list[str]) -> str:
    env = environment(options.templates)
    return render_template(env, "README.txt.j2", plan=plan, targets=targets, sections=sections,
                           version=__version__, model=plan.model)
