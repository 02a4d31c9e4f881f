"""Packaging: a non-editable `pip install .` ships templates/, profiles/ and docs/ and works outside the checkout; the
command line imports no heavy library until a command needs it (that is how `lbsync --help` stays fast)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from support.paths import ROOT  # noqa: E402

HEAVY = ("cryptography", "requests", "f5", "jinja2", "rich", "urllib3", "icontrol", "yaml", "jsonschema")


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv (seeing this interpreter's packages, no network) with lbsync installed from a copy of the tree."""
    base = tmp_path_factory.mktemp("pkg")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("lbsync", "templates", "profiles", "docs"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    env_dir = base / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False, symlinks=True)
    py = env_dir / "bin" / "python"
    # When the tests themselves run in a venv, system_site_packages sees only the base interpreter: add ours.
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "_lbsync_test_parent.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    proc = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-input",
                           "--disable-pip-version-check", "-q", str(src)],
                          capture_output=True, text=True, timeout=300, cwd=base)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outside = base / "elsewhere"
    outside.mkdir()
    return {"py": py, "bin": env_dir / "bin" / "lbsync", "src": src, "cwd": outside, "purelib": Path(purelib)}


def run(installed, *args):
    return subprocess.run([str(installed["bin"]), *map(str, args)], capture_output=True, text=True, timeout=60,
                          cwd=installed["cwd"], env={**os.environ, "PYTHONPATH": ""})


def pyrun(installed, code):
    return subprocess.run([str(installed["py"]), "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=installed["cwd"], env={**os.environ, "PYTHONPATH": ""}, check=True).stdout.strip()


def test_the_installed_copy_is_used(installed):
    where = Path(pyrun(installed, "import lbsync; print(lbsync.__file__)"))
    assert installed["purelib"] in where.parents, where
    assert ROOT not in where.parents


def test_templates_and_profiles_ship(installed):
    tdir, pdir = pyrun(installed, "from lbsync.resources import templates_dir, profiles_dir; "
                                  "print(templates_dir()); print(profiles_dir())").splitlines()
    assert installed["purelib"] in Path(tdir).parents and installed["purelib"] in Path(pdir).parents
    assert _files(Path(tdir)) - {"__init__.py"} >= _files(installed["src"] / "templates")
    assert _files(Path(pdir)) - {"__init__.py"} >= _files(installed["src"] / "profiles")
    assert len(_files(installed["src"] / "profiles")) >= 4


def test_the_docs_the_generated_files_point_to_ship(installed):
    """README.txt and the verify script name docs/verify-json.md: every docs/*.md a template names is installed."""
    ddir = Path(pyrun(installed, "from lbsync.resources import docs_dir; print(docs_dir())"))
    assert installed["purelib"] in ddir.parents
    named = set()
    for template in (installed["src"] / "templates").rglob("*.j2"):
        named |= set(re.findall(r"docs/([\w.-]+\.md)", template.read_text()))
    assert "verify-json.md" in named
    assert named <= _files(ddir), named - _files(ddir)


def test_every_module_ships(installed):
    """pyproject lists the packages by hand: a new subpackage missing from the list would not be installed."""
    pkg = Path(pyrun(installed, "import lbsync, os; print(os.path.dirname(lbsync.__file__))"))
    wanted = {f for f in _files(installed["src"] / "lbsync") if f.endswith(".py")}
    assert wanted <= _files(pkg), wanted - _files(pkg)


def test_shipped_templates_are_found_by_jinja(installed):
    """The installed Jinja environment finds every template of the tree (renderers add their own filters, so
    compiling them is the renderers' tests' job)."""
    code = ("from lbsync.output.env import environment\n"
            "print('\\n'.join(environment().list_templates()))")
    assert set(pyrun(installed, code).splitlines()) == _files(installed["src"] / "templates")


def test_init_list_from_the_installed_copy(installed):
    proc = run(installed, "init", "--list")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert sorted(names) == sorted(p.stem for p in (installed["src"] / "profiles").glob("*.yaml"))
    assert names[0] == "exchange-se"


def test_init_profile_from_the_installed_copy(installed):
    out = installed["cwd"] / "X.yaml"
    proc = run(installed, "init", "--profile", "exchange2013-offload", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (installed["src"] / "profiles" / "exchange2013-offload.yaml").read_text()
    proc = run(installed, "validate", out)
    assert proc.returncode == 0, proc.stderr
    proc = run(installed, "schema")
    assert proc.returncode == 0 and '"$schema"' in proc.stdout


@pytest.mark.parametrize("where", ["checkout", "installed"])
def test_cli_import_is_light(installed, where):
    py = sys.executable if where == "checkout" else installed["py"]
    code = ("import sys, lbsync.cli\n"
            f"heavy = {HEAVY!r}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
    proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=ROOT if where == "checkout" else installed["cwd"], check=True)
    assert proc.stdout.strip() == "[]", proc.stdout


def test_help_imports_nothing_heavy():
    """`lbsync --help` itself (every command group registered): -X importtime lists each module imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lbsync", "--help"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "lbsync" in imported and "click" in imported
    assert not imported & set(HEAVY), imported & set(HEAVY)
