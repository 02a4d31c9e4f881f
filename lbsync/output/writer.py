"""Writes of a set of rendered files, all or nothing, and the --diff view of what would change.

A folder `render` writes is lbsync's: MANIFEST lists the files lbsync wrote there; the next render removes those it
no longer produces (a renamed server's scripts, a target no longer rendered) and never touches any other file.

Every file is first staged as a temporary file beside its target (64 at a time: written, then fsync'd eight at a
time and given its final mode through the descriptor that wrote it), then the staged files replace their targets
one by one; an existing target is moved aside first and put back if a later step fails, so a failure at any point
leaves the folder as it was (and Ctrl-C while staging leaves no temporary file). A symbolic link at a target is
replaced, never followed; folders lbsync creates are 0755 whatever the umask; key material is 0600. Works on
Windows too (no os.fchmod before Python 3.13: the mode is set by name there).
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import LbsyncError
from ..reading import read_bytes
from .text import printable

FOLDER_MODE = 0o755
MANIFEST = ".lbsync-manifest.json"   # the files lbsync wrote in a render folder (relative, '/'-separated)
SYNC_THREADS = 8                      # staged files fsync'd at once
BATCH = 64                            # staged files open at once (written, then fsync'd together)


@dataclass(frozen=True)
class Output:
    content: str | bytes
    mode: int = 0o644      # key material: 0o600


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _stage(path: Path, content: str | bytes, mode: int) -> tuple[int, str]:
    """Write content to a new temporary file beside path; return its descriptor, still open, and its name. Not yet
    durable: `_settle` syncs it and gives it its mode through the same descriptor."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        view = memoryview(_bytes(content))
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        _unlink(tmp)
        raise
    return fd, tmp


def _settle(fd: int, tmp: str, mode: int) -> None:
    """fsync a staged file and give it its final mode (mkstemp made it 0600) before it gets its name, through the
    descriptor that wrote it (never its name, which another process could have swapped for a link); where Python
    has no os.fchmod (Windows before 3.13, where a mode is only the read-only flag), by name."""
    os.fsync(fd)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:
        os.chmod(tmp, mode)


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


def read_manifest(outdir: Path) -> list[str]:
    """The files an earlier render wrote in outdir (MANIFEST), each checked to stay inside it: a damaged or
    hand-edited manifest can never make lbsync remove a file elsewhere."""
    path = outdir / MANIFEST
    if not path.is_file() or path.is_symlink():
        return []
    try:
        doc = json.loads(read_bytes(path, "output").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise LbsyncError("not lbsync's manifest (delete it if lbsync did not write it)", file=str(path)) from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise LbsyncError("not lbsync's manifest (delete it if lbsync did not write it)", file=str(path))
    out = []
    for rel in files:
        parts = rel.split("/")
        if (not rel or rel.startswith("/") or "\\" in rel or ":" in rel or any(p in ("", ".", "..") for p in parts)
                or rel == MANIFEST):
            raise LbsyncError(f"names a file outside the folder: {printable(rel)}", file=str(path))
        out.append(rel)
    return out


def stale(outdir: str | Path, files: dict[str, Output]) -> list[Path]:
    """Files an earlier render wrote in outdir that this one no longer produces and that are still there (regular
    files or links, in folders inside outdir)."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        return []
    root = outdir.resolve()
    out = []
    for rel in read_manifest(outdir):
        if rel in files:
            continue
        target = outdir / rel
        try:
            inside = target.parent.resolve().is_relative_to(root)
            there = inside and (target.is_symlink() or target.is_file())
        except (OSError, ValueError):   # a name the file system refuses (too long, NUL): not a file lbsync wrote
            there = False
        if there:
            out.append(target)
    return out


def with_manifest(files: dict[str, Output]) -> dict[str, Output]:
    """The files plus the manifest that lists them."""
    doc = {"lbsync_manifest": 1, "files": sorted(files)}
    return {**files, MANIFEST: Output(json.dumps(doc, indent=2) + "\n")}


def write_all(outdir: str | Path, files: dict[str, Output], *, manifest: bool = False) -> list[Path]:
    """Write every file or none (see the module docstring); returns the paths written. With `manifest`, the
    folder's MANIFEST is written too and the files an earlier render wrote and this one does not are removed, in
    the same all-or-nothing step."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise LbsyncError("output path exists and is not a directory", file=str(outdir))
    removed = stale(outdir, files) if manifest else []
    if manifest:
        files = with_manifest(files)
    targets = [(outdir / rel, out) for rel, out in sorted(files.items())]
    for target, _ in targets:
        if target.is_dir() and not target.is_symlink():
            raise LbsyncError("exists and is a directory, not a file", file=str(target))
    created: list[Path] = []
    staged: list[tuple[str, Path]] = []
    open_fds: dict[str, int] = {}          # staged files whose descriptor is still open
    current = outdir
    pool = ThreadPoolExecutor(max_workers=SYNC_THREADS)
    try:
        try:
            # a batch at a time: written, then fsync'd together in a few threads (the disk takes the flushes
            # together), then closed — a bounded number of descriptors open, every file durable before any rename
            for start in range(0, len(targets), BATCH):
                batch = targets[start:start + BATCH]
                for target, out in batch:
                    current = target
                    _make_folders(target.parent, created)
                    fd, tmp = _stage(target, out.content, out.mode)
                    staged.append((tmp, target))
                    open_fds[tmp] = fd
                settling = [(target, pool.submit(_settle, open_fds[tmp], tmp, out.mode))
                            for (tmp, target), (_, out) in zip(staged[start:], batch)]
                for target, done in settling:
                    current = target
                    done.result()
                for tmp, _ in staged[start:]:
                    os.close(open_fds.pop(tmp))
        finally:
            pool.shutdown(wait=True)       # no descriptor is closed while a thread may still use it
    except BaseException as exc:           # an error, or Ctrl-C: no temporary file is left behind
        for fd in open_fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        for tmp, _ in staged:
            _unlink(tmp)
        _remove_folders(created)
        if isinstance(exc, OSError):
            raise LbsyncError(f"cannot write: {exc.strerror or exc}", file=str(current)) from None
        raise
    written = _swap_in(staged, created, removed)
    return [t for t in written if t.name != MANIFEST]


def _move_aside(target: Path) -> str:
    """Rename target onto a fresh name of our own beside it (created empty first, so no other file is taken);
    the empty placeholder is removed again when the rename fails."""
    fd, aside = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
    os.close(fd)
    try:
        os.replace(target, aside)
    except OSError:
        _unlink(aside)
        raise
    return aside


def _swap_in(staged: list[tuple[str, Path]], created: list[Path], removed: list[Path] = ()) -> list[Path]:
    """Replace each target by its staged file (a `removed` one by nothing); on a failure put every earlier target
    back as it was."""
    done: list[tuple[Path, str | None]] = []      # (target, where its previous version was moved, or None)
    try:
        for target in removed:
            done.append((target, _move_aside(target)))
        for tmp, target in staged:
            aside = None
            if target.exists() or target.is_symlink():
                aside = _move_aside(target)
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
        order = list(removed) + [t for _, t in staged]
        failed = order[len(done)]
        raise LbsyncError(f"cannot write: {exc.strerror or exc} (nothing was changed)", file=str(failed)) from None
    for _, aside in done:
        if aside:
            _unlink(aside)
    for target in removed:    # a folder that held only removed files goes too
        try:
            target.parent.rmdir()
        except OSError:
            pass
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


def diff_all(outdir: str | Path, files: dict[str, Output], *, manifest: bool = False) -> str:
    """Unified diff of what is in outdir against what would be written (key material is never shown); with
    `manifest`, the files an earlier render wrote and this one would remove are listed too."""
    outdir = Path(outdir)
    chunks = [f"--- {t}\n+++ /dev/null\n(removed: lbsync wrote it before and no longer produces it)\n"
              for t in (stale(outdir, files) if manifest else [])]
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
