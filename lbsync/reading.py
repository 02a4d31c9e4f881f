"""Reading the user's input files, bounded: regular files only (a FIFO or a device never blocks lbsync), and no
more bytes than such a file can plausibly hold (a model is a few kilobytes; a 50 MB model is a mistake or an
attack, refused in a line rather than parsed for a minute). Every refusal is an LbsyncError naming the file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import LbsyncError

MIB = 1024 * 1024
# The largest file of each kind lbsync reads (real ones, for comparison: a model ~2 KB, applicationHost.config
# ~200 KB, a PFX ~5 KB, the Debian CA bundle ~220 KB).
LIMITS = {"model": 1 * MIB, "evidence": 32 * MIB, "certificate": 8 * MIB, "output": 64 * MIB}


def read_bytes(path: str | Path, kind: str) -> bytes:
    """The bytes of a regular file of at most LIMITS[kind] bytes."""
    limit = LIMITS[kind]
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise LbsyncError("no such file", file=str(p)) from None
    except IsADirectoryError:
        raise LbsyncError("is a folder, expected a file", file=str(p)) from None
    except OSError as exc:
        raise LbsyncError(f"cannot read: {exc.strerror or exc}", file=str(p)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise LbsyncError("is a folder, expected a file", file=str(p))
        if not stat.S_ISREG(info.st_mode):
            raise LbsyncError("is not a regular file (a device, a pipe or a socket): lbsync reads files only",
                              file=str(p))
        if info.st_size > limit:
            raise LbsyncError(f"is {info.st_size:,} bytes; a {kind} file of more than {limit // MIB} MiB is refused",
                              file=str(p))
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise LbsyncError(f"cannot read: {exc.strerror or exc}", file=str(p)) from None
    finally:
        os.close(fd)
    if len(data) > limit:   # grew while being read
        raise LbsyncError(f"a {kind} file of more than {limit // MIB} MiB is refused", file=str(p))
    return data
