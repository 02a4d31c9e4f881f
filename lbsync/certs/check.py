"""Run every certificate check and gather them in a Report (what `cert check` prints and the precheck reads)."""

from __future__ import annotations

import datetime as dt
import os
import re
import ssl
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from ..errors import LbsyncError
from ..facts.tls import SYSTEM_CA_BUNDLE
from ..model.types import Model
from ..plan.types import Plan
from .checks import (
    CheckItem,
    check_chain,
    check_eku,
    check_expiry,
    check_key_match,
    check_key_strength,
    check_san_coverage,
    check_signature_hash,
)
from .compare import check_consistency, collect
from .load import Bundle, PasswordSource, load_model_bundle, parse_certificates, read_file


@dataclass
class Report:
    source: str
    fingerprint_sha256: str
    thumbprint: str                         # SHA-1, as Exchange shows it
    subject: str
    checks: list[CheckItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def get(self, check_id: str) -> CheckItem:
        return next(c for c in self.checks if c.id == check_id)

    def as_json(self) -> dict:
        return {"ok": self.ok, "fingerprint_sha256": self.fingerprint_sha256,
                "checks": [c.as_json() for c in self.checks]}


@dataclass
class Trust:
    certs: list | None          # None: no trust store available
    label: str


SERVER_AUTH = "1.3.6.1.5.5.7.3.1"


def windows_trust() -> Trust:
    """Windows keeps its roots in the certificate store, not in a file: the trust anchors are the ROOT store's
    certificates trusted for every purpose or for server authentication (an enterprise CA pushed by Group Policy
    included), less any the Disallowed store holds. The CA store (intermediates Windows has cached) is not a trust
    anchor. Windows fetches a public root into ROOT only when it first needs it: a root not there yet gives an
    untrusted-root failure, which --ca-bundle (or tls.server_ca) answers."""
    def entries(store: str) -> list:
        try:
            return ssl.enum_certificates(store)  # type: ignore[attr-defined]  # Windows only
        except (OSError, AttributeError):
            return []
    disallowed = {der for der, encoding, _ in entries("Disallowed") if encoding == "x509_asn"}
    certs = []
    for der, encoding, trust in entries("ROOT"):
        if encoding != "x509_asn" or der in disallowed or not (trust is True or SERVER_AUTH in trust):
            continue
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return Trust(certs or None, "trust: the Windows certificate store (ROOT)")


def load_trust(path: str | Path | None, *, explicit: bool) -> Trust:
    """Trust anchors from a PEM bundle. An explicit --ca-bundle that cannot be read is bad input (exit 2);
    a missing system store is a chain failure. The system store: SSL_CERT_FILE when set (OpenSSL's variable),
    else the Windows certificate store on Windows, else SYSTEM_CA_BUNDLE."""
    if path is None and not explicit:
        if os.environ.get("SSL_CERT_FILE"):
            path = os.environ["SSL_CERT_FILE"]
        elif sys.platform == "win32":
            return windows_trust()
    path = Path(path) if path else Path(SYSTEM_CA_BUNDLE)
    if not explicit and not path.exists():
        return Trust(None, f"the system store {path} does not exist")
    data = read_file(path)
    certs = _bundle_certificates(data)
    if not certs:
        parse_certificates(data, str(path))          # raises the one-line reason
        raise LbsyncError("holds no usable certificate", file=str(path))
    return Trust(certs, f"trust: {path}")


def _bundle_certificates(data: bytes) -> list:
    """Every parseable certificate of a PEM bundle; one odd entry (the system store has some) is skipped."""

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # e.g. negative serial numbers in old roots
        for block in re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S):
            try:
                out.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return out


def names_from_plan(plan: Plan) -> list[str]:
    """Every namespace host and the Outlook Anywhere hostnames, once each, in model order."""
    names = [ns.host for ns in plan.namespaces]  # legacy namespaces (groups:) included
    for ex in plan.exchanges:
        oa = ex.outlook_anywhere
        names += [n for n in (oa.external_hostname, oa.internal_hostname) if n]
    seen: dict[str, None] = {}
    for n in names:
        seen.setdefault(n.lower().rstrip("."), None)
    return list(seen)


def parse_at(text: str | None) -> dt.datetime:
    """--at DATE: YYYY-MM-DD or an ISO 8601 date-time; without a zone, UTC. None: now."""
    if not text:
        return dt.datetime.now(dt.timezone.utc)
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise LbsyncError(f"--at: '{text}' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM])") from None
    return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(dt.timezone.utc)


def run_checks(bundle: Bundle, *, names: list[str], names_hint: str = "pass --name HOST", trust: Trust,
               at: dt.datetime, warn_days: int = 30, observed: list | None = None,
               extended_protection: bool = False) -> Report:
    leaf, chain = bundle.leaf, bundle.chain
    load_status = "warn" if any(s == "warn" for s, _ in bundle.notes) else "ok"
    loaded = (f"{bundle.source}: '{leaf.subject.rfc4514_string()}', {len(chain)} chain certificate(s), "
              f"{'a private key' if bundle.key is not None else 'no private key'}; Exchange thumbprint "
              f"{bundle.thumbprint}")
    detail = "; ".join(m for _, m in bundle.notes)
    items = [CheckItem("load", load_status, loaded + (f"; {detail}" if detail else "")),
             check_key_match(leaf, bundle.key)]
    san, covered = check_san_coverage(leaf, names, names_hint)
    items += [san,
              check_expiry(leaf, chain, at, warn_days),
              check_chain(leaf, chain, trust.certs, trust.label, covered, at),
              check_key_strength(leaf),
              check_signature_hash(leaf, chain),
              check_eku(leaf),
              check_consistency(leaf, bundle.source, observed or [], extended_protection)]
    return Report(bundle.source, bundle.fingerprint_sha256, bundle.thumbprint, leaf.subject.rfc4514_string(), items)


def check_model_certificate(plan: Plan, *, password: PasswordSource | None = None, at: dt.datetime | None = None,
                            ca_bundle: str | Path | None = None, compare: list[str] = (),
                            with_key: bool = True) -> Report:
    """Check the model's certificate: section against its names (namespace hosts, Outlook Anywhere hostnames).

    with_key=False: a PEM key is not read (no password asked) and the report has no key-match check; a PFX is read
    whole (see certs.load.load_bundle).

    Trust: ca_bundle, else the model's tls.server_ca (the servers present this same certificate), else the
    system store. Raises LbsyncError when the certificate cannot be loaded.
    """
    model = plan.model
    if model.certificate is None:
        raise LbsyncError("the model has no certificate: section", file=str(model.path))
    password = password or PasswordSource(model.certificate.password_env)
    bundle = load_model_bundle(model, password, with_key=with_key)
    trust = trust_for(model, ca_bundle)
    observed = []
    if compare:
        observed = collect(list(compare), [ns.host for ns in plan.namespaces], password)
    report = run_checks(bundle, names=names_from_plan(plan), trust=trust, at=at or parse_at(None),
                        warn_days=model.certificate.warn_days, observed=observed,
                        extended_protection=plan.exchange.extended_protection)
    if not with_key and bundle.key is None:
        report.checks = [c for c in report.checks if c.id != "key-match"]
    return report


def trust_for(model: Model | None, ca_bundle: str | Path | None) -> Trust:
    """--ca-bundle, else the model's tls.server_ca, else the system store."""
    if ca_bundle:
        return load_trust(ca_bundle, explicit=True)
    if model is not None and model.tls.server_ca:
        return load_trust(model.tls.server_ca, explicit=True)
    return load_trust(None, explicit=False)
