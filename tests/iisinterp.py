"""A small interpreter for the IIS-changing commands in lbsync's Exchange scripts, run against fixture XML.

No PowerShell runs here. This module reads an emitted apply/undo script, finds the region between
`# ==== lbsync:changes begin ====` and `# ==== lbsync:changes end ====`, and executes it line by line:

- `if (<guard>) {` ... `} else {` ... `}`: the guard helpers the scripts define are evaluated with the *meaning*
  their PowerShell bodies implement (read the current effective value, compare with the wanted one):
  `Test-SslFlagsChange -Location L -Value V`, `Test-SslFlagsClear -Location L`,
  `Test-OutlookAnywhereSettings -P1 V1 -P2 V2 ...` (the parameters and values of the Set-OutlookAnywhere it guards:
  true when any differs from what the server shows; $true/$false as such, text case-insensitively, $null as ''),
  `Test-OabRequireSslChange -RequireSsl $b`,
  `Test-MRSProxyChange -Enabled $b`, `Test-LbsyncMarker 'name'`; for undo's Outlook Anywhere record,
  `Test-OutlookAnywhereRecord` (reads the record into `$script:OaBefore`) and
  `Test-OutlookAnywhereRestore -ExtendedProtection $b` (puts every setting to set back into `$script:OaWant`: the
  record's value, else the current one; with Extended Protection a recorded SSLOffloading $true becomes $false with
  both *ClientsRequireSsl $true; a side with a host name keeps *ClientsRequireSsl $true where Exchange's checks
  below would refuse $false; true when anything differs).
- IIS changes: `& $appcmd set config "<loc>" /section:... /sslFlags:... /commit:APPHOST`,
  `& $appcmd clear config "<loc>" /section:... /commit:APPHOST`,
  `Set-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST' -Location L -Filter F -Name sslFlags -Value V`,
  `Clear-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Location L -Filter F`.
- Exchange cmdlets, with the IIS effect Exchange gives them: `Set-OutlookAnywhere -SSLOffloading $true|$false`
  (the Service Host makes the Rpc vdir's sslFlags None / "Ssl, Ssl128" — modelled as immediate, written only where
  the effective value differs); `-ExternalHostname H`, `-InternalHostname H`, `-ExternalClientsRequireSsl $b`,
  `-InternalClientsRequireSsl $b`, `-ExternalClientAuthenticationMethod M`, `-InternalClientAuthenticationMethod M`
  (in ExchangeState, no IIS effect; M is Basic, Ntlm or Negotiate; a host name may be $null: none), any of them in
  one call; `Set-OabVirtualDirectory -RequireSSL` (sets / clears the Ssl bits of the OAB vdir),
  `Set-WebServicesVirtualDirectory -MRSProxyEnabled` (no sslFlags effect; recorded). Every Exchange cmdlet call
  must carry `-ErrorAction Stop` (in the Exchange Management Shell they are implicit-remoting functions whose
  errors do not stop the script otherwise). A Set-OutlookAnywhere value may be `$script:OaWant.P` (P the parameter
  itself), set by the guard above it. Set-OutlookAnywhere is refused as Exchange refuses it: the parameter rule
  (`_exchange_accepts_parameters`), a non-empty -ExternalHostname/-InternalHostname without that side's
  -*ClientsRequireSsl and -*ClientAuthenticationMethod in the same call (ErrorRpcHttpMustSpecify...; sources:
  Microsoft Learn, "Configuring SSL offloading in Exchange 2013", step 1, whose documented form always passes the
  three together, `Set-OutlookAnywhere -Identity ClientAccessServer1\\Rpc* -Externalhostname
  ClientAccessServer1.contoso.com -ExternalClientsRequireSsl:$True -ExternalClientAuthenticationMethod Basic`; and a
  decompiled SetRpcHttp.PrepareDataObject, build unknown), and the merged-state rules
  (`_exchange_accepts_outlook_anywhere`, on the stored settings with the call's merged in, same decompiled source):
  SSLOffloading $false (ErrorRpcHttpSSLOffloadingDisabled) or Basic (ErrorRpcHttpBasicAuthOverHttpDisallowed)
  while a side has a host name and does not require SSL.
- HTTP.sys registry values (http.max_header_bytes; lbsync.facts.httpsys): `ExchangeState.http_sys` holds the DWORDs
  set under HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters (absent: not set, HTTP.sys's default).
  Guards `Test-HttpSysChange -Name N -Value V` (true when the value is not V), `Test-HttpSysRecord` (reads apply's
  record into `$script:HttpSysBefore`; true when there is one), `Test-HttpSysRestore -Name N` (the record holds a
  number the registry does not have: it goes into `$script:HttpSysWant`), `Test-HttpSysRemove -Name N` (not set
  before lbsync, set now). Commands `Set-ItemProperty -LiteralPath KEY -Name N -Value V -Type DWord` (V a literal
  within HTTP.sys's range for N, or `$script:HttpSysWant.N`), `Remove-ItemProperty -LiteralPath KEY -Name N`; any
  other key, value name, type or a value outside the range HTTP.sys takes (KB 820129) raises.
- Bookkeeping helpers: `Assert-LastExitCode`, `Add-ChangedPool 'pool'`, `Set-LbsyncMarker 'n'`,
  `Remove-LbsyncMarker 'n'`, `Save-OutlookAnywhereRecord 'P1', 'P2'` (records each setting not yet recorded, as it
  is now, in ExchangeState.oa_record: the JSON file in the per-server state folder), `Remove-OutlookAnywhereRecord`;
  both ask ShouldProcess themselves (nothing under -WhatIf); `Save-HttpSysRecord 'N1', 'N2'` and
  `Remove-HttpSysRecord` the same for the HTTP.sys record (ExchangeState.http_sys_record), `Add-HttpSysRestart`
  (ExchangeState.http_sys_restart: the script will print Microsoft's restart note).

Anything else inside the region, a location that is not a site/application/virtual directory of the fixture, a
section other than system.webServer/security/access, a missing /commit:APPHOST, a bad flag, or an IIS/Exchange
change command outside the region raises InterpreterError: a typo in a template cannot pass silently.

What this proves: the literal commands an administrator reads produce, in applicationHost.config, the effective
sslFlags the plan expects, and the guards make a second run a no-op. What it does not prove: that PowerShell
parses the script, that the helper functions' bodies are right, or how IIS/Exchange behave beyond this model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lbsync.audit.apphost import ACCESS_SECTION, normalise
from lbsync.audit.apphost import Document as _Document
from lbsync.facts import httpsys, sslflags

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "apphost"
BEGIN = "# ==== lbsync:changes begin ===="
END = "# ==== lbsync:changes end ===="
APPHOST_PSPATH = "MACHINE/WEBROOT/APPHOST"
RPC_IDENTITY = "Rpc (Default Web Site)"
OAB_IDENTITY = "OAB (Default Web Site)"
EWS_IDENTITY = "EWS (Default Web Site)"

# Change commands that may only appear inside the changes region (checked on code, quoted strings removed).
_MUTATING = re.compile(
    r"\b(set|clear)\s+config\b|\b(Set|Clear|Add|Remove)-WebConfiguration|\bSet-ItemProperty\b|"
    r"\bSet-OutlookAnywhere\b|\bSet-\w*VirtualDirectory\b|\bEnable-OutlookAnywhere\b|\bRemove-Item\s+IIS:|"
    r"\b(Remove|New)-ItemProperty\b",
    re.IGNORECASE)


_PARSED: dict[str, _Document] = {}


def Document(text: str) -> _Document:  # noqa: N802 - a cached stand-in for apphost.Document
    """Parsed documents by text (the interpreter re-reads the same text many times; documents are not mutated)."""
    doc = _PARSED.get(text)
    if doc is None:
        if len(_PARSED) > 256:
            _PARSED.clear()
        doc = _PARSED[text] = _Document(text)
    return doc


def effective_flags(text: str, locations: list[str]) -> dict[str, str]:
    """apphost.effective_flags on the cached parse of `text` (the tests ask about the same texts many times)."""
    doc = Document(text)
    return {loc: doc.effective(loc) for loc in locations}


class InterpreterError(Exception):
    pass


@dataclass
class ExchangeState:
    """What the Exchange cmdlets see (Active Directory side of the virtual directories)."""
    ssl_offloading: bool = True
    external_clients_require_ssl: bool = False
    internal_clients_require_ssl: bool = False
    oab_require_ssl: bool = True
    mrsproxy_enabled: bool = False
    markers: set[str] = field(default_factory=set)
    # Outlook Anywhere's other settings, by Set-OutlookAnywhere parameter (Exchange 2013+ defaults; the external
    # host name is empty until someone sets it)
    outlook_anywhere: dict[str, str | None] = field(default_factory=lambda: dict(OA_DEFAULTS))
    # apply's record in %ProgramData%\lbsync\SERVER (exchange.OA_RECORD): Set-OutlookAnywhere parameter -> its
    # value before lbsync changed anything; None: no file
    oa_record: dict[str, bool | str | None] | None = None
    # HTTP.sys registry values that are set (name -> DWORD); a name not here is not set (HTTP.sys's default)
    http_sys: dict[str, int] = field(default_factory=dict)
    # apply's HTTP.sys record (exchange.HTTP_SYS_RECORD): name -> value before lbsync (None: not set); None: no file
    http_sys_record: dict[str, int | None] | None = None
    http_sys_restart: bool = False   # Add-HttpSysRestart ran: the script prints the restart note

    def http_sys_effective(self, name: str) -> int:
        """What HTTP.sys uses once it has started with these values: the value, else its default."""
        return self.http_sys.get(name, httpsys.DEFAULT[name])

    def outlook_anywhere_settings(self) -> dict[str, bool | str | None]:
        """Every Outlook Anywhere setting the scripts touch, by Set-OutlookAnywhere parameter (what Get-OutlookAnywhere
        would show)."""
        return {"SSLOffloading": self.ssl_offloading, "ExternalClientsRequireSsl": self.external_clients_require_ssl,
                "InternalClientsRequireSsl": self.internal_clients_require_ssl, **self.outlook_anywhere}


# Set-OutlookAnywhere parameters besides -SSLOffloading/-*ClientsRequireSsl that the scripts may set, with the
# values a fresh Exchange 2013+ server shows: no external host name, the server's FQDN as internal host name (one
# name for every server here: Exchange's checks only ask whether a host name is set), the *AuthenticationMethod
# ones Negotiate and Ntlm (they take Basic, Ntlm or Negotiate).
OA_DEFAULTS: dict[str, str | None] = {
    "ExternalHostname": None, "InternalHostname": "ex01.corp.contoso.com",
    "ExternalClientAuthenticationMethod": "Negotiate", "InternalClientAuthenticationMethod": "Ntlm",
}
OA_AUTH_METHODS = ("Basic", "Ntlm", "Negotiate")
OA_SSL = ("SSLOffloading", "ExternalClientsRequireSsl", "InternalClientsRequireSsl")
OA_SETTINGS = (*OA_SSL, *OA_DEFAULTS)
OA_SIDES = ("External", "Internal")
# script variables a Set-OutlookAnywhere value may read (set by the guard above it) -> the parameters they serve
OA_VARIABLES = {"OaWant": OA_SETTINGS}
# Exchange cmdlets the changes region may call (each with -ErrorAction Stop)
EXCHANGE_CMDLETS = ("Set-OutlookAnywhere", "Set-OabVirtualDirectory", "Set-WebServicesVirtualDirectory")


@dataclass
class Run:
    apphost: str
    exchange: ExchangeState
    executed: list[str] = field(default_factory=list)     # change commands that ran, as written
    changed_pools: list[str] = field(default_factory=list)
    whatif: bool = False
    variables: dict[str, dict] = field(default_factory=dict)   # $script:OaBefore, $script:OaWant


def load_fixture(version: int) -> str:
    """The applicationHost.config of a default Exchange server: 2013, or 2016 (also stands for 2019 and SE: the
    same values in the captures, and SE is 2019 CU15's code)."""
    name = {2013: "exchange2013", 2016: "exchange2016", 2019: "exchange2016", 2025: "exchange2016"}.get(int(version))
    if name is None:
        raise ValueError(f"no fixture for Exchange {version}")
    return (FIXTURES / f"{name}.applicationHost.config").read_bytes().decode("utf-8")


def initial_exchange_state(apphost_text: str) -> ExchangeState:
    doc = Document(apphost_text)
    return ExchangeState(
        ssl_offloading=doc.effective("Default Web Site/Rpc") == sslflags.NONE,
        oab_require_ssl=sslflags.requires_ssl(doc.effective("Default Web Site/OAB")))


def run_script(apphost_text: str, script_text: str, *, server: str | None = None) -> str:
    """Execute the script's IIS changes against applicationHost.config text; return the new text."""
    return run(apphost_text, script_text, server=server).apphost


def run(apphost_text: str, script_text: str, *, server: str | None = None,
        exchange: ExchangeState | None = None, whatif: bool = False) -> Run:
    """Execute the changes region. whatif=True models `-WhatIf`: the change guards ask ShouldProcess, which
    declines, so they are false; Test-LbsyncMarker only reads; Remove-LbsyncMarker asks ShouldProcess too."""
    state = Run(apphost=apphost_text, exchange=exchange or initial_exchange_state(apphost_text), whatif=whatif)
    lines = script_text.splitlines()
    region = _region(lines)
    _check_outside(lines, region)
    if region is None:
        return state
    start, end = region
    stack: list[tuple[bool, bool, bool]] = []    # per open block: (it runs, its guard's result, is an else)
    for number in range(start + 1, end):
        raw = lines[number]
        line = raw.strip()
        where = f"script line {number + 1}: {line!r}"
        if not line or line.startswith("#"):
            continue
        active = all(runs for runs, _, _ in stack)
        if line.startswith("if ") or line.startswith("if("):
            m = re.fullmatch(r"if\s*\((.*)\)\s*\{", line)
            if not m:
                raise InterpreterError(f"{where}: an if must be `if (<guard>) {{` on one line")
            result = _guard(state, m.group(1).strip(), where) if active else False
            stack.append((result, result, False))
            continue
        if line == "}":
            if not stack:
                raise InterpreterError(f"{where}: unbalanced closing brace")
            stack.pop()
            continue
        if line.startswith("}") and re.fullmatch(r"\}\s*else\s*\{", line):
            if not stack or stack[-1][2]:
                raise InterpreterError(f"{where}: an else must close an if block")
            _, result, _ = stack.pop()
            stack.append((all(runs for runs, _, _ in stack) and not result, result, True))
            continue
        _command(state, line, where, server, execute=active)
    if stack:
        raise InterpreterError("the changes region ends inside an if block")
    return state


# ---- structure ---------------------------------------------------------------------------------------------

def _region(lines: list[str]) -> tuple[int, int] | None:
    begins = [i for i, s in enumerate(lines) if s.strip() == BEGIN]
    ends = [i for i, s in enumerate(lines) if s.strip() == END]
    if not begins and not ends:
        return None
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise InterpreterError("the script must have exactly one changes region (begin ... end)")
    return begins[0], ends[0]


# code, a quoted string (its closing quote may be missing: it runs to the end of the line), or a comment's '#'
_CODE_PARTS = re.compile(r"""[^'"#]+|'[^']*'?|"[^"]*"?|#""")


def _code_only(line: str) -> str:
    """The line without quoted strings and without a trailing comment."""
    if "'" not in line and '"' not in line and "#" not in line:
        return line
    out = []
    for m in _CODE_PARTS.finditer(line):
        part = m.group()
        if part == "#":
            break
        if part[0] not in "'\"":
            out.append(part)
    return "".join(out)


def _check_outside(lines: list[str], region: tuple[int, int] | None) -> None:
    in_block_comment = False
    for i, raw in enumerate(lines):
        if region and region[0] <= i <= region[1]:
            continue
        s = raw.strip().lstrip("\ufeff")    # the scripts start with a BOM, then their help block
        if in_block_comment:
            if "#>" in s:
                in_block_comment = False
            continue
        if s.startswith("<#"):
            in_block_comment = "#>" not in s
            continue
        if _MUTATING.search(_code_only(s)):
            raise InterpreterError(f"script line {i + 1}: a change command outside the changes region: {s!r}")


# ---- tokens ------------------------------------------------------------------------------------------------

def tokenize(line: str, where: str) -> list[str]:
    """PowerShell-ish argument splitting: quotes group and are removed; `$`, backticks and ';' are refused
    inside arguments (lbsync writes literal values only)."""
    tokens: list[str] = []
    cur: list[str] = []
    has = False
    quote = None
    for ch in line:
        if quote:
            if ch == quote:
                quote = None
            elif ch in "`$" and quote == '"':
                raise InterpreterError(f"{where}: expansion inside a double-quoted string is not allowed")
            else:
                cur.append(ch)
            continue
        if ch in "'\"":
            quote, has = ch, True
            continue
        if ch.isspace():
            if has:
                tokens.append("".join(cur))
                cur, has = [], False
            continue
        if ch in "`;|":
            raise InterpreterError(f"{where}: '{ch}' is not allowed in a change line")
        cur.append(ch)
        has = True
    if quote:
        raise InterpreterError(f"{where}: unterminated quote")
    if has:
        tokens.append("".join(cur))
    return tokens


def _named(tokens: list[str], where: str, allowed: dict[str, str]) -> dict[str, str]:
    """`-Name value` pairs (PowerShell parameters are case-insensitive); every parameter must be known."""
    out: dict[str, str] = {}
    i = 0
    lower = {k.lower(): k for k in allowed}
    while i < len(tokens):
        t = tokens[i]
        if not t.startswith("-") or t[1:].lower() not in lower:
            raise InterpreterError(f"{where}: unexpected argument {t!r}")
        if i + 1 >= len(tokens):
            raise InterpreterError(f"{where}: {t} has no value")
        key = lower[t[1:].lower()]
        if key in out:
            raise InterpreterError(f"{where}: {t} given twice")
        out[key] = tokens[i + 1]
        i += 2
    return out


def _bool(value: str, where: str) -> bool:
    v = value.lower()
    if v not in ("$true", "$false"):
        raise InterpreterError(f"{where}: expected $true or $false, got {value!r}")
    return v == "$true"


def _flags(value: str, where: str) -> str:
    try:
        return sslflags.format(sslflags.parse(value))
    except ValueError as exc:
        raise InterpreterError(f"{where}: {exc}") from None


# ---- guards ------------------------------------------------------------------------------------------------

def _read_guard(state: Run, text: str, where: str) -> bool:
    tokens = tokenize(text, where)
    if not tokens:
        raise InterpreterError(f"{where}: empty guard")
    name, args = tokens[0], tokens[1:]
    doc = Document(state.apphost)
    ex = state.exchange
    if name == "Test-SslFlagsChange":
        a = _named(args, where, {"Location": "", "Value": ""})
        loc = _location(doc, a["Location"], where)
        return doc.effective(loc) != _flags(a["Value"], where)
    if name == "Test-SslFlagsClear":
        a = _named(args, where, {"Location": ""})
        loc = _location(doc, a["Location"], where)
        return doc.explicit_flags(loc) is not None
    if name == "Test-OutlookAnywhereSettings":
        a = _named(args, where, {k: "" for k in OA_SETTINGS})
        if not a:
            raise InterpreterError(f"{where}: Test-OutlookAnywhereSettings compares nothing")
        now = ex.outlook_anywhere_settings()
        return any(not _oa_same(now[k], _oa_literal(k, v, where)) for k, v in a.items())
    if name == "Test-OabRequireSslChange":
        want = _bool(_named(args, where, {"RequireSsl": ""})["RequireSsl"], where)
        return ex.oab_require_ssl != want
    if name == "Test-MRSProxyChange":
        want = _bool(_named(args, where, {"Enabled": ""})["Enabled"], where)
        return ex.mrsproxy_enabled != want
    if name == "Test-LbsyncMarker":
        if len(args) != 1:
            raise InterpreterError(f"{where}: Test-LbsyncMarker takes one name")
        return args[0] in ex.markers
    if name == "Test-OutlookAnywhereRecord":
        if args:
            raise InterpreterError(f"{where}: Test-OutlookAnywhereRecord takes no argument")
        state.variables["OaBefore"] = dict(ex.oa_record or {})
        return bool(ex.oa_record)
    if name == "Test-HttpSysChange":
        a = _named(args, where, {"Name": "", "Value": ""})
        _require(a, ("Name", "Value"), where)
        value_name = _http_sys_name(a["Name"], where)
        return ex.http_sys.get(value_name) != _http_sys_value(value_name, a["Value"], where)
    if name == "Test-HttpSysRecord":
        if args:
            raise InterpreterError(f"{where}: Test-HttpSysRecord takes no argument")
        state.variables["HttpSysBefore"] = dict(ex.http_sys_record or {})
        state.variables["HttpSysWant"] = {}
        return bool(ex.http_sys_record)
    if name in ("Test-HttpSysRestore", "Test-HttpSysRemove"):
        a = _named(args, where, {"Name": ""})
        _require(a, ("Name",), where)
        value_name = _http_sys_name(a["Name"], where)
        before = _variable(state, "HttpSysBefore", where)
        if value_name not in before:
            return False
        if name == "Test-HttpSysRemove":
            return before[value_name] is None and value_name in ex.http_sys
        if before[value_name] is None:
            return False
        _variable(state, "HttpSysWant", where)[value_name] = before[value_name]
        return ex.http_sys.get(value_name) != before[value_name]
    if name == "Test-OutlookAnywhereRestore":
        a = _named(args, where, {"ExtendedProtection": ""})
        _require(a, ("ExtendedProtection",), where)
        extended_protection = _bool(a["ExtendedProtection"], where)
        before = _variable(state, "OaBefore", where)
        now = ex.outlook_anywhere_settings()
        want = {k: before[k] if k in before else now[k] for k in OA_SETTINGS}
        if extended_protection and want["SSLOffloading"]:
            want.update(SSLOffloading=False, ExternalClientsRequireSsl=True, InternalClientsRequireSsl=True)
        for side in OA_SIDES:   # what Exchange would refuse: that side keeps requiring SSL
            if want[f"{side}Hostname"] and not want[f"{side}ClientsRequireSsl"] and (
                    not want["SSLOffloading"] or (want[f"{side}ClientAuthenticationMethod"] or "").lower() == "basic"):
                want[f"{side}ClientsRequireSsl"] = True
        state.variables["OaWant"] = want
        return any(not _oa_same(now[k], want[k]) for k in OA_SETTINGS)
    raise InterpreterError(f"{where}: unknown guard {name!r}")


# guards that only read (ShouldProcess is not asked: they are true under -WhatIf too)
_READ_ONLY_GUARDS = ("Test-LbsyncMarker", "Test-OutlookAnywhereRecord", "Test-HttpSysRecord")


def _guard(state: Run, text: str, where: str) -> bool:
    """A change guard is true when the value differs AND ShouldProcess agrees (never under -WhatIf)."""
    result = _read_guard(state, text, where)
    if state.whatif and not text.startswith(_READ_ONLY_GUARDS):
        return False
    return result


def _variable(state: Run, name: str, where: str) -> dict:
    if name not in state.variables:
        raise InterpreterError(f"{where}: $script:{name} is read before the guard that sets it")
    return state.variables[name]


# ---- commands ----------------------------------------------------------------------------------------------

def _location(doc: Document, loc: str, where: str) -> str:
    path = normalise(loc)
    if path.lower() not in doc.site_paths():
        raise InterpreterError(f"{where}: {loc!r} is not a site, application or virtual directory in "
                               f"applicationHost.config")
    return path


def _identity(value: str, vdir: str, server: str | None, where: str) -> None:
    m = re.fullmatch(r"([^\\]+)\\(.+)", value)
    if not m or m.group(2).lower() != vdir.lower():
        raise InterpreterError(f"{where}: -Identity must be \"SERVER\\{vdir}\", got {value!r}")
    if server is not None and m.group(1).lower() != server.lower():
        raise InterpreterError(f"{where}: -Identity names server {m.group(1)!r}, the script is for {server!r}")


def _command(state: Run, line: str, where: str, server: str | None, *, execute: bool) -> None:
    tokens = tokenize(line, where)
    head = tokens[0]
    if head == "&":
        action = _appcmd(state, tokens, where)
    elif head == "Set-WebConfigurationProperty":
        a = _named(tokens[1:], where, {"PSPath": "", "Location": "", "Filter": "", "Name": "", "Value": ""})
        _require(a, ("PSPath", "Location", "Filter", "Name", "Value"), where)
        _apphost_scope(a, where)
        if a["Name"] != "sslFlags":
            raise InterpreterError(f"{where}: -Name must be sslFlags")
        loc = _location(Document(state.apphost), a["Location"], where)
        value = _flags(a["Value"], where)
        action = lambda: _set_text(state, set_access(state.apphost, loc, value))  # noqa: E731
    elif head == "Clear-WebConfiguration":
        a = _named(tokens[1:], where, {"PSPath": "", "Location": "", "Filter": ""})
        _require(a, ("PSPath", "Location", "Filter"), where)
        _apphost_scope(a, where)
        loc = _location(Document(state.apphost), a["Location"], where)
        action = lambda: _set_text(state, clear_access(state.apphost, loc))  # noqa: E731
    elif head == "Set-OutlookAnywhere":
        a = _named(tokens[1:], where, {"Identity": "", "ErrorAction": "", **{k: "" for k in OA_SETTINGS}})
        _require(a, ("Identity",), where)
        _identity(a["Identity"], RPC_IDENTITY, server, where)
        values = {k: _oa_argument(state, k, a[k], where) for k in OA_SETTINGS if k in a}
        if not values:
            raise InterpreterError(f"{where}: Set-OutlookAnywhere sets nothing lbsync manages")
        _error_action_stop(a, head, where)
        # the parameter rule, checked on the line as written (literal host names) and again when it runs
        _exchange_accepts_parameters({k: a[k] for k in values}, where)

        def action() -> None:
            ex = state.exchange
            given = {k: value() for k, value in values.items()}
            _exchange_accepts_parameters(given, where)
            new = {**ex.outlook_anywhere_settings(), **given}
            _exchange_accepts_outlook_anywhere(new, where)
            ex.outlook_anywhere.update({k: new[k] for k in OA_DEFAULTS})
            ex.external_clients_require_ssl = new["ExternalClientsRequireSsl"]
            ex.internal_clients_require_ssl = new["InternalClientsRequireSsl"]
            if "SSLOffloading" not in given:
                return
            ex.ssl_offloading = new["SSLOffloading"]
            # the Service Host makes /Rpc's sslFlags agree with SSLOffloading
            flags = sslflags.NONE if ex.ssl_offloading else sslflags.REQUIRE_SSL
            if sslflags.parse(Document(state.apphost).effective("Default Web Site/Rpc")) != sslflags.parse(flags):
                _set_text(state, set_access(state.apphost, "Default Web Site/Rpc", flags))
    elif head == "Set-OabVirtualDirectory":
        a = _named(tokens[1:], where, {"Identity": "", "RequireSSL": "", "ErrorAction": ""})
        _require(a, ("Identity", "RequireSSL"), where)
        _identity(a["Identity"], OAB_IDENTITY, server, where)
        require = _bool(a["RequireSSL"], where)
        _error_action_stop(a, head, where)

        def action() -> None:
            state.exchange.oab_require_ssl = require
            cur = sslflags.parse(Document(state.apphost).effective("Default Web Site/OAB"))
            bits = sslflags.FLAGS["Ssl"] | sslflags.FLAGS["Ssl128"]
            new = (cur | sslflags.FLAGS["Ssl"]) if require else (cur & ~bits)
            if new != cur:
                _set_text(state, set_access(state.apphost, "Default Web Site/OAB", sslflags.format(new)))
    elif head == "Set-WebServicesVirtualDirectory":
        a = _named(tokens[1:], where, {"Identity": "", "MRSProxyEnabled": "", "ErrorAction": ""})
        _require(a, ("Identity", "MRSProxyEnabled"), where)
        _identity(a["Identity"], EWS_IDENTITY, server, where)
        enabled = _bool(a["MRSProxyEnabled"], where)
        _error_action_stop(a, head, where)

        def action() -> None:
            state.exchange.mrsproxy_enabled = enabled
    elif head in ("Set-ItemProperty", "Remove-ItemProperty"):
        params = {"LiteralPath": "", "Name": ""} | ({"Value": "", "Type": ""} if head == "Set-ItemProperty" else {})
        a = _named(tokens[1:], where, params)
        _require(a, tuple(params), where)
        if a["LiteralPath"].lower() != httpsys.KEY.lower():
            raise InterpreterError(f"{where}: {head} may only change {httpsys.KEY!r}, not {a['LiteralPath']!r}")
        value_name = _http_sys_name(a["Name"], where)
        if head == "Remove-ItemProperty":
            def action() -> None:
                if value_name not in state.exchange.http_sys:   # Remove-ItemProperty of a missing value fails
                    raise InterpreterError(f"{where}: {value_name} is not set: Remove-ItemProperty fails")
                del state.exchange.http_sys[value_name]
        else:
            if a["Type"].lower() != "dword":
                raise InterpreterError(f"{where}: HTTP.sys reads {value_name} as a DWORD (-Type DWord)")
            value = _http_sys_argument(state, value_name, a["Value"], where)

            def action() -> None:
                state.exchange.http_sys[value_name] = value()
    elif head == "Save-HttpSysRecord" and len(tokens) > 1:
        names = [_http_sys_name(n.strip(), where) for n in "".join(tokens[1:]).split(",")]
        if execute and not state.whatif:    # it asks ShouldProcess itself
            ex = state.exchange
            ex.http_sys_record = {**{n: ex.http_sys.get(n) for n in names}, **(ex.http_sys_record or {})}
        return
    elif head == "Remove-HttpSysRecord" and len(tokens) == 1:
        if execute and not state.whatif:
            state.exchange.http_sys_record = None
        return
    elif head == "Add-HttpSysRestart" and len(tokens) == 1:
        if execute:
            state.exchange.http_sys_restart = True
        return
    elif head == "Assert-LastExitCode" and len(tokens) == 1:
        return
    elif head == "Add-ChangedPool" and len(tokens) == 2:
        if execute and tokens[1] not in state.changed_pools:
            state.changed_pools.append(tokens[1])
        return
    elif head in ("Set-LbsyncMarker", "Remove-LbsyncMarker") and len(tokens) == 2:
        if execute and not (state.whatif and head == "Remove-LbsyncMarker"):
            (state.exchange.markers.add if head == "Set-LbsyncMarker" else state.exchange.markers.discard)(tokens[1])
        return
    elif head == "Save-OutlookAnywhereRecord" and len(tokens) > 1:
        names = [_oa_setting(n.strip(), where, OA_SETTINGS) for n in "".join(tokens[1:]).split(",")]
        if execute and not state.whatif:    # it asks ShouldProcess itself
            ex = state.exchange
            now = ex.outlook_anywhere_settings()
            ex.oa_record = {**{n: now[n] for n in names}, **(ex.oa_record or {})}
        return
    elif head == "Remove-OutlookAnywhereRecord" and len(tokens) == 1:
        if execute and not state.whatif:   # it asks ShouldProcess itself
            state.exchange.oa_record = None
        return
    elif head.lower() in {c.lower() for c in EXCHANGE_CMDLETS} or re.fullmatch(
            r"(?i)[a-z]+-(OutlookAnywhere|\w*VirtualDirectory|Exchange\w*)", head):
        raise InterpreterError(f"{where}: an Exchange cmdlet this interpreter does not know (or misspelt): {head!r}")
    else:
        raise InterpreterError(f"{where}: not a command this interpreter understands")
    if execute:
        action()
        state.executed.append(line)


def _http_sys_name(name: str, where: str) -> str:
    """A value name under the HTTP.sys Parameters key that lbsync sets (names are case-insensitive in the registry)."""
    for known in httpsys.VALUES:
        if known.lower() == name.lower():
            return known
    raise InterpreterError(f"{where}: {name!r} is not an HTTP.sys value lbsync sets ({', '.join(httpsys.VALUES)})")


def _http_sys_value(name: str, value: str, where: str) -> int:
    """A literal DWORD for an HTTP.sys value, within the range HTTP.sys takes (KB 820129)."""
    if not re.fullmatch(r"[0-9]+", value):
        raise InterpreterError(f"{where}: {name} must be a literal number, got {value!r}")
    low, high = httpsys.RANGE[name]
    if not low <= int(value) <= high:
        raise InterpreterError(f"{where}: {name} {value} is outside HTTP.sys's range {low}-{high}")
    return int(value)


def _http_sys_argument(state: Run, name: str, value: str, where: str):
    """A Set-ItemProperty -Value: a literal in range, or `$script:HttpSysWant.<name>` set by the guard above it."""
    m = re.fullmatch(r"\$script:(\w+)\.(\w+)", value)
    if not m:
        v = _http_sys_value(name, value, where)
        return lambda: v
    if m.group(1) != "HttpSysWant" or m.group(2) != name:
        raise InterpreterError(f"{where}: -Value may read only $script:HttpSysWant.{name}, not {value}")

    def read() -> int:
        want = _variable(state, "HttpSysWant", where)
        if name not in want:
            raise InterpreterError(f"{where}: $script:HttpSysWant holds no {name}")
        return _http_sys_value(name, str(want[name]), where)
    return read


def _oa_setting(name: str, where: str, known: tuple[str, ...] = OA_SETTINGS) -> str:
    for key in known:
        if key.lower() == name.lower():
            return key
    raise InterpreterError(f"{where}: {name!r} is not an Outlook Anywhere setting lbsync manages")


def _oa_argument(state: Run, key: str, value: str, where: str):
    """A Set-OutlookAnywhere value, checked now, read when the line runs: a literal, $null (a host name: none), or
    `$script:OaWant.<key>` that the guard above the line has set."""
    m = re.fullmatch(r"\$script:(\w+)\.(\w+)", value)
    if m:
        var, prop = m.groups()
        if var not in OA_VARIABLES or key not in OA_VARIABLES[var]:
            raise InterpreterError(f"{where}: -{key} may not read $script:{var}")
        if prop != key:
            raise InterpreterError(f"{where}: -{key} reads the wanted {prop}, not {key}")

        def read():
            values = _variable(state, var, where)
            if key not in values:
                raise InterpreterError(f"{where}: $script:{var} holds no {key}")
            got = values[key]
            if key in OA_SSL:
                if not isinstance(got, bool):
                    raise InterpreterError(f"{where}: {key} from $script:{var} is not $true or $false: {got!r}")
                return got
            if got is None and key.endswith("Hostname"):
                return None
            if got is None:
                raise InterpreterError(f"{where}: -{key} cannot be $null")
            return _oa_value(key, got, where)
        return read
    v = _oa_literal(key, value, where)
    return lambda: v


def _oa_literal(key: str, value: str, where: str):
    """A literal Set-OutlookAnywhere value: $true/$false, $null (a host name only), a host name or a method."""
    if key in OA_SSL:
        return _bool(value, where)
    if value.lower() == "$null":
        if not key.endswith("Hostname"):
            raise InterpreterError(f"{where}: -{key} cannot be $null")
        return None
    return _oa_value(key, value, where)


def _oa_same(current, wanted) -> bool:
    """As the guards compare: $true/$false as such, text case-insensitively, nothing set the same as ''."""
    if isinstance(current, bool) or isinstance(wanted, bool):
        return current is wanted
    return (current or "").lower() == (wanted or "").lower()


def _exchange_accepts_parameters(given: dict, where: str) -> None:
    """The parameter rule of Set-OutlookAnywhere: a non-empty -ExternalHostname only together with
    -ExternalClientsRequireSsl and -ExternalClientAuthenticationMethod in the same call, the same for Internal.

    Sources: Microsoft Learn, "Configuring SSL offloading in Exchange 2013", step 1 (`Set-OutlookAnywhere -Identity
    ClientAccessServer1\\Rpc* -Externalhostname ClientAccessServer1.contoso.com -ExternalClientsRequireSsl:$True
    -ExternalClientAuthenticationMethod Basic`: the documented form passes the three together); a decompiled
    SetRpcHttp.PrepareDataObject (build unknown): ErrorRpcHttpMustSpecifyExternal-
    ClientsRequireSslParameter, ErrorRpcHttpMustSpecifyExternalClientAuthenticationParameter (-DefaultAuthentication-
    Method would also do; lbsync never passes it), ErrorRpcHttpMustSpecifyInternalClientsRequireSslParameter. That
    build asks the internal side for no authentication method; the interpreter asks both sides for both, as the
    documented form passes them (stricter: it refuses nothing lbsync writes). `given` holds the parameters of the
    call: as written (a `$script:` value is checked when the line runs) or as read when it runs."""
    for side in OA_SIDES:
        host = given.get(f"{side}Hostname")
        if not host or host.lower() == "$null" or host.startswith("$script:"):   # none, or read when it runs
            continue
        for partner, error in ((f"{side}ClientsRequireSsl", f"ErrorRpcHttpMustSpecify{side}ClientsRequireSslParameter"),
                               (f"{side}ClientAuthenticationMethod",
                                f"ErrorRpcHttpMustSpecify{side}ClientAuthenticationParameter")):
            if partner not in given:
                raise InterpreterError(f"{where}: Exchange refuses -{side}Hostname without -{partner} in the same "
                                       f"call ({error})")


def _exchange_accepts_outlook_anywhere(new: dict, where: str) -> None:
    """The checks Set-OutlookAnywhere makes on the settings it would store (the stored values with the call's
    parameters merged in; read in a decompiled SetRpcHttp, build unknown; Microsoft's own example sets both
    *ClientsRequireSsl $true with -SSLOffloading $false): SSL offloading off needs SSL required on every side,
    external or internal, that has a host name (ErrorRpcHttpSSLOffloadingDisabled); Basic needs SSL required on a
    side that has a host name (ErrorRpcHttpBasicAuthOverHttpDisallowed)."""
    for side in OA_SIDES:
        if not new.get(f"{side}Hostname") or new[f"{side}ClientsRequireSsl"]:
            continue
        if not new["SSLOffloading"]:
            raise InterpreterError(f"{where}: Exchange refuses SSLOffloading $false while {side}Hostname is set and "
                                   f"{side}ClientsRequireSsl is $false (ErrorRpcHttpSSLOffloadingDisabled)")
        if (new.get(f"{side}ClientAuthenticationMethod") or "").lower() == "basic":
            raise InterpreterError(f"{where}: Exchange refuses {side}ClientAuthenticationMethod Basic while "
                                   f"{side}Hostname is set and {side}ClientsRequireSsl is $false "
                                   f"(ErrorRpcHttpBasicAuthOverHttpDisallowed)")


def _error_action_stop(a: dict, cmdlet: str, where: str) -> None:
    """In the Exchange Management Shell the Exchange cmdlets are implicit-remoting functions: their errors stop
    the script only with -ErrorAction Stop on the call itself."""
    if a.get("ErrorAction", "").lower() != "stop":
        raise InterpreterError(f"{where}: {cmdlet} needs -ErrorAction Stop (its errors would not stop the script)")


def _oa_value(key: str, value: str, where: str) -> str:
    """A host name (one label at least, no spaces) or an authentication method Set-OutlookAnywhere accepts."""
    if key.endswith("AuthenticationMethod"):
        for m in OA_AUTH_METHODS:
            if m.lower() == value.lower():
                return m
        raise InterpreterError(f"{where}: -{key} must be one of {', '.join(OA_AUTH_METHODS)}, got {value!r}")
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*",
                        value):
        raise InterpreterError(f"{where}: -{key} is not a host name: {value!r}")
    return value


def _require(a: dict, names: tuple[str, ...], where: str) -> None:
    missing = [n for n in names if n not in a]
    if missing:
        raise InterpreterError(f"{where}: missing -{', -'.join(missing)}")


def _apphost_scope(a: dict, where: str) -> None:
    if a["PSPath"] != APPHOST_PSPATH:
        raise InterpreterError(f"{where}: -PSPath must be {APPHOST_PSPATH!r} (applicationHost.config)")
    if a["Filter"].strip("/").lower() != ACCESS_SECTION.lower():
        raise InterpreterError(f"{where}: -Filter must be {ACCESS_SECTION!r}")


def _appcmd(state: Run, tokens: list[str], where: str):
    if len(tokens) < 4 or tokens[1] != "$appcmd":
        raise InterpreterError(f"{where}: expected `& $appcmd set|clear config \"<location>\" ...`")
    verb = tokens[2].lower()
    if verb not in ("set", "clear") or tokens[3].lower() != "config" or len(tokens) < 5:
        raise InterpreterError(f"{where}: only `appcmd set config` and `appcmd clear config` are understood")
    loc = _location(Document(state.apphost), tokens[4], where)
    opts: dict[str, str] = {}
    for t in tokens[5:]:
        m = re.fullmatch(r"[/-]([A-Za-z.]+):(.*)", t)
        if not m:
            raise InterpreterError(f"{where}: unexpected appcmd argument {t!r}")
        key = m.group(1).lower()
        if key in opts:
            raise InterpreterError(f"{where}: /{m.group(1)} given twice")
        opts[key] = m.group(2)
    section = opts.pop("section", None)
    if section is None or section.lower() not in ("access", ACCESS_SECTION.lower()):
        raise InterpreterError(f"{where}: /section must be access or {ACCESS_SECTION}")
    if opts.pop("commit", "").lower() != "apphost":
        raise InterpreterError(f"{where}: /commit:APPHOST is required (else appcmd writes to a web.config)")
    if verb == "set":
        if set(opts) != {"sslflags"}:
            raise InterpreterError(f"{where}: appcmd set config must set exactly /sslFlags, got {sorted(opts)}")
        value = _flags(opts["sslflags"], where)
        return lambda: _set_text(state, set_access(state.apphost, loc, value))
    if opts:
        raise InterpreterError(f"{where}: unexpected appcmd options {sorted(opts)}")
    return lambda: _set_text(state, clear_access(state.apphost, loc))


def _set_text(state: Run, text: str) -> None:
    state.apphost = text


# ---- editing applicationHost.config in place ---------------------------------------------------------------

def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _indent_of(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    m = re.match(r"[ \t]*", text[line_start:offset])
    return m.group(0) if m else ""


def set_access(text: str, location: str, flags: str) -> str:
    """Set sslFlags of a location as appcmd /commit:APPHOST does: in its <location> tag, creating what is
    missing; every other byte stays as it was."""
    doc = Document(text)
    nl = _newline(text)
    want = normalise(location).lower()
    tags = [el for path, el in doc.locations() if path.lower() == want]
    with_access = [el for el in tags if el.find("system.webServer", "security", "access") is not None]
    if with_access:
        acc = with_access[-1].find("system.webServer", "security", "access")
        if "sslFlags" in acc.attrs:
            a, b = acc.attr_spans["sslFlags"]
            return text[:a] + flags + text[b:]
        pos = acc.start + len("<access")
        return text[:pos] + f' sslFlags="{flags}"' + text[pos:]
    for names, block in ((("system.webServer", "security"), ["<access sslFlags=\"{f}\" />"]),
                         (("system.webServer",), ["<security>", "    <access sslFlags=\"{f}\" />", "</security>"]),
                         ((), ["<system.webServer>", "    <security>", "        <access sslFlags=\"{f}\" />",
                               "    </security>", "</system.webServer>"])):
        for el in tags:
            holder = el.find(*names) if names else el
            if holder is None:
                continue
            ind = _indent_of(text, holder.start) + "    "
            body = "".join(nl + ind + part.format(f=flags) for part in block)
            if holder.self_closing:
                open_tag = text[holder.start:holder.end].rstrip("/> \t") + ">"
                close = nl + _indent_of(text, holder.start) + f"</{holder.name}>"
                return text[:holder.start] + open_tag + body + close + text[holder.end:]
            return text[:holder.start_tag_end] + body + text[holder.start_tag_end:]
    # No <location> for this path yet: IIS appends one at the end of the file.
    close = doc.root.end - len("</configuration>")
    ind = "    "
    block = [f'<location path="{normalise(location)}">', "    <system.webServer>", "        <security>",
             f'            <access sslFlags="{flags}" />', "        </security>", "    </system.webServer>",
             "</location>"]
    line_start = text.rfind("\n", 0, close) + 1
    insert = "".join(ind + part + nl for part in block)
    return text[:line_start] + insert + text[line_start:]


def clear_access(text: str, location: str) -> str:
    """Remove the location's own <access> (appcmd clear config / Clear-WebConfiguration): it inherits again.
    Containers left empty are removed, as IIS does when it saves."""
    want = normalise(location).lower()
    while True:
        found = _first(text, want, lambda el: el.find("system.webServer", "security", "access"))
        if found is None:
            break
        text = _remove_element(text, found)
    while True:
        empty = _first(text, want, _empty_container)
        if empty is None:
            return text
        text = _remove_element(text, empty)


def _first(text: str, want: str, pick):
    for path, el in Document(text).locations():
        if path.lower() == want:
            node = pick(el)
            if node is not None:
                return node
    return None


def _empty_container(location):
    for names in (("system.webServer", "security"), ("system.webServer",), ()):
        node = location.find(*names) if names else location
        if node is not None and not node.children and not (set(node.attrs) - {"path", "overrideMode"}):
            return node
    return None


def _remove_element(text: str, el) -> str:
    start = text.rfind("\n", 0, el.start) + 1
    if text[start:el.start].strip():
        start = el.start
    end = el.end
    if text.startswith("\r\n", end):
        end += 2
    elif text.startswith("\n", end):
        end += 1
    return text[:start] + text[end:]
