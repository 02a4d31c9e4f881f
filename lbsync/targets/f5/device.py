"""What both push methods (imperative, AS3) do on the device: the safety threshold, installing the certificate
and key files before the objects that use them, removing files a failed apply added, and what they return."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import LbsyncError
from .connection import Connection, DeviceError
from .diff import Change, summary
from .upload import install

MAX_SAFE_DELETE_SHARE = 0.3   # as octoDNS: more than 30 % of lbsync's objects deleted needs --force
MAX_SAFE_UPDATE_SHARE = 0.3   # ... and more than 30 % modified (octoDNS's MAX_SAFE_UPDATE_PCENT)
MIN_EXISTING = 10             # ... once lbsync owns at least this many objects

Progress = Callable[[str], None]


def checksum(changes: list[Change]) -> str:
    """SHA-256 of a plan (as octoDNS checks a saved plan): every object lbsync owns or wants with what would happen
    to it, the values it has where they differ (all of them for a delete) and the values it would be given. A
    device that changed in anything the plan depends on (an object of lbsync's appeared, went away, came into or
    out of line with the model, or changed a value the plan overwrites or deletes) gives another checksum; what
    lbsync neither sets nor compares (member session and state, counters) does not."""
    items = [[c.action, c.kind, c.path,
              {k: [_stable(k, h), _stable(k, w)] for k, (h, w) in c.diff.items()} if c.action == "modify" else None,
              c.want if c.action in ("create", "modify") else None,
              {k: _stable(k, v) for k, v in (c.have or {}).items()} if c.action == "delete" else None]
             for c in changes]
    text = json.dumps(sorted(items, key=lambda i: (i[1], i[2])), sort_keys=True, separators=(",", ":"),
                      default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stable(attr: str, value: object) -> object:
    """A value as the checksum sees it: pool members by name only (their session, state and monitor status change
    with health checks and drains, which a plan neither sets nor depends on)."""
    if attr == "members" and isinstance(value, list):
        return sorted(str(m.get("name")) if isinstance(m, dict) else str(m) for m in value)
    return value


class DeviceChanged(DeviceError):
    """The device no longer holds what the plan was made from: nothing was written."""


def same_state(expected: str | None, actual: str) -> None:
    if expected is not None and expected != actual:
        raise DeviceChanged("the device changed since the plan was made (what lbsync owns there is not what it "
                            "read then): nothing was written; run `lbsync f5 plan` again and review it")


@dataclass
class Preview:
    """A dry run: every change the apply would make, what the method adds to the report (AS3: tenant), and the
    checksum of what the device held when it was read."""
    changes: list[Change]
    extra: dict = field(default_factory=dict)
    device_checksum: str = ""

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]


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
    """octoDNS's thresholds: deleting or modifying more than 30 % of what lbsync owns (once it owns at least 10
    objects) needs --force."""
    owned = [c for c in changes if c.action in ("modify", "delete", "unchanged") and c.have is not None]
    if force or len(owned) < MIN_EXISTING:
        return
    for action, limit, verb in (("delete", MAX_SAFE_DELETE_SHARE, "delete"),
                                ("modify", MAX_SAFE_UPDATE_SHARE, "modify")):
        n = len([c for c in changes if c.action == action])
        share = n / len(owned)
        if n and share > limit:
            raise LbsyncError(f"refusing to {verb} {n} of the {len(owned)} objects lbsync owns on the device "
                              f"({share:.1%} > {limit:.0%}); check the model and the partition, then re-run with "
                              "--force")


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
