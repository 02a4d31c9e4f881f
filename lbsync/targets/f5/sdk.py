"""The one module that imports f5-sdk: it queues the object changes in one iControl REST transaction.

f5-sdk 3.0.21 (unmaintained since 2019) imports distutils, which Python 3.12 removed: lbsync therefore depends on
setuptools on 3.12+, whose distutils shim serves that import (tests/cli/test_pythons.py installs lbsync on 3.11, 3.12
and 3.13 and pushes to the emulator with both methods). Where f5-sdk still cannot be imported, require() says how to
get it back, or to use --method as3 (requests only).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from ...errors import LbsyncError
from .connection import Connection, DeviceError, Retryable
from .diff import Change

# iControl REST collection -> (f5-sdk organizing path, resource attribute)
ACCESSORS = {
    "ltm/monitor/http": ("ltm.monitor.https", "http"),
    "ltm/monitor/https": ("ltm.monitor.https_s", "https"),
    "ltm/monitor/smtp": ("ltm.monitor.smtps", "smtp"),
    "ltm/monitor/tcp": ("ltm.monitor.tcps", "tcp"),
    "ltm/pool": ("ltm.pools", "pool"),
    "ltm/profile/client-ssl": ("ltm.profile.client_ssls", "client_ssl"),
    "ltm/profile/server-ssl": ("ltm.profile.server_ssls", "server_ssl"),
    "ltm/profile/http": ("ltm.profile.https", "http"),
    "ltm/profile/tcp": ("ltm.profile.tcps", "tcp"),
    "ltm/profile/one-connect": ("ltm.profile.one_connects", "one_connect"),
    "ltm/persistence/source-addr": ("ltm.persistence.source_addrs", "source_addr"),
    "ltm/persistence/cookie": ("ltm.persistence.cookies", "cookie"),
    "ltm/rule": ("ltm.rules", "rule"),
    "ltm/virtual": ("ltm.virtuals", "virtual"),
    "sys/file/ssl-cert": ("sys.file.ssl_certs", "ssl_cert"),
    "sys/file/ssl-key": ("sys.file.ssl_keys", "ssl_key"),
}


def require() -> None:
    try:
        import f5.bigip  # noqa: F401 - f5-sdk is optional and slow to import: loaded only when the push runs
    except Exception as exc:  # ImportError, or distutils missing on Python >= 3.12 without setuptools
        raise LbsyncError(f"the imperative method needs f5-sdk, which cannot be imported on Python "
                          f"{sys.version_info.major}.{sys.version_info.minor} ({type(exc).__name__}: {exc}); "
                          "reinstall lbsync with its dependencies (f5-sdk, and setuptools on Python 3.12+), "
                          "or use --method as3 (requests only)") from None


def _resource(root, kind: str):
    org, attr = ACCESSORS[kind]
    node = root.tm
    for part in org.split("."):
        node = getattr(node, part)
    return getattr(node, attr)


def _device_error(exc) -> DeviceError:
    from icontrol.exceptions import iControlUnexpectedHTTPError  # f5-sdk (optional)
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
    if isinstance(inner, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return Retryable(f"connection lost during the transaction: {type(inner).__name__}")
    if isinstance(inner, iControlUnexpectedHTTPError) and inner.response is not None:
        r = inner.response
        try:
            message = r.json().get("message", r.text[:200])
        except ValueError:
            message = r.text[:200]
        cls = Retryable if r.status_code >= 500 else DeviceError
        return cls(f"{r.status_code} {message}", r.status_code)
    return DeviceError(f"{type(inner).__name__}: {inner}")


def run_transaction(conn: Connection, changes: list[Change],
                    progress: Callable[[str], None] = lambda text: None) -> None:
    """Queue every create/modify/delete of `changes` (already in apply order) and commit them atomically."""
    require()
    with warnings.catch_warnings():  # f5-sdk's own distutils LooseVersion deprecation noise
        warnings.simplefilter("ignore", DeprecationWarning)
        _transaction(conn, changes, progress)


def _transaction(conn, changes, progress) -> None:
    # f5-sdk is an optional dependency (it does not import on every Python): loaded only when a push runs
    from f5.bigip import ManagementRoot
    from f5.bigip.contexts import TransactionContextManager
    from f5.sdk_exception import F5SDKError
    from icontrol.exceptions import iControlUnexpectedHTTPError  # f5-sdk (optional)

    s = conn.settings
    try:
        root = ManagementRoot(s.host, "lbsync", "-", port=s.port, token_to_use=conn.token, verify=s.verify,
                              timeout=s.timeout)
        # f5-sdk modifies and deletes loaded resources: load them (reads, concurrently) before the transaction.
        def load(c: Change):
            part, name = c.path.strip("/").split("/", 1)
            return (c.kind, c.path), _resource(root, c.kind).load(name=name, partition=part)
        with ThreadPoolExecutor(max_workers=4) as pool:
            loaded = dict(pool.map(load, [c for c in changes if c.action in ("modify", "delete")]))
        progress(f"transaction: queueing {len(changes)} change(s)")
        with TransactionContextManager(root.tm.transactions.transaction) as api:
            for i, c in enumerate(changes, start=1):
                if i % 25 == 0:
                    progress(f"transaction: queued {i}/{len(changes)}")
                part, name = c.path.strip("/").split("/", 1)
                if c.action == "create":
                    _resource(api, c.kind).create(name=name, partition=part, **c.want)
                elif c.action == "modify":
                    loaded[(c.kind, c.path)].modify(**{k: c.want[k] for k in c.diff})
                elif c.action == "delete":
                    loaded[(c.kind, c.path)].delete()
            progress("transaction: committing")
    except (F5SDKError, iControlUnexpectedHTTPError, requests.exceptions.RequestException) as exc:
        raise _device_error(exc) from None
