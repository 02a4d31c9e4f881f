"""`lbsync render --check`: run the real programs' own check on what is about to be written.

HAProxy: `haproxy -c -f haproxy.cfg`. NGINX: `nginx -t` on a wrapper nginx.conf that loads the stream module when
it is dynamic and includes the generated files in `http { }` / `stream { }`. Files the configuration names but
that only exist on the load balancer (certificate, key, CA bundle) are replaced in the checked copy by throwaway
placeholders; `nginx -t` binds its listeners, so the checked copy listens on free loopback ports. Each such
substitution is reported. A verdict line per target goes to stderr; a rejection raises LbsyncError (exit 2)
before anything is written; a binary that is not installed is reported, not an error.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import LbsyncError

TIMEOUT_S = 60


def say(text: str) -> None:
    print(f"check: {text}", file=sys.stderr)


def _placeholder_pem(folder: Path) -> dict[str, Path]:
    """A self-signed certificate and key (PEM) for files that only exist on the load balancer."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

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


def _substitute_missing(text: str, paths: dict[str, str], placeholders: dict[str, Path], notes: list[str]) -> str:
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


def _run(argv: list[str], cwd: Path) -> tuple[int, str]:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return 1, f"{argv[0]} did not finish within {TIMEOUT_S}s"
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _reject(program: str, output: str, checked: dict[str, Path]) -> LbsyncError:
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


def _warnings(output: str, checked: dict[str, Path]) -> list[str]:
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


def _verdict(program: str, warnings: list[str], notes: list[str]) -> str:
    text = f"{program}: configuration valid"
    if warnings:
        text += f", with {len(warnings)} WARNING(S): " + " | ".join(warnings)
    return text + (f" ({'; '.join(notes)})" if notes else "")


def check_haproxy(plan, files: dict, work: Path) -> str:
    binary = shutil.which("haproxy")
    if not binary:
        return "haproxy is not installed here: haproxy/haproxy.cfg was NOT checked"
    from .haproxy import CONFIG
    notes: list[str] = []
    text = files[CONFIG].content
    placeholders = _placeholder_pem(work)
    text = _substitute_missing(text, {plan.model.targets.haproxy.cert_path: "combined", plan.server_ca: "cert"},
                               placeholders, notes)
    text = re.sub(r"(stats socket )\S+", rf"\g<1>{work}/admin.sock", text)
    cfg = work / "haproxy.cfg"
    cfg.write_text(text)
    rc, out = _run([binary, "-c", "-f", str(cfg)], work)
    if rc != 0:
        raise _reject("haproxy -c", out, {CONFIG: cfg})
    return _verdict("haproxy -c", _warnings(out, {CONFIG: cfg}), notes)


def stream_module(binary: str) -> str | None:
    """What the stream context needs: None when the module is built in, the path of ngx_stream_module.so when it
    is dynamic, "" when this nginx has no stream module at all."""
    rc, out = _run([binary, "-V"], Path.cwd())
    if "--with-stream=dynamic" not in out:
        return None if "--with-stream" in out else ""
    m = re.search(r"--modules-path=(\S+)", out)
    candidates = [Path(m.group(1))] if m else []
    candidates += [Path("/usr/lib/nginx/modules"), Path("/usr/lib64/nginx/modules"), Path("/usr/share/nginx/modules")]
    for folder in candidates:
        so = folder / "ngx_stream_module.so"
        if so.exists():
            return str(so)
    return ""


def nginx_wrapper(folder: Path, http_conf: Path, stream_conf: Path | None, module: str | None,
                  *, extra_main: str = "") -> Path:
    """A complete nginx.conf that includes the generated files; temp paths and pid stay in folder."""
    lines = []
    if module:
        lines.append(f"load_module {module};")
    lines += [f"pid {folder}/nginx.pid;", "error_log stderr notice;", extra_main,
              "events { worker_connections 4096; }", "http {",
              "    access_log off;", f"    client_body_temp_path {folder}/body;",
              f"    proxy_temp_path {folder}/proxy;", f"    fastcgi_temp_path {folder}/fastcgi;",
              f"    uwsgi_temp_path {folder}/uwsgi;", f"    scgi_temp_path {folder}/scgi;",
              f"    include {http_conf};", "}"]
    if stream_conf:
        lines += ["stream {", f"    include {stream_conf};", "}"]
    wrapper = folder / "nginx.conf"
    wrapper.write_text("\n".join(ln for ln in lines if ln) + "\n")
    return wrapper


_LISTEN = re.compile(r"^(\s*listen\s+)(?!unix:)(\S+?)(\s|;)", re.M)


def _loopback_listeners(text: str, ports: dict[str, int]) -> str:
    """Map every `listen ADDR:PORT` to 127.0.0.1 and a free port (same ADDR:PORT, same free port)."""
    def repl(m: re.Match) -> str:
        addr = m.group(2)
        if addr not in ports:
            ports[addr] = free_port()
        return f"{m.group(1)}127.0.0.1:{ports[addr]}{m.group(3)}"
    return _LISTEN.sub(repl, text)


def check_nginx(plan, files: dict, work: Path) -> str:
    binary = shutil.which("nginx")
    if not binary:
        return "nginx is not installed here: nginx/lbsync.conf was NOT checked"
    from .nginx import HTTP_CONF, STREAM_CONF
    notes: list[str] = []
    placeholders = _placeholder_pem(work)
    target = plan.model.targets.nginx
    missing = {target.cert_path: "cert", target.key_path: "key", plan.server_ca: "cert"}
    ports: dict[str, int] = {}
    written: dict[str, Path] = {}
    for rel in (HTTP_CONF, STREAM_CONF):
        if rel not in files:
            continue
        text = _substitute_missing(files[rel].content, missing, placeholders, notes)
        text = _loopback_listeners(text, ports)
        text = re.sub(r"unix:\S+?/(lbsync-nginx-)", rf"unix:{work}/\g<1>", text)
        written[rel] = work / Path(rel).name
        written[rel].write_text(text)
    if ports:
        notes.append("listeners moved to free loopback ports for the check (nginx -t binds them)")
    module = stream_module(binary) if STREAM_CONF in written else None
    if module == "":
        raise LbsyncError("nginx has no stream module here (Debian: apt install libnginx-mod-stream); "
                          "nginx/lbsync-stream.conf cannot be checked")
    wrapper = nginx_wrapper(work, written[HTTP_CONF], written.get(STREAM_CONF), module,
                            extra_main="user root;" if os.geteuid() == 0 else "")
    rc, out = _run([binary, "-t", "-q", "-c", str(wrapper), "-p", str(work), "-e", "stderr"], work)
    if rc != 0:
        raise _reject("nginx -t", out, written)
    return _verdict("nginx -t", _warnings(out, written), notes)


CHECKERS = {"haproxy": check_haproxy, "nginx": check_nginx}


def check_files(plan, files: dict, targets: list[str]) -> list[str]:
    """Check the rendered files of these targets with the real programs; returns the verdict lines (also printed).
    Raises LbsyncError when a program rejects its configuration."""
    verdicts = []
    for target in targets:
        checker = CHECKERS.get(target)
        if checker is None:
            continue
        with tempfile.TemporaryDirectory(prefix=f"lbsync-check-{target}-") as tmp:
            work = Path(tmp)
            if target == "nginx" and plan.model.targets.nginx.plus:
                verdict = ("nginx -t: NOT checked — targets.nginx.plus is true and NGINX Plus directives (ntlm, "
                           "health_check, match, zone) cannot be checked with open-source nginx; run nginx -t on "
                           "the Plus host")
            else:
                verdict = checker(plan, files, work)
        say(verdict)
        verdicts.append(verdict)
    return verdicts
