"""Read PowerShell CLIXML files (`Export-Clixml`) that Exchange admins already have.

Two kinds matter to the audit:

1. HealthChecker's `GetApplicationHostConfig.xml` (HealthChecker loads applicationHost.config into an `[xml]`
   XmlDocument; its tests keep the `Export-Clixml` of it), and in general an `[xml]` document piped to
   `Export-Clixml`: one `<Obj>` holding one `<XD>` whose text is the document's OuterXml, escaped once.
   `xml_document` returns that inner document (XML declaration kept), ready for `apphost.Document`.
   (`Get-WebConfiguration | Export-Clixml` writes configuration element objects, not an `<XD>`: `objects` reads
   those, `xml_document` refuses them naming what it found.)
2. `Get-OutlookAnywhere | Export-Clixml` (and any `Get-*VirtualDirectory | Export-Clixml`): a list of
   deserialised objects. `objects` turns each top-level object into plain Python values.

The format is PowerShell's serialisation (MS-PSRP 2.2.5): root `<Objs Version="1.1.0.1" xmlns=NS>`; complex
objects are `<Obj RefId>` with `<TN>`/`<TNRef>` (type names, ignored here), `<ToString>`, `<Props>` (adapted
properties), `<MS>` (extended properties; a nested `<MS N>` is a property set), a container (`<LST>`, `<IE>`,
`<QUE>`, `<STK>`, `<DCT>` of `<En>` with Key/Value) or a primitive value (enums: `<ToString>` + `<I32>`).
`<Ref RefId>` repeats an earlier `<Obj>`. Strings escape control characters and surrogates as `_xHHHH_`, and a
literal `_x` as `_x005F_x`.

How an `<Obj>` becomes a value:
- with `<Props>`: a dict of the properties, the `<MS>` members merged over them, plus "ToString" when present;
- else with a primitive value (an enum, or an extended primitive such as a string with notes): the ToString text,
  or the primitive itself when there is no ToString (the notes of an extended primitive are dropped);
- else with a container: a list (LST, IE, QUE, STK) or a dict (DCT), its notes (if any) dropped likewise;
- else with `<MS>`: a dict of its members, plus "ToString" when present;
- else its ToString text, or {} for an object with nothing at all.

Primitives: B bool; S, DT, TS, G, URI, Version, XD, SBK, SS str (escapes decoded); C one-character str; I16, I32,
I64, U16, U32, U64, By, SB int; Db, Sg, D float; BA bytes; Nil None. Unknown elements are ignored.

The XML is parsed by expat: a DOCTYPE (and so any entity declaration) is refused, so no entity is ever expanded.
Objects nested deeper than 64 levels are refused, as is a `<Ref>` to a RefId no earlier `<Obj>` has. Every error
is an LbsyncError naming the file and line.
"""

from __future__ import annotations

import base64
import binascii
import re
from xml.parsers import expat

from ..errors import LbsyncError

NS = "http://schemas.microsoft.com/powershell/2004/04"
MAX_DEPTH = 64   # nested <Obj> and <MS> elements (each level costs the reader a few stack frames)

_INTS = frozenset({"I16", "I32", "I64", "U16", "U32", "U64", "By", "SB"})
_FLOATS = frozenset({"Db", "Sg", "D"})
_STRINGS = frozenset({"S", "DT", "TS", "G", "URI", "Version", "XD", "SBK", "SS"})
_PRIMITIVES = _INTS | _FLOATS | _STRINGS | {"B", "C", "BA", "Nil"}
_VALUES = _PRIMITIVES | {"Obj", "Ref"}
_LISTS = frozenset({"LST", "IE", "QUE", "STK"})
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WANTED = ("expected the Export-Clixml of one [xml] document, as HealthChecker's GetApplicationHostConfig.xml; "
           "Get-WebConfiguration | Export-Clixml writes objects instead")
_ROOT_TAG = re.compile(r"<(?:([A-Za-z_][\w.-]*):)?Objs(?=[\s/>])")


def decode_escapes(s: str) -> str:
    """`s` with PowerShell's `_xHHHH_` escapes replaced by their characters (`_x005F_x000D_` is the literal text
    `_x000D_`); an escaped UTF-16 surrogate pair (`_xD83D__xDE00_`) becomes the one character it encodes, a lone
    surrogate is kept as it is."""
    if "_x" not in s:
        return s
    out = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), s)
    if _SURROGATE.search(out):
        out = out.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return out


def is_clixml(text: str) -> bool:
    """True when the document element is `<Objs>` in the PowerShell namespace. A cheap look at the start only:
    a BOM, whitespace, an XML declaration (or other processing instruction) and comments are skipped; anything else
    before the document element (a DOCTYPE, say) means False."""
    i = 1 if text.startswith("\ufeff") else 0
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("<?", i):
            end = text.find("?>", i + 2)
            if end < 0:
                return False
            i = end + 2
        elif text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                return False
            i = end + 3
        else:
            break
    m = _ROOT_TAG.match(text, i)
    if not m:
        return False
    tag_end = text.find(">", m.end())
    start_tag = text[m.end(): tag_end if tag_end >= 0 else n]
    prefix = m.group(1)
    decl = re.compile(r"xmlns" + (":" + re.escape(prefix) if prefix else "") + r"\s*=\s*([\"'])" + re.escape(NS)
                      + r"\1")
    return bool(decl.search(start_tag))


def xml_document(text: str, file: str) -> str:
    """The XML document held by a CLIXML file of one `[xml]` object (one top-level `<Obj>` holding one `<XD>`, as
    HealthChecker's GetApplicationHostConfig.xml): its text with `_xHHHH_` decoded, the XML declaration kept."""
    root = _parse(text, file)
    values = _top_values(root)
    if len(values) != 1:
        line = values[1].line if len(values) > 1 else root.line
        raise LbsyncError(f"a CLIXML file of {len(values)} objects, not one [xml] document ({_WANTED})", file=file,
                          line=line)
    node = values[0]
    if node.tag == "XD":
        return decode_escapes(node.content())
    docs = [c for c in node.children if c.tag == "XD"]
    if node.tag != "Obj" or len(docs) != 1:
        what = _type_name(node) or f"<{node.tag}>"
        detail = f"{len(docs)} <XD> elements" if docs else "no <XD>"
        raise LbsyncError(f"the CLIXML object is {what}, not an [xml] document ({detail}; {_WANTED})", file=file,
                          line=node.line)
    return decode_escapes(docs[0].content())


def objects(text: str, file: str) -> list[object]:
    """Every top-level object of a CLIXML file deserialised (see the module docstring): for
    `Get-OutlookAnywhere | Export-Clixml`, one dict of properties per virtual directory. Top-level primitives
    (`"text" | Export-Clixml` writes a bare `<S>`) are values too."""
    root = _parse(text, file)
    reader = _Reader(file)
    return [reader.value(node) for node in _top_values(root)]


# ---- parsing -----------------------------------------------------------------------------------------------------


class _Node:
    __slots__ = ("tag", "attrs", "children", "parts", "line")

    def __init__(self, tag: str | None, attrs: dict[str, str], line: int):
        self.tag = tag            # local name in the PowerShell namespace; None for any other element
        self.attrs = attrs
        self.children: list[_Node] = []
        self.parts: list[str] = []
        self.line = line

    def content(self) -> str:
        return "".join(self.parts)


class _Stop(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.message = message
        self.line = line


def _parse(text: str, file: str) -> _Node:
    """The element tree of a CLIXML document (expat; DOCTYPE refused; nesting bounded)."""
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    stack: list[_Node] = []
    roots: list[_Node] = []
    depth = [0]
    prefix = NS + " "

    def refuse(*_args) -> None:
        raise _Stop("a DOCTYPE or entity declaration (refused: CLIXML has none, and no entity is expanded)",
                    parser.CurrentLineNumber)

    def start(name: str, attrs: dict[str, str]) -> None:
        line = parser.CurrentLineNumber
        local = name[len(prefix):] if name.startswith(prefix) else None
        if not stack:
            if local != "Objs":
                shown = name.rpartition(" ")[2]
                if shown == "Objs":
                    raise _Stop(f"<Objs> is not in the PowerShell namespace (xmlns=\"{NS}\"): not a CLIXML file",
                                line)
                raise _Stop(f"the document element is <{shown}>, not <Objs> (PowerShell CLIXML, Export-Clixml)",
                            line)
        if local in ("Obj", "MS"):
            depth[0] += 1
            if depth[0] > MAX_DEPTH:
                raise _Stop(f"objects nested deeper than {MAX_DEPTH} levels (refused)", line)
        node = _Node(local, attrs, line)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_name: str) -> None:
        node = stack.pop()
        if node.tag in ("Obj", "MS"):
            depth[0] -= 1

    def chars(data: str) -> None:
        if stack:
            stack[-1].parts.append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(text.encode("utf-8", "surrogatepass"), True)
    except _Stop as exc:
        raise LbsyncError(exc.message, file=file, line=exc.line) from None
    except expat.ExpatError as exc:
        codes = expat.errors.codes
        if exc.code == codes[expat.errors.XML_ERROR_NO_ELEMENTS]:
            if stack:
                raise LbsyncError(f"<{stack[-1].tag or 'element'}> of line {stack[-1].line} is never closed "
                                  f"(the file ends first)", file=file, line=exc.lineno) from None
            raise LbsyncError("not an XML document (no elements)", file=file, line=exc.lineno) from None
        raise LbsyncError(f"not well-formed XML ({expat.ErrorString(exc.code)})", file=file,
                          line=exc.lineno) from None
    return roots[0]


def _top_values(root: _Node) -> list[_Node]:
    return [c for c in root.children if c.tag in _VALUES]


def _type_name(node: _Node) -> str | None:
    for c in node.children:
        if c.tag == "TN":
            for t in c.children:
                if t.tag == "T":
                    return decode_escapes(t.content())
    return None


# ---- deserialising -----------------------------------------------------------------------------------------------


class _Reader:
    """Turns nodes into values; remembers every <Obj> by RefId (one table for the whole file, as the serialiser
    numbers them) so that a <Ref> yields the very same value."""

    def __init__(self, file: str):
        self.file = file
        self.refs: dict[str, object] = {}

    def error(self, message: str, node: _Node) -> LbsyncError:
        return LbsyncError(message, file=self.file, line=node.line)

    def value(self, node: _Node) -> object:
        if node.tag == "Obj":
            return self.obj(node)
        if node.tag == "Ref":
            ref = node.attrs.get("RefId")
            if ref is None or ref not in self.refs:
                raise self.error(f"<Ref RefId=\"{ref}\"> refers to no earlier <Obj> with that RefId", node)
            return self.refs[ref]
        return self.primitive(node)

    def obj(self, node: _Node) -> object:
        props = ms = tostring = prim = container = None
        for c in node.children:
            tag = c.tag
            if tag == "Props" and props is None:
                props = c
            elif tag == "MS" and ms is None:
                ms = c
            elif tag == "ToString" and tostring is None:
                tostring = c
            elif tag in _PRIMITIVES and prim is None:
                prim = c
            elif (tag in _LISTS or tag == "DCT") and container is None:
                container = c
        ref = node.attrs.get("RefId")
        result: object
        if props is None and prim is not None:
            result = decode_escapes(tostring.content()) if tostring is not None else self.primitive(prim)
            self.remember(ref, result)
        elif props is None and container is not None and container.tag in _LISTS:
            items: list[object] = []
            self.remember(ref, items)     # before the items: an item may refer to its container
            items.extend(self.value(c) for c in container.children if c.tag in _VALUES)
            result = items
        elif props is None and container is not None:
            entries: dict[object, object] = {}
            self.remember(ref, entries)
            self.entries(container, entries)
            result = entries
        elif props is not None or ms is not None:
            members: dict[object, object] = {}
            self.remember(ref, members)   # before the members: a member may refer to its object
            if props is not None:
                self.members(props, members)
            if ms is not None:
                self.members(ms, members)
            if tostring is not None:
                members["ToString"] = decode_escapes(tostring.content())
            result = members
        elif tostring is not None:
            result = decode_escapes(tostring.content())
            self.remember(ref, result)
        else:
            result = {}
            self.remember(ref, result)
        return result

    def remember(self, ref: str | None, value: object) -> None:
        if ref is not None:
            self.refs[ref] = value

    def members(self, node: _Node, into: dict[object, object]) -> None:
        """The named values of a <Props> or <MS> (a nested <MS N> is a property set: a dict)."""
        for c in node.children:
            name = c.attrs.get("N")
            if name is None:
                continue
            if c.tag == "MS":
                nested: dict[object, object] = {}
                self.members(c, nested)
                into[decode_escapes(name)] = nested
            elif c.tag in _VALUES:
                into[decode_escapes(name)] = self.value(c)

    def entries(self, node: _Node, into: dict[object, object]) -> None:
        """The <En> of a <DCT>: Key -> Value (a key that is itself a dict or list is keyed by its repr)."""
        for en in node.children:
            if en.tag != "En":
                continue
            key_node = value_node = None
            for c in en.children:
                if c.tag in _VALUES:
                    if c.attrs.get("N") == "Key" and key_node is None:
                        key_node = c
                    elif c.attrs.get("N") == "Value" and value_node is None:
                        value_node = c
            if key_node is None:
                continue
            key = self.value(key_node)
            try:
                hash(key)
            except TypeError:
                key = repr(key)
            into[key] = self.value(value_node) if value_node is not None else None

    def primitive(self, node: _Node) -> object:
        tag, text = node.tag, node.content()
        if tag == "Nil":
            return None
        if tag in _STRINGS:
            return decode_escapes(text)
        word = text.strip()
        if tag == "B":
            low = word.lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
            raise self.error(f"<B> holds {word!r}, not true or false", node)
        if tag == "BA":
            try:
                return base64.b64decode("".join(word.split()), validate=True)
            except (binascii.Error, ValueError):
                raise self.error("<BA> holds text that is not base64", node) from None
        try:
            if tag in _FLOATS:
                return float(word)
            number = int(word)
            return chr(number) if tag == "C" else number
        except (ValueError, OverflowError):
            raise self.error(f"<{tag}> holds {word[:40]!r}, not a number", node) from None
