"""`lbsync render --check`: run the real programs' own check on what is about to be written.

Each target that can be checked implements `check(plan, files, work)` (targets.haproxy: `haproxy -c`,
targets.nginx: `nginx -t`); this module holds what they share: running the program with a timeout, placeholder
certificates for files that only exist on the load balancer, turning the program's complaints into one line
(LbsyncError, exit 2, before anything is written) and its warnings into the verdict. A binary that is not
installed is reported, not an error.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..errors import LbsyncError

TIMEOUT_S = 60


def say(text: str) -> None:
    print(f"check: {text}", file=sys.stderr)


def placeholder_pem(folder: Path) -> dict[str, Path]:
    """A self-signed certificate and key (PEM) for files that only exist on the load balancer."""


    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbsync check placeholder")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    out = {"cert": folder / "placeholder.crt", "key": folder / "placeholder.key",
           "combined": folder / "placeholder-combined.pem"}
    out["cert"].write_bytes(cert_pem)
    out["key"].write_bytes(key_pem)
    out["combined"].write_bytes(cert_pem + key_pem)
    for p in out.values():
        p.chmod(0o600)
    return out


def substitute_missing(text: str, paths: dict[str, str], placeholders: dict[str, Path], notes: list[str]) -> str:
    """Replace each named file that does not exist here by its placeholder (noted for the verdict)."""
    for path, kind in paths.items():
        if path and not Path(path).exists() and path in text:
            text = text.replace(path, str(placeholders[kind]))
            notes.append(f"{path} is not on this machine: checked with a placeholder")
    return text


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run(argv: list[str], cwd: Path) -> tuple[int, str]:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return 1, f"{argv[0]} did not finish within {TIMEOUT_S}s"
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def reject(program: str, output: str, checked: dict[str, Path]) -> LbsyncError:
    """One line: the program's first complaints, with the checked copies' paths turned back into the rendered
    files' names and the offending line quoted."""
    lines = [ln for ln in output.splitlines() if ln.strip()]
    important = [ln for ln in lines if re.search(r"\[(ALERT|emerg)\]|error|invalid|unknown", ln, re.I)] or lines
    summary = " | ".join(important[:3]) or "no output"
    quoted = ""
    for rel, path in checked.items():
        m = re.search(re.escape(str(path)) + r"[:\[](\d+)", summary)
        if m and not quoted:
            number = int(m.group(1))
            text = path.read_text().splitlines()
            if 0 < number <= len(text):
                quoted = f" — {rel} line {number}: {text[number - 1].strip()}"
        summary = summary.replace(str(path), rel)
    return LbsyncError(f"{program} rejected the generated configuration: {summary}{quoted}")


def warnings(output: str, checked: dict[str, Path]) -> list[str]:
    """The program's warnings (HAProxy `[WARNING]`, NGINX `[warn]`), with the checked copies' paths turned back into
    the rendered files' names. Warnings about the check's own wrapper are not the configuration's."""
    out = []
    for line in output.splitlines():
        if not re.search(r"\[(WARNING|warn)\]", line):
            continue
        line = line.strip()
        for rel, path in checked.items():
            line = line.replace(str(path), rel)
        out.append(line)
    return out


def verdict(program: str, warnings: list[str], notes: list[str]) -> str:
    text = f"{program}: configuration valid"
    if warnings:
        text += f", with {len(warnings)} WARNING(S): " + " | ".join(warnings)
    return text + (f" ({'; '.join(notes)})" if notes else "")
