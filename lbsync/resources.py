"""Where the shipped templates, profiles and docs are: package data when installed, the checkout otherwise."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    installed = _HERE / "_data" / name           # wheel / pip install .
    if installed.is_dir():
        return installed
    checkout = _HERE.parent / name                # source checkout / editable install
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"lbsync's {name}/ folder is missing from this installation")


def templates_dir() -> Path:
    return _find("templates")


def profiles_dir() -> Path:
    return _find("profiles")


def docs_dir() -> Path:
    """The documentation (docs/*.md): README.txt and the verify script point to docs/verify-json.md."""
    return _find("docs")
