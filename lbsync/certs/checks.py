"""The individual certificate checks. Each returns a CheckItem(id, status ok|warn|fail, message)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509 import DNSName
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from .load import is_ca, spki


@dataclass(frozen=True)
class CheckItem:
    id: str
    status: str      # ok | warn | fail
    message: str

    def as_json(self) -> dict:
        return {"id": self.id, "status": self.status, "message": self.message}


def subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def day(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def check_key_match(leaf: x509.Certificate, key: PrivateKeyTypes | None) -> CheckItem:
    if key is None:
        return CheckItem("key-match", "fail", "no private key: the load balancer cannot present this certificate "
                                              "(export it from Exchange with its private key)")
    if spki(key.public_key()) == spki(leaf.public_key()):
        return CheckItem("key-match", "ok", "the private key belongs to the certificate")
    return CheckItem("key-match", "fail", "the private key does not belong to the certificate "
                                          f"({subject(leaf)}): wrong key file or a renewed certificate")


# --- san-coverage -----------------------------------------------------------------------------------------------

def dns_sans(cert: x509.Certificate) -> list[str] | None:
    """The DNS names in the subjectAltName extension; None when there is no such extension."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    return ext.get_values_for_type(x509.DNSName)


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def covers(san: str, host: str) -> bool:
    """RFC 6125 matching: exact, or a wildcard '*.example.com' standing for exactly one left-most label."""
    san, host = _norm(san), _norm(host)
    if san.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and first != "*" and rest == san[2:] and "." in rest
    return "*" not in san and san == host


def check_san_coverage(leaf: x509.Certificate, names: list[str], names_hint: str) -> tuple[CheckItem, list[str]]:
    """(item, names covered). names_hint says where names come from when there are none."""
    sans = dns_sans(leaf)
    if not names:
        return CheckItem("san-coverage", "warn", f"no names to check: {names_hint}"), []
    if sans is None:
        return CheckItem("san-coverage", "fail", "the certificate has no subjectAltName (its CN is not used: no "
                                                 f"CN fallback); not covered: {', '.join(names)}"), []
    covered = [n for n in names if any(covers(s, n) for s in sans)]
    missing = [n for n in names if n not in covered]
    if missing:
        return CheckItem("san-coverage", "fail",
                         f"not covered by a DNS SAN: {', '.join(missing)} (SANs: {', '.join(sans) or 'none'})"), covered
    return CheckItem("san-coverage", "ok", f"every name covered: {', '.join(names)}"), covered


# --- expiry -----------------------------------------------------------------------------------------------------

def check_expiry(leaf: x509.Certificate, chain: list, at: dt.datetime, warn_days: int) -> CheckItem:
    problems: list[tuple[str, str]] = []
    for role, cert in [("the certificate", leaf)] + [(f"chain certificate {subject(c)}", c) for c in chain]:
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        if at < start:
            problems.append(("fail", f"{role} is not valid yet: valid from {day(start)} (checked at {day(at)})"))
        elif at > end:
            problems.append(("fail", f"{role} expired on {day(end)} (checked at {day(at)})"))
        elif end - at < dt.timedelta(days=warn_days):
            left = (end - at).days
            problems.append(("warn", f"{role} expires on {day(end)}, in {left} day(s) (warn_days {warn_days})"))
    fails = [m for s, m in problems if s == "fail"]
    if fails:
        return CheckItem("expiry", "fail", "; ".join(fails))
    if problems:
        return CheckItem("expiry", "warn", "; ".join(m for _, m in problems))
    end = leaf.not_valid_after_utc
    return CheckItem("expiry", "ok", f"valid until {day(end)} ({(end - at).days} days left)")


# --- key-strength, signature-hash, eku --------------------------------------------------------------------------

def key_description(public_key: PublicKeyTypes) -> tuple[str, bool]:
    """(description, strong enough): RSA >= 2048, EC >= P-256; Ed25519/Ed448 strong; anything else weak."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}", public_key.key_size >= 2048
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}", public_key.curve.key_size >= 256
    if isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return type(public_key).__name__.replace("PublicKey", ""), True
    if isinstance(public_key, dsa.DSAPublicKey):
        return f"DSA {public_key.key_size}", False
    return type(public_key).__name__, False


def check_key_strength(leaf: x509.Certificate) -> CheckItem:
    desc, strong = key_description(leaf.public_key())
    if strong:
        return CheckItem("key-strength", "ok", desc)
    return CheckItem("key-strength", "fail", f"{desc} is too weak (need RSA >= 2048 or EC >= P-256)")


WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5", "md2": "MD2", "md4": "MD4"}


def _hash_name(cert) -> str:
    try:
        alg = cert.signature_hash_algorithm
    except Exception:  # UnsupportedAlgorithm: an unknown or legacy signature OID
        name = cert.signature_algorithm_oid._name
        return name if name != "Unknown OID" else cert.signature_algorithm_oid.dotted_string
    return alg.name if alg is not None else "none (pure signature)"


def check_signature_hash(leaf: x509.Certificate, chain: list) -> CheckItem:
    weak = []
    for role, cert in [("the certificate", leaf)] + [(subject(c), c) for c in chain if c.subject != c.issuer]:
        name = _hash_name(cert).lower()
        hit = next((label for key, label in WEAK_HASHES.items() if key in name), None)
        if hit:
            weak.append(f"{role} is signed with {hit}")
    if weak:
        return CheckItem("signature-hash", "fail", "; ".join(weak) + " (clients reject it: reissue with SHA-256)")
    return CheckItem("signature-hash", "ok", f"signed with {_hash_name(leaf).upper()}")


def check_eku(leaf: x509.Certificate) -> CheckItem:
    try:
        ext = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return CheckItem("eku", "warn", "no Extended Key Usage extension: valid for any purpose (RFC 5280), "
                                        "accepted by browsers, but public CAs always include serverAuth")
    usages = list(ext.value)
    if ExtendedKeyUsageOID.SERVER_AUTH in usages:
        return CheckItem("eku", "ok", "serverAuth" + (" (critical)" if ext.critical else ""))
    names = ", ".join(u._name if u._name != "Unknown OID" else u.dotted_string for u in usages) or "none"
    return CheckItem("eku", "fail", f"Extended Key Usage lacks serverAuth (has: {names}): TLS clients refuse it")


# --- chain ------------------------------------------------------------------------------------------------------

def _issued_by(cert, issuer) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except ValueError as exc:
        # a signature cryptography refuses to verify (SHA-1, MD5): the name decides here, and the
        # signature-hash check (and the verifier below) report the weak algorithm
        return "unsupported signature algorithm" in str(exc).lower()
    except Exception:
        return False
    return True


def find_path(leaf: x509.Certificate, chain: list, trust: list) -> tuple[list, str | None]:
    """Walk from the leaf through the chain to a trust anchor. (path, problem or None)."""
    path = [leaf]
    current = leaf
    for _ in range(10):
        anchor = next((t for t in trust if _issued_by(current, t)), None)
        if anchor is not None:
            return path + ([anchor] if anchor is not current else []), None
        if any(spki(t.public_key()) == spki(current.public_key()) and t.subject == current.subject
               for t in trust):
            return path, None                                        # the current one is itself trusted
        nxt = next((c for c in chain if c not in path and _issued_by(current, c)), None)
        if nxt is None:
            if current.subject == current.issuer and current is leaf:
                return path, (f"self-signed certificate '{subject(current)}', not in the trust store: clients do "
                              "not trust it (use a CA-issued certificate, or give it with --ca-bundle)")
            if current.subject == current.issuer:
                return path, (f"untrusted root: '{subject(current)}' is in the chain but not in the trust store")
            if current is leaf:
                return path, (f"missing intermediate: the certificate's issuer '{current.issuer.rfc4514_string()}'"
                              " is neither in the chain nor in the trust store")
            if is_ca(current) and any(c.subject == current.issuer for c in trust + chain):
                return path, f"'{subject(current)}' does not verify against its issuer's key"
            return path, (f"missing intermediate or untrusted root: '{current.issuer.rfc4514_string()}', issuer "
                          f"of '{subject(current)}', is neither in the chain nor in the trust store")
        path.append(nxt)
        current = nxt
    return path, "chain too long or looping"


_NOISE = re.compile(r"\s*\(encountered processing <Certificate\(.*$", re.S)


_EXTENSIONS = {"2.5.29.14": "subjectKeyIdentifier", "2.5.29.15": "keyUsage", "2.5.29.17": "subjectAltName",
               "2.5.29.19": "basicConstraints", "2.5.29.35": "authorityKeyIdentifier",
               "2.5.29.37": "extendedKeyUsage", "2.5.29.32": "certificatePolicies", "2.5.29.30": "nameConstraints"}


def _clean(exc: Exception) -> str:
    text = _NOISE.sub("", str(exc)).replace("validation failed: ", "")
    for oid, name in _EXTENSIONS.items():
        text = text.replace(f"{oid}:", f"{name} ({oid}):")
    text = text.replace("candidates exhausted: ", "")
    if "not valid at validation time" in text:
        return "a certificate is not valid at the checked time (see expiry)"
    if "Forbidden signature algorithm" in text:
        return "a forbidden signature algorithm is used (see signature-hash)"
    if "EKU" in text:
        return f"{text} (see eku)"
    return text.splitlines()[0] if text else type(exc).__name__


def _culprit(path: list, at: dt.datetime) -> str | None:
    """The first certificate on the path (leaf first) with a fault a verifier rejects, named with the fault: outside
    its validity, an issuer that is not a CA or may not sign certificates. None when none is seen here."""
    for i, cert in enumerate(path):
        name = f"'{subject(cert)}'"
        if at < cert.not_valid_before_utc or at > cert.not_valid_after_utc:
            return (f"{name} is valid only from {cert.not_valid_before_utc:%Y-%m-%d} to "
                    f"{cert.not_valid_after_utc:%Y-%m-%d}")
        if i == 0:
            continue
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca:
            return f"{name} issues certificates but is not a CA (basicConstraints cA not set)"
        try:
            ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            ku = None
        if ku is not None and not ku.key_cert_sign:
            return f"{name} issues certificates but its keyUsage lacks keyCertSign"
    return None


def check_chain(leaf: x509.Certificate, chain: list, trust: list | None, trust_label: str, hosts: list[str],
                at: dt.datetime) -> CheckItem:
    if trust is None:
        return CheckItem("chain", "fail", f"no trust store: {trust_label}; pass --ca-bundle FILE")
    path, problem = find_path(leaf, chain, trust)
    if problem:
        return CheckItem("chain", "fail", f"{problem} ({trust_label})")
    extra = [c for c in chain if c not in path and c.subject != c.issuer]
    if not hosts:
        sans = [s for s in (dns_sans(leaf) or []) if "*" not in s] or \
               [s.replace("*", "lbsync-check", 1) for s in (dns_sans(leaf) or [])]
        if not sans:
            return CheckItem("chain", "warn", f"path to '{subject(path[-1])}' found, but the certificate has no "
                                              "DNS name to verify a TLS server chain for")
        hosts = sans[:1]
    builder = PolicyBuilder().store(Store(trust)).time(at)
    failures: dict[str, list[str]] = {}
    for host in hosts:
        try:
            builder.build_server_verifier(DNSName(host)).verify(leaf, chain)
        except VerificationError as exc:
            failures.setdefault(_clean(exc), []).append(host)
        except ValueError as exc:  # a name cryptography will not accept as a DNSName
            failures.setdefault(_clean(exc), []).append(host)
    if failures:
        text = "; ".join(f"{reason} (for {', '.join(h)})" for reason, h in failures.items())
        culprit = _culprit(path, at)
        at_fault = f"; the certificate at fault: {culprit}" if culprit else ""
        return CheckItem("chain", "fail", f"does not verify: {text}{at_fault} ({trust_label})")
    names = " -> ".join(f"'{subject(c)}'" for c in path[1:])
    note = f"; {len(extra)} chain certificate(s) not on the path" if extra else ""
    return CheckItem("chain", "warn" if extra else "ok",
                     f"verifies via {names} ({trust_label}) for {', '.join(hosts)}{note}")
