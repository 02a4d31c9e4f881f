"""`lbsync f5 plan` and `lbsync f5 apply --method imperative`: read, diff, install files, one transaction.

Apply, per attempt: read what lbsync owns on the device, diff against the desired objects, stop if nothing
differs; refuse if too many of lbsync's objects would be deleted (unless forced); install the certificate/key
files that are missing or differ (fingerprint); then queue every object change in ONE transaction and commit.
A connection error or 5xx anywhere repeats the whole attempt after re-reading the device (an attempt whose commit
went through but whose answer was lost finds nothing left to do); a refusal (4xx) is final. Files installed by
a failed apply and referenced by nothing are removed again, so a failure leaves the device as it was. Uploaded
certificate/key files never stay in /var/config/rest/downloads: see upload.py (an upload that cannot be deleted
stops the apply, exit 1, naming it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import LbsyncError
from .connection import DeviceError, Retryable
from .desired import Desired
from .diff import Change, compute, summary
from .have import read_owned

MAX_SAFE_DELETE_SHARE = 0.3   # as octoDNS: more than 30 % of lbsync's objects deleted needs --force
MIN_EXISTING = 10             # ... once lbsync owns at least this many objects


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


def diff_device(conn, desired: Desired, *, file_partition: str | None = None, progress=lambda t: None):
    have = read_owned(conn, desired.partition, file_partition=file_partition, progress=progress)
    return compute(desired, have)


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


def install_files(conn, changes: list[Change], progress, done: list[Change] | None = None) -> list[Change]:
    """Install missing/different certificate and key files (outside the transaction), deleting each upload right
    after its install (upload.install). Each installed file is appended to `done` as soon as the device has it, so
    a failure part-way (an upload that cannot be deleted included) can remove what was added."""
    from .upload import install
    done = [] if done is None else done
    todo = [c for c in changes if c.crypto and c.action in ("create", "modify")]
    for i, c in enumerate(todo, start=1):
        if c.file.content is None:
            raise LbsyncError(f"no content for {c.path}: the model's certificate could not be loaded")
        progress(f"installing {c.path} ({i}/{len(todo)})")
        install(conn, c.file, on_installed=lambda c=c: done.append(c))  # then its upload is deleted
    return done


def remove_unused(conn, installed: list[Change], progress) -> None:
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


def apply(conn, desired: Desired, *, force: bool = False, retries: int = 2, backoff: float = 0.5,
          progress=lambda text: None) -> Result:
    from .sdk import require, run_transaction
    require()
    result = Result([])
    installed: list[Change] = []
    delay = backoff
    try:
        for attempt in range(1, retries + 2):
            result.attempts = attempt
            try:
                changes = diff_device(conn, desired, progress=progress)
                result.changes = changes
                pending = [c for c in changes if c.action != "unchanged"]
                if not pending:
                    return result
                check_safety(changes, force=force)
                install_files(conn, changes, progress, installed)
                objects = [c for c in pending if not (c.crypto and c.action != "delete")]
                if objects:
                    run_transaction(conn, objects, progress)
                result.applied = True
                result.installed = [c.path for c in installed]
                return result
            except Retryable as exc:
                if attempt > retries:
                    raise
                progress(f"attempt {attempt} failed ({exc}); re-reading the device in {delay:.1f}s")
                time.sleep(delay)
                delay *= 2
    except DeviceError:
        remove_unused(conn, installed, progress)
        raise
    return result


def plan_only(conn, desired: Desired, progress=lambda text: None) -> Result:
    return Result(diff_device(conn, desired, progress=progress))
