"""IIS sslFlags: parse any spelling IIS accepts, format the way IIS writes it."""

from __future__ import annotations

import pytest

from lbsync.facts import sslflags


@pytest.mark.parametrize("text,value", [
    ("None", 0), ("", 0), ("none", 0), ("Ssl", 8), ("Ssl, Ssl128", 264), ("Ssl,Ssl128", 264),
    ("ssl ,  SSL128", 264), ("264", 264), ("SslNegotiateCert", 32), ("Ssl, SslRequireCert", 72),
    ("Ssl, SslNegotiateCert, SslRequireCert, SslMapCert, Ssl128", 8 + 32 + 64 + 128 + 256),
])
def test_parse(text, value):
    assert sslflags.parse(text) == value


@pytest.mark.parametrize("bad", ["Sssl", "Ssl; Ssl128", "RequireSsl"])
def test_parse_refuses_unknown_flags(bad):
    with pytest.raises(ValueError, match="unknown sslFlags value"):
        sslflags.parse(bad)


@pytest.mark.parametrize("value,text", [(0, "None"), (8, "Ssl"), (264, "Ssl, Ssl128"), (256, "Ssl128"),
                                        (32, "SslNegotiateCert")])
def test_format(value, text):
    assert sslflags.format(value) == text


def test_canonical_and_requires_ssl():
    assert sslflags.canonical("ssl128,ssl") == "Ssl, Ssl128"
    assert sslflags.canonical("none") == "None"
    assert sslflags.requires_ssl("Ssl, Ssl128") is True
    assert sslflags.requires_ssl("Ssl128") is False  # 128-bit without Ssl does not require TLS
    assert sslflags.requires_ssl("None") is False
    assert sslflags.requires_ssl(264) is True


def test_constants_match_the_catalog():
    from lbsync.facts import catalog, iis
    assert sslflags.canonical(sslflags.REQUIRE_SSL) == sslflags.REQUIRE_SSL == "Ssl, Ssl128"
    assert catalog.NONE == sslflags.NONE
    for flags in catalog.DEFAULT_FLAGS.values():
        if flags != "inherit":
            assert sslflags.canonical(flags) == flags
    for loc in iis.FRONT_END + iis.BACK_END:
        for flags in (loc.flags, loc.ep_flags):
            assert flags is None or sslflags.canonical(flags) == flags, loc.full
