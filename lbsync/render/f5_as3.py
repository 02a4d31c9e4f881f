"""F5 BIG-IP as an AS3 declaration: f5/as3.json (the same objects as f5/lbsync.tmsh; see lbsync.f5.as3)."""

from __future__ import annotations

import json

from ..f5.as3 import declaration, tenant_app
from .env import environment, render_template
from .writer import Output

CONFIG = "f5/as3.json"


def render(plan, options) -> dict[str, Output]:
    from ..f5.material import load_material
    decl = declaration(plan, load_material(plan))
    return {CONFIG: Output(json.dumps(decl, indent=2) + "\n")}


def readme(plan, options) -> str:
    tenant, app = tenant_app(plan.model.targets.f5.partition)
    return render_template(environment(options.templates), "f5/README-as3.txt.j2", config=CONFIG, tenant=tenant,
                           app=app)
