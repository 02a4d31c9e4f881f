"""lbsync.audit.clixml: reading PowerShell Export-Clixml files (HealthChecker's GetApplicationHostConfig.xml and
`Get-OutlookAnywhere | Export-Clixml`)."""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET

import pytest
from support.captures import CAPTURES
from support.clixml_samples import BLOB, OA_TEXT, OBJS, Writer, clixml  # noqa: F401

from lbsync.audit.clixml import NS, decode_escapes, is_clixml, objects, xml_document
from lbsync.errors import LbsyncError

E16 = CAPTURES / "e16-GetApplicationHostConfig.xml"




def one(props: str) -> object:
    """The single object of a CLIXML file whose top-level <Obj> has these <Props>."""
    (obj,) = objects(clixml(f'  <Obj RefId="0">\n    <Props>\n{props}\n    </Props>\n  </Obj>'), "t.xml")
    return obj


def raises(text: str, reader=objects) -> LbsyncError:
    with pytest.raises(LbsyncError) as info:
        reader(text, "in.xml")
    return info.value


# ---- the real HealthChecker capture ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def e16_text() -> str:
    if not E16.is_file():
        pytest.skip(f"{E16} is not on this machine (the reference captures live beside the project, not in it)")
    return E16.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def e16_doc(e16_text) -> str:
    return xml_document(e16_text, str(E16))


def test_real_capture_is_clixml(e16_text):
    assert e16_text.startswith("\ufeff<Objs ")   # the BOM the README describes
    assert is_clixml(e16_text)


def test_real_capture_keeps_the_xml_declaration(e16_doc):
    assert e16_doc.startswith('<?xml version="1.0" encoding="UTF-8"?>')


def test_real_capture_holds_the_configuration(e16_doc):
    assert "<configuration>" in e16_doc
    assert '<location path="Default Web Site/API">' in e16_doc
    assert '<location path="Exchange Back End/Rpc">' in e16_doc


def test_real_capture_has_no_escape_left(e16_doc):
    assert "_x000D_" not in e16_doc and "_x000A_" not in e16_doc
    assert "\r\n    IIS configuration sections.\r\n" in e16_doc   # the first comment, its CR LF decoded


def test_real_capture_entities_are_decoded_once(e16_doc):
    assert "&lt;" not in e16_doc[:200] and "<!--" in e16_doc[:200]


def test_real_capture_parses_as_xml(e16_doc):
    root = ET.fromstring(e16_doc)
    assert root.tag == "configuration"
    flags = {loc.get("path"): loc.find("system.webServer/security/access") for loc in root.findall("location")}
    assert flags["Default Web Site/API"].get("sslFlags") == "Ssl, Ssl128"
    assert flags["Default Web Site/PowerShell"].get("sslFlags") == "SslNegotiateCert"


def test_real_capture_as_objects_is_the_same_document(e16_text, e16_doc):
    assert objects(e16_text, str(E16)) == [e16_doc]


# ---- decode_escapes ----------------------------------------------------------------------------------------------


def test_escaped_crlf_decodes():
    assert decode_escapes("a_x000D__x000A_b") == "a\r\nb"


def test_escaped_underscore_keeps_a_literal_escape_sequence():
    # a literal "_x000D_" is written "_x005F_x000D_": it must come back as the text, not as a carriage return
    assert decode_escapes("path_x005F_x000D_end") == "path_x000D_end"


def test_escaped_underscore_lowercase_hex():
    assert decode_escapes("Order_x005f_x0020_") == "Order_x0020_"   # MS-PSRP 2.2.5.3.2's own example


def test_plain_underscores_are_left_alone():
    assert decode_escapes("Order_Details _x12_ _xZZZZ_") == "Order_Details _x12_ _xZZZZ_"


def test_surrogate_pair_combines():
    assert decode_escapes("smile _xD83D__xDE00_!") == "smile \U0001F600!"


def test_lone_surrogate_is_kept():
    assert decode_escapes("_xD83D_") == "\ud83d"


def test_escape_in_a_string_value():
    assert one('<S N="v">line_x000A_next_x005F_x0041_</S>') == {"v": "line\nnext_x0041_"}


def test_escape_in_a_property_name():
    assert one('<S N="a_x0020_b">1</S>') == {"a b": "1"}


# ---- is_clixml ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    f"{OBJS}</Objs>",
    f"\ufeff{OBJS}</Objs>",
    f'<?xml version="1.0" encoding="utf-16"?>\r\n<!-- saved by hand -->\n  {OBJS}</Objs>',
    f"<Objs xmlns='{NS}' Version='1.1.0.1'/>",
    f'<ps:Objs xmlns:ps="{NS}"></ps:Objs>',
])
def test_is_clixml(text):
    assert is_clixml(text)


@pytest.mark.parametrize("text", [
    "",
    '\ufeff<?xml version="1.0" encoding="UTF-8"?>\r\n<configuration>\r\n</configuration>',
    '<Objs Version="1.1.0.1"></Objs>',                                    # no namespace
    '<Objs xmlns="http://schemas.microsoft.com/powershell/2004/05"/>',    # another one
    f'<ps:Objs xmlns="{NS}" xmlns:ps="urn:other"/>',                     # the prefix is not bound to NS
    f"<ObjsX xmlns='{NS}'/>",
    f"<!-- never closed {OBJS}",
    f"<!DOCTYPE Objs>{OBJS}</Objs>",
])
def test_is_not_clixml(text):
    assert not is_clixml(text)


# ---- Get-OutlookAnywhere | Export-Clixml -------------------------------------------------------------------------
# Shaped exactly after the real Export-Clixml of Exchange objects in microsoft/CSS-Exchange:
#   Diagnostics/HealthChecker/Tests/DataCollection/E19/Exchange/GetOwaVirtualDirectory.xml and
#   .../E19/Exchange/GetWebServicesVirtualDirectory.xml (TN chain of the virtual directory class; `Server` and
#   `Identity` as ADObjectId objects with ToString, Props and MS SerializationData; enums as <Obj> with <ToString>
#   and <I32>; multi-valued properties as <Obj> holding <LST>; `<Ref N="Id">` to the Identity object; the
#   top-level <MS> with PSComputerName/RunspaceId/PSShowComputerName/SerializationData), and
#   .../E19/Exchange/GetReceiveConnector.xml (a value type with ToString and only an <MS>, as ByteQuantifiedSize).
# The property set and types follow ADRpcHttpVirtualDirectory (Hostname ExternalHostname/InternalHostname,
# AuthenticationMethod ExternalClientAuthenticationMethod, MultiValuedProperty<AuthenticationMethod>
# IISAuthenticationMethods). AuthenticationMethod values seen in the samples: Basic 0, Ntlm 2, Fba 3,
# WindowsIntegrated 4, WSSecurity 7, OAuth 10; Negotiate's 13 is inferred from that order. The BA blobs here are a
# stand-in. A second object continues the serialiser's RefIds and refers to the first one's type names by TNRef.

SECOND_LINE = [i for i, x in enumerate(OA_TEXT.split("\n"), 1) if x.startswith("  <Obj RefId=")][1]


@pytest.fixture(scope="module")
def oa() -> list:
    return objects(OA_TEXT, "GetOutlookAnywhere.xml")


def test_oa_fixture_is_clixml_with_two_objects():
    assert is_clixml(OA_TEXT)
    assert OA_TEXT.count('<TN RefId="0">') == 1 and OA_TEXT.count('<TNRef RefId="0" />') == 1


def test_oa_two_objects(oa):
    assert len(oa) == 2 and all(isinstance(o, dict) for o in oa)


@pytest.mark.parametrize("key, expected", [
    ("ToString", "EX01\\Rpc (Default Web Site)"),
    ("ServerName", "EX01"),
    ("SSLOffloading", True),
    ("InternalHostname", None),
    ("ExternalClientsRequireSsl", True),
    ("InternalClientsRequireSsl", False),
    ("ExternalClientAuthenticationMethod", "Negotiate"),
    ("InternalClientAuthenticationMethod", "Ntlm"),
    ("IISAuthenticationMethods", ["Basic", "Ntlm", "Negotiate"]),
    ("XropUrl", None),
    ("Path", "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\FrontEnd\\HttpProxy\\rpc"),
    ("AdminDisplayName", ""),
    ("WhenChangedUTC", "2020-06-30T20:53:39Z"),
    ("ObjectState", "Unchanged"),
    ("PSComputerName", "ex01.contoso.com"),          # from the top-level <MS>, merged with <Props>
    ("RunspaceId", "4f1d6ed3-81ee-4120-9d38-b803867135e5"),
    ("PSShowComputerName", False),
])
def test_oa_first_object(oa, key, expected):
    assert oa[0][key] == expected


def test_oa_enum_is_its_name_not_its_number(oa):
    assert type(oa[0]["ExternalClientAuthenticationMethod"]) is str


def test_oa_external_hostname_is_an_object_with_tostring(oa):
    assert oa[0]["ExternalHostname"]["ToString"] == "mail.contoso.com"


def test_oa_identity_tostring(oa):
    assert oa[0]["Identity"]["ToString"] == "EX01\\Rpc (Default Web Site)"
    assert oa[0]["Identity"]["Rdn"] == "CN=Rpc (Default Web Site)"


def test_oa_server_is_an_adobjectid(oa):
    server = oa[0]["Server"]
    assert server["ToString"] == "EX01"
    assert server["Name"] == "EX01"
    assert server["Depth"] == 9
    assert server["DistinguishedName"].startswith("CN=EX01,CN=Servers,CN=Exchange Administrative Group")


def test_oa_serialization_data_is_bytes(oa):
    assert oa[0]["SerializationData"] == b"not Microsoft's data: a stand-in for the BinaryFormatter blob"
    assert oa[0]["Server"]["SerializationData"] == oa[0]["SerializationData"]


def test_oa_ref_is_the_identity_object(oa):
    assert oa[0]["Id"] is oa[0]["Identity"]


@pytest.mark.parametrize("key, expected", [
    ("ToString", "EX02\\Rpc (Default Web Site)"),
    ("SSLOffloading", False),
    ("ExternalClientAuthenticationMethod", "Negotiate"),    # its type only by TNRef to the first object's TN
    ("IISAuthenticationMethods", ["Basic", "Ntlm", "Negotiate"]),
    ("PSComputerName", "ex02.contoso.com"),
])
def test_oa_second_object_with_tnref(oa, key, expected):
    assert oa[1][key] == expected


def test_oa_second_object_hostnames(oa):
    assert oa[1]["InternalHostname"]["ToString"] == "ex02.contoso.com"
    assert oa[1]["Server"]["ToString"] == "EX02"


def test_oa_second_object_ref_resolves_in_its_own_object(oa):
    assert oa[1]["Id"]["ToString"] == "EX02\\Rpc (Default Web Site)"


def test_oa_in_xml_document_is_refused_with_the_count():
    err = raises(OA_TEXT, xml_document)
    assert "a CLIXML file of 2 objects, not one [xml] document" in err.message
    assert err.line == SECOND_LINE


# ---- values --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("element, expected", [
    ('<B N="v">true</B>', True),
    ('<B N="v">false</B>', False),
    ('<S N="v">text</S>', "text"),
    ('<S N="v"></S>', ""),
    ('<S N="v" />', ""),
    ('<S N="v">  spaced  </S>', "  spaced  "),
    ('<C N="v">97</C>', "a"),
    ('<I16 N="v">-5</I16>', -5),
    ('<I32 N="v">120</I32>', 120),
    ('<I64 N="v">6000000000</I64>', 6000000000),
    ('<U16 N="v">65535</U16>', 65535),
    ('<U32 N="v">4294967295</U32>', 4294967295),
    ('<U64 N="v">18446744073709551615</U64>', 18446744073709551615),
    ('<By N="v">10</By>', 10),
    ('<SB N="v">-3</SB>', -3),
    ('<Db N="v">0.16666666666666666</Db>', 0.16666666666666666),
    ('<Sg N="v">1.5</Sg>', 1.5),
    ('<D N="v">12.25</D>', 12.25),
    ('<DT N="v">2020-06-30T13:53:39-07:00</DT>', "2020-06-30T13:53:39-07:00"),
    ('<TS N="v">PT10M</TS>', "PT10M"),
    ('<G N="v">d573fddb-ffb1-45ae-ad3a-af8d490a5c04</G>', "d573fddb-ffb1-45ae-ad3a-af8d490a5c04"),
    ('<URI N="v">https://ex01.contoso.com/owa</URI>', "https://ex01.contoso.com/owa"),
    ('<Version N="v">15.2.986.5</Version>', "15.2.986.5"),
    ('<XD N="v">&lt;a b="1"/&gt;</XD>', '<a b="1"/>'),
    ('<SBK N="v">Get-Date_x000A_</SBK>', "Get-Date\n"),
    ('<SS N="v">01000000d08c9ddf</SS>', "01000000d08c9ddf"),
    ('<BA N="v">AAEC/w==</BA>', b"\x00\x01\x02\xff"),
    ('<Nil N="v" />', None),
])
def test_primitive(element, expected):
    value = one(element)["v"]
    assert value == expected and type(value) is type(expected)


def test_double_infinity():
    assert math.isinf(one('<Db N="v">INF</Db>')["v"])


@pytest.mark.parametrize("element, words", [
    ('<I32 N="v">abc</I32>', "not a number"),
    ('<B N="v">yes</B>', "not true or false"),
    ('<BA N="v">not base64!</BA>', "not base64"),
    ('<Db N="v">1,5</Db>', "not a number"),
])
def test_bad_primitive_names_the_line(element, words):
    text = clixml(f'  <Obj RefId="0">\n    <Props>\n      {element}\n    </Props>\n  </Obj>')
    err = raises(text)
    assert words in err.message
    assert err.line == 4


@pytest.mark.parametrize("tag", ["LST", "IE", "QUE", "STK"])
def test_collections_are_lists(tag):
    assert one(f'<Obj N="v" RefId="1"><TN RefId="1"><T>System.Collections.ArrayList</T></TN>'
               f'<{tag}><S>a</S><I32>2</I32><Nil /></{tag}></Obj>')["v"] == ["a", 2, None]


def test_empty_collection():
    assert one('<Obj N="v" RefId="1"><TNRef RefId="0" /><LST /></Obj>')["v"] == []


def test_dictionary():
    assert one('<Obj N="v" RefId="1"><TN RefId="1"><T>System.Collections.Hashtable</T></TN><DCT>'
               '<En><S N="Key">a</S><I32 N="Value">1</I32></En>'
               '<En><S N="Key">b</S><Nil N="Value" /></En></DCT></Obj>')["v"] == {"a": 1, "b": None}


def test_props_and_member_set_merge_with_property_sets():
    (value,) = objects(clixml('<Obj RefId="0"><Props><S N="a">1</S></Props>'
                              '<MS><S N="b">2</S><MS N="set"><I32 N="c">3</I32></MS></MS></Obj>'), "t.xml")
    assert value == {"a": "1", "b": "2", "set": {"c": 3}}


def test_member_set_wins_over_adapted_property_of_the_same_name():
    (value,) = objects(clixml('<Obj RefId="0"><Props><S N="a">adapted</S></Props>'
                              '<MS><S N="a">extended</S></MS></Obj>'), "t.xml")
    assert value == {"a": "extended"}


def test_props_win_over_a_container_and_keep_the_member_set():
    assert one('<Obj N="v" RefId="1"><ToString>t</ToString><Props><I32 N="Count">1</I32></Props><LST><S>a</S>'
               '</LST><MS><S N="note">n</S></MS></Obj>')["v"] == {"Count": 1, "note": "n", "ToString": "t"}


def test_container_with_notes_is_the_container():
    assert one('<Obj N="v" RefId="1"><ToString>t</ToString><LST><S>a</S></LST><MS><S N="note">n</S></MS></Obj>'
               )["v"] == ["a"]


def test_enum_without_tostring_is_its_number():
    assert one('<Obj N="v" RefId="1"><I32>2</I32></Obj>')["v"] == 2


def test_object_with_only_tostring_is_the_string():
    assert one('<Obj N="v" RefId="1"><TN RefId="1"><T>X</T></TN><ToString>shown</ToString></Obj>')["v"] == "shown"


def test_value_type_with_tostring_and_member_set():
    # MaxHeaderSize in GetReceiveConnector.xml: a ByteQuantifiedSize with ToString and an <MS>, no <Props>
    assert one('<Obj N="v" RefId="1"><TN RefId="1"><T>Microsoft.Exchange.Data.ByteQuantifiedSize</T></TN>'
               '<ToString>256 KB (262,144 bytes)</ToString><MS><BA N="SerializationData">AAEC</BA></MS></Obj>'
               )["v"] == {"SerializationData": b"\x00\x01\x02", "ToString": "256 KB (262,144 bytes)"}


def test_empty_tostring_with_props():
    # OrganizationId in GetOwaVirtualDirectory.xml: <ToString /> and Props
    assert one('<Obj N="v" RefId="1"><ToString /><Props><B N="IsConsumerOrganization">false</B></Props></Obj>'
               )["v"] == {"IsConsumerOrganization": False, "ToString": ""}


def test_extended_primitive_is_its_value():
    (value,) = objects(clixml('<Obj RefId="0"><TN RefId="0"><T>System.String</T><T>System.Object</T></TN>'
                              '<ToString>first line</ToString><S>first line</S>'
                              '<MS><S N="PSPath">C:\\a.txt</S></MS></Obj>'), "t.xml")
    assert value == "first line"


def test_top_level_primitives():
    assert objects(clixml('<S>text</S><I32>4</I32><Nil />'), "t.xml") == ["text", 4, None]


def test_empty_file_of_objects():
    assert objects(clixml(""), "t.xml") == []


def test_unknown_elements_are_ignored():
    assert one('<Foo N="x">1</Foo><PR N="p"><AV>Working</AV><AI>0</AI></PR><S N="a">b</S>'
               '<Obj N="o" RefId="1"><Bar /><ToString>t</ToString></Obj>') == {"a": "b", "o": "t"}


def test_elements_of_another_namespace_are_ignored():
    assert one('<x:S xmlns:x="urn:other" N="a">1</x:S><S N="b">2</S>') == {"b": "2"}


def test_deep_unknown_elements_are_ignored_without_recursion():
    assert one("<Foo>" * 20000 + "</Foo>" * 20000 + '<S N="a">b</S>') == {"a": "b"}


# ---- references --------------------------------------------------------------------------------------------------


def test_ref_is_the_same_value():
    value = one('<Obj N="a" RefId="1"><LST><S>x</S></LST></Obj><Ref N="b" RefId="1" />')
    assert value["b"] == ["x"] and value["b"] is value["a"]


def test_ref_to_a_primitive_valued_object():
    value = one('<Obj N="a" RefId="1"><ToString>Ntlm</ToString><I32>2</I32></Obj><Ref N="b" RefId="1" />')
    assert value["b"] == "Ntlm"


def test_ref_across_top_level_objects():
    a, b = objects(clixml('<Obj RefId="0"><Props><Obj N="Server" RefId="1"><ToString>EX01</ToString>'
                          '<Props><S N="Name">EX01</S></Props></Obj></Props></Obj>'
                          '<Obj RefId="2"><Props><Ref N="Server" RefId="1" /></Props></Obj>'), "t.xml")
    assert b["Server"] is a["Server"]


def test_ref_to_its_own_container():
    value = one('<Ref N="self" RefId="0" />')
    assert value["self"] is value


def test_ref_to_an_unknown_refid_is_refused():
    err = raises(clixml('  <Obj RefId="0">\n    <Props>\n      <Ref N="x" RefId="7" />\n    </Props>\n  </Obj>'))
    assert 'RefId="7"' in err.message and err.line == 4


def test_ref_forward_is_refused():
    err = raises(clixml('<Obj RefId="0"><Props><Ref N="x" RefId="1" /><Obj N="y" RefId="1"><ToString>t'
                        '</ToString></Obj></Props></Obj>'))
    assert 'RefId="1"' in err.message


# ---- xml_document ------------------------------------------------------------------------------------------------


def test_xml_document_small():
    text = clixml('  <Obj RefId="0">\n    <XD>&lt;?xml version="1.0"?&gt;&lt;c a="_x005F_x1"&gt;_x000D__x000A_'
                  '&amp;amp;&lt;/c&gt;</XD>\n  </Obj>')
    assert xml_document(text, "t.xml") == '<?xml version="1.0"?><c a="_x1">\r\n&amp;</c>'


def test_xml_document_of_a_top_level_xd():
    assert xml_document(clixml("<XD>&lt;c/&gt;</XD>"), "t.xml") == "<c/>"


def test_xml_document_of_no_object():
    err = raises(clixml(""), xml_document)
    assert "a CLIXML file of 0 objects" in err.message


def test_xml_document_of_an_object_that_is_not_xml():
    err = raises(clixml('  <Obj RefId="0">\n    <TN RefId="0"><T>System.String</T></TN>\n'
                        '    <ToString>x</ToString>\n  </Obj>'), xml_document)
    assert "System.String, not an [xml] document (no <XD>;" in err.message and err.line == 2


def test_xml_document_names_the_file():
    err = raises(clixml(""), xml_document)
    assert str(err).startswith("in.xml:")


# ---- refused input -----------------------------------------------------------------------------------------------

LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE Objs [\n <!ENTITY a "lollollollollollollollollollol">\n'
          + "".join(f' <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(9))
          + f']>\n{OBJS}<Obj RefId="0"><S>&j;</S></Obj></Objs>')
XXE = f'<!DOCTYPE Objs [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n{OBJS}<S>&x;</S></Objs>'


@pytest.mark.parametrize("reader", [objects, xml_document])
@pytest.mark.parametrize("text", [LAUGHS, XXE], ids=["billion-laughs", "external-entity"])
def test_doctype_refused_before_any_entity(text, reader):
    started = time.monotonic()
    err = raises(text, reader)
    assert "DOCTYPE" in err.message
    # refused at the DOCTYPE's own line: before the parser reaches the first <!ENTITY> (on a later line in LAUGHS)
    assert err.line == next(i for i, x in enumerate(text.split("\n"), 1) if "<!DOCTYPE" in x)
    assert time.monotonic() - started < 1


def test_undefined_entity_is_not_well_formed():
    err = raises(clixml('<Obj RefId="0">\n<S>&lol;</S></Obj>'))
    assert "not well-formed" in err.message and "undefined entity" in err.message and err.line == 3


def test_not_well_formed_names_the_line():
    err = raises(clixml('  <Obj RefId="0">\n    <Props>\n      <S N="a">x</B>\n    </Props>\n  </Obj>'))
    assert "not well-formed" in err.message
    assert err.line == 4
    assert str(err).startswith("in.xml:4: error: not well-formed")


def test_unclosed_element():
    err = raises(f'{OBJS}\n<Obj RefId="0">\n<Props>\n')
    assert "<Props> of line 3 is never closed" in err.message


def test_empty_text():
    assert "no elements" in raises("").message


@pytest.mark.parametrize("reader", [objects, xml_document])
def test_wrong_root(reader):
    err = raises('\ufeff<?xml version="1.0" encoding="UTF-8"?>\r\n<configuration>\r\n</configuration>', reader)
    assert "the document element is <configuration>, not <Objs>" in err.message and err.line == 2


def test_objs_outside_the_namespace():
    err = raises('<Objs Version="1.1.0.1"><Obj RefId="0"><S>x</S></Obj></Objs>')
    assert "not in the PowerShell namespace" in err.message


def test_declared_utf16_encoding_of_a_decoded_text_is_fine():
    assert objects(f'<?xml version="1.0" encoding="utf-16"?>{OBJS}<S>x</S></Objs>', "t.xml") == ["x"]


def nested(levels: int) -> str:
    """`levels` <Obj> elements, each the only property of the one outside it."""
    inner = '<S N="leaf">bottom</S>'
    for ref in range(levels - 1, 0, -1):
        inner = f'<Obj N="child" RefId="{ref}"><Props>{inner}</Props></Obj>'
    return clixml(f'<Obj RefId="0"><Props>{inner}</Props></Obj>')


def test_64_levels_are_read():
    (value,) = objects(nested(64), "t.xml")
    for _ in range(63):
        value = value["child"]
    assert value == {"leaf": "bottom"}


def test_65_levels_are_refused():
    assert "nested deeper than 64" in raises(nested(65)).message


def test_100_levels_refused_cleanly():
    err = raises(nested(100))    # an LbsyncError, not a RecursionError
    assert "nested deeper than 64" in err.message and err.line == 2


def test_100_nested_property_sets_refused_cleanly():
    sets = '<MS N="s">' * 100 + "</MS>" * 100
    assert "nested deeper than 64" in raises(clixml(f'<Obj RefId="0"><MS>{sets}</MS></Obj>')).message


def test_deep_nesting_refused_in_xml_document_too():
    assert "nested deeper than 64" in raises(nested(100), xml_document).message
