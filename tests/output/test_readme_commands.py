"""README.txt's certificate commands run as printed, and write the files the load balancers' configurations name;
F5 renders need no key password (the configuration names the key file, it does not carry the key)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

PASSWORD = "pfx-Pa55 word"


def _model(folder: Path, pki_files: dict, *, key: Path, password_env: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pw = f", password_env: {password_env}" if password_env else ""
    path = folder / "lbsync.yaml"
    path.write_text(f"""version: 1
exchange: {{version: 2019, cu: 14}}
servers:
  - {{name: EX01, address: 192.0.2.11}}
  - {{name: EX02, address: 192.0.2.12}}
namespaces:
  - {{host: mail.contoso.com, vip: 203.0.113.10, services: [owa, ecp, ews, eas, oab, mapi]}}
  - {{host: autodiscover.contoso.com, vip: 203.0.113.10, services: [autodiscover]}}
tls: {{default: bridge, server_ca: {pki_files['ca']}}}
certificate: {{cert: {pki_files['cert']}, key: {key}, chain: {pki_files['chain']}{pw}}}
targets:
  haproxy: {{cert_path: /etc/haproxy/certs/mail.pem}}
  nginx: {{plus: true, cert_path: /etc/nginx/tls/mail.crt, key_path: /etc/nginx/tls/mail.key}}
  f5: {{host: bigip.example.net, partition: Exchange}}
""")
    return path


def _run(args: list[str], cwd: Path, env: dict | None = None, shell: bool = False) -> subprocess.CompletedProcess:
    bindir = str(Path(sys.executable).parent)   # the lbsync script of this environment, as a user's PATH has it
    full = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), **(env or {})}
    return subprocess.run(args, cwd=cwd, env=full, capture_output=True, text=True, timeout=120, shell=shell,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("folder", ["models", "my models"], ids=["plain", "space-in-path"])
def test_every_cert_export_line_runs_as_printed_and_writes_what_the_configs_name(tmp_path, pki_files, folder):
    model = _model(tmp_path / folder, pki_files, key=pki_files["key"])
    work = tmp_path / "work"
    work.mkdir()
    rendered = _run([sys.executable, "-m", "lbsync", "render", str(model), "-o", "out"], cwd=work)
    assert rendered.returncode == 0, rendered.stderr
    readme = (work / "out" / "README.txt").read_text()
    commands = re.findall(r"^[\s\d.]*(lbsync cert export .+)$", readme, re.M)
    assert [c.split("--format ")[1].split()[0] for c in commands] == ["haproxy", "nginx", "f5"]
    for command in commands:
        proc = _run(["bash", "-c", command], cwd=work)
        assert proc.returncode == 0, (command, proc.stderr)
    # what README.txt says to copy exists, and is what the configurations point at
    haproxy_cfg = (work / "out" / "haproxy" / "haproxy.cfg").read_text()
    assert "crt /etc/haproxy/certs/mail.pem" in haproxy_cfg
    assert "copy lbsync-certs/haproxy/mail.pem there" in readme
    nginx_conf = (work / "out" / "nginx" / "lbsync.conf").read_text()
    assert "ssl_certificate     /etc/nginx/tls/mail.crt;" in nginx_conf or "/etc/nginx/tls/mail.crt" in nginx_conf
    assert "copy lbsync-certs/nginx/mail.crt and lbsync-certs/nginx/mail.key there" in readme
    for rel, private in (("haproxy/mail.pem", True), ("nginx/mail.crt", False), ("nginx/mail.key", True),
                         ("f5/lbsync.crt", False), ("f5/lbsync.key", True), ("f5/lbsync-chain.crt", False)):
        path = work / "lbsync-certs" / rel
        assert path.is_file(), rel
        if private:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, rel
            assert b"PRIVATE KEY" in path.read_bytes()


def test_f5_render_needs_no_key_password(tmp_path, pki_files, pki):
    """An encrypted PEM key, its password variable unset, no terminal: render (F5 tmsh and AS3, HAProxy, NGINX,
    Exchange) writes the same as with the password; cert export, which writes the key, still asks for it."""
    encrypted = tmp_path / "mail-encrypted.key"
    key = serialization.load_pem_private_key(pki_files["key"].read_bytes(), None)
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(PASSWORD.encode())))
    model = _model(tmp_path / "m", pki_files, key=encrypted, password_env="LBSYNC_TEST_KEY_PASSWORD")
    env_without = {k: v for k, v in os.environ.items() if k != "LBSYNC_TEST_KEY_PASSWORD"}
    outputs = {}
    for name, extra in (("without", {}), ("with", {"LBSYNC_TEST_KEY_PASSWORD": PASSWORD})):
        proc = subprocess.run([sys.executable, "-m", "lbsync", "render", str(model), "-o", str(tmp_path / name)],
                              env={**env_without, **extra}, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        outputs[name] = {p.relative_to(tmp_path / name): p.read_bytes()
                         for p in (tmp_path / name).rglob("*") if p.is_file() and p.name != ".lbsync-manifest.json"}
    assert outputs["without"] == outputs["with"]
    tmsh = outputs["without"][Path("f5/lbsync.tmsh")].decode()
    assert re.search(r"sys file ssl-key /Exchange/lbsync_[0-9a-f]{12}\.key", tmsh)   # named by the certificate
    assert b"PRIVATE KEY" not in b"".join(outputs["without"].values())
    # cert export needs the key, and says how to give its password
    proc = subprocess.run([sys.executable, "-m", "lbsync", "cert", "export", str(model), "--format", "f5", "-o",
                           str(tmp_path / "certs")], env=env_without, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "LBSYNC_TEST_KEY_PASSWORD" in proc.stderr and not (tmp_path / "certs").exists()
