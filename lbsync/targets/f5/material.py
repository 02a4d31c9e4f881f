"""The files lbsync installs on the BIG-IP: the model's certificate (leaf, key, chain) and the servers' CA.

Loading goes through lbsync.certs.load (PFX or PEM); this module only turns the bundle into PEM bytes.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization  # only when there is a certificate to load

from ...certs.load import load_model_bundle, read_file
from ...errors import LbsyncError
from ...plan.types import Plan
from .files import Material


def load_material(plan: Plan, *, need_key: bool = True) -> Material | None:
    """Material for the model's certificate: section, or None when the model has none. need_key=False (render:
    the configuration names the files, it does not carry them): a PEM key is not read, so an encrypted one needs
    no password; a PFX still does (its certificates are encrypted with it)."""
    model = plan.model
    server_ca = None
    if model.tls.server_ca is not None:
        line, col = model.marks.at(("tls", "server_ca"))
        where = {"file": model.marks.file, "line": line, "col": col}
        try:
            server_ca = read_file(model.tls.server_ca)
        except LbsyncError as exc:
            raise LbsyncError(f"cannot read tls.server_ca {model.tls.server_ca}: {exc.message}", **where) from None
        if b"-----BEGIN CERTIFICATE-----" not in server_ca:
            raise LbsyncError(f"tls.server_ca {model.tls.server_ca} holds no PEM certificate", **where)
    if model.certificate is None:
        return Material(server_ca=server_ca) if server_ca else None
    bundle = load_model_bundle(model, with_key=need_key)
    if need_key and bundle.key is None:
        line, col = model.marks.at(("certificate",), key=True)
        raise LbsyncError("the certificate has no private key; the F5 client-ssl profile needs one",
                          file=model.marks.file, line=line, col=col, key="certificate")
    pem = serialization.Encoding.PEM
    key = None
    if bundle.key is not None:
        key = bundle.key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    chain = [c for c in bundle.chain if c.subject != c.issuer]  # roots are not sent
    return Material(cert=bundle.leaf.public_bytes(pem), key=key,
                    chain=b"".join(c.public_bytes(pem) for c in chain) or None, server_ca=server_ca)
