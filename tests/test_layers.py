"""The package's arrows point down (docs/architecture.md): each stage imports only its own stage and those below,
and only cli/ command functions (and the optional f5-sdk) import inside functions."""

from __future__ import annotations

import ast

from support.paths import ROOT

PACKAGE = ROOT / "lbsync"
# lowest first; a module may import from its own stage or a lower one
STAGES = ["errors", "resources", "reading", "facts", "model", "plan", "output", "certs", "targets", "audit", "report",
          "cli", "__main__"]
RANK = {"errors": 0, "resources": 0, "reading": 0, "facts": 1, "model": 2, "plan": 3, "output": 4, "certs": 5, "targets": 6,
        "audit": 7, "report": 8, "cli": 9, "__main__": 10, "__init__": 10}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        stage = rel.parts[0].removesuffix(".py")
        yield path, rel, stage


def _imports(path, rel):
    """(lbsync stage imported, line, inside a function) for every import of lbsync in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    package = ["lbsync", *rel.parts[:-1]]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [a.name] for a in node.names] if len(target) == 1 else [target]
            else:
                names = [(node.module or "").split(".")]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        for name in names:
            if name[0] == "lbsync" and len(name) > 1:
                yield name[1].removesuffix(".py"), node.lineno, id(node) in inner


def test_every_import_points_down():
    upward = []
    for path, rel, stage in _modules():
        for target, line, _ in _imports(path, rel):
            if target in RANK and RANK[target] > RANK[stage]:
                upward.append(f"lbsync/{rel}:{line} ({stage}) imports lbsync.{target}")
    assert upward == []


def test_imports_inside_functions_only_in_cli():
    inside = [f"lbsync/{rel}:{line} imports lbsync.{target}" for path, rel, stage in _modules()
              for target, line, in_function in _imports(path, rel) if in_function and stage != "cli"]
    assert inside == []


def test_every_top_level_folder_is_a_stage():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders <= set(STAGES)
    top_modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert top_modules == {"__init__", "__main__", "errors", "resources", "reading"}
