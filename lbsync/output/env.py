"""The Jinja2 environment: shipped templates, overridable by a user folder (--templates DIR).

Compiled templates are kept between runs in the user's cache folder (Jinja's bytecode cache: each entry carries the
checksum of its template's source, so an edited template — shipped or under --templates — is compiled again, never
served stale). Compiling the ~20 templates a render uses costs every process about 0.3 s; loading them from the cache
about 0.01 s (bench/generation.py). The folder: $LBSYNC_CACHE_DIR, else %LOCALAPPDATA%\\lbsync\\cache on Windows,
else $XDG_CACHE_HOME/lbsync or ~/.cache/lbsync; LBSYNC_CACHE_DIR set to an empty value turns the cache off. A cache
that cannot be read or written is skipped without a word: it only saves time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2.bccache import Bucket, FileSystemBytecodeCache

from .. import __version__
from ..errors import LbsyncError
from ..resources import templates_dir


def cache_root() -> Path | None:
    """lbsync's cache folder (see the module docstring), or None when turned off."""
    chosen = os.environ.get("LBSYNC_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "lbsync" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lbsync"


class _QuietCache(FileSystemBytecodeCache):
    """Jinja's file cache, where an unreadable, damaged or unwritable entry is a miss, never an error."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:       # a truncated or foreign file: compile from the source
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:         # read-only or full disk: the next run compiles again
            pass


@lru_cache(maxsize=2)
def _bytecode_cache(kind: str) -> FileSystemBytecodeCache | None:
    """One folder per lbsync and Jinja version and per kind of environment ('text' for configurations and scripts,
    'html' with autoescape): Jinja's cache key is the template's name and file, not the environment's settings."""
    root = cache_root()
    if root is None:
        return None
    folder = root / "templates" / f"lbsync-{__version__}-jinja2-{jinja2.__version__}-{kind}"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return _QuietCache(str(folder))


def environment(user_dir: str | Path | None = None, *,
                finalize: Callable[[object], object] | None = None) -> jinja2.Environment:
    """The environment for the shipped templates, with `user_dir`'s templates first (--templates). One per folder
    and process: each template is compiled once (Jinja re-reads a template whose file changed). `finalize`: an HTML
    page's escaping of every `{{ value }}` (autoescape on); configurations and scripts escape per language in their
    renderers instead."""
    if user_dir:
        p = Path(user_dir)
        if not p.is_dir():
            raise LbsyncError("--templates: not a directory", file=str(p))
        return _environment(str(p.resolve()), finalize)
    return _environment(None, finalize)


@lru_cache(maxsize=8)
def _environment(user_dir: str | None, finalize: Callable[[object], object] | None) -> jinja2.Environment:
    search = [user_dir] if user_dir else []
    search.append(str(templates_dir()))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=finalize is not None,
        finalize=finalize,
        bytecode_cache=_bytecode_cache("html" if finalize is not None else "text"),
    )


def render_template(env: jinja2.Environment, name: str, **context) -> str:
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise LbsyncError(f"template syntax error: {exc.message}", file=exc.filename or name,
                          line=exc.lineno) from None
    except jinja2.UndefinedError as exc:
        raise LbsyncError(f"template error: {exc.message}", file=name) from None
