"""F5 BIG-IP as tmsh configuration: f5/lbsync.tmsh, loadable with `tmsh load sys config merge file`.

The objects come from targets.f5.want (the same list the iControl REST push applies); this module only turns
their iControl REST attributes into the bigip.conf syntax, and templates/f5/lbsync.tmsh.j2 lays the file out.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ... import __version__
from ...certs.export import EXPORT_DIR, export_command
from ...output import text
from ...output.env import environment, render_template
from ...output.writer import Output
from ...plan.types import Plan
from .. import common
from ..protocol import RenderOptions
from .material import load_material
from .names import SOURCE_DIR
from .want import Desired, F5Object, build, drain_nodes

NAME = "f5-tmsh"
LB_KIND = "f5"
check = None             # tmsh runs only on a BIG-IP; the tests parse the file back instead
CONFIG = "f5/lbsync.tmsh"
# iControl REST attribute names whose tmsh spelling is not the plain camelCase -> kebab-case conversion.
SPECIAL_KEYS = {"tmName": "name", "tmDefault": "default"}
_BARE = re.compile(r"[A-Za-z0-9_./:*@+-]+")


@lru_cache(maxsize=1024)
def tmsh_key(key: str) -> str:
    return SPECIAL_KEYS.get(key) or re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", key).lower()


def tmsh_value(value: object) -> str:
    return _tmsh_value(value) if isinstance(value, (str, int)) else _tmsh_scalar(value)


@lru_cache(maxsize=16384, typed=True)   # a large model spells the same addresses and names thousands of times
def _tmsh_value(value: str | int) -> str:
    return _tmsh_scalar(value)


def _tmsh_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "enabled" if value else "disabled"
    text = str(value)
    if text and _BARE.fullmatch(text):   # fullmatch: "$" would let a trailing newline through
        return text
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def _lines(attrs: dict, depth: int) -> list[str]:
    pad = "    " * depth
    out: list[str] = []
    for key in sorted(attrs):
        value = attrs[key]
        k = tmsh_key(key)
        if isinstance(value, dict):
            out.append(f"{pad}{k} {{")
            out += _lines(value, depth + 1)
            out.append(f"{pad}}}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out.append(f"{pad}{k} {{")
            for item in value:
                rest = {a: b for a, b in item.items() if a != "name"}
                out.append(f"{pad}    {tmsh_value(item['name'])} {{")
                out += _lines(rest, depth + 2)
                out.append(f"{pad}    }}")
            out.append(f"{pad}}}")
        elif isinstance(value, list):
            if value:  # an empty list is the default: bigip.conf leaves it out
                out.append(f"{pad}{k} {{ {' '.join(tmsh_value(v) for v in value)} }}")
        else:
            out.append(f"{pad}{k} {tmsh_value(value)}")
    return out


def tmsh_block(obj: F5Object) -> str:
    """`KIND PATH { ... }` in bigip.conf syntax (an iRule's body is its Tcl text)."""
    head = f"{obj.kind.replace('/', ' ')} {obj.path} {{"
    if obj.kind == "ltm/rule":
        return f"{head}\n{obj.attrs['apiAnonymous'].rstrip()}\n}}"
    return "\n".join([head, *_lines(obj.attrs, 1), "}"])


def context(plan: Plan, desired: Desired) -> dict:
    return {"plan": plan, "version": __version__, "model_name": text.conf_comment(plan.model.path.name),
            "partition": desired.partition, "objects": desired.objects, "files": desired.files,
            "source_dir": SOURCE_DIR, "block": tmsh_block}


def render(plan: Plan, options: RenderOptions) -> dict[str, Output]:
    desired = build(plan, load_material(plan, need_key=False))
    env = environment(options.templates)
    return {CONFIG: Output(render_template(env, "f5/lbsync.tmsh.j2", **context(plan, desired)))}


def readme(plan: Plan, options: RenderOptions) -> str:
    env = environment(options.templates)
    return render_template(env, "f5/README-tmsh.txt.j2", plan=plan, partition=plan.model.targets.f5.partition,
                           source_dir=SOURCE_DIR, config=CONFIG, export_command=export_command(plan.model, "f5"),
                           export_dir=EXPORT_DIR, drain=drain_nodes(plan, plan.model.targets.f5.partition), lb=common)
