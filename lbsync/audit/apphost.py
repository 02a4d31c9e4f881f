"""Read IIS's applicationHost.config: the effective `sslFlags` of any location, inheritance resolved.

IIS merges `system.webServer/security/access` from the global `<system.webServer>` down through every
`<location path="...">` that is an ancestor of (or equal to) the path asked about; the most specific location
that sets the `sslFlags` attribute wins, and the schema default is `None`. `sslFlags` is locked in
applicationHost.config by default (`overrideModeDefault="Deny"`), so this file is where Exchange and lbsync set it.

The reader keeps every element's character span so that callers (the test interpreter, the audit's fix preview)
can edit the text in place without touching any other byte. Errors are LbsyncError naming file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..facts import sslflags
from ..errors import LbsyncError

ACCESS_SECTION = "system.webServer/security/access"
DEFAULT_SSL_FLAGS = "None"  # IIS schema default of access/@sslFlags

_NAME = r"[A-Za-z_][\w.:-]*"
_TAG = re.compile(rf"<(/?)({_NAME})((?:\s+{_NAME}\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*)\s*(/?)>")
_ATTR = re.compile(rf"({_NAME})\s*=\s*(?:\"([^\"<]*)\"|'([^'<]*)')")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}


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


def _unescape(value: str) -> str:
    return re.sub(r"&(lt|gt|quot|apos|amp);", lambda m: _ENTITIES[m.group(0)], value)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


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
        text, pos = self.text, 0
        if text.startswith("\ufeff"):
            pos = 1
        stack: list[Element] = []
        root: Element | None = None
        line, counted = 1, 0          # line number of offset `counted`, advanced incrementally (O(n) overall)
        while True:
            lt = text.find("<", pos)
            if lt < 0:
                break
            between = text[pos:lt]
            if between.strip() and not stack:
                raise self.error("text outside the document element", pos)
            if text.startswith("<!--", lt):
                end = text.find("-->", lt + 4)
                if end < 0:
                    raise self.error("unterminated comment", lt)
                pos = end + 3
                continue
            if text.startswith("<?", lt):
                end = text.find("?>", lt + 2)
                if end < 0:
                    raise self.error("unterminated processing instruction", lt)
                pos = end + 2
                continue
            if text.startswith("<![CDATA[", lt):
                end = text.find("]]>", lt)
                if end < 0:
                    raise self.error("unterminated CDATA section", lt)
                pos = end + 3
                continue
            if text.startswith("<!", lt):
                end = text.find(">", lt)
                if end < 0:
                    raise self.error("unterminated declaration", lt)
                pos = end + 1
                continue
            m = _TAG.match(text, lt)
            if not m:
                raise self.error("malformed XML tag", lt)
            closing, name, attr_text, selfclose = m.group(1), m.group(2), m.group(3), m.group(4)
            if closing:
                if attr_text.strip() or selfclose:
                    raise self.error(f"malformed end tag </{name}>", lt)
                if not stack or stack[-1].name != name:
                    expected = (f"</{stack[-1].name}> for the <{stack[-1].name}> of line {stack[-1].line}"
                                if stack else "nothing")
                    raise self.error(f"unexpected </{name}> (expected {expected})", lt)
                el = stack.pop()
                el.end = m.end()
                pos = m.end()
                if not stack:
                    root = el
                continue
            attrs: dict[str, str] = {}
            spans: dict[str, tuple[int, int]] = {}
            base = m.start(3)
            for am in _ATTR.finditer(attr_text):
                aname = am.group(1)
                if aname in attrs:
                    raise self.error(f"duplicate attribute '{aname}'", lt, key=aname)
                grp = 2 if am.group(2) is not None else 3
                attrs[aname] = _unescape(am.group(grp))
                spans[aname] = (base + am.start(grp), base + am.end(grp))
            line, counted = line + text.count("\n", counted, lt), lt
            el = Element(name=name, attrs=attrs, attr_spans=spans, start=lt, start_tag_end=m.end(),
                         self_closing=bool(selfclose), line=line,
                         parent=stack[-1] if stack else None)
            if stack:
                stack[-1].children.append(el)
            elif root is not None:
                raise self.error(f"a second document element <{name}>", lt)
            if selfclose:
                el.end = m.end()
                if not stack:
                    root = el
            else:
                stack.append(el)
            pos = m.end()
        if stack:
            raise self.error(f"<{stack[-1].name}> is never closed", stack[-1].start)
        if text[pos:].strip():
            raise self.error("text after the document element", pos)
        if root is None:
            raise LbsyncError("not an XML document (no elements)", file=self.file, line=1)
        return root

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
