"""What both push methods (imperative, AS3) do on the device: the safety threshold, installing the certificate
and key files before the objects that use them, removing files a failed apply added, and what they return."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import LbsyncError
from .connection import Connection, DeviceError
from .diff import Change, summary
from .upload import install

MAX_SAFE_DELETE_SHARE = 0.3   # as octoDNS: more than 30 % of lbsync's objects deleted needs --force
MIN_EXISTING = 10             # ... once lbsync owns at least this many objects

Progress = Callable[[str], None]


@dataclass
class Preview:
    """A dry run: every change the apply would make, and what the method adds to the report (AS3: tenant)."""
    changes: list[Change]
    extra: dict = field(default_factory=dict)


@dataclass
class Result:
    changes: list[Change]
    applied: bool = False
    attempts: int = 0
    installed: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        return summary(self.changes)

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]


def check_safety(changes: list[Change], *, force: bool) -> None:
    owned = [c for c in changes if c.action in ("modify", "delete", "unchanged") and c.have is not None]
    deletes = [c for c in changes if c.action == "delete"]
    if force or len(owned) < MIN_EXISTING or not deletes:
        return
    share = len(deletes) / len(owned)
    if share > MAX_SAFE_DELETE_SHARE:
        raise LbsyncError(f"refusing to delete {len(deletes)} of the {len(owned)} objects lbsync owns on the "
                          f"device ({share:.0%} > {MAX_SAFE_DELETE_SHARE:.0%}); check the model and the "
                          "partition, then re-run with --force")


def install_files(conn: Connection, changes: list[Change], progress: Progress,
                  done: list[Change] | None = None) -> list[Change]:
    """Install missing/different certificate and key files (outside the transaction), deleting each upload right
    after its install (upload.install). Each installed file is appended to `done` as soon as the device has it, so
    a failure part-way (an upload that cannot be deleted included) can remove what was added."""
    done = [] if done is None else done
    todo = [c for c in changes if c.crypto and c.action in ("create", "modify")]
    for i, c in enumerate(todo, start=1):
        if c.file.content is None:
            raise LbsyncError(f"no content for {c.path}: the model's certificate could not be loaded")
        progress(f"installing {c.path} ({i}/{len(todo)})")
        install(conn, c.file, on_installed=lambda c=c: done.append(c))  # then its upload is deleted
    return done


def remove_unused(conn: Connection, installed: list[Change], progress: Progress) -> None:
    """Best effort: delete files this apply created that nothing references (the device refuses if in use)."""
    for c in reversed(installed):
        if c.action != "create":
            continue
        part, name = c.path.strip("/").split("/", 1)
        try:
            conn.write("DELETE", f"/mgmt/tm/{c.kind}/~{part}~{name}")
            progress(f"removed {c.path} again")
        except DeviceError:
            pass
