"""lbsync.audit.apphost: reading applicationHost.config and resolving the effective sslFlags."""

from __future__ import annotations

import iisinterp
import pytest

from lbsync.audit.apphost import Document, effective_flags, parse
from lbsync.errors import LbsyncError

FRONT = ["Default Web Site", "Default Web Site/owa", "Default Web Site/owa/Integrated", "Default Web Site/owa/oma",
         "Default Web Site/owa/Calendar", "Default Web Site/ecp", "Default Web Site/EWS",
         "Default Web Site/Microsoft-Server-ActiveSync", "Default Web Site/OAB", "Default Web Site/mapi",
         "Default Web Site/Rpc", "Default Web Site/PowerShell", "Default Web Site/Autodiscover"]
DEFAULTS = {"Default Web Site": "Ssl, Ssl128", "Default Web Site/owa": "Ssl, Ssl128",
            "Default Web Site/owa/Integrated": "Ssl, Ssl128", "Default Web Site/owa/oma": "Ssl, Ssl128",
            "Default Web Site/owa/Calendar": "None", "Default Web Site/ecp": "Ssl, Ssl128",
            "Default Web Site/EWS": "Ssl, Ssl128", "Default Web Site/Microsoft-Server-ActiveSync": "Ssl, Ssl128",
            "Default Web Site/OAB": "Ssl, Ssl128", "Default Web Site/mapi": "Ssl, Ssl128",
            "Default Web Site/Rpc": "None", "Default Web Site/PowerShell": "SslNegotiateCert",
            "Default Web Site/Autodiscover": "Ssl, Ssl128"}


def wrap(body: str, global_flags: str | None = "None", nl: str = "\r\n", bom: bool = True) -> str:
    glob = (f'    <system.webServer>\n        <security>\n            <access sslFlags="{global_flags}" />\n'
            f'        </security>\n    </system.webServer>\n') if global_flags is not None else ""
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n{glob}{body}</configuration>\n'
    return ("\ufeff" if bom else "") + text.replace("\n", nl)


def loc(path: str, flags: str | None, attrs: str = "") -> str:
    access = f'<access sslFlags="{flags}" />' if flags is not None else "<authentication />"
    return (f'    <location path="{path}"{attrs}>\n        <system.webServer>\n            <security>\n'
            f'                {access}\n            </security>\n        </system.webServer>\n    </location>\n')


@pytest.mark.parametrize("version", [2013, 2016])
def test_fixtures_hold_exchange_defaults(version):
    text = iisinterp.load_fixture(version)
    assert text.startswith("\ufeff<?xml") and "\r\n" in text and "\n" not in text.replace("\r\n", "")
    assert effective_flags(text, FRONT) == DEFAULTS
    doc = parse(text)
    for inherited in ("owa", "ecp", "EWS", "Autodiscover"):
        assert doc.explicit_flags(f"Default Web Site/{inherited}") is None
    for explicit in ("OAB", "mapi", "owa/Integrated", "owa/oma", "owa/Calendar", "Rpc", "PowerShell"):
        assert doc.explicit_flags(f"Default Web Site/{explicit}") is not None
    # ActiveSync: inherited on 2013 (E15nc), its own "Ssl, Ssl128" on 2016 (E16cu22): the same effective value
    eas = doc.explicit_flags("Default Web Site/Microsoft-Server-ActiveSync")
    assert eas is None if version == 2013 else eas == "Ssl, Ssl128"
    assert doc.effective("Exchange Back End") == "Ssl, Ssl128"
    assert doc.site_bound_to(444) == "Exchange Back End" and doc.site_bound_to(443) == "Default Web Site"
    assert doc.site_paths()["default web site/microsoft-server-activesync"] == "MSExchangeSyncAppPool"


def test_inheritance_walks_up_to_the_site_root_and_the_server_level():
    text = wrap(loc("Site", "Ssl") + loc("Site/app/child", None) + loc("Other", None), global_flags="Ssl128")
    assert effective_flags(text, ["Site/app/child", "Site/app", "Site", "Other", "Unknown/x"]) == {
        "Site/app/child": "Ssl", "Site/app": "Ssl", "Site": "Ssl", "Other": "Ssl128", "Unknown/x": "Ssl128"}
    # without a server-level value the IIS schema default applies
    assert effective_flags(wrap(loc("Other", None), global_flags=None), ["Other/x"]) == {"Other/x": "None"}


def test_the_most_specific_location_wins_whatever_the_file_order():
    text = wrap(loc("Default Web Site/owa/Integrated", "Ssl") + loc("Default Web Site/owa", "None")
                + loc("Default Web Site", "Ssl, Ssl128"))
    assert effective_flags(text, ["Default Web Site/owa/Integrated", "Default Web Site/owa",
                                  "Default Web Site/owa/oma", "Default Web Site/ecp"]) == {
        "Default Web Site/owa/Integrated": "Ssl", "Default Web Site/owa": "None",
        "Default Web Site/owa/oma": "None", "Default Web Site/ecp": "Ssl, Ssl128"}


def test_the_last_of_two_tags_for_the_same_path_wins():
    text = wrap(loc("Default Web Site/owa", "Ssl") + loc("Default Web Site/owa", "None", ' overrideMode="Allow"'))
    assert effective_flags(text, ["Default Web Site/owa"]) == {"Default Web Site/owa": "None"}


@pytest.mark.parametrize("written", ["Ssl,Ssl128", "ssl, ssl128", "Ssl128 ,  Ssl", "SSL,SSL128", "264"])
def test_flags_in_any_order_case_spacing_or_as_a_number(written):
    text = wrap(loc("Default Web Site/OAB", written))
    assert effective_flags(text, ["Default Web Site/OAB"]) == {"Default Web Site/OAB": "Ssl, Ssl128"}


@pytest.mark.parametrize("path", ["default web site/OWA", "DEFAULT WEB SITE/owa/", "/Default Web Site/owa"])
def test_paths_match_in_any_case_and_with_slashes(path):
    text = wrap(loc(path, "None") + loc("Default Web Site", "Ssl"))
    assert effective_flags(text, ["Default Web Site/owa", "Default Web Site/Owa/Integrated"]) == {
        "Default Web Site/owa": "None", "Default Web Site/Owa/Integrated": "None"}


def test_a_prefix_that_is_not_a_parent_does_not_count():
    text = wrap(loc("Default Web Site/owa", "None") + loc("Default Web Site", "Ssl"))
    assert effective_flags(text, ["Default Web Site/owa2"]) == {"Default Web Site/owa2": "Ssl"}


def test_access_without_sslflags_inherits_the_attribute():
    text = wrap(loc("Site", "Ssl") + '    <location path="Site/app"><system.webServer><security><access />'
                                     '</security></system.webServer></location>\n')
    assert effective_flags(text, ["Site/app"]) == {"Site/app": "Ssl"}


def test_inherit_in_child_applications_false_stops_at_the_path():
    text = wrap(loc("Site", "Ssl", ' inheritInChildApplications="false"'), global_flags="None")
    assert effective_flags(text, ["Site", "Site/app"]) == {"Site": "Ssl", "Site/app": "None"}


def test_dot_and_empty_location_paths_are_the_server_level():
    text = wrap(loc(".", "Ssl128"), global_flags=None)
    assert effective_flags(text, ["Any/where"]) == {"Any/where": "Ssl128"}


def test_lf_and_no_bom_read_the_same():
    body = loc("Default Web Site", "Ssl, Ssl128") + loc("Default Web Site/owa", "None")
    a = effective_flags(wrap(body), ["Default Web Site/owa", "Default Web Site/ecp"])
    b = effective_flags(wrap(body, nl="\n", bom=False), ["Default Web Site/owa", "Default Web Site/ecp"])
    assert a == b == {"Default Web Site/owa": "None", "Default Web Site/ecp": "Ssl, Ssl128"}


def test_comments_cdata_and_entities_are_handled():
    text = wrap('    <!-- <location path="Default Web Site/owa"> commented out -->\n'
                + loc("Default Web Site", "Ssl").replace("<security>", "<security><![CDATA[ <x> ]]>")
                + '    <location path="A &amp; B"><system.webServer><security><access sslFlags="None" />'
                  '</security></system.webServer></location>\n')
    assert effective_flags(text, ["Default Web Site/owa", "A & B/x"]) == {
        "Default Web Site/owa": "Ssl", "A & B/x": "None"}


# ---- errors: one LbsyncError naming the file and the line -----------------------------------------------------

@pytest.mark.parametrize("body, line, what", [
    ('    <location path="x">\n        <system.webServer>\n    </location>\n', 5, "unexpected </location>"),
    ('    <location path="x"\n', 3, "malformed XML tag"),
    ('    <location path="x">\n', 4, "expected </location> for the <location> of line 3"),
    ('    <location path="x" path="y"></location>\n', 3, "duplicate attribute"),
    ('    <!-- open comment\n', 3, "unterminated comment"),
])
def test_malformed_xml_is_an_error_naming_file_and_line(body, line, what):
    text = wrap(body, global_flags=None, nl="\r\n")
    with pytest.raises(LbsyncError) as exc:
        effective_flags(text, ["x"], file="EX01.applicationHost.config")
    err = exc.value
    assert err.file == "EX01.applicationHost.config" and err.line == line and what in err.message
    assert str(err).startswith(f"EX01.applicationHost.config:{line}: error: ")


def test_an_unknown_flag_names_file_line_and_key():
    text = wrap(loc("Default Web Site", "Ssl, Ssl128") + loc("Default Web Site/owa", "Ssl, Sll128"))
    with pytest.raises(LbsyncError) as exc:
        effective_flags(text, ["Default Web Site/owa"], file="apphost.config")
    expected_line = text[:text.index("Sll128")].count("\n") + 1
    assert expected_line == 18
    assert exc.value.line == expected_line and exc.value.key == "sslFlags" and "sll128" in exc.value.message.lower()
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("text, what", [
    ("", "no elements"),
    ("\ufeff<?xml version='1.0'?>\r\n<sites></sites>\r\n", "not <configuration>"),
    ("<configuration></configuration><configuration></configuration>", "second document element"),
    ("<configuration></configuration> trailing", "text after"),
])
def test_not_an_applicationhost_config(text, what):
    with pytest.raises(LbsyncError, match=what):
        Document(text, "f.config")


def test_element_spans_cover_the_exact_text():
    text = iisinterp.load_fixture(2016)
    doc = parse(text)
    for path, el in doc.locations():
        chunk = text[el.start:el.end]
        assert chunk.startswith("<location path=") and chunk.endswith("</location>")
        assert text.count("\n", 0, el.start) + 1 == el.line


# ---- property: the reader agrees with an oracle computed from the data the file was written from ---------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lbsync.facts import sslflags  # noqa: E402

SEGMENTS = ["owa", "ecp", "EWS", "OAB", "Calendar", "oma", "mapi", "Rpc"]
NAMES = ["Ssl", "SslNegotiateCert", "SslRequireCert", "SslMapCert", "Ssl128"]


@st.composite
def spelled_flags(draw):
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))
    bits = sum(sslflags.FLAGS[n] for n in names)
    style = draw(st.sampled_from(["names", "number", "lower", "upper"]))
    if style == "number" or not names:
        text = str(bits) if style == "number" or draw(st.booleans()) else "None"
    else:
        words = [n.lower() if style == "lower" else n.upper() if style == "upper" else n for n in names]
        text = draw(st.sampled_from([",", ", ", " , ", ",  "])).join(draw(st.permutations(words)))
    return bits, text


@settings(max_examples=60, deadline=None)
@given(paths=st.lists(st.lists(st.sampled_from(SEGMENTS), max_size=3).map(lambda s: "/".join(["Site", *s])),
                      unique_by=str.lower, max_size=8),
       data=st.data(), global_flags=st.one_of(st.none(), spelled_flags()), crlf=st.booleans(), bom=st.booleans())
def test_effective_flags_match_an_oracle(paths, data, global_flags, crlf, bom):
    written = {}
    body = ""
    for path in paths:
        flags = data.draw(st.one_of(st.none(), spelled_flags()))
        written[path.lower()] = flags[0] if flags else None
        shown = data.draw(st.sampled_from([path, path.upper(), path.lower(), path + "/"]))
        body += loc(shown, flags[1] if flags else None)
    text = wrap(body, global_flags=global_flags[1] if global_flags else None, nl="\r\n" if crlf else "\n", bom=bom)
    queries = sorted({p for p in paths} | {"Site/owa/x/y", "Site", "Other"})

    def oracle(query: str) -> str:
        parts = query.lower().split("/")
        for i in range(len(parts), 0, -1):
            bits = written.get("/".join(parts[:i]))
            if bits is not None:
                return sslflags.format(bits)
        return sslflags.format(global_flags[0]) if global_flags else "None"

    assert effective_flags(text, queries) == {q: oracle(q) for q in queries}


def test_character_references_are_decoded_like_iis_does():
    text = wrap(loc("Default Web Site", "Ssl, Ssl128")
                + '    <location path="Default&#x20;Web Site/owa"><system.webServer><security>'
                  '<access sslFlags="&#78;one" /></security></system.webServer></location>\n')
    assert effective_flags(text, ["Default Web Site/owa"]) == {"Default Web Site/owa": "None"}


def test_a_doctype_with_entities_is_refused_not_expanded():
    text = ('<?xml version="1.0"?>\n<!DOCTYPE configuration [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<configuration>&b;</configuration>\n')
    with pytest.raises(LbsyncError, match="DOCTYPE or entity declaration") as info:
        Document(text, "f.config")
    assert info.value.line == 2
