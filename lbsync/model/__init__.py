"""Load and validate lbsync.yaml into a Model."""

from __future__ import annotations

import codecs
from pathlib import Path

from ..errors import LbsyncError
from ..reading import read_bytes
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
    if not path.exists() and not path.is_symlink():
        raise LbsyncError("model file not found (create one with 'lbsync init --profile NAME')", file=str(path))
    raw = read_bytes(path, "model")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Windows PowerShell 5.1 writes UTF-16 with a BOM (Out-File, '>'): read it rather than refuse it.
        try:
            return load_model_text(raw.decode("utf-16"), path)
        except UnicodeDecodeError:
            raise LbsyncError("the model starts with a UTF-16 byte order mark but is not valid UTF-16",
                              file=str(path), line=1, col=1) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LbsyncError(f"the model is not UTF-8 text (byte 0x{raw[exc.start]:02x}; save the file as UTF-8)",
                          file=str(path), line=line, col=col) from None
    return load_model_text(text, path)
