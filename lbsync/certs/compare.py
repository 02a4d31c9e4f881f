"""The consistency check: the same leaf certificate (and so the same key) everywhere it is served.

Targets are files (PEM, full chain, HAProxy combined PEM, DER, PFX) and live endpoints HOST:PORT, read once per
SNI name (the model's namespace hosts). The largest group of identical certificates is the reference (ties go
to the checked certificate); every other place is named as an odd one out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..errors import LbsyncError
from .checks import CheckItem, subject
from .live import fetch_certificate, is_ip, parse_endpoint
from .load import PasswordSource, leaf_of_file, spki


@dataclass
class Observed:
    label: str                 # "file.pem" or "192.0.2.11:443 (SNI mail.contoso.com)"
    cert: object | None        # x509.Certificate, None when it could not be read
    error: str | None = None


def _fp(cert) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def collect(targets: list[str], sni_names: list[str], password: PasswordSource,
            timeout: float = 5.0) -> list[Observed]:
    """Read each --compare target. A missing file is bad input (LbsyncError); an unreachable endpoint is
    observed as an error (the check fails, naming it)."""
    out: list[Observed] = []
    for target in targets:
        if Path(target).exists():
            out.append(Observed(target, leaf_of_file(target, password)))
            continue
        endpoint = parse_endpoint(target)
        if endpoint is None:
            raise LbsyncError("--compare: no such file, and not HOST:PORT", file=target)
        address, port = endpoint
        names = list(sni_names) or ([address] if not is_ip(address) else [None])
        for sni in names:
            label = f"{address}:{port}" + (f" (SNI {sni})" if sni else "")
            try:
                out.append(Observed(label, fetch_certificate(address, port, sni, timeout)))
            except LbsyncError as exc:
                out.append(Observed(label, None, exc.message))
    return out


def check_consistency(leaf: x509.Certificate, source: str, observed: list[Observed],
                      extended_protection: bool) -> CheckItem:
    if not observed:
        if extended_protection:
            return CheckItem("consistency", "warn", "Extended Protection is on: prove the load balancer and every "
                                                    "server present this certificate with --compare HOST:PORT")
        return CheckItem("consistency", "ok", "nothing to compare (use --compare FILE or HOST:PORT)")
    unreadable = [o for o in observed if o.cert is None]
    readable = [o for o in observed if o.cert is not None]
    mine = _fp(leaf)
    groups: dict[str, list[str]] = {mine: [f"{source} (checked)"]}
    certs = {mine: leaf}
    for o in readable:
        groups.setdefault(_fp(o.cert), []).append(o.label)
        certs.setdefault(_fp(o.cert), o.cert)
    reference = max(groups, key=lambda fp: (len(groups[fp]), fp == mine))
    ref_cert = certs[reference]
    odd = []
    for fp, labels in groups.items():
        if fp == reference:
            continue
        cert = certs[fp]
        same_key = spki(cert.public_key()) == spki(ref_cert.public_key())
        how = "same key, different certificate" if same_key else "different certificate and key"
        odd.append(f"{', '.join(labels)} presents '{subject(cert)}' (sha256 {fp[:16]}…; {how})")
    problems = odd + [f"{o.label} could not be read: {o.error}" for o in unreadable]
    if problems:
        lead = f"odd one out (the others present sha256 {reference[:16]}…): " if odd else ""
        return CheckItem("consistency", "fail", lead + "; ".join(problems))
    return CheckItem("consistency", "ok", f"the same certificate (sha256 {mine[:16]}…) at {len(readable)} "
                                          f"place(s): {', '.join(o.label for o in readable)}")
