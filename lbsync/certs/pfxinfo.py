"""What a PKCS#12 (PFX) file says about itself without decrypting it, and whether a password opens its MAC.

cryptography raises the same ValueError ("Invalid password or PKCS12 data") for a wrong password, for an
encryption OpenSSL cannot decrypt (RC2-40 without the legacy provider) and for damaged encrypted contents.
This module tells them apart as far as the file allows: it reads the (unencrypted) outer structure for the
algorithm names and verifies the integrity MAC with the password (RFC 7292 appendix B key derivation). A MAC
that verifies proves the password right; one that does not proves it wrong (or the file altered).
Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

OID_DATA = "1.2.840.113549.1.7.1"
OID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
OID_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"

ALGORITHMS = {
    "1.2.840.113549.1.12.1.1": "RC4-128 (pbeWithSHAAnd128BitRC4)",
    "1.2.840.113549.1.12.1.2": "RC4-40 (pbeWithSHAAnd40BitRC4)",
    "1.2.840.113549.1.12.1.3": "3DES (pbeWithSHAAnd3-KeyTripleDES-CBC)",
    "1.2.840.113549.1.12.1.4": "2-key 3DES (pbeWithSHAAnd2-KeyTripleDES-CBC)",
    "1.2.840.113549.1.12.1.5": "RC2-128 (pbeWithSHAAnd128BitRC2-CBC)",
    "1.2.840.113549.1.12.1.6": "RC2-40 (pbeWithSHAAnd40BitRC2-CBC)",
    "2.16.840.1.101.3.4.1.2": "AES-128-CBC (PBES2)",
    "2.16.840.1.101.3.4.1.22": "AES-192-CBC (PBES2)",
    "2.16.840.1.101.3.4.1.42": "AES-256-CBC (PBES2)",
    "1.2.840.113549.3.7": "3DES-CBC (PBES2)",
}
# Algorithms OpenSSL 3 keeps in its "legacy" provider (not loaded by default by OpenSSL itself).
LEGACY = {"1.2.840.113549.1.12.1.1", "1.2.840.113549.1.12.1.2", "1.2.840.113549.1.12.1.5",
          "1.2.840.113549.1.12.1.6"}
MAX_ITERATIONS = 1_000_000  # Windows writes 2000, OpenSSL 2048
WEAK = LEGACY  # 40/128-bit RC2 and RC4: readable by anyone with the file, password or not, in practice

HASHES = {  # digest OID -> (hashlib name, PKCS#12 KDF block size v in bytes)
    "1.3.14.3.2.26": ("sha1", 64),
    "2.16.840.1.101.3.4.2.1": ("sha256", 64),
    "2.16.840.1.101.3.4.2.2": ("sha384", 128),
    "2.16.840.1.101.3.4.2.3": ("sha512", 128),
    "2.16.840.1.101.3.4.2.4": ("sha224", 64),
}


class DerError(ValueError):
    pass


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at pos."""
    if pos + 2 > len(data):
        raise DerError("truncated")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise DerError("unsupported length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise DerError("truncated")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        tag, vs, ve = _tlv(data, start)
        out.append((tag, vs, ve))
        start = ve
    return out


def _oid(raw: bytes) -> str:
    parts = [raw[0] // 40, raw[0] % 40] if raw else []
    value = 0
    for b in raw[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _expect(element: tuple[int, int, int], tag: int) -> tuple[int, int, int]:
    if element[0] != tag:
        raise DerError(f"unexpected tag {element[0]:#x}")
    return element


def _int(data: bytes, element: tuple[int, int, int]) -> int:
    _expect(element, 0x02)
    if element[2] - element[1] > 8:
        raise DerError("an iteration count of more than 8 bytes")
    return int.from_bytes(data[element[1]:element[2]], "big")


def _algorithm(data: bytes, alg: tuple[int, int, int]) -> tuple[str, int]:
    """(name, iteration count) of a password-based encryption AlgorithmIdentifier; for PBES2, the encryption
    scheme inside it and PBKDF2's iteration count."""
    kids = _children(data, alg[1], alg[2])
    oid = _oid(data[kids[0][1]:kids[0][2]])
    iterations = 1
    if oid == OID_PBES2 and len(kids) > 1:
        params = _children(data, kids[1][1], kids[1][2])
        kdf = _children(data, params[0][1], params[0][2])
        if _oid(data[kdf[0][1]:kdf[0][2]]) == OID_PBKDF2 and len(kdf) > 1:
            iterations = _int(data, _children(data, kdf[1][1], kdf[1][2])[1])
        scheme = _children(data, params[1][1], params[1][2])
        oid = _oid(data[scheme[0][1]:scheme[0][2]])
    elif len(kids) > 1 and kids[1][0] == 0x30:   # pkcs-12PbeParams: salt, iterations
        params = _children(data, kids[1][1], kids[1][2])
        if len(params) > 1:
            iterations = _int(data, params[1])
    return oid, iterations


@dataclass
class PfxInfo:
    algorithms: list[str] = field(default_factory=list)   # encryption algorithm OIDs, in file order
    iterations: list[int] = field(default_factory=list)   # key-derivation iterations: each encryption, the MAC
    mac_hash: str | None = None                           # hashlib name, or None without a MAC
    mac_oid: str | None = None
    _mac: tuple | None = None                             # (digest, salt, iterations, signed bytes)

    @property
    def names(self) -> list[str]:
        return [ALGORITHMS.get(a, a) for a in dict.fromkeys(self.algorithms)]

    @property
    def legacy(self) -> list[str]:
        return [ALGORITHMS[a] for a in dict.fromkeys(self.algorithms) if a in LEGACY]

    def mac_verifies(self, password: bytes | None) -> bool | None:
        """True/False when the MAC can be checked with this password; None when it cannot be checked."""
        if self._mac is None or self.mac_hash is None:
            return None
        digest, salt, iterations, signed = self._mac
        if not 0 < iterations <= MAX_ITERATIONS:
            return None
        name, v = HASHES[self.mac_oid]
        candidates = [_bmp(password)] if password else [b"", b"\x00\x00"]  # OpenSSL: NULL vs "" password
        for pw in candidates:
            key = _pkcs12_kdf(name, v, pw, salt, 3, iterations, hashlib.new(name).digest_size)
            if hmac.compare_digest(hmac.new(key, signed, name).digest(), digest):
                return True
        return False


def _bmp(password: bytes) -> bytes:
    return password.decode("utf-8", "replace").encode("utf-16-be") + b"\x00\x00"


def _pkcs12_kdf(name: str, v: int, password: bytes, salt: bytes, ident: int, iterations: int, n: int) -> bytes:
    """RFC 7292 appendix B.2."""
    def stretch(s: bytes) -> bytes:  # repeat to a multiple of v bytes
        if not s:
            return b""
        length = v * ((len(s) + v - 1) // v)
        return (s * (length // len(s) + 1))[:length]

    d = bytes([ident]) * v
    i = bytearray(stretch(salt) + stretch(password))
    out = b""
    while len(out) < n:
        a = hashlib.new(name, d + bytes(i)).digest()
        for _ in range(iterations - 1):
            a = hashlib.new(name, a).digest()
        out += a
        b = int.from_bytes((a * (v // len(a) + 1))[:v], "big")
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j:j + v], "big") + b + 1) % (1 << (8 * v))
            i[j:j + v] = block.to_bytes(v, "big")
    return out[:n]


def inspect_pfx(data: bytes) -> PfxInfo:
    """Read the unencrypted structure of a PFX. Raises DerError when it is not a (DER) PKCS#12 file."""
    try:
        return _inspect(data)
    except (IndexError, DerError) as exc:
        raise DerError(str(exc) or "malformed") from None


def _inspect(data: bytes) -> PfxInfo:
    _, vs, ve = _expect(_tlv(data, 0), 0x30)
    top = _children(data, vs, ve)
    _expect(top[0], 0x02)
    auth = _children(data, top[1][1], top[1][2])
    if _oid(data[auth[0][1]:auth[0][2]]) != OID_DATA:
        raise DerError("authSafe is not id-data")
    explicit = _expect(auth[1], 0xA0)
    octets = _expect(_tlv(data, explicit[1]), 0x04)
    info = PfxInfo()
    safes = _children(data, *_expect(_tlv(data, octets[1]), 0x30)[1:])
    for ci in safes:
        kids = _children(data, ci[1], ci[2])
        ctype = _oid(data[kids[0][1]:kids[0][2]])
        if ctype == OID_ENCRYPTED_DATA:
            enc = _children(data, *_expect(_tlv(data, kids[1][1]), 0x30)[1:])
            eci = _children(data, enc[1][1], enc[1][2])
            oid, n = _algorithm(data, eci[1])
            info.algorithms.append(oid)
            info.iterations.append(n)
        elif ctype == OID_DATA:
            inner = _expect(_tlv(data, kids[1][1]), 0x04)
            bags = _children(data, *_expect(_tlv(data, inner[1]), 0x30)[1:])
            for bag in bags:
                bk = _children(data, bag[1], bag[2])
                if _oid(data[bk[0][1]:bk[0][2]]) == OID_SHROUDED_KEY_BAG:
                    epki = _children(data, *_tlv(data, bk[1][1])[1:])
                    oid, n = _algorithm(data, epki[0])
                    info.algorithms.append(oid)
                    info.iterations.append(n)
    if len(top) > 2:
        mac = _children(data, top[2][1], top[2][2])
        digest_info = _children(data, mac[0][1], mac[0][2])
        alg = _children(data, digest_info[0][1], digest_info[0][2])
        info.mac_oid = _oid(data[alg[0][1]:alg[0][2]])
        digest = data[digest_info[1][1]:digest_info[1][2]]
        salt = data[mac[1][1]:mac[1][2]]
        iterations = _int(data, mac[2]) if len(mac) > 2 else 1
        info.iterations.append(iterations)
        if info.mac_oid in HASHES:
            info.mac_hash = HASHES[info.mac_oid][0]
            info._mac = (digest, salt, iterations, data[octets[1]:octets[2]])
    return info
