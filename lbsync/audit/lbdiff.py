"""Load-balancer drift: a deployed HAProxy / NGINX configuration against a fresh render of the plan.

Both sides are normalised by the target (`normalise`: comments, blank lines and whitespace dropped, order ignored
where it has no meaning — `server` lines within a HAProxy backend or an NGINX upstream, the order of HAProxy
backend sections) before the unified diff. F5 drift is shown by `lbsync f5 plan` (want/have against the device).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from ..plan.types import Plan
from ..targets import TARGETS
from ..targets.protocol import RenderOptions
from .evidence import read_text


@dataclass
class LbDrift:
    target: str            # haproxy | nginx
    deployed: str          # the deployed file
    rendered: str          # what it is compared with
    diff: str              # unified diff of the normalised texts; "" when equal

    def as_json(self) -> dict:
        return {"target": self.target, "file": self.deployed, "rendered": self.rendered,
                "in_sync": not self.diff, "diff": self.diff}


def _diff(deployed_text: str, rendered_text: str, deployed: str, rendered: str) -> str:
    return "".join(difflib.unified_diff(deployed_text.splitlines(keepends=True),
                                        rendered_text.splitlines(keepends=True),
                                        fromfile=f"{deployed} (deployed, normalised)",
                                        tofile=f"{rendered} (lbsync render, normalised)"))


def config_drift(plan: Plan, target: str, path: str | Path, *, templates: str | Path | None = None) -> LbDrift:
    """A deployed configuration file of `target` (haproxy, nginx) against a fresh render."""
    t = TARGETS[target]
    files = t.render(plan, RenderOptions(templates=templates))
    rel = t.rendered_name(str(path), files)
    rendered = files[rel].content if rel in files else ""
    diff = _diff(t.normalise(read_text(path)), t.normalise(rendered), str(path), rel)
    return LbDrift(target, str(path), rel, diff)
