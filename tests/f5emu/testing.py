"""Helpers for lbsync's F5 tests: a model pointing at a running emulator, and CLI runs."""

from __future__ import annotations

import os
from pathlib import Path

USER, PASSWORD = "admin", "s3cret-F5-pw"


def model_text(emu, pki_files: dict, *, partition: str = "Exchange", servers=("192.0.2.11", "192.0.2.12"),
               default: str = "bridge", version: int = 2016, mrsproxy: bool = True, ca_bundle: str | None = "emu",
               verify_tls: bool = True, namespaces: str | None = None, extra: str = "") -> str:
    srv = "\n".join(f"  - {{name: EX0{i + 1}, address: {a}}}" for i, a in enumerate(servers))
    ns = namespaces or ("  - {host: mail.contoso.com, vip: 203.0.113.10, services: [owa, ecp, ews, eas, oab, mapi, "
                        "rpc]}\n  - {host: autodiscover.contoso.com, vip: 203.0.113.10, services: [autodiscover]}")
    ca = f", ca_bundle: {emu.ca_file}" if ca_bundle == "emu" else (f", ca_bundle: {ca_bundle}" if ca_bundle else "")
    allow = "allow: [offload-unsupported]\n" if default == "offload" and version >= 2016 else ""
    return f"""version: 1
exchange: {{version: {version}, cu: 23, mrsproxy: {str(mrsproxy).lower()}}}
servers:
{srv}
namespaces:
{ns}
tls: {{default: {default}, server_ca: {pki_files['ca']}}}
certificate: {{cert: {pki_files['cert']}, key: {pki_files['key']}, chain: {pki_files['chain']}}}
targets:
  f5: {{host: 127.0.0.1, port: {emu.port}, partition: {partition}, verify_tls: {str(verify_tls).lower()}{ca}}}
{allow}{extra}"""


def coexistence_text(emu, pki_files: dict, *, legacy_mode: str = "bridge",
                     legacy_services: str = "[owa, ecp, eas, ews]", **kwargs) -> str:
    """model_text plus an Exchange 2010 group (two servers) and its namespace legacy.contoso.com on the same VIP."""
    text = model_text(emu, pki_files, **kwargs)
    text = text.replace("servers:\n", "groups:\n  legacy2010:\n    version: 2010\n"
                        f"    tls: {{default: {legacy_mode}}}\nservers:\n", 1)
    text = text.replace("namespaces:\n", "  - {name: EX2010A, address: 192.0.2.21, group: legacy2010}\n"
                        "  - {name: EX2010B, address: 192.0.2.22, group: legacy2010}\nnamespaces:\n", 1)
    return text.replace("\ntls:", "\n  - {host: legacy.contoso.com, vip: 203.0.113.10, group: legacy2010, "
                        f"services: {legacy_services}}}\ntls:", 1)


def write_model(path: Path, emu, pki_files: dict, **kwargs) -> Path:
    path.write_text(model_text(emu, pki_files, **kwargs))
    return path


def credentials_env(monkeypatch) -> None:
    monkeypatch.setenv("F5_USER", USER)
    monkeypatch.setenv("F5_PASSWORD", PASSWORD)


def run(args: list[str]):
    """Run the lbsync CLI in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    from lbsync.cli import main
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main.main(args=args, prog_name="lbsync")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


_LOADED: dict = {}


def load(path: Path):
    """Plan + material + desired objects (imperative form) for a model file; remembered per file content, so the
    fault-injection loops that apply the same model dozens of times do not reload the certificate each time."""
    from lbsync.cli.common import load_plan
    from lbsync.targets.f5.material import load_material
    from lbsync.targets.f5.want import build
    key = (str(path), Path(path).read_text())
    if key not in _LOADED:
        plan = load_plan(str(path))
        material = load_material(plan)
        _LOADED[key] = (plan, material, build(plan, material))
    return _LOADED[key]


def connect(plan, **kwargs):
    from lbsync.targets.f5.connection import connect as _connect
    os.environ.setdefault("F5_USER", USER)
    return _connect(plan, interactive=False, warn=lambda text: None, **kwargs)
