"""The Jinja2 environment: shipped templates, overridable by a user folder (--templates DIR)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import jinja2

from ..errors import LbsyncError
from ..resources import templates_dir


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
    )


def render_template(env: jinja2.Environment, name: str, **context) -> str:
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise LbsyncError(f"template syntax error: {exc.message}", file=exc.filename or name,
                          line=exc.lineno) from None
    except jinja2.UndefinedError as exc:
        raise LbsyncError(f"template error: {exc.message}", file=name) from None
