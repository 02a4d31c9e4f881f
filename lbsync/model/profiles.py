"""The bundled starting models (profiles/*.yaml)."""

from __future__ import annotations

import difflib

from ..errors import LbsyncError
from ..resources import profiles_dir


def _summary(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


# What `lbsync init` writes without --profile, listed first: today's Exchange (Subscription Edition, the only
# supported on-premises version since October 2025: facts.versions).
DEFAULT_PROFILE = "exchange-se"


def list_profiles() -> list[tuple[str, str]]:
    """(name, summary) of every bundled profile, the default first, then by name."""
    paths = sorted(profiles_dir().glob("*.yaml"), key=lambda p: (p.stem != DEFAULT_PROFILE, p.stem))
    return [(p.stem, _summary(p.read_text(encoding="utf-8"))) for p in paths]


def profile_text(name: str) -> str:
    names = [n for n, _ in list_profiles()]
    if name not in names:  # only bundled names: never a path
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise LbsyncError(f"no profile '{name}' ({hint}available: {', '.join(names)})")
    return (profiles_dir() / f"{name}.yaml").read_text(encoding="utf-8")
