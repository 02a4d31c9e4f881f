"""Load and validate lbsync.yaml into a Model."""

from __future__ import annotations

from pathlib import Path

from ..errors import LbsyncError
from .loader import Marks, key_path, load_yaml
from .types import Model
from .validate import build_model

__all__ = ["load_model", "load_model_text", "Model", "Marks", "key_path"]


def load_model_text(text: str, path: str | Path) -> Model:
    path = Path(path)
    data, marks = load_yaml(text, str(path))
    return build_model(data, marks, path.resolve())


def load_model(path: str | Path) -> Model:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LbsyncError("model file not found (create one with 'lbsync init --profile NAME')",
                          file=str(path)) from None
    except OSError as exc:
        raise LbsyncError(f"cannot read the model: {exc.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise LbsyncError("the model is not UTF-8 text", file=str(path), line=line) from None
    return load_model_text(text, path)
