"""`lbsync f5 plan|apply --method as3`: install the certificate files, then POST the AS3 declaration.

requests only (no f5-sdk): works on every Python lbsync supports. The declaration is compared with the one the
device holds (GET /mgmt/shared/appsvcs/declare) object by object; when they are the same, nothing is posted.
The POST is asynchronous (?async=true): the task is polled until AS3 reports a result per tenant.
"""

from __future__ import annotations

import time

from ...plan.types import Plan
from .as3 import FILE_PARTITION, declaration, desired_for_as3, tenant_app
from .connection import Connection, DeviceError, connect
from .device import Preview, Progress, Result, check_safety, checksum, install_files, remove_unused, same_state
from .diff import Change, compute
from .files import Material
from .have import read_owned
from .names import CRYPTO_KINDS
from .want import Desired

METHOD = "as3"
__all__ = ["METHOD", "require", "connect", "desired", "plan", "apply"]

DECLARE = "/mgmt/shared/appsvcs/declare"
TASK = "/mgmt/shared/appsvcs/task/"


def _app_objects(tenant_body: dict | None, app: str) -> dict:
    body = (tenant_body or {}).get(app) or {}
    return {k: v for k, v in body.items() if isinstance(v, dict) and "class" in v}


def diff_declaration(current: dict | None, wanted: dict, tenant: str, app: str) -> list[Change]:
    have = _app_objects((current or {}).get(tenant), app)
    want = _app_objects(wanted["declaration"][tenant], app)
    out = []
    for name, body in want.items():
        path = f"/{tenant}/{app}/{name}"
        kind = f"as3/{body['class']}"
        if name not in have:
            out.append(Change("create", kind, path, body, None))
        else:
            diff = {k: (have[name].get(k), v) for k, v in body.items() if have[name].get(k) != v}
            diff.update({k: (v, None) for k, v in have[name].items() if k not in body})
            out.append(Change("modify" if diff else "unchanged", kind, path, body, have[name], diff))
    out += [Change("delete", f"as3/{b['class']}", f"/{tenant}/{app}/{n}", None, b)
            for n, b in have.items() if n not in want]
    # a declaration replaces the whole tenant: another application in it goes away, and the plan must say so
    # (each counts in the delete share and the checksum like any other delete)
    others = (current or {}).get(tenant) or {}
    out += [Change("delete", "as3/Application", f"/{tenant}/{name}", None, body)
            for name, body in others.items()
            if name != app and isinstance(body, dict) and body.get("class") == "Application"]
    return out


def require() -> None:
    """Nothing beyond requests: AS3 works on every Python lbsync supports."""


def desired(plan: Plan, material: Material | None) -> Desired:
    return desired_for_as3(plan, material)


def _current(conn: Connection) -> dict | None:
    return conn.get(DECLARE, missing_ok=True)


def _file_changes(conn: Connection, want: Desired) -> list[Change]:
    have = read_owned(conn, FILE_PARTITION, kinds=CRYPTO_KINDS)
    files_only = Desired(want.partition, [], want.files)
    return [c for c in compute(files_only, have) if c.action != "delete"]  # AS3 leaves old files alone


def _read(conn: Connection, plan: Plan, material: Material | None, wanted: dict) -> tuple[list[Change],
                                                                                          list[Change], str]:
    """(file changes, declaration changes, the checksum of both: device.checksum)."""
    tenant, app = tenant_app(plan.model.targets.f5.partition)
    files = _file_changes(conn, desired(plan, material))
    objects = diff_declaration(_current(conn), wanted, tenant, app)
    return files, objects, checksum(files + objects)


def plan(conn: Connection, plan: Plan, material: Material | None, *,
         progress: Progress = lambda t: None) -> Preview:
    """The certificate files to install and the declaration compared object by object (changes nothing)."""
    tenant, app = tenant_app(plan.model.targets.f5.partition)
    files, objects, state = _read(conn, plan, material, declaration(plan, material))
    return Preview(files + objects, {"tenant": tenant, "application": app}, state)


def apply(conn: Connection, plan: Plan, material: Material | None, *, force: bool = False,
          progress: Progress = lambda t: None, poll_interval: float = 0.5, poll_timeout: float = 600.0,
          expected_checksum: str | None = None) -> Result:
    """Install the files, then POST the declaration when it differs, and wait for AS3's result per tenant;
    refused, with nothing written, when the device no longer holds what the plan was made from."""
    tenant, app = tenant_app(plan.model.targets.f5.partition)
    wanted = declaration(plan, material)
    files, objects, state = _read(conn, plan, material, wanted)
    same_state(expected_checksum, state)
    result = Result(files + objects)
    if not result.pending:
        return result
    check_safety(objects, force=force)
    installed: list[Change] = []
    try:
        install_files(conn, files, progress, installed)
        if any(c.action != "unchanged" for c in objects):
            progress(f"posting the AS3 declaration for tenant {tenant}")
            task = conn.write("POST", DECLARE + "?async=true", json=wanted)
            results = _poll(conn, task, progress, poll_interval, poll_timeout)
            failed = [r for r in results if r.get("code") not in (200, 0) and r.get("message") != "no change"]
            for r in results:
                progress(f"AS3 tenant {r.get('tenant') or '-'}: {r.get('code')} {r.get('message')}"
                         + (f" ({r.get('response') or '; '.join(r.get('errors', []))})"
                            if r.get("code") not in (200, 0) else ""))
            if failed:
                r = failed[0]
                raise DeviceError(f"AS3 refused the declaration for tenant {r.get('tenant') or tenant}: "
                                  f"{r.get('code')} {r.get('message')} "
                                  f"{r.get('response') or '; '.join(r.get('errors', []))}".rstrip())
    except DeviceError:
        remove_unused(conn, installed, progress)
        raise
    result.applied = True
    result.installed = [c.path for c in installed]
    return result


def _poll(conn: Connection, task: dict | None, progress: Progress, interval: float,
          timeout: float) -> list[dict]:
    task = task or {}
    results = task.get("results") or []
    if task.get("id") is None:
        return results
    deadline = time.monotonic() + timeout
    while True:
        body = conn.get(TASK + task["id"]) or {}
        results = body.get("results") or []
        if results and not (results[0].get("code") == 0 and results[0].get("message") == "in progress"):
            return results
        if time.monotonic() > deadline:
            raise DeviceError(f"AS3 task {task['id']} did not finish within {timeout:.0f}s")
        progress("AS3: in progress")
        time.sleep(interval)
