"""A pytest plugin (loaded by pyproject's addopts): `pytest -m "not lab"` — the quick loop without the tests that
start HAProxy/NGINX/wrk — runs on two worker processes (pytest-xdist) unless -n/-p no:xdist is given. The whole suite
(`.ci/run`, no -m) stays in one process, so the lab's timing-sensitive tests never compete with other tests."""

from __future__ import annotations

import importlib.util


def pytest_load_initial_conftests(early_config, parser, args: list[str]) -> None:
    quick = any(a == "not lab" for a in args) or any(a.startswith("-m") and "not lab" in a for a in args)
    chosen = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args) or "no:xdist" in args
    if quick and not chosen and importlib.util.find_spec("xdist") is not None:
        args[:] = [*args, "-n", "2"]
