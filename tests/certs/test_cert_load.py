"""Loading the certificate: PFX (legacy 3DES, RC2-40, AES-256), PEM files, and the one-line failures."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pki import make_pfx, openssl_pfx

from lbsync.certs.load import PasswordSource, leaf_of_file, load_bundle
from lbsync.certs.pfxinfo import inspect_pfx
from lbsync.errors import LbsyncError

PW = b"S3cret-pfx!"


def pw(value: bytes = PW) -> PasswordSource:
    return PasswordSource(value=value, interactive=False)


@pytest.fixture(scope="module")
def rc2_pfx(pki, tmp_path_factory):
    return openssl_pfx(pki.leaf, [pki.intermediate], PW.decode(), tmp_path_factory.mktemp("rc2"))


@pytest.mark.parametrize("legacy", [True, False], ids=["3des-sha1", "aes256-sha256"])
def test_pfx_loads_leaf_key_and_chain(pki, tmp_path, legacy):
    path = tmp_path / "mail.pfx"
    path.write_bytes(pki.pfx(PW, legacy=legacy))
    bundle = load_bundle(pfx=path, password=pw())
    assert bundle.leaf == pki.leaf.cert
    assert bundle.chain == [pki.intermediate.cert]
    assert bundle.fingerprint_sha256 == pki.leaf.fingerprint
    assert bundle.thumbprint == pki.leaf.cert.fingerprint(hashes.SHA1()).hex().upper()
    status, note = bundle.notes[0]
    assert status == "ok"
    assert ("3DES" in note and "MAC SHA1" in note) if legacy else ("AES-256" in note and "MAC SHA256" in note)


def test_rc2_40_pfx_loads_with_a_weak_encryption_warning(pki, rc2_pfx):
    info = inspect_pfx(rc2_pfx.read_bytes())
    assert "RC2-40 (pbeWithSHAAnd40BitRC2-CBC)" in info.names
    bundle = load_bundle(pfx=rc2_pfx, password=pw())
    assert bundle.leaf == pki.leaf.cert and bundle.key is not None
    assert bundle.notes[0][0] == "warn" and "RC2-40" in bundle.notes[0][1]


def test_rc2_40_without_the_legacy_provider_says_so(rc2_pfx):
    """cryptography raises the wrong-password ValueError here; the MAC tells the two apart."""
    code = ("from lbsync.certs.load import load_bundle, PasswordSource\n"
            "from lbsync.errors import LbsyncError\n"
            "try:\n"
            f"    load_bundle(pfx={str(rc2_pfx)!r}, password=PasswordSource(value={PW!r}, interactive=False))\n"
            "except LbsyncError as e:\n    print(e)\n")
    env = {**os.environ, "CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert "the password is right" in out.stdout
    assert "RC2-40" in out.stdout and "legacy provider not loaded" in out.stdout
    wrong = code.replace(repr(PW), repr(b"nope"))
    out = subprocess.run([sys.executable, "-c", wrong], capture_output=True, text=True, env=env, timeout=60)
    assert "wrong password" in out.stdout


@pytest.mark.parametrize("legacy", [True, False])
def test_wrong_password_is_named_as_such(pki, tmp_path, legacy):
    path = tmp_path / "mail.pfx"
    path.write_bytes(pki.pfx(PW, legacy=legacy))
    with pytest.raises(LbsyncError) as exc:
        load_bundle(pfx=path, password=pw(b"Zq-not-it-7"))
    text = str(exc.value)
    assert text.startswith(f"{path}: error: wrong password for the PFX")
    assert "Zq-not-it-7" not in text and "\n" not in text


def test_mac_check_agrees_with_openssl(pki):
    for legacy in (True, False):
        info = inspect_pfx(pki.pfx(PW, legacy=legacy))
        assert info.mac_verifies(PW) is True
        assert info.mac_verifies(b"S3cret-pfx") is False


def test_corrupt_and_truncated_pfx(pki, tmp_path):
    data = pki.pfx(PW)
    for name, content in (("trunc.pfx", data[: len(data) // 2]), ("garbage.pfx", os.urandom(300)),
                          ("empty.pfx", b"")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(LbsyncError, match="not a PFX/PKCS#12 file, or a damaged one"):
            load_bundle(pfx=path, password=pw())


def test_damaged_encrypted_contents_with_the_right_password(pki, tmp_path):
    """Flip one byte inside the encrypted certificates, then fix the MAC: the password is provably right."""
    import hashlib
    import hmac as hm

    from lbsync.certs import pfxinfo
    data = bytearray(pki.pfx(PW, legacy=True))
    info = inspect_pfx(bytes(data))
    digest, salt, iterations, signed = info._mac
    start = bytes(data).index(signed)
    raw = bytes(data)
    safes = pfxinfo._children(raw, *pfxinfo._tlv(raw, start)[1:])          # the AuthenticatedSafe
    enc = next(ci for ci in safes
               if pfxinfo._oid(raw[slice(*pfxinfo._children(raw, ci[1], ci[2])[0][1:])]) == pfxinfo.OID_ENCRYPTED_DATA)
    enc_data = pfxinfo._tlv(raw, pfxinfo._children(raw, enc[1], enc[2])[1][1])
    eci = pfxinfo._children(raw, *pfxinfo._children(raw, enc_data[1], enc_data[2])[1][1:])
    assert eci[2][0] == 0x80                                                # [0] IMPLICIT encryptedContent
    data[eci[2][2] - 1] ^= 0xFF                                             # the padding block: decryption fails
    signed = bytes(data[start:start + len(signed)])
    key = pfxinfo._pkcs12_kdf("sha1", 64, pfxinfo._bmp(PW), salt, 3, iterations, 20)
    new_mac = hm.new(key, signed, hashlib.sha1).digest()
    data = bytes(data).replace(digest, new_mac)
    path = tmp_path / "damaged.pfx"
    path.write_bytes(data)
    with pytest.raises(LbsyncError, match="the password is right .* cannot be decrypted"):
        load_bundle(pfx=path, password=pw())


def test_pem_given_as_pfx_and_pfx_given_as_pem(pki_files, pki, tmp_path):
    with pytest.raises(LbsyncError, match="is a PEM file, not a PFX"):
        load_bundle(pfx=pki_files["cert"], password=pw())
    pfx = tmp_path / "m.pfx"
    pfx.write_bytes(pki.pfx(PW))
    with pytest.raises(LbsyncError, match="a PFX goes with --pfx"):
        load_bundle(cert=pfx, key=pki_files["key"], password=pw())


def test_missing_file_is_named(tmp_path):
    with pytest.raises(LbsyncError) as exc:
        load_bundle(pfx=tmp_path / "nope.pfx", password=pw())
    assert str(exc.value) == f"{tmp_path / 'nope.pfx'}: error: no such file"


def test_pem_cert_key_chain(pki, pki_files):
    bundle = load_bundle(cert=pki_files["cert"], key=pki_files["key"], chain=pki_files["chain"], password=pw())
    assert bundle.leaf == pki.leaf.cert and bundle.chain == [pki.intermediate.cert]
    assert bundle.key.private_numbers() == pki.leaf.key.private_numbers()
    # a full chain file and a HAProxy combined PEM (key inside) load without --key/--chain
    full = load_bundle(cert=pki_files["fullchain"], key=pki_files["key"], password=pw())
    assert full.leaf == pki.leaf.cert and full.chain == [pki.intermediate.cert]
    combined = load_bundle(cert=pki_files["combined"], password=pw())
    assert combined.leaf == pki.leaf.cert and combined.key is not None


def test_encrypted_pem_key_uses_the_password(pki, pki_files, tmp_path):
    enc = pki.leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(PW))
    path = tmp_path / "enc.key"
    path.write_bytes(enc)
    bundle = load_bundle(cert=pki_files["cert"], key=path, password=pw())
    assert bundle.key is not None
    with pytest.raises(LbsyncError, match="wrong password for the encrypted private key"):
        load_bundle(cert=pki_files["cert"], key=path, password=pw(b"bad"))


def test_key_file_without_a_key(pki_files):
    with pytest.raises(LbsyncError, match="holds no private key"):
        load_bundle(cert=pki_files["cert"], key=pki_files["chain"], password=pw())


def test_password_source_env_and_no_terminal(monkeypatch):
    monkeypatch.setenv("LBSYNC_T_PFX", "from-env")
    assert PasswordSource("LBSYNC_T_PFX", interactive=False).get("x.pfx") == b"from-env"
    monkeypatch.delenv("LBSYNC_T_PFX")
    with pytest.raises(LbsyncError, match=r"environment variable LBSYNC_T_PFX \(--password-env\) is not set"):
        PasswordSource("LBSYNC_T_PFX", explicit=True, interactive=False).get("x.pfx")
    with pytest.raises(LbsyncError, match="stdin is not a terminal.*set LBSYNC_T_PFX"):
        PasswordSource("LBSYNC_T_PFX", interactive=False).get("x.pfx")


def test_unprotected_pfx_needs_no_password(pki, tmp_path):
    data = pkcs12.serialize_key_and_certificates(b"m", pki.leaf.key, pki.leaf.cert, [pki.intermediate.cert],
                                                 serialization.NoEncryption())
    path = tmp_path / "open.pfx"
    path.write_bytes(data)

    class Never(PasswordSource):
        def get(self, what):
            raise AssertionError("asked for a password")
    assert load_bundle(pfx=path, password=Never()).leaf == pki.leaf.cert


def test_pfx_without_key(pki, tmp_path):
    data = make_pfx.__globals__["pkcs12"].serialize_key_and_certificates(
        b"m", None, pki.leaf.cert, None,
        serialization.BestAvailableEncryption(PW))
    path = tmp_path / "nokey.pfx"
    path.write_bytes(data)
    bundle = load_bundle(pfx=path, password=pw())
    assert bundle.key is None and bundle.leaf == pki.leaf.cert


def test_leaf_of_compare_files(pki, pki_files, tmp_path):
    for name in ("cert", "fullchain", "combined"):
        assert leaf_of_file(pki_files[name], pw()) == pki.leaf.cert
    der = tmp_path / "leaf.der"
    der.write_bytes(pki.leaf.cert.public_bytes(serialization.Encoding.DER))
    assert leaf_of_file(der, pw()) == pki.leaf.cert
    pfx = tmp_path / "x.pfx"
    pfx.write_bytes(pki.pfx(PW))
    assert leaf_of_file(pfx, pw()) == pki.leaf.cert


def test_interactive_prompt_is_hidden_and_on_stderr(pki, tmp_path):
    from click.testing import CliRunner
    path = tmp_path / "mail.pfx"
    path.write_bytes(pki.pfx(PW))
    runner = CliRunner()
    with runner.isolation(input=PW.decode() + "\n") as (out, err, *_):
        bundle = load_bundle(pfx=path, password=PasswordSource("LBSYNC_T_NOT_SET", interactive=True))
        shown_out, shown_err = out.getvalue(), err.getvalue()
    assert bundle.leaf == pki.leaf.cert
    assert f"Password for {path}" in shown_err.decode() and shown_out == b""
    assert PW not in shown_out + shown_err


@pytest.mark.parametrize("form", ["ascii-76", "ascii-one-line", "utf16-bom", "utf8-bom-crlf"])
def test_a_base64_pfx_as_export_exchangecertificate_writes_it_loads(pki, tmp_path, form):
    """Export-ExchangeCertificate without -BinaryEncoded writes the PFX as Base64 text."""
    import base64
    import codecs
    der = pki.pfx(PW)
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 76] for i in range(0, len(b64), 76)]
    data = {"ascii-76": "\n".join(lines).encode(), "ascii-one-line": b64.encode(),
            "utf16-bom": codecs.BOM_UTF16_LE + "\r\n".join(lines).encode("utf-16-le"),
            "utf8-bom-crlf": codecs.BOM_UTF8 + "\r\n".join(lines).encode() + b"\r\n"}[form]
    path = tmp_path / "mail.pfx"
    path.write_bytes(data)
    bundle = load_bundle(pfx=path, password=pw())
    assert bundle.leaf == pki.leaf.cert and bundle.key is not None
    assert leaf_of_file(path, pw()) == pki.leaf.cert


def test_text_that_is_not_base64_is_still_not_a_pfx(tmp_path):
    path = tmp_path / "mail.pfx"
    path.write_bytes(b"hello, this is not a certificate\n")
    with pytest.raises(LbsyncError, match="not a PFX/PKCS#12 file"):
        load_bundle(pfx=path, password=pw())
