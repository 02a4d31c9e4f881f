"""Read IIS's applicationHost.config: the effective `sslFlags` of any location, inheritance resolved.

IIS merges `system.webServer/security/access` from the global `<system.webServer>` down through every
`<location path="...">` that is an ancestor of (or equal to) the path asked about; the most specific location
that sets the `sslFlags` attribute wins, and the schema default is `None`. `sslFlags` is locked in
applicationHost.config by default (`overrideModeDefault="Deny"`), so this file is where Exchange and lbsync set it.

The XML is parsed by expat (the standard library's parser: character references decoded, a DOCTYPE and so any
entity declaration refused). The reader keeps every element's character span so that callers (the test
interpreter) can edit the text in place without touching any other byte. Errors are LbsyncError naming file and
line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from ..errors import LbsyncError
from ..facts import sslflags

ACCESS_SECTION = "system.webServer/security/access"
DEFAULT_SSL_FLAGS = "None"  # IIS schema default of access/@sslFlags

_NAME = r"[^\s=/>\"']+"
_ATTR = re.compile(rf"({_NAME})\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")   # inside a start tag expat accepted


@dataclass
class Element:
    name: str
    attrs: dict[str, str]
    attr_spans: dict[str, tuple[int, int]]   # attribute name -> (start, end) of its value (inside the quotes)
    start: int                               # offset of '<' of the start tag
    start_tag_end: int                       # offset just after the start tag's '>'
    end: int = -1                            # offset just after the end tag (or the self-closing tag)
    self_closing: bool = False
    line: int = 0
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)

    def child(self, name: str) -> Element | None:
        for c in self.children:
            if c.name == name:
                return c
        return None

    def find(self, *names: str) -> Element | None:
        node: Element | None = self
        for name in names:
            node = node.child(name) if node else None
        return node


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _tag_end(text: str, start: int) -> int:
    """The offset just after the '>' of the tag starting at `start` (quotes respected)."""
    quote = None
    for i in range(start + 1, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == ">":
            return i + 1
    return len(text)


class _Refused(Exception):
    pass


def _char_offsets(text: str, data: bytes):
    """A function from expat's byte offsets (in the UTF-8 encoding of text) to character offsets in text. expat
    reports offsets in increasing order, so each call decodes only the bytes since the previous one."""
    if len(data) == len(text):
        return lambda b: b
    at = [0, 0]   # the last byte offset asked for, and its character offset

    def char_at(b: int) -> int:
        if b < at[0]:
            at[0] = at[1] = 0
        at[1] += len(data[at[0]:b].decode("utf-8", "ignore"))
        at[0] = b
        return at[1]
    return char_at


class Document:
    """A parsed applicationHost.config. Offsets refer to `text` (BOM included when present)."""

    def __init__(self, text: str, file: str = "applicationHost.config"):
        self.text = text
        self.file = file
        self.root = self._parse()
        if self.root.name != "configuration":
            raise self.error(f"the document element is <{self.root.name}>, not <configuration>", self.root.start)

    def error(self, message: str, offset: int, key: str | None = None) -> LbsyncError:
        return LbsyncError(message, file=self.file, line=_line_at(self.text, offset), key=key)

    def _parse(self) -> Element:
        text = self.text
        data = text.encode("utf-8")
        char_at = _char_offsets(text, data)
        parser = expat.ParserCreate()
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        stack: list[Element] = []
        roots: list[Element] = []

        def refuse(*_args) -> None:
            raise _Refused("a DOCTYPE or entity declaration (refused: an applicationHost.config has none)")

        def start(name: str, attrs: dict[str, str]) -> None:
            at = char_at(parser.CurrentByteIndex)
            end = _tag_end(text, at)
            raw = text[at:end]
            spans = {}
            for am in _ATTR.finditer(raw, len(name) + 1):
                grp = 2 if am.group(2) is not None else 3
                spans[am.group(1)] = (at + am.start(grp), at + am.end(grp))
            el = Element(name=name, attrs=dict(attrs), attr_spans=spans, start=at, start_tag_end=end,
                         self_closing=raw[:-1].rstrip().endswith("/"), line=parser.CurrentLineNumber,
                         parent=stack[-1] if stack else None)
            (stack[-1].children if stack else roots).append(el)
            stack.append(el)

        def finish(name: str) -> None:
            el = stack.pop()
            el.end = el.start_tag_end if el.self_closing else _tag_end(text, char_at(parser.CurrentByteIndex))

        parser.StartElementHandler = start
        parser.EndElementHandler = finish
        parser.StartDoctypeDeclHandler = refuse
        parser.EntityDeclHandler = refuse
        try:
            parser.Parse(data, True)
        except _Refused as exc:
            raise LbsyncError(str(exc), file=self.file, line=parser.CurrentLineNumber) from None
        except expat.ExpatError as exc:
            raise self._xml_error(exc, stack, char_at(parser.ErrorByteIndex)) from None
        return roots[0]

    def _xml_error(self, exc: expat.ExpatError, stack: list[Element], at: int) -> LbsyncError:
        """expat's complaint in the words of the file's structure, at the line where the construct starts."""
        text, code = self.text, exc.code
        errors = expat.errors
        tag_start = text.rfind("<", 0, at)      # the construct the error is in: the last '<' before it
        if tag_start < 0 or ">" in text[tag_start:at]:
            tag_start = at if text.startswith("<", at) else tag_start
        if code == expat.errors.codes[errors.XML_ERROR_NO_ELEMENTS] and not text[at:].strip("\ufeff \r\n\t"):
            if stack:
                return self.error(f"<{stack[-1].name}> is never closed", stack[-1].start)
            return LbsyncError("not an XML document (no elements)", file=self.file, line=1)
        if code == expat.errors.codes[errors.XML_ERROR_TAG_MISMATCH] and stack:
            begin = text.rfind("</", 0, at + 2)
            closing = re.match(r"</\s*([^\s>]+)", text[begin:])
            name = closing.group(1) if closing else "?"
            return self.error(f"unexpected </{name}> (expected </{stack[-1].name}> for the <{stack[-1].name}> of "
                              f"line {stack[-1].line})", begin)
        if code == expat.errors.codes[errors.XML_ERROR_DUPLICATE_ATTRIBUTE]:
            return self.error("duplicate attribute", at)
        if code == expat.errors.codes[errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]:
            rest = text[at:]
            second = re.match(r"<([A-Za-z_][^\s/>]*)", rest)
            if second:
                return self.error(f"a second document element <{second.group(1)}>", at)
            return self.error("text after the document element", at)
        for opener, what in (("<!--", "unterminated comment"), ("<![CDATA[", "unterminated CDATA section"),
                             ("<?", "unterminated processing instruction"), ("<!", "unterminated declaration")):
            if text.startswith(opener, tag_start) and (what != "unterminated comment" or "-->" not in
                                                       text[tag_start:at]):
                return self.error(what, tag_start)
        if tag_start >= 0 and ">" not in text[tag_start:at]:
            return self.error("malformed XML tag", tag_start)
        return self.error(f"not well-formed XML ({expat.ErrorString(code)})", at)

    # ---- locations -------------------------------------------------------------------------------------------

    def locations(self) -> list[tuple[str, Element]]:
        """Every <location> as (normalised path, element), in file order. '' is the global level."""
        out = []
        for el in self.root.children:
            if el.name == "location":
                out.append((normalise(el.attrs.get("path", "")), el))
        return out

    def access_elements(self) -> list[tuple[str, Element, Element]]:
        """(scope path, the <location> or <system.webServer> holder, the <access> element) in file order."""
        found = []
        for el in self.root.children:
            if el.name == "system.webServer":
                acc = el.find("security", "access")
                if acc is not None:
                    found.append(("", el, acc))
            elif el.name == "location":
                acc = el.find("system.webServer", "security", "access")
                if acc is not None:
                    found.append((normalise(el.attrs.get("path", "")), el, acc))
        return found

    def flags_of(self, acc: Element) -> str:
        raw = acc.attrs["sslFlags"]
        try:
            return sslflags.format(sslflags.parse(raw))
        except ValueError as exc:
            start = acc.attr_spans["sslFlags"][0]
            raise self.error(f"invalid sslFlags \"{raw}\": {exc}", start, key="sslFlags") from None

    def explicit_flags(self, location: str) -> str | None:
        """The sslFlags a location sets itself (the last one in the file wins), or None when it inherits."""
        want = normalise(location).lower()
        value = None
        for scope, holder, acc in self.access_elements():
            if scope.lower() == want and "sslFlags" in acc.attrs:
                value = self.flags_of(acc)
        return value

    def effective(self, location: str) -> str:
        """Effective sslFlags at a location: the most specific ancestor-or-self that sets it, else the default."""
        target = normalise(location).lower()
        best_depth, value = -1, DEFAULT_SSL_FLAGS
        for scope, holder, acc in self.access_elements():
            if "sslFlags" not in acc.attrs:
                continue
            s = scope.lower()
            if not is_ancestor_or_self(s, target):
                continue
            if s != target and holder.name == "location" and holder.attrs.get(
                    "inheritInChildApplications", "true").lower() == "false":
                continue  # applies to that path only (lbsync treats every child location as an application)
            depth = depth_of(s)
            if depth >= best_depth:  # deeper wins; at equal depth the later element in the file wins
                best_depth, value = depth, self.flags_of(acc)
        return value

    # ---- sites -----------------------------------------------------------------------------------------------

    def sites(self) -> list[Element]:
        sites = self.root.find("system.applicationHost", "sites")
        return [s for s in sites.children if s.name == "site"] if sites else []

    def site_paths(self) -> dict[str, str | None]:
        """Every site, application and virtual directory as a location path -> its application pool
        (None for the site itself and for virtual directories that add no application)."""
        out: dict[str, str | None] = {}
        for site in self.sites():
            name = site.attrs.get("name", "")
            out[name.lower()] = None
            default_pool = None
            defaults = site.child("applicationDefaults")
            if defaults is not None:
                default_pool = defaults.attrs.get("applicationPool")
            for app in site.children:
                if app.name != "application":
                    continue
                app_path = app.attrs.get("path", "/").strip("/")
                pool = app.attrs.get("applicationPool", default_pool)
                if app_path:
                    out[f"{name}/{app_path}".lower()] = pool
                for vdir in app.children:
                    if vdir.name == "virtualDirectory":
                        vpath = vdir.attrs.get("path", "/").strip("/")
                        if vpath:
                            full = "/".join(p for p in (name, app_path, vpath) if p)
                            out.setdefault(full.lower(), pool)
        return out

    def site_bound_to(self, port: int) -> str | None:
        """The name of the site with a binding on this port (the Exchange Back End listens on 444)."""
        for site in self.sites():
            bindings = site.child("bindings")
            for b in (bindings.children if bindings else []):
                info = b.attrs.get("bindingInformation", "")
                parts = info.split(":")
                if len(parts) >= 2 and parts[1] == str(port):
                    return site.attrs.get("name")
        return None


def normalise(path: str) -> str:
    """'Default Web Site/owa/' -> 'Default Web Site/owa'; '.' and '' are the global level."""
    path = path.strip().replace("\\", "/").strip("/")
    return "" if path == "." else path


def depth_of(path: str) -> int:
    return 0 if not path else path.count("/") + 1


def is_ancestor_or_self(ancestor: str, path: str) -> bool:
    return not ancestor or path == ancestor or path.startswith(ancestor + "/")


def parse(text: str, file: str = "applicationHost.config") -> Document:
    return Document(text, file)


def effective_flags(text: str, locations: list[str], file: str = "applicationHost.config") -> dict[str, str]:
    """The effective sslFlags (canonical, e.g. 'Ssl, Ssl128' or 'None') of each location, inheritance resolved."""
    doc = Document(text, file)
    return {loc: doc.effective(loc) for loc in locations}
