"""`lbsync render --check`: run the real programs' own check on exactly the bytes that will be written.

Each target that can be checked implements `check(plan, files, work)` (targets.haproxy: `haproxy -c`,
targets.nginx: `nginx -t`); this module holds what they share. The rendered files are checked unchanged: the
files they name that exist only on the load balancer (certificate, key, CA bundle) are provided as throwaway
placeholders AT THE PATHS NAMED, and the listen addresses are put on a loopback interface, inside a private mount
and network namespace (Linux `unshare`; as a normal user through a user namespace), so nothing outside the check
changes and nothing in the configuration is substituted. Where no namespace can be made, the check is reported as
not run rather than run on different text. The program's complaints become one line (LbsyncError, exit 2, before
anything is written), its warnings part of the verdict. A binary that is not installed is reported, not an error.
The configuration checked was validated first (model.schemacheck): the check is never the first line of defence.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shlex
import shutil
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


READY = "lbsync-check: namespace ready"


class NoNamespace(Exception):
    """No private mount/network namespace could be made here: the exact check cannot run."""


def _nearest_existing(path: Path) -> Path:
    for parent in path.parents:
        if parent.is_dir():
            return parent
    return Path("/")


def isolated(argv: list[str], cwd: Path, *, files: dict[str, bytes], private_dirs: list[str] = (),
             addresses: list[str] = (), network: bool = False) -> tuple[int, str, list[str]]:
    """Run argv (in cwd) where every path of `files` that does not exist here holds the given content and every
    folder of `private_dirs` is a private writable copy (sockets the program creates stay in the check); with
    `network`, in a private network namespace with loopback up and `addresses` on it (the program binds its
    listeners there, whatever this machine listens on). Returns (exit code, output, notes). Runs directly when none
    of this is needed; raises NoNamespace when it is and no namespace can be made."""
    missing = {p: data for p, data in files.items() if not Path(p).exists()}
    if not missing and not private_dirs and not network:
        rc, out = run(argv, cwd)
        return rc, out, []
    unshare = shutil.which("unshare")
    if not unshare:
        raise NoNamespace("the unshare command (util-linux) is not installed")
    extra = [a for a in dict.fromkeys(addresses) if a and not ipaddress.ip_address(a).is_loopback]
    script = _namespace_script(cwd, missing, list(private_dirs), extra if network else None, argv)
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    rc, out = run([unshare, *user, "--mount", *(["--net"] if network else []), "--fork", "sh", "-c", script], cwd)
    if READY not in out:
        raise NoNamespace(out.splitlines()[-1] if out else f"unshare exited with {rc}")
    out = "\n".join(line for line in out.splitlines() if line.strip() != READY)
    notes = [f"{p} is not on this machine: a placeholder was provided at that path for the check" for p in missing]
    if network:
        notes.append("listeners bound in a private network namespace" +
                     (f" (with {', '.join(extra)} on its loopback)" if extra else ""))
    return rc, out, notes


def _namespace_script(cwd: Path, missing: dict[str, bytes], dirs: list[str], addresses: list[str] | None,
                      argv: list[str]) -> str:
    """The shell steps inside the new namespaces: overlay the nearest existing folder of each missing path (and each
    private folder) with a writable layer holding the placeholders, bring loopback up with the addresses (None: no
    network namespace), then exec the program."""
    stage = cwd / "overlay"
    wanted = [(Path(p), data) for p, data in missing.items()] + [(Path(d) / ".lbsync-dir", None) for d in dirs]
    roots: list[Path] = []
    for path, _ in wanted:
        root = _nearest_existing(path)
        if not any(root == r or r in root.parents for r in roots):
            roots = [r for r in roots if root not in r.parents] + [root]
    lines = ["set -e"]
    for n, root in enumerate(roots):
        upper, work = stage / f"u{n}", stage / f"w{n}"
        work.mkdir(parents=True, exist_ok=True)
        for path, data in wanted:
            if root == path.parent or root in path.parents:
                target = upper / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                if data is not None:
                    target.write_bytes(data)
                    target.chmod(0o644)
        upper.mkdir(parents=True, exist_ok=True)
        lines.append(f"mount -t overlay overlay -o lowerdir={shlex.quote(str(root))},"
                     f"upperdir={shlex.quote(str(upper))},workdir={shlex.quote(str(work))} {shlex.quote(str(root))}")
    if addresses is not None:
        lines.append("ip link set lo up")
        for a in addresses:
            version = ipaddress.ip_address(a).version
            lines.append(f"ip addr add {a}/{32 if version == 4 else 128} dev lo" + (" nodad" if version == 6 else ""))
    lines.append(f"echo {shlex.quote(READY)} >&2")
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv))
    return "\n".join(lines)


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
