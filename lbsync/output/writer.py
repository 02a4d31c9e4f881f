"""Writes of a set of rendered files, all or nothing, and the --diff view of what would change.

Every file is first staged as a temporary file beside its target (written, fsync'd, final mode), then the staged
files replace their targets one by one; an existing target is moved aside first and put back if a later step
fails, so a failure at any point leaves the folder as it was. A symbolic link at a target is replaced, never
followed; folders lbsync creates are 0755 whatever the umask; key material is 0600. Works on Windows too (no
os.fchmod, which Windows Python has only from 3.13).
"""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import LbsyncError
from ..reading import read_bytes

FOLDER_MODE = 0o755


@dataclass(frozen=True)
class Output:
    content: str | bytes
    mode: int = 0o644      # key material: 0o600


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _stage(path: Path, content: str | bytes, mode: int) -> str:
    """Write content to a temporary file beside path (fsync'd, with its final mode); return the temporary name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_bytes(content))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)     # mkstemp made it 0600: the final mode before it gets its name
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _make_folders(folder: Path, created: list[Path]) -> None:
    """Create folder and its missing parents, 0755 each (a umask of 000 must not make them world-writable)."""
    missing = [d for d in [folder, *folder.parents] if not d.exists()]
    for d in reversed(missing):
        d.mkdir()
        created.append(d)
        os.chmod(d, FOLDER_MODE)


def _remove_folders(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            pass


def atomic_write(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    """One file: staged beside the target, then renamed over it. Errors name the file."""
    path = Path(path)
    try:
        write_all(path.parent, {path.name: Output(content, mode)})
    except LbsyncError as exc:
        reason = exc.message.removeprefix("cannot write: ")
        where = "" if exc.file in (None, str(path)) else f" ({exc.file})"
        raise LbsyncError(f"cannot write: {reason}{where}", file=str(path)) from None


def write_all(outdir: str | Path, files: dict[str, Output]) -> list[Path]:
    """Write every file or none (see the module docstring); returns the paths written."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise LbsyncError("output path exists and is not a directory", file=str(outdir))
    targets = [(outdir / rel, out) for rel, out in sorted(files.items())]
    for target, _ in targets:
        if target.is_dir() and not target.is_symlink():
            raise LbsyncError("exists and is a directory, not a file", file=str(target))
    created: list[Path] = []
    staged: list[tuple[str, Path]] = []
    current = outdir
    try:
        for target, out in targets:
            current = target
            _make_folders(target.parent, created)
            staged.append((_stage(target, out.content, out.mode), target))
    except OSError as exc:
        for tmp, _ in staged:
            _unlink(tmp)
        _remove_folders(created)
        raise LbsyncError(f"cannot write: {exc.strerror or exc}", file=str(current)) from None
    return _swap_in(staged, created)


def _swap_in(staged: list[tuple[str, Path]], created: list[Path]) -> list[Path]:
    """Replace each target by its staged file; on a failure put every earlier target back as it was."""
    done: list[tuple[Path, str | None]] = []      # (target, where its previous version was moved, or None)
    try:
        for tmp, target in staged:
            aside = None
            if target.exists() or target.is_symlink():
                fd, aside = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
                os.close(fd)                   # a name of our own; the previous version is renamed onto it
                os.replace(target, aside)
            try:
                os.replace(tmp, target)
            except OSError:
                if aside:
                    os.replace(aside, target)
                raise
            done.append((target, aside))
    except OSError as exc:
        for target, aside in reversed(done):
            try:
                if aside:
                    os.replace(aside, target)
                else:
                    os.unlink(target)
            except OSError:
                pass
        for tmp, _ in staged:
            _unlink(tmp)
        _remove_folders(created)
        failed = staged[len(done)][1]
        raise LbsyncError(f"cannot write: {exc.strerror or exc} (nothing was changed)", file=str(failed)) from None
    for _, aside in done:
        if aside:
            _unlink(aside)
    return [target for _, target in staged]


def _old_text(target: Path) -> tuple[bytes | None, str | None]:
    """(content of what is at target, or a note when it is not a regular file lbsync would read)."""
    if target.is_symlink():
        return None, "a symbolic link: it would be replaced by a file (never followed, its target not shown)"
    if not target.exists():
        return b"", None
    if not stat.S_ISREG(target.stat().st_mode):
        return None, "not a regular file: it would be replaced"
    return read_bytes(target, "output"), None


def diff_all(outdir: str | Path, files: dict[str, Output]) -> str:
    """Unified diff of what is in outdir against what would be written (key material is never shown)."""
    outdir = Path(outdir)
    chunks = []
    for rel, out in sorted(files.items()):
        target = outdir / rel
        old, note = _old_text(target)
        if note:
            chunks.append(f"--- {target}\n+++ {target}\n({note})\n")
            continue
        new = _bytes(out.content)
        if out.mode & 0o077 == 0:
            if old != new:
                chunks.append(f"--- {target}\n+++ {target}\n(key material differs; not shown)\n")
            continue
        old_text = old.decode("utf-8", "replace")          # keep CRLF as is
        new_text = new.decode("utf-8", "replace")
        exists = target.exists()
        chunks.extend(difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                           fromfile=str(target) if exists else "/dev/null", tofile=str(target)))
    return "".join(chunks)
