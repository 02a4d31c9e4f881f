"""Atomic writes of a set of rendered files, and the --diff view of what would change."""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import LbsyncError


@dataclass(frozen=True)
class Output:
    content: str | bytes
    mode: int = 0o644      # key material: 0o600


def atomic_write(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    """Write via a temporary file in the same folder, fsync, chmod, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _stage(path: Path, content: str | bytes, mode: int) -> str:
    """Write content to a temporary file beside path (fsync'd, with its final mode); return the temporary name."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_all(outdir: str | Path, files: dict[str, Output]) -> list[Path]:
    """Write every file or none: all are staged as temporary files first (a failure there removes the staged
    files and any folder this call created), then each is renamed over its target."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise LbsyncError("output path exists and is not a directory", file=str(outdir))
    targets = [(outdir / rel, out) for rel, out in sorted(files.items())]
    for target, _ in targets:
        if target.is_dir():
            raise LbsyncError("exists and is a directory, not a file", file=str(target))
    created: list[Path] = []
    staged: list[tuple[str, Path]] = []
    try:
        for target, out in targets:
            missing = [d for d in [target.parent, *target.parent.parents] if not d.exists()]
            for folder in reversed(missing):
                folder.mkdir()
                created.append(folder)
            staged.append((_stage(target, out.content, out.mode), target))
    except OSError as exc:
        for tmp, _ in staged:
            os.unlink(tmp)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise LbsyncError(f"cannot write: {exc.strerror or exc}", file=str(exc.filename or outdir)) from None
    written = []
    try:
        for tmp, target in staged:
            os.replace(tmp, target)
            written.append(target)
    except OSError as exc:
        for tmp, target in staged[len(written):]:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        raise LbsyncError(f"cannot write: {exc.strerror or exc}", file=str(exc.filename or outdir)) from None
    return written


def diff_all(outdir: str | Path, files: dict[str, Output]) -> str:
    """Unified diff of what is in outdir against what would be written (key material is never shown)."""
    outdir = Path(outdir)
    chunks = []
    for rel, out in sorted(files.items()):
        target = outdir / rel
        if out.mode & 0o077 == 0:
            old = target.read_bytes() if target.exists() else None
            new = out.content.encode() if isinstance(out.content, str) else out.content
            if old != new:
                chunks.append(f"--- {target}\n+++ {target}\n(key material differs; not shown)\n")
            continue
        old_text = target.read_bytes().decode("utf-8", "replace") if target.exists() else ""  # keep CRLF as is
        new_text = out.content if isinstance(out.content, str) else out.content.decode("utf-8", "replace")
        chunks.extend(difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                           fromfile=str(target) if target.exists() else "/dev/null",
                                           tofile=str(target)))
    return "".join(chunks)
