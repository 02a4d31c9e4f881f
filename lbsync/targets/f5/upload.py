"""Certificate and key installation: chunked upload (/mgmt/shared/file-transfer/uploads with Content-Range),
then `sys crypto cert|key install` from the uploaded file, then the uploaded file is deleted
(`tmsh run util unix-rm`, POST /mgmt/tm/util/unix-rm, as F5's own Ansible modules do): the key is uploaded
unencrypted and must not stay in /var/config/rest/downloads. The delete runs after the install and also when
the upload or the install fails. Used before the transaction, only for files whose object is missing or whose
fingerprint differs on the device.

A delete that fails is repeated once (rm is idempotent: a file already gone counts as deleted). If it fails
again, UploadLeft stops the apply (exit 1, never retried as a whole: a retry would find the file installed and
never delete the upload) and names the file with the command that deletes it by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from .connection import Connection, DeviceError
from .files import CryptoFile

CHUNK = 512 * 1024
DOWNLOADS = "/var/config/rest/downloads/"
UNIX_RM = "/mgmt/tm/util/unix-rm"
MISSING = "No such file or directory"


class UploadLeft(DeviceError):
    """An uploaded certificate or key could not be deleted from the device: final, exit 1."""


def upload(conn: Connection, name: str, data: bytes, *, chunk: int = CHUNK) -> str:
    """Upload bytes as NAME; returns the device's local file path."""
    total = len(data)
    for start in range(0, max(total, 1), chunk):
        part = data[start:start + chunk]
        end = start + len(part) - 1
        conn.write("POST", f"/mgmt/shared/file-transfer/uploads/{name}", data=part,
                   headers={"Content-Type": "application/octet-stream",
                            "Content-Range": f"{start}-{end}/{total}"})
    return DOWNLOADS + name


def remove(conn: Connection, name: str, *, attempts: int = 2) -> str | None:
    """Delete /var/config/rest/downloads/NAME. None once it is gone, else why it could not be deleted.

    The device answers 200 with rm's complaint in commandResult: "No such file or directory" means the file is
    gone (an earlier attempt deleted it and its answer was lost); any other complaint is a failure."""
    why = "not attempted"
    for _ in range(attempts):
        try:
            body = conn.write("POST", UNIX_RM, json={"command": "run", "utilCmdArgs": DOWNLOADS + name}) or {}
        except DeviceError as exc:
            why = str(exc)
            continue
        said = str(body.get("commandResult") or "").strip()
        if not said or MISSING in said:
            return None
        why = said.splitlines()[0]
    return why


def left_behind(crypto_file: CryptoFile, why: str) -> str:
    what = "private key" if crypto_file.kind == "sys/file/ssl-key" else "certificate"
    local = DOWNLOADS + crypto_file.name
    return (f"the uploaded {what} {local} is still on the BIG-IP (deleting it failed twice: {why}); delete it "
            f"by hand: tmsh run util unix-rm {local}")


def install(conn: Connection, crypto_file: CryptoFile, on_installed: Callable[[], None] = lambda: None) -> None:
    """Upload and install one desired.CryptoFile (sys file ssl-cert / ssl-key) under its full path, then delete
    the upload. `on_installed` runs as soon as the device has the object (before the delete)."""
    what = "cert" if crypto_file.kind == "sys/file/ssl-cert" else "key"
    try:
        local = upload(conn, crypto_file.name, crypto_file.content)
        conn.write("POST", f"/mgmt/tm/sys/crypto/{what}",
                   json={"command": "install", "name": crypto_file.path, "from-local-file": local})
    except BaseException as exc:
        why = remove(conn, crypto_file.name)
        if why is not None and isinstance(exc, DeviceError):
            raise UploadLeft(f"{exc}; and {left_behind(crypto_file, why)}", exc.status) from None
        raise
    on_installed()
    why = remove(conn, crypto_file.name)
    if why is not None:
        raise UploadLeft(left_behind(crypto_file, why))
