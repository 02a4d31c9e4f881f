"""Read what is deployed on each Exchange server: applicationHost.config, the verify JSON, Get-OutlookAnywhere JSON.

Every reader returns a `ServerEvidence` (what one server showed); the drift module compares it with the Plan.
Files may come as Windows writes them: UTF-8 with or without a BOM, UTF-16 LE/BE with a BOM (what Windows
PowerShell 5.1's `>` writes), CRLF. Unreadable input is an LbsyncError naming the file (and the line when known).

Evidence folder (`--evidence DIR`), as the generated verify scripts and a copy step leave it:

    DIR/verify-SERVER.json                 written by exchange/verify-SERVER.ps1 (all settings of SERVER)
    DIR/SERVER/verify-SERVER.json          (the same, in a folder per server)
    DIR/SERVER/applicationHost.config      copy of %windir%\\System32\\inetsrv\\config\\applicationHost.config
    DIR/SERVER/GetApplicationHostConfig.xml  the same as HealthChecker collects it ([xml] | Export-Clixml)
    DIR/SERVER/outlook-anywhere.json       Get-OutlookAnywhere -Server SERVER | ConvertTo-Json > ...
    DIR/SERVER/outlook-anywhere.xml        Get-OutlookAnywhere -Server SERVER | Export-Clixml ...
    DIR/outlook-anywhere.json (or .xml)    Get-OutlookAnywhere | ConvertTo-Json > ... (every server at once)

Every applicationHost.config and Outlook Anywhere file may be JSON/XML as named or PowerShell CLIXML
(Export-Clixml, audit.clixml): the content decides, not the name.

SERVER is the model's server name (case-insensitive). Other files are ignored; a verify-X.json or a folder holding
evidence files for a server the model does not have is bad input.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from ..errors import LbsyncError
from ..facts import catalog, httpsys, iis, sslflags, vdirauth
from ..plan.lookup import slug
from ..plan.types import ExchangePlan, Plan
from ..reading import read_bytes
from . import clixml
from .apphost import Document

OA_SSL_OFFLOADING = "Outlook Anywhere: SSLOffloading"
OA_EXTERNAL_SSL = "Outlook Anywhere: ExternalClientsRequireSsl"
OA_INTERNAL_SSL = "Outlook Anywhere: InternalClientsRequireSsl"
OA_EXTERNAL_HOST = "Outlook Anywhere: ExternalHostname"
OA_INTERNAL_HOST = "Outlook Anywhere: InternalHostname"
OA_EXTERNAL_AUTH = "Outlook Anywhere: ExternalClientAuthenticationMethod"
OA_INTERNAL_AUTH = "Outlook Anywhere: InternalClientAuthenticationMethod"
OAB_REQUIRE_SSL = "OAB: RequireSSL"
EWS_MRSPROXY = "EWS: MRSProxyEnabled"
# HTTP.sys registry values (facts.httpsys) as the verify JSON's http_sys carries them: the item per value name
HTTP_SYS = {name: f"HTTP.sys: {name}" for name in httpsys.VALUES}

VERIFY_NAME = re.compile(r"^verify-(.+)\.json$", re.IGNORECASE)
APPHOST_NAMES = ("applicationhost.config", "getapplicationhostconfig.xml")
OA_NAMES = ("outlook-anywhere.json", "outlook-anywhere.xml")


@dataclass
class ServerEvidence:
    """What one server showed. None everywhere means: not in the evidence given."""

    server: str                                   # the model's server name
    sources: list[str] = field(default_factory=list)
    locations: dict[str, str] | None = None       # managed location -> effective sslFlags (canonical)
    location_source: str | None = None            # "apphost" | "verify"
    others: dict[str, str] | None = None          # other Default Web Site locations (lower-case) -> flags
    other_names: dict[str, str] = field(default_factory=dict)   # lower-case -> display path
    site_root: str | None = None
    back_end: dict[str, str] | None = None        # back-end site path -> effective sslFlags
    settings: dict[str, object] = field(default_factory=dict)   # OA / OAB / EWS items -> value
    vdir_auth: dict[str, list[str]] | None = None  # service key -> what its vdir accepts (vdirauth words)

    @property
    def empty(self) -> bool:
        return (self.locations is None and self.site_root is None and self.back_end is None
                and not self.settings and self.others is None and not self.vdir_auth)


# ---- bytes -> text ------------------------------------------------------------------------------------------

def decode(data: bytes, file: str) -> str:
    """Text of a file as Windows tools write it: BOM-led UTF-8/UTF-16, BOM-less UTF-16 (NUL bytes), UTF-8,
    else the Windows ANSI code page (cp1252)."""
    try:
        if data.startswith(codecs.BOM_UTF8):
            return data[3:].decode("utf-8")
        if data.startswith(codecs.BOM_UTF16_LE):
            return data[2:].decode("utf-16-le")
        if data.startswith(codecs.BOM_UTF16_BE):
            return data[2:].decode("utf-16-be")
        head = data[:400]
        if head and head.count(b"\x00") * 3 >= len(head):
            even_nuls = head[0::2].count(b"\x00")
            return data.decode("utf-16-be" if even_nuls > len(head) // 4 else "utf-16-le")
    except UnicodeDecodeError as exc:
        raise LbsyncError(f"cannot decode the file: {exc.reason} at byte {exc.start}", file=file) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_text(path: str | Path) -> str:
    p = Path(path)
    data = read_bytes(p, "evidence")
    if not data.strip():
        raise LbsyncError("the file is empty", file=str(p))
    return decode(data, str(p))


# ---- server names ---------------------------------------------------------------------------------------------

class Servers(list):
    """The servers lbsync audits (those of every group it writes scripts for, 2013+), in model order, plus a
    word for the model's other servers (2007/2010 groups: configured by hand, not audited)."""

    def __init__(self, names, others: dict[str, str] | None = None):
        super().__init__(names)
        self.others = others or {}


def server_exchange(plan: Plan) -> dict[str, ExchangePlan]:
    """Server name -> the ExchangePlan (its group's expectations) it is audited against."""
    return {s.name: ex for ex in plan.exchanges for s in ex.servers}


def audited_servers(plan: Plan) -> Servers:
    names = list(server_exchange(plan))
    others = {}
    for s in plan.model.servers:
        if s.name not in names:
            group = s.group
            version = plan.model.group(group).version
            others[s.name] = (f"server {s.name} is in group {group} (Exchange {version}): lbsync writes no "
                              "scripts for it and does not audit it")
    return Servers(names, others)


def _match(name: str, servers: list[str]) -> str | None:
    want = name.strip().lower()
    for s in servers:
        if s.lower() == want or slug(s).lower() == want:
            return s
    short = want.split(".")[0]
    matches = [s for s in servers if s.lower().split(".")[0] == short]
    return matches[0] if len(matches) == 1 else None


def resolve_server(name: str, servers: list[str], what: str) -> str:
    """The model's server for a name given on the command line or in a file (case-insensitive; a short name
    matches an FQDN and the other way round)."""
    found = _match(name, servers)
    if found:
        return found
    others = getattr(servers, "others", {})
    other = _match(name, list(others))
    if other:
        raise LbsyncError(f"{what}: {others[other]}")
    raise LbsyncError(f"{what}: unknown server '{name}' (the model's servers: {', '.join(servers)})")


def split_spec(spec: str, option: str) -> tuple[str, str]:
    server, sep, path = spec.partition("=")
    if not sep or not server.strip() or not path:
        raise LbsyncError(f"{option} expects SERVER=FILE, got '{spec}'")
    return server.strip(), path


# ---- applicationHost.config -----------------------------------------------------------------------------------

def read_apphost(ev: ServerEvidence, path: str | Path, managed: list[str]) -> None:
    """Effective sslFlags of the managed locations, the site root, every other Default Web Site location and the
    back-end site (its root and the counterparts of the managed locations), inheritance resolved."""
    text = read_text(path)
    if clixml.is_clixml(text):   # HealthChecker's GetApplicationHostConfig.xml: the file inside an <XD>
        text = clixml.xml_document(text, str(path))
    doc = Document(text, file=str(path))
    paths = doc.site_paths()
    explicit = {p.lower(): p for p, _ in doc.locations()}
    present = set(paths) | set(explicit)
    ev.sources.append(str(path))
    ev.locations = {loc: doc.effective(loc) for loc in managed if loc.lower() in present}
    ev.location_source = "apphost"
    site = catalog.SITE.lower()
    ev.site_root = doc.effective(catalog.SITE) if site in present else None
    managed_lower = {m.lower() for m in managed}
    others: dict[str, str] = {}
    for p in sorted(present):
        # a folder under a managed location that sets nothing itself (owa/auth under owa) follows that location:
        # it is the managed location's drift, not a difference of its own
        follows = doc.explicit_flags(explicit.get(p, p)) is None and any(p.startswith(m + "/") for m in managed_lower)
        if p.startswith(site + "/") and p not in managed_lower and not follows:
            others[p] = doc.effective(explicit.get(p, p))
            ev.other_names.setdefault(p, explicit.get(p, p))
    ev.others = others
    back = catalog.BACK_END_SITE.lower()
    if back in present:
        # the back-end site and every location Exchange writes there (facts.iis) that this file has
        ev.back_end = {loc.full: doc.effective(loc.full) for loc in iis.BACK_END if loc.full.lower() in present}


# ---- JSON -----------------------------------------------------------------------------------------------------

def load_json(path: str | Path):
    """A JSON evidence file, or the objects of a CLIXML one (Export-Clixml) as a list."""
    text = read_text(path)
    if clixml.is_clixml(text):
        return clixml.objects(text, str(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LbsyncError(f"not valid JSON: {exc.msg}", file=str(path), line=exc.lineno, col=exc.colno) from None
    except RecursionError:
        raise LbsyncError("the JSON nests too deeply to be evidence", file=str(path)) from None
    except ValueError as exc:   # e.g. a number of thousands of digits (Python's integer conversion limit)
        raise LbsyncError(f"not valid JSON evidence: {str(exc).splitlines()[0]}", file=str(path)) from None


def _bool(value, file: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "$true", "false", "$false"):
        return value.strip().lower().lstrip("$") == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise LbsyncError(f"expected true or false, got {json.dumps(value)}", file=file, key=key)


def _text(value) -> str | None:
    """A PowerShell value as text: a string, or an object serialised with its parts (Hostname, ADObjectId)."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in ("HostnameString", "Name", "ToString", "DisplayName"):
            if isinstance(value.get(key), str) and value[key]:
                return value[key]
        return None
    return str(value)


def _flags(value, file: str, key: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise LbsyncError(f"expected sslFlags text, got {json.dumps(value)}", file=file, key=key)
    try:
        return sslflags.canonical(value)
    except ValueError as exc:
        raise LbsyncError(str(exc), file=file, key=key) from None


def is_verify(doc: object) -> TypeGuard[dict]:
    return isinstance(doc, dict) and "lbsync_verify" in doc


def read_verify(ev: ServerEvidence, doc: dict, file: str, servers: list[str]) -> None:
    """The JSON `verify-SERVER.ps1` writes (docs/verify-json.md, format lbsync_verify 1)."""
    if doc.get("lbsync_verify") != 1:
        raise LbsyncError(f"unsupported verify JSON format {json.dumps(doc.get('lbsync_verify'))} (expected 1)",
                          file=file, key="lbsync_verify")
    named = doc.get("server")
    if isinstance(named, str) and named and resolve_server(named, servers, file) != ev.server:
        raise LbsyncError(f"the evidence is for server {named}, not {ev.server}", file=file, key="server")
    ev.sources.append(file)
    locs = doc.get("locations")
    if isinstance(locs, dict) and ev.location_source != "apphost":
        ev.locations = {k: _flags(v, file, f"locations.{k}") for k, v in locs.items() if v is not None}
        ev.location_source = "verify"
    root = doc.get("site_root")
    if isinstance(root, dict) and root.get("sslFlags") is not None and ev.site_root is None:
        ev.site_root = _flags(root["sslFlags"], file, "site_root.sslFlags")
    back = doc.get("back_end")
    if isinstance(back, dict) and back.get("sslFlags") is not None and ev.back_end is None:
        site = str(back.get("site") or catalog.BACK_END_SITE)
        ev.back_end = {site: _flags(back["sslFlags"], file, "back_end.sslFlags")}
        # the back-end locations (absent in evidence of earlier lbsync versions); named as the catalog names them
        for rel, flags in (back.get("locations") or {}).items() if isinstance(back.get("locations"), dict) else ():
            ev.back_end[f"{catalog.BACK_END_SITE}/{rel}"] = _flags(flags, file, f"back_end.locations.{rel}")
    oa = doc.get("outlook_anywhere")
    if isinstance(oa, dict):
        _read_oa_fields(ev, oa, file, "outlook_anywhere.")
    oab = doc.get("oab")
    if isinstance(oab, dict) and "RequireSSL" in oab:
        ev.settings[OAB_REQUIRE_SSL] = _bool(oab["RequireSSL"], file, "oab.RequireSSL")
    ews = doc.get("ews")
    if isinstance(ews, dict) and "MRSProxyEnabled" in ews:
        ev.settings[EWS_MRSPROXY] = _bool(ews["MRSProxyEnabled"], file, "ews.MRSProxyEnabled")
    limits = doc.get("http_sys")   # optional: only when http.max_header_bytes raises HTTP.sys's limits
    if isinstance(limits, dict):
        for name, item in HTTP_SYS.items():
            if name in limits:
                ev.settings[item] = _dword(limits[name], file, f"http_sys.{name}")
    auth = doc.get("vdir_auth")   # optional (verify scripts of lbsync before it had no vdir_auth)
    if isinstance(auth, dict):
        ev.vdir_auth = {}
        for svc, entry in auth.items():
            methods = entry.get("methods") if isinstance(entry, dict) else entry
            if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
                raise LbsyncError(f"expected a list of authentication methods, got {json.dumps(methods)}",
                                  file=file, key=f"vdir_auth.{svc}.methods")
            ev.vdir_auth[str(svc).lower()] = vdirauth.normalise(methods)


def _dword(value, file: str, key: str) -> int | None:
    """A registry DWORD as the verify JSON writes it: a number, or null when the value is not set."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF):
        return value
    raise LbsyncError(f"expected a registry DWORD (a number) or null, got {json.dumps(value)}", file=file, key=key)


def _read_oa_fields(ev: ServerEvidence, obj: dict, file: str, prefix: str = "") -> None:
    if "SSLOffloading" not in obj:
        raise LbsyncError("no SSLOffloading field: not Outlook Anywhere evidence", file=file,
                          key=prefix + "SSLOffloading")
    ev.settings[OA_SSL_OFFLOADING] = _bool(obj["SSLOffloading"], file, prefix + "SSLOffloading")
    for key, item in (("ExternalClientsRequireSsl", OA_EXTERNAL_SSL), ("InternalClientsRequireSsl", OA_INTERNAL_SSL)):
        if obj.get(key) is not None:
            ev.settings[item] = _bool(obj[key], file, prefix + key)
    for key, item in (("ExternalHostname", OA_EXTERNAL_HOST), ("InternalHostname", OA_INTERNAL_HOST)):
        if key in obj:
            value = _text(obj[key])
            ev.settings[item] = value.lower() if value else None
    for key, item in (("ExternalClientAuthenticationMethod", OA_EXTERNAL_AUTH),
                      ("InternalClientAuthenticationMethod", OA_INTERNAL_AUTH)):
        # names only (the verify JSON writes them as text); Get-OutlookAnywhere | ConvertTo-Json writes the enum as
        # a number, which is not read (not compared) rather than guessed
        value = obj.get(key)
        if isinstance(value, dict):
            value = value.get("Value") if isinstance(value.get("Value"), str) else None
        if isinstance(value, str) and value.strip():
            ev.settings[item] = oa_auth_name(value)


def oa_auth_name(value: str) -> str:
    """An authentication method name in Exchange's spelling (Basic, Ntlm, Negotiate), any case given."""
    for name in ("Basic", "Ntlm", "Negotiate"):
        if name.lower() == value.strip().lower():
            return name
    return value.strip()


def oa_server(obj: dict) -> str | None:
    """The server an Outlook Anywhere object belongs to: ServerName, Server, or the Identity 'EX01\\Rpc (...)'
    (a string, or an object with a DistinguishedName '...,CN=Protocols,CN=EX01,CN=Servers,...')."""
    for key in ("ServerName", "Server"):
        name = _text(obj.get(key))
        if name:
            return name
    ident = obj.get("Identity")
    if isinstance(ident, str) and "\\" in ident:
        return ident.split("\\", 1)[0]
    if isinstance(ident, dict):
        dn = ident.get("DistinguishedName")
        if isinstance(dn, str):
            m = re.search(r"CN=Protocols,CN=([^,]+),CN=Servers", dn, re.IGNORECASE)
            if m:
                return m.group(1)
        text = _text(ident)
        if text and "\\" in text:
            return text.split("\\", 1)[0]
    return None


def oa_entries(doc: object, file: str, servers: list[str]) -> list[tuple[str | None, str | None, dict]]:
    """Get-OutlookAnywhere | ConvertTo-Json: one object or an array; (name in the file, the model's server or None
    when it is not one of the model's — other servers of the organisation are not behind this LB —, object)."""
    items = doc if isinstance(doc, list) else [doc]
    out = []
    for i, obj in enumerate(items):
        if not isinstance(obj, dict) or "SSLOffloading" not in obj:
            raise LbsyncError("neither the verify JSON (lbsync_verify) nor Get-OutlookAnywhere output "
                              "(objects with SSLOffloading)", file=file,
                              key=f"[{i}]" if isinstance(doc, list) else None)
        name = oa_server(obj)
        try:
            server = resolve_server(name, servers, file) if name else None
        except LbsyncError:
            server = None
        out.append((name, server, obj))
    return out


def read_oa_for(ev: ServerEvidence, doc: object, file: str, servers: list[str]) -> None:
    """Outlook Anywhere evidence for one server: verify JSON, or Get-OutlookAnywhere output (its entry)."""
    if is_verify(doc):
        read_verify(ev, doc, file, servers)
        return
    entries = oa_entries(doc, file, servers)
    mine = [obj for _, server, obj in entries if server == ev.server]
    if not mine:
        if len(entries) == 1 and entries[0][0] is None:   # one object that names no server: the one given
            mine = [entries[0][2]]
        else:
            named = sorted({n for n, _, _ in entries if n})
            raise LbsyncError(f"no Outlook Anywhere entry for server {ev.server} "
                              f"(it has: {', '.join(named) or 'none'})", file=file)
    if len(mine) > 1:
        raise LbsyncError(f"several Outlook Anywhere entries for server {ev.server}", file=file)
    ev.sources.append(file)
    _read_oa_fields(ev, mine[0], file)


# ---- collecting -----------------------------------------------------------------------------------------------

@dataclass
class Inputs:
    """Which file of which kind for which server, before reading."""
    apphost: dict[str, str] = field(default_factory=dict)
    outlook_anywhere: dict[str, list[str]] = field(default_factory=dict)
    verify: dict[str, list[str]] = field(default_factory=dict)
    oa_all: list[str] = field(default_factory=list)      # Get-OutlookAnywhere for every server


def scan_folder(folder: str | Path, servers: list[str]) -> Inputs:
    """The evidence folder layout (see the module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise LbsyncError("--evidence: not a folder", file=str(root))
    inputs = Inputs()

    def verify_file(p: Path) -> None:
        m = VERIFY_NAME.match(p.name)
        server = resolve_server(m.group(1), servers, str(p))
        inputs.verify.setdefault(server, []).append(str(p))

    for entry in sorted(root.iterdir()):
        if entry.is_file():
            if VERIFY_NAME.match(entry.name):
                verify_file(entry)
            elif entry.name.lower() in OA_NAMES:
                inputs.oa_all.append(str(entry))
        elif entry.is_dir():
            files = {f.name.lower(): f for f in entry.iterdir() if f.is_file()}
            relevant = [f for n, f in files.items() if n in APPHOST_NAMES + OA_NAMES or VERIFY_NAME.match(f.name)]
            if not relevant:
                continue
            server = resolve_server(entry.name, servers, str(entry))
            apphosts = [files[n] for n in APPHOST_NAMES if n in files]
            if len(apphosts) > 1:
                raise LbsyncError("two applicationHost.config files for one server (applicationHost.config and "
                                  "GetApplicationHostConfig.xml): keep one", file=str(entry))
            if apphosts:
                inputs.apphost[server] = str(apphosts[0])
            for n in OA_NAMES:
                if n in files:
                    inputs.outlook_anywhere.setdefault(server, []).append(str(files[n]))
            for f in relevant:
                if VERIFY_NAME.match(f.name):
                    verify_file(f)
    if not (inputs.apphost or inputs.outlook_anywhere or inputs.verify or inputs.oa_all):
        raise LbsyncError("--evidence: no evidence files in the folder (expected verify-SERVER.json, "
                          "SERVER/applicationHost.config or SERVER/GetApplicationHostConfig.xml, "
                          "SERVER/outlook-anywhere.json or .xml, or outlook-anywhere.json or .xml)",
                          file=str(root))
    return inputs


def collect(plan: Plan, *, apphost: list[str] = (), outlook_anywhere: list[str] = (),
            evidence_dir: str | None = None) -> dict[str, ServerEvidence]:
    """Evidence per audited server (every one gets an entry; an empty one when nothing was given for it)."""
    servers = audited_servers(plan)
    groups = server_exchange(plan)
    inputs = scan_folder(evidence_dir, servers) if evidence_dir else Inputs()
    given_apphost: dict[str, str] = {}
    for spec in apphost:
        name, path = split_spec(spec, "--apphost")
        server = resolve_server(name, servers, "--apphost")
        if server in given_apphost:
            raise LbsyncError(f"--apphost: server {server} given twice")
        given_apphost[server] = path
    inputs.apphost.update(given_apphost)   # given on the command line: replaces the folder's for that server
    given_oa: dict[str, str] = {}
    for spec in outlook_anywhere:
        name, path = split_spec(spec, "--outlook-anywhere")
        server = resolve_server(name, servers, "--outlook-anywhere")
        if server in given_oa:
            raise LbsyncError(f"--outlook-anywhere: server {server} given twice")
        given_oa[server] = path
    for server, path in given_oa.items():   # given on the command line: replaces the folder's for that server
        inputs.outlook_anywhere[server] = [path]
    out = {s: ServerEvidence(s) for s in servers}
    for server, path in inputs.apphost.items():
        read_apphost(out[server], path, list(groups[server].locations))
    for server, paths in inputs.verify.items():
        for path in paths:
            read_verify(out[server], load_json(path), path, servers)
    for path in inputs.oa_all:
        for name, server, obj in oa_entries(load_json(path), path, servers):
            if name is None:
                raise LbsyncError("an Outlook Anywhere entry names no server (ServerName/Server/Identity)", file=path)
            if server is not None and server not in inputs.outlook_anywhere:
                out[server].sources.append(path)
                _read_oa_fields(out[server], obj, path)
    for server, paths in inputs.outlook_anywhere.items():
        for path in paths:
            read_oa_for(out[server], load_json(path), path, servers)
    return out
