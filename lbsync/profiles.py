"""The bundled starting models (profiles/*.yaml)."""

from __future__ import annotations

from .errors import LbsyncError
from .resources import profiles_dir


def _summary(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def list_profiles() -> list[tuple[str, str]]:
    return [(p.stem, _summary(p.read_text(encoding="utf-8"))) for p in sorted(profiles_dir().glob("*.yaml"))]


def profile_text(name: str) -> str:
    path = profiles_dir() / f"{name}.yaml"
    if not path.is_file():
        names = ", ".join(n for n, _ in list_profiles())
        raise LbsyncError(f"no profile '{name}' (available: {names})")
    return path.read_text(encoding="utf-8")
