"""Every supported Python (3.11, 3.12, 3.13): lbsync installs from this tree with its declared dependencies into a
fresh virtual environment, and `f5 plan` / `f5 apply` work with both methods against the emulator.

f5-sdk 3.0.21 imports distutils, which Python 3.12 removed; lbsync declares setuptools on 3.12+ to serve it. This
test is what proves that declaration. The interpreters are found as `python3.X` on PATH or under pyenv
($PYENV_ROOT or ~/.pyenv); one that is missing is skipped, unless LBSYNC_REQUIRE_PYTHONS=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from f5emu.testing import PASSWORD, USER, write_model
from support.paths import ROOT

pytestmark = pytest.mark.lab  # installs lbsync into three fresh virtual environments (~50 s): not in the quick loop

MINORS = (11, 12, 13)


def find_python(minor: int) -> Path | None:
    """The newest pyenv 3.MINOR, else python3.MINOR on PATH — whichever actually runs as 3.MINOR (pyenv's shims on
    PATH answer for versions that are installed but not selected, and fail)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    pyenv = sorted(root.glob(f"3.{minor}.*/bin/python3"),
                   key=lambda p: [int(x) if x.isdigit() else -1 for x in p.parent.parent.name.split(".")])
    on_path = shutil.which(f"python3.{minor}")
    for candidate in [*reversed(pyenv), *([Path(on_path)] if on_path else [])]:
        proc = subprocess.run([str(candidate), "-c", "import sys; print(sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode == 0 and proc.stdout.strip() == f"(3, {minor})":
            return candidate
    return None


def _copy_tree(dest: Path) -> Path:
    src = dest / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("lbsync", "templates", "profiles", "docs"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    return src


def _install(python: Path, src: Path, where: Path) -> tuple[Path | None, str]:
    """A fresh venv (no system packages) with `pip install SRC`: the dependencies as pyproject declares them."""
    env_dir = where / f"venv-{python.name}"
    proc = subprocess.run([str(python), "-m", "venv", str(env_dir)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None, proc.stdout + proc.stderr
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--no-input",
                           "--disable-pip-version-check", str(src)], capture_output=True, text=True, timeout=600,
                          cwd=where)
    if proc.returncode != 0:
        return None, proc.stdout + proc.stderr
    return env_dir, ""


@pytest.fixture(scope="module")
def venvs(tmp_path_factory):
    """{minor: (venv dir or None, why not)} — installed concurrently, once for the module."""
    base = tmp_path_factory.mktemp("pythons")
    found = {minor: find_python(minor) for minor in MINORS}
    with ThreadPoolExecutor(max_workers=len(MINORS)) as pool:   # one copy of the tree each: pip builds in place
        jobs = {minor: pool.submit(_install, py, _copy_tree(base / f"3.{minor}"), base / f"3.{minor}")
                for minor, py in found.items() if py is not None}
        return {minor: (jobs[minor].result() if minor in jobs else (None, "not found")) for minor in MINORS}


def _lbsync(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(F5_USER=USER, F5_PASSWORD=PASSWORD)
    return subprocess.run([str(env_dir / "bin" / "python"), "-m", "lbsync", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd, env=env)


@pytest.mark.parametrize("minor", MINORS, ids=[f"3.{m}" for m in MINORS])
def test_install_and_push_to_the_emulator_with_both_methods(minor, venvs, emu_pki, pki_files, tmp_path):
    env_dir, why = venvs[minor]
    if env_dir is None:
        if why == "not found" and not os.environ.get("LBSYNC_REQUIRE_PYTHONS"):
            pytest.skip(f"no Python 3.{minor} here (set LBSYNC_REQUIRE_PYTHONS=1 to make this a failure)")
        pytest.fail(f"Python 3.{minor}: {why}")
    version = _lbsync(env_dir, "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    from f5emu import Emulator
    for method in ("imperative", "as3"):
        emu = Emulator(users={USER: PASSWORD}, partitions=("Common", "Exchange")).start(pki=emu_pki)
        try:
            model = write_model(tmp_path / f"{method}.yaml", emu, pki_files)
            plan = _lbsync(env_dir, "f5", "plan", "--method", method, "--exit-code", str(model), cwd=tmp_path)
            assert plan.returncode == 1, plan.stdout + plan.stderr   # changes pending
            assert emu.writes == 0
            applied = _lbsync(env_dir, "f5", "apply", "--yes", "--method", method, str(model), cwd=tmp_path)
            assert applied.returncode == 0, applied.stdout + applied.stderr
            assert f"applied ({method})" in applied.stdout
            assert "internal error" not in applied.stderr and PASSWORD not in applied.stdout + applied.stderr
            if method == "imperative":
                assert "/Exchange/lbsync_203.0.113.10_443" in emu.config()["ltm/virtual"]
            else:
                assert emu.as3_tenants["Exchange"]["lbsync"]["class"] == "Application"
            again = _lbsync(env_dir, "f5", "plan", "--method", method, "--exit-code", str(model), cwd=tmp_path)
            assert again.returncode == 0, again.stdout + again.stderr   # the device now matches the model
        finally:
            emu.stop()
