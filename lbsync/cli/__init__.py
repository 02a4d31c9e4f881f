"""The command line (thin): parse, call the library, print, map errors to exit codes (cli.main)."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
