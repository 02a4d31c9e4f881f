"""Each certificate check's ok, warn and fail, on certificates made for the purpose (tests/pki.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from pki import NOW, make_ca, make_leaf, make_pki, new_key, resign, shared_key

from lbsync.certs.check import Trust, run_checks
from lbsync.certs.checks import (
    check_chain,
    check_eku,
    check_expiry,
    check_key_match,
    check_key_strength,
    check_san_coverage,
    check_signature_hash,
    covers,
    find_path,
)
from lbsync.certs.compare import Observed, check_consistency
from lbsync.certs.load import Bundle

NAMES = ["mail.contoso.com", "autodiscover.contoso.com"]


@pytest.fixture(scope="module")
def ca():
    root = make_ca()
    inter = make_ca("lbsync test intermediate", issuer=root)
    return root, inter


@pytest.fixture(scope="module")
def rsa_ca():
    root = make_ca("rsa root", key=shared_key("rsa", 2048, slot=10))
    inter = make_ca("rsa intermediate", issuer=root, key=shared_key("rsa", 2048, slot=11))
    return root, inter


def leaf(inter, names=NAMES, **kw):
    kw.setdefault("key", shared_key())
    return make_leaf(inter, names, **kw)


# --- key-match ------------------------------------------------------------------------------------------------

def test_key_match(ca):
    good = leaf(ca[1])
    assert check_key_match(good.cert, good.key).status == "ok"
    other = shared_key(slot=1)
    item = check_key_match(good.cert, other)
    assert item.status == "fail" and "does not belong" in item.message
    assert check_key_match(good.cert, None).status == "fail"


# --- san-coverage ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("san,host,expected", [
    ("mail.contoso.com", "mail.contoso.com", True),
    ("MAIL.contoso.com", "mail.CONTOSO.com.", True),
    ("*.contoso.com", "mail.contoso.com", True),
    ("*.contoso.com", "contoso.com", False),              # a wildcard needs exactly one label
    ("*.contoso.com", "a.mail.contoso.com", False),       # ... not two
    ("*.com", "contoso.com", False),                      # not a public suffix wildcard
    ("mail*.contoso.com", "mail1.contoso.com", False),    # partial wildcards are not honoured
    ("autodiscover.contoso.com", "mail.contoso.com", False),
])
def test_wildcards_match_exactly_one_label(san, host, expected):
    assert covers(san, host) is expected


def test_san_coverage_ok_fail_warn(ca):
    cert = leaf(ca[1]).cert
    item, covered = check_san_coverage(cert, NAMES, "")
    assert item.status == "ok" and covered == NAMES
    wildcard = leaf(ca[1], ["*.contoso.com"]).cert
    item, covered = check_san_coverage(wildcard, NAMES + ["contoso.com", "owa.mail.contoso.com"], "")
    assert item.status == "fail"
    assert "not covered by a DNS SAN: contoso.com, owa.mail.contoso.com" in item.message
    assert covered == NAMES
    item, _ = check_san_coverage(cert, [], "pass --name HOST")
    assert item.status == "warn" and "pass --name HOST" in item.message


def test_no_cn_fallback(ca):
    no_san = leaf(ca[1], [], cn="mail.contoso.com").cert
    item, covered = check_san_coverage(no_san, ["mail.contoso.com"], "")
    assert item.status == "fail" and "no subjectAltName" in item.message and "no CN fallback" in item.message
    assert covered == []


# --- expiry ---------------------------------------------------------------------------------------------------

def test_expiry_ok_warn_fail(ca):
    cert = leaf(ca[1], days=365).cert                      # valid from NOW-1d to NOW+364d
    item = check_expiry(cert, [ca[1].cert], NOW, 30)
    assert item.status == "ok" and "days left" in item.message
    item = check_expiry(cert, [], NOW + dt.timedelta(days=350), 30)
    assert item.status == "warn" and "in 14 day(s)" in item.message and "warn_days 30" in item.message
    assert check_expiry(cert, [], NOW + dt.timedelta(days=350), 10).status == "ok"
    item = check_expiry(cert, [], NOW + dt.timedelta(days=400), 30)
    assert item.status == "fail" and "expired on" in item.message
    future = leaf(ca[1], not_before=NOW + dt.timedelta(days=5)).cert
    item = check_expiry(future, [], NOW, 30)
    assert item.status == "fail" and "not valid yet" in item.message


def test_expiry_looks_at_the_chain_too(ca):
    short_inter = make_ca("short intermediate", issuer=ca[0], days=20)
    cert = leaf(short_inter).cert
    item = check_expiry(cert, [short_inter.cert], NOW, 30)
    assert item.status == "warn" and "chain certificate CN=short intermediate" in item.message


# --- key-strength, signature-hash, eku --------------------------------------------------------------------------

def test_key_strength(ca):
    assert check_key_strength(leaf(ca[1]).cert).message == "RSA 2048"
    assert check_key_strength(leaf(ca[1], key=new_key("ec", 256)).cert).status == "ok"
    weak_rsa = leaf(ca[1], key=shared_key("rsa", 1024)).cert
    item = check_key_strength(weak_rsa)
    assert item.status == "fail" and "RSA 1024 is too weak" in item.message
    item = check_key_strength(leaf(ca[1], key=new_key("ec", 192)).cert)
    assert item.status == "fail" and "secp192r1" in item.message


@pytest.mark.parametrize("alg,label", [(hashes.SHA1(), "SHA-1"), (hashes.MD5(), "MD5")])
def test_signature_hash_fails_on_sha1_and_md5(rsa_ca, alg, label):
    good = leaf(rsa_ca[1])
    assert check_signature_hash(good.cert, [rsa_ca[1].cert]).status == "ok"
    weak = resign(good.cert, rsa_ca[1], alg)
    assert weak.signature_hash_algorithm.name == alg.name
    item = check_signature_hash(weak, [rsa_ca[1].cert])
    assert item.status == "fail" and f"the certificate is signed with {label}" in item.message
    weak_inter = resign(rsa_ca[1].cert, rsa_ca[0], alg)
    item = check_signature_hash(good.cert, [weak_inter])
    assert item.status == "fail" and "CN=rsa intermediate" in item.message


def test_eku(ca):
    assert check_eku(leaf(ca[1]).cert).status == "ok"
    item = check_eku(leaf(ca[1], eku=[ExtendedKeyUsageOID.CLIENT_AUTH]).cert)
    assert item.status == "fail" and "lacks serverAuth" in item.message and "clientAuth" in item.message
    item = check_eku(leaf(ca[1], eku=[]).cert)
    assert item.status == "warn" and "any purpose" in item.message


# --- chain ----------------------------------------------------------------------------------------------------

def test_chain_ok(ca):
    root, inter = ca
    cert = leaf(inter).cert
    item = check_chain(cert, [inter.cert], [root.cert], "trust: ca.pem", NAMES, NOW)
    assert item.status == "ok"
    assert "CN=lbsync test intermediate" in item.message
    assert "for mail.contoso.com, autodiscover.contoso.com" in item.message


def test_chain_missing_intermediate_is_named(ca):
    root, inter = ca
    item = check_chain(leaf(inter).cert, [], [root.cert], "trust: ca.pem", NAMES, NOW)
    assert item.status == "fail"
    assert item.message.startswith("missing intermediate: the certificate's issuer "
                                   "'CN=lbsync test intermediate,O=lbsync tests' is neither in the chain nor in the "
                                   "trust store")


def test_chain_untrusted_root(ca):
    root, inter = ca
    other = make_ca("someone else's root")
    cert = leaf(inter).cert
    item = check_chain(cert, [inter.cert, root.cert], [other.cert], "trust: x", NAMES, NOW)
    assert item.status == "fail" and "untrusted root: 'CN=lbsync test root" in item.message
    item = check_chain(cert, [inter.cert], [other.cert], "trust: x", NAMES, NOW)
    assert item.status == "fail" and "missing intermediate or untrusted root" in item.message


def test_chain_without_trust_store(ca):
    item = check_chain(leaf(ca[1]).cert, [ca[1].cert], None, "the system store /x does not exist", NAMES, NOW)
    assert item.status == "fail" and "pass --ca-bundle" in item.message


def test_chain_verifier_reasons(ca, rsa_ca):
    root, inter = ca
    expired = leaf(inter, not_before=NOW - dt.timedelta(days=400), days=10).cert
    item = check_chain(expired, [inter.cert], [root.cert], "t", NAMES, NOW)
    assert item.status == "fail" and "not valid at the checked time (see expiry)" in item.message
    client_only = leaf(inter, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]).cert
    assert "(see eku)" in check_chain(client_only, [inter.cert], [root.cert], "t", NAMES, NOW).message
    sha1 = resign(leaf(rsa_ca[1]).cert, rsa_ca[1], hashes.SHA1())
    item = check_chain(sha1, [rsa_ca[1].cert], [rsa_ca[0].cert], "t", NAMES, NOW)
    assert item.status == "fail" and "signature-hash" in item.message


def test_chain_extra_certificates_warn_and_names_fallback(ca):
    root, inter = ca
    stray = make_ca("stray intermediate", issuer=root)
    cert = leaf(inter).cert
    item = check_chain(cert, [inter.cert, stray.cert], [root.cert], "t", [], NOW)
    assert item.status == "warn" and "1 chain certificate(s) not on the path" in item.message
    assert "for mail.contoso.com" in item.message          # no names given: the certificate's own first SAN


def test_find_path_checks_signatures_not_just_names(ca):
    root, inter = ca
    impostor = make_ca("lbsync test intermediate", issuer=root)  # same name, different key
    _, problem = find_path(leaf(inter).cert, [impostor.cert], [root.cert])
    assert problem and problem.startswith("missing intermediate")


# --- consistency ----------------------------------------------------------------------------------------------

def test_consistency_names_the_odd_one_out(ca):
    mine = leaf(ca[1])
    renewed = leaf(ca[1])                                        # same key, a new certificate
    other = leaf(ca[1], key=shared_key(slot=1))
    ok = check_consistency(mine.cert, "mail.pfx", [Observed("lb.pem", mine.cert),
                                                   Observed("10.0.0.1:443 (SNI mail.contoso.com)", mine.cert)], False)
    assert ok.status == "ok" and "at 2 place(s)" in ok.message
    bad = check_consistency(mine.cert, "mail.pfx", [Observed("lb.pem", mine.cert), Observed("ex01", renewed.cert),
                                                    Observed("ex02", other.cert)], False)
    assert bad.status == "fail"
    assert "ex01 presents" in bad.message and "same key, different certificate" in bad.message
    assert "ex02 presents" in bad.message and "different certificate and key" in bad.message
    assert "lb.pem" not in bad.message


def test_consistency_the_checked_certificate_can_be_the_odd_one(ca):
    mine, served = leaf(ca[1]), leaf(ca[1], key=shared_key(slot=1))
    item = check_consistency(mine.cert, "mail.pfx", [Observed("ex01", served.cert), Observed("ex02", served.cert)],
                             False)
    assert item.status == "fail" and "mail.pfx (checked) presents" in item.message


def test_consistency_unreadable_and_nothing_to_compare(ca):
    mine = leaf(ca[1])
    item = check_consistency(mine.cert, "m", [Observed("ex01:443", None, "cannot connect: refused")], False)
    assert item.status == "fail" and "ex01:443 could not be read: cannot connect" in item.message
    assert check_consistency(mine.cert, "m", [], False).status == "ok"
    item = check_consistency(mine.cert, "m", [], True)
    assert item.status == "warn" and "Extended Protection" in item.message


# --- the report -----------------------------------------------------------------------------------------------

def test_run_checks_report_order_and_json(ca):
    root, inter = ca
    good = leaf(inter)
    bundle = Bundle(good.cert, good.key, [inter.cert], "mail.pfx", "pfx", [("ok", "PFX (AES)")])
    report = run_checks(bundle, names=NAMES, trust=Trust([root.cert], "trust: ca.pem"), at=NOW, warn_days=30)
    assert [c.id for c in report.checks] == ["load", "key-match", "san-coverage", "expiry", "chain",
                                             "key-strength", "signature-hash", "eku", "consistency"]
    assert report.ok and all(c.status == "ok" for c in report.checks)
    data = report.as_json()
    assert data["ok"] is True and data["fingerprint_sha256"] == good.fingerprint
    assert set(data["checks"][0]) == {"id", "status", "message"}
    late = run_checks(bundle, names=NAMES, trust=Trust([root.cert], "t"), at=NOW + dt.timedelta(days=500))
    assert not late.ok and late.get("expiry").status == "fail"


def test_chain_uses_only_covered_names(ca):
    """A name the SAN does not cover fails san-coverage only, not the chain as well."""
    root, inter = ca
    good = leaf(inter, ["mail.contoso.com"])
    bundle = Bundle(good.cert, good.key, [inter.cert], "m", "pem")
    report = run_checks(bundle, names=NAMES, trust=Trust([root.cert], "t"), at=NOW)
    assert report.get("san-coverage").status == "fail" and report.get("chain").status == "ok"
    assert "for mail.contoso.com" in report.get("chain").message


def test_self_signed_certificate(ca):
    """Exchange's own self-signed certificate: named as such; trusted explicitly, the verifier's reason is readable."""
    from cryptography import x509 as x
    key = shared_key()
    name = x.Name([x.NameAttribute(x.oid.NameOID.COMMON_NAME, "EX01")])
    cert = (x.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=90))
            .add_extension(x.SubjectAlternativeName([x.DNSName("mail.contoso.com")]), critical=False)
            .sign(key, hashes.SHA256()))
    item = check_chain(cert, [], [ca[0].cert], "t", ["mail.contoso.com"], NOW)
    assert item.status == "fail" and item.message.startswith("self-signed certificate 'CN=EX01', not in the trust")
    item = check_chain(cert, [], [cert], "t", ["mail.contoso.com"], NOW)
    assert item.status == "fail"
    assert "authorityKeyIdentifier (2.5.29.35): Certificate is missing required extension" in item.message


def test_a_chain_failure_names_the_certificate_at_fault():
    import datetime as dt

    import pki as P

    from lbsync.certs.checks import check_chain
    now = dt.datetime.now(dt.timezone.utc)
    root = P.make_ca("Test Root")
    not_ca = P.make_leaf(root, [], cn="Not A CA Intermediate")
    leaf = P.make_leaf(not_ca, ["mail.contoso.com"])
    item = check_chain(leaf.cert, [not_ca.cert], [root.cert], "test store", ["mail.contoso.com"], now)
    assert item.status == "fail"
    assert "the certificate at fault: 'CN=Not A CA Intermediate,O=lbsync tests' issues certificates but is not a CA" \
        in item.message
    expired = P.make_ca("Expired Intermediate", issuer=root, not_before=P.NOW - dt.timedelta(days=800), days=365)
    leaf = P.make_leaf(expired, ["mail.contoso.com"])
    item = check_chain(leaf.cert, [expired.cert], [root.cert], "test store", ["mail.contoso.com"], now)
    assert item.status == "fail" and "'CN=Expired Intermediate,O=lbsync tests' is valid only from" in item.message


def test_the_system_store_is_ssl_cert_file_then_windows_then_the_debian_bundle(monkeypatch, pki, pki_files):
    """An admin workstation on Windows has no /etc/ssl/certs: its roots are in the certificate store."""
    import ssl as ssl_module
    import sys as sys_module

    from cryptography.hazmat.primitives.serialization import Encoding

    from lbsync.certs import check as check_module
    root_der = pki.root.cert.public_bytes(Encoding.DER)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setattr(sys_module, "platform", "win32")
    inter_der = pki.intermediate.cert.public_bytes(Encoding.DER)
    other = make_pki()
    other_der, banned_der = (other.root.cert.public_bytes(Encoding.DER),
                             other.intermediate.cert.public_bytes(Encoding.DER))
    stores = {"ROOT": [(root_der, "x509_asn", True), (b"junk", "x509_asn", True),
                       (other_der, "x509_asn", {"1.3.6.1.5.5.7.3.3"}),          # code signing only: not an anchor
                       (banned_der, "x509_asn", True)],                         # ... and this one is Disallowed
              "CA": [(inter_der, "x509_asn", True)],                              # cached intermediate: not an anchor
              "Disallowed": [(banned_der, "x509_asn", True)]}
    monkeypatch.setattr(ssl_module, "enum_certificates", lambda store: stores[store], raising=False)
    trust = check_module.trust_for(None, None)
    assert [c.public_bytes(Encoding.DER) for c in trust.certs] == [root_der] and "Windows" in trust.label
    stores["ROOT"][0] = (root_der, "x509_asn", {"1.3.6.1.5.5.7.3.1"})             # server authentication: kept
    assert len(check_module.trust_for(None, None).certs) == 1
    monkeypatch.setenv("SSL_CERT_FILE", str(pki_files["ca"]))
    trust = check_module.trust_for(None, None)
    assert trust.label == f"trust: {pki_files['ca']}" and len(trust.certs) == 1
