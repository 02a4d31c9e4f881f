"""Write the certificate in the shapes the load balancers read, at the paths their rendered configs use.

    haproxy  DIR/haproxy/lbsync.pem                    leaf, chain, key (one file)       mode 0600
    nginx    DIR/nginx/lbsync.crt (leaf + chain)       DIR/nginx/lbsync.key              key 0600
    f5       DIR/f5/lbsync.crt, DIR/f5/lbsync-chain.crt, DIR/f5/lbsync.key               key 0600

When a model sets targets.haproxy.cert_path or targets.nginx.cert_path/key_path, the file names follow
their basenames, so the rendered configurations and the exported files always agree.

The exported chain is ordered from the leaf's issuer upwards and leaves out self-signed roots (clients have
them; sending them only costs bytes). The key is written unencrypted PKCS#8 PEM (what HAProxy, NGINX and
BIG-IP read), atomically, mode 0600, and never printed.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ..errors import LbsyncError
from ..model.types import Model
from ..output.writer import Output, write_all
from .load import Bundle, spki

FORMATS = ("haproxy", "nginx", "f5")
KEY_MODE = 0o600


def ordered_chain(bundle: Bundle) -> tuple[list, list]:
    """(chain to send, dropped): walk issuers from the leaf; self-signed roots and unrelated certs dropped."""
    remaining = list(bundle.chain)
    out, current = [], bundle.leaf
    while True:
        nxt = next((c for c in remaining if c.subject == current.issuer and c.subject != c.issuer), None)
        if nxt is None:
            break
        out.append(nxt)
        remaining.remove(nxt)
        current = nxt
    return out, remaining


def model_names(model: Model | None) -> dict[str, str]:
    """File names taken from the model's targets (cert_path / key_path basenames) when it sets them."""
    if model is None:
        return {}
    t = model.targets
    return {"haproxy/lbsync.pem": f"haproxy/{Path(t.haproxy.cert_path).name}",
            "nginx/lbsync.crt": f"nginx/{Path(t.nginx.cert_path).name}",
            "nginx/lbsync.key": f"nginx/{Path(t.nginx.key_path).name}"}


EXPORT_DIR = "lbsync-certs"   # the folder README.txt's export command writes into


def export_command(model: Model, fmt: str) -> str:
    """The `lbsync cert export` line README.txt prints, runnable as printed (the model's absolute path, quoted for a
    POSIX shell and for PowerShell; the files go to lbsync-certs/ under the current folder)."""
    path = str(model.path)
    if path.startswith("-"):
        path = f"./{path}"   # never read as an option
    if not path or any(ch in path for ch in "'\u2018\u2019\u201a\u201b") or not path.isprintable():
        shown = "MODEL"   # no quoting carries it into both shells (PowerShell reads curly quotes as quotes)
    elif all(ch.isalnum() or ch in "._-/:\\+@" for ch in path):
        shown = path
    else:
        shown = f"'{path}'"
    return f"lbsync cert export {shown} --format {fmt} -o {EXPORT_DIR}"


def exported_path(model: Model, fmt_path: str) -> str:
    """Where export_command writes a default file (e.g. 'haproxy/lbsync.pem'), with the model's names."""
    return f"{EXPORT_DIR}/{model_names(model).get(fmt_path, fmt_path)}"


def export_files(bundle: Bundle, fmt: str, names: dict[str, str] | None = None) -> tuple[dict[str, Output], list]:
    """The files for one format (relative paths) and the chain certificates left out.

    names maps a default relative path to another (see model_names)."""
    if fmt not in FORMATS:
        raise LbsyncError(f"unknown export format '{fmt}' (expected one of: {', '.join(FORMATS)})")
    if bundle.key is None:
        raise LbsyncError("has no private key: nothing a load balancer could present", file=bundle.source)
    if spki(bundle.key.public_key()) != spki(bundle.leaf.public_key()):
        raise LbsyncError("the private key does not belong to the certificate; refusing to export",
                          file=bundle.source)
    pem = serialization.Encoding.PEM
    leaf = bundle.leaf.public_bytes(pem)
    chain, dropped = ordered_chain(bundle)
    chain_pem = b"".join(c.public_bytes(pem) for c in chain)
    key = bundle.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if fmt == "haproxy":
        files = {"haproxy/lbsync.pem": Output(leaf + chain_pem + key, KEY_MODE)}
    elif fmt == "nginx":
        files = {"nginx/lbsync.crt": Output(leaf + chain_pem), "nginx/lbsync.key": Output(key, KEY_MODE)}
    else:
        files = {"f5/lbsync.crt": Output(leaf), "f5/lbsync.key": Output(key, KEY_MODE)}
        if chain:
            files["f5/lbsync-chain.crt"] = Output(chain_pem)
    names = names or {}
    renamed = {names.get(rel, rel): out for rel, out in files.items()}
    if len(renamed) != len(files):
        raise LbsyncError(f"{fmt}: the certificate and the key would be written to the same file name")
    return renamed, dropped


def export_bundle(bundle: Bundle, fmt: str, outdir: str | Path,
                  names: dict[str, str] | None = None) -> tuple[list[Path], list]:
    """Write the files (atomically; key material 0600). Returns (paths written, chain certificates left out)."""
    files, dropped = export_files(bundle, fmt, names)
    return write_all(outdir, files), dropped
