"""What each virtual directory accepts, in the form the Exchange cmdlets can show it (verify reads, audit compares).

The Get-*VirtualDirectory cmdlets report authentication per virtual directory in three shapes:

- switches (owa, ecp, ews, oab, autodiscover): BasicAuthentication, WindowsAuthentication, and on owa/ecp
  FormsAuthentication (booleans). WindowsAuthentication is Integrated Windows authentication: NTLM and Negotiate
  together, one switch; forms-based authentication needs Basic underneath, so Basic is not listed beside Forms.
- eas (Get-ActiveSyncVirtualDirectory): BasicAuthEnabled, WindowsAuthEnabled (booleans), the same meaning.
- list (Get-MapiVirtualDirectory): IISAuthenticationMethods, a list naming Ntlm, Negotiate, Basic (and OAuth).

So the plan's methods (exchange.auth or Exchange's defaults) are compared in that granularity: `comparable` maps
them to the words the verify script writes: Basic, Windows, Forms for switches/eas; Basic, Ntlm, Negotiate for
the list. Other methods the cmdlets know (OAuth, WSSecurity, Digest, client certificates) are not compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# service key -> (Get- cmdlet, the virtual directory's name in -Identity "SERVER\\<name>", shape)
VDIRS: dict[str, tuple[str, str, str]] = {
    "owa": ("Get-OwaVirtualDirectory", "owa (Default Web Site)", "switches"),
    "ecp": ("Get-EcpVirtualDirectory", "ecp (Default Web Site)", "switches"),
    "ews": ("Get-WebServicesVirtualDirectory", "EWS (Default Web Site)", "switches"),
    "eas": ("Get-ActiveSyncVirtualDirectory", "Microsoft-Server-ActiveSync (Default Web Site)", "eas"),
    "oab": ("Get-OabVirtualDirectory", "OAB (Default Web Site)", "switches"),
    "mapi": ("Get-MapiVirtualDirectory", "mapi (Default Web Site)", "list"),
    "autodiscover": ("Get-AutodiscoverVirtualDirectory", "Autodiscover (Default Web Site)", "switches"),
}
ORDER = ("Basic", "Windows", "Ntlm", "Negotiate", "Forms")
CANONICAL = {w.lower(): w for w in ORDER}


def comparable(service: str, methods: Iterable[str]) -> list[str]:
    """The plan's methods for a service as the verify script reports them (ORDER, no duplicates)."""
    shape = VDIRS[service][2]
    have = {m.lower() for m in methods}
    if shape == "list":
        out = {m for m in ("Basic", "Ntlm", "Negotiate") if m.lower() in have}
    else:
        out = set()
        if "forms" in have:
            out.add("Forms")
        elif "basic" in have:
            out.add("Basic")
        if have & {"ntlm", "negotiate"}:
            out.add("Windows")
    return [m for m in ORDER if m in out]


def normalise(methods: Sequence[object]) -> list[str]:
    """Evidence as written (any case, any order) -> ORDER spelling; unknown words are kept as written, sorted last."""
    known = [CANONICAL[m.lower()] for m in methods if isinstance(m, str) and m.lower() in CANONICAL]
    unknown = sorted({m for m in methods if isinstance(m, str) and m.lower() not in CANONICAL})
    return [m for m in ORDER if m in known] + unknown


def item(service: str) -> str:
    """The drift / verify item name of a service's authentication."""
    return f"Authentication: {VDIRS[service][1]}"
