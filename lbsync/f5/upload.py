"""Certificate and key installation: chunked upload (/mgmt/shared/file-transfer/uploads with Content-Range),
then `sys crypto cert|key install` from the uploaded file. Used before the transaction, only for files whose
object is missing or whose fingerprint differs on the device."""

from __future__ import annotations

CHUNK = 512 * 1024
DOWNLOADS = "/var/config/rest/downloads/"


def upload(conn, name: str, data: bytes, *, chunk: int = CHUNK) -> str:
    """Upload bytes as NAME; returns the device's local file path."""
    total = len(data)
    for start in range(0, max(total, 1), chunk):
        part = data[start:start + chunk]
        end = start + len(part) - 1
        conn.write("POST", f"/mgmt/shared/file-transfer/uploads/{name}", data=part,
                   headers={"Content-Type": "application/octet-stream",
                            "Content-Range": f"{start}-{end}/{total}"})
    return DOWNLOADS + name


def install(conn, crypto_file) -> None:
    """Upload and install one desired.CryptoFile (sys file ssl-cert / ssl-key) under its full path."""
    local = upload(conn, crypto_file.name, crypto_file.content)
    what = "cert" if crypto_file.kind == "sys/file/ssl-cert" else "key"
    conn.write("POST", f"/mgmt/tm/sys/crypto/{what}",
               json={"command": "install", "name": crypto_file.path, "from-local-file": local})
