"""Facts of real Exchange applicationHost.config captures, read with a parser of their own.

Microsoft's CSS team publishes applicationHost.config files captured from real Exchange servers as test data in
microsoft/CSS-Exchange. lbsync keeps their *facts* (tests/fixtures/captures/facts.json, each capture cited by
repository and path), not the files. This module is how those facts are read: deliberately independent of
lbsync.audit.apphost (xml.etree here, expat there), so that the catalog, the fixture generator and lbsync's own
reader are each checked against what the real servers wrote, not against each other.

Where the captures themselves are on this machine (../shared/reference/exchange-captures/, see CAPTURES), the tests
read them again and check that facts.json is exactly what they hold.

Rules (IIS): the effective sslFlags of a path are those of the most specific ancestor-or-self <location> whose
system.webServer/security/access sets sslFlags, else <location path="">, else the server-level
<system.webServer>, else None; the same per attribute for the authentication sections (enabled, default false).
The app pool of a path is the applicationPool of the longest <application> of its site that contains it, else
<applicationDefaults applicationPool>.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .paths import FIXTURES, ROOT

CAPTURES = ROOT.parent / "shared" / "reference" / "exchange-captures"
FACTS = FIXTURES / "captures" / "facts.json"
_PS_NS = "{http://schemas.microsoft.com/powershell/2004/04}"
ORDER = ("Ssl", "SslNegotiateCert", "SslRequireCert", "SslMapCert", "Ssl128")
AUTH = ("anonymousAuthentication", "basicAuthentication", "windowsAuthentication")


def canonical(flags: str) -> str:
    words = {w.strip().lower() for w in flags.split(",") if w.strip()} - {"none"}
    out = [f for f in ORDER if f.lower() in words]
    return ", ".join(out) if out else "None"


def config_text(raw: bytes) -> str:
    """applicationHost.config text; a HealthChecker CLIXML file (Export-Clixml of an [xml]) unwrapped."""
    text = raw.decode("utf-8-sig")
    if "<Objs" in text[:400]:
        root = ET.fromstring(text)
        xd = root.find(f"{_PS_NS}Obj/{_PS_NS}XD")
        assert xd is not None and xd.text, "CLIXML without an <XD> document"
        text = re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), xd.text)
    return text


def _parse(text: str) -> ET.Element:
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    return ET.fromstring(text)


def _own(elem: ET.Element | None) -> dict:
    """sslFlags and auth `enabled` values a <system.webServer> element sets itself."""
    out: dict = {}
    if elem is None:
        return out
    access = elem.find("security/access")
    if access is not None and "sslFlags" in access.attrib:
        out["sslFlags"] = canonical(access.attrib["sslFlags"])
    for name in AUTH:
        a = elem.find(f"security/authentication/{name}")
        if a is not None and "enabled" in a.attrib:
            out[name] = a.attrib["enabled"].lower() == "true"
    return out


def extract(text: str) -> dict[str, dict]:
    """Every path of both sites (locations, applications, virtual directories) -> its facts."""
    root = _parse(text)
    own = {"": {}}
    server = _own(root.find("system.webServer"))
    for loc in root.findall("location"):
        path = loc.attrib.get("path", "")
        own[path] = {**own.get(path, {}), **_own(loc.find("system.webServer"))}
    sites = root.find("system.applicationHost/sites")
    default_pool = sites.find("applicationDefaults").attrib.get("applicationPool", "DefaultAppPool")
    apps: dict[str, str] = {}      # site/app path -> pool
    paths: dict[str, str] = {}     # site path -> how it exists
    for site in sites.findall("site"):
        name = site.attrib["name"]
        paths[name] = "site"
        for app in site.findall("application"):
            ap = app.attrib["path"].rstrip("/")
            full = name + ap
            apps[full] = app.attrib.get("applicationPool", default_pool)
            paths.setdefault(full, "application")
            for vd in app.findall("virtualDirectory"):
                vp = vd.attrib["path"].rstrip("/")
                if vp:
                    paths.setdefault(full + vp, "virtual directory")
    for path in own:
        if path:
            paths[path] = "location" if path not in paths else paths[path] + " + location"

    def inherited(path: str, key: str, default):
        parts = path.split("/")
        for n in range(len(parts), 0, -1):
            value = own.get("/".join(parts[:n]), {}).get(key)
            if value is not None:
                return value
        for source in (own.get("", {}), server):
            if key in source:
                return source[key]
        return default

    def pool(path: str) -> str | None:
        site = path.split("/")[0]
        best = [a for a in apps if path.lower() == a.lower() or path.lower().startswith(a.lower() + "/")]
        best = [a for a in best if a.split("/")[0] == site] or [a for a in apps if a == site]
        return apps[max(best, key=len)] if best else None

    out = {}
    for path, how in sorted(paths.items(), key=lambda kv: kv[0].lower()):
        out[path] = {
            "exists_as": how,
            "explicit": own.get(path, {}).get("sslFlags"),
            "effective": inherited(path, "sslFlags", "None"),
            "app_pool": pool(path),
            "auth": [inherited(path, name, False) for name in AUTH],
        }
    return out


def load_facts() -> dict:
    return json.loads(FACTS.read_text(encoding="utf-8"))


def local_capture(name: str) -> Path | None:
    """The capture file on this machine, or None where ../shared/reference is not present."""
    p = CAPTURES / name
    return p if p.is_file() else None
