"""A pytest plugin (loaded by pyproject's addopts): `pytest -m "not lab"` — the quick loop without the tests that
start HAProxy/NGINX/wrk — runs on two worker processes (pytest-xdist, work stealing: a worker that runs out of tests
takes some of the other's) unless -n/-p no:xdist is given. The whole suite (`.ci/run`, no -m) stays in one process,
so the lab's timing-sensitive tests never compete with other tests.

The quick loop also
- keeps Python's bytecode cache (the environment may set PYTHONDONTWRITEBYTECODE) outside the checkout, in
  ~/.cache/lbsync-tests/pycache (PYTHONPYCACHEPREFIX; $XDG_CACHE_HOME is honoured, a PYTHONPYCACHEPREFIX already
  set is kept): the workers and the `python -m lbsync` processes the tests start then no longer compile every
  lbsync and test module, nor rewrite the asserts of every module pytest rewrites, on every run. A .pyc is used
  only while its source's modification time and size are unchanged (Python's own rule), and nothing is written
  into the checkout;
- runs fewer Hypothesis examples (support/quick.py: a quarter of each test's max_examples, at least 10). The whole
  suite keeps every test's full count.

Both are passed to the workers and to the processes the tests start through the environment (QUICK_ENV)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

QUICK_ENV = "LBSYNC_TESTS_QUICK"


def _pycache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lbsync-tests" / "pycache"


def _keep_bytecode() -> None:
    """Write and read .pyc files under the cache folder, from now on, in this process and in its children."""
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or str(_pycache_dir())
    try:
        Path(prefix).mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return  # no cache folder: compile as before
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


if os.environ.get(QUICK_ENV) == "1":  # a worker of the quick loop (or a process a quick-loop test started)
    _keep_bytecode()


def pytest_load_initial_conftests(early_config, parser, args: list[str]) -> None:
    quick = any(a == "not lab" for a in args) or any(a.startswith("-m") and "not lab" in a for a in args)
    if not quick:
        return
    os.environ[QUICK_ENV] = "1"
    _keep_bytecode()
    chosen = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args) or "no:xdist" in args
    if not chosen and importlib.util.find_spec("xdist") is not None:
        dist = [] if any(a == "--dist" or a.startswith(("--dist=", "-d")) for a in args) else ["--dist", "worksteal"]
        args[:] = [*args, "-n", "2", *dist]
