"""HTTP.sys, the kernel HTTP listener in front of IIS (and so of Exchange's front end): how large a request head it
accepts, where that is configured, what it answers when a request is larger, and what a change needs.

Sources:
 [KB820129] Microsoft Learn, "Http.sys registry settings for Windows" (KB 820129, ms.date 2020-04-16), read from
        MicrosoftDocs/SupportArticles-docs support/developer/webapps/iis/iisadmin-service-inetinfo/
        httpsys-registry-windows.md: values under HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services\\HTTP\\
        Parameters (DWORD); "MaxFieldLength|16384|64 - 65534 (64k - 2) bytes|Sets an upper limit for each header";
        "MaxRequestBytes|16384|256 - 16777216 (16 MB) bytes|Determines the upper limit for the total size of the
        Request line and the headers. Its default setting is 16 KB. If this value is lower than MaxFieldLength, the
        MaxFieldLength value is adjusted."; "Changes that are made to the registry will not take effect until you
        restart the HTTP service. Additionally, you may have to restart any related IIS services." (steps: `net stop
        http`, `net start http`, `net stop iisadmin /y`, then start the IIS services that stopped); "Changing this
        registry key is considered dangerous. This key causes Http.sys to use more memory".
 [KB2020943] Microsoft Learn, "HTTP 400 Bad Request (Request Header too long) responses to HTTP requests" (KB
        2020943, ms.date 2025-03-24), MicrosoftDocs/SupportArticles-docs support/developer/webapps/iis/
        www-authentication-authorization/http-bad-request-response-kerberos.md: symptom "HTTP 400 - Bad Request
        (Request header too long)"; cause "the user is a member of many Active Directory user groups"; sizing "Set
        the value of MaxFieldLength and MaxRequestBytes on the server to 4/3 * T bytes, where T is the user's token
        size in bytes" (table: (4/3 * T bytes) + 200); "By default, there's no MaxFieldLength registry entry";
        "Changes that are made to the registry don't take effect until you restart the HTTP service. Additionally,
        you'll need to restart any related services, such as IIS services." It gives MaxFieldLength's maximum as
        65536 where KB 820129 says 65534: lbsync keeps to 65534, the lower of the two.
 [IIS400] Microsoft Learn, "Troubleshooting HTTP 400 Errors in IIS" (MicrosoftDocs/iis-docs iis/troubleshoot/
        diagnosing-http-errors/troubleshooting-http-400-errors-in-iis.md): "Bad Request (Header Field Too Long)"
        (MaxFieldLength) and "Bad Request (Request Header Too Long)" (MaxRequestBytes, Kerberos of users in many
        groups); "IIS sends the HTTP 400 - Bad Request status back to the client, and then terminates the TCP
        connection"; logged in C:\\Windows\\System32\\LogFiles\\HTTPERR\\httperr.log (reason FieldLength /
        RequestLength: Microsoft Learn, "Types of Errors Logged by the HTTP Server API").
 [KB327825] Microsoft Learn, "Problems with Kerberos authentication when a user belongs to many groups" (KB 327825):
        "TokenSize = 1200 + 40d + 8s" (d: universal groups outside the user's domain plus sIDHistory entries; s:
        universal groups inside it, domain-local and global groups; doubled with unconstrained delegation);
        MaxTokenSize defaults "Windows Server 2012 and later ... 48,000 bytes"; "when the maximum buffer size is
        64 KB in IIS, the Kerberos ticket can use 48,000 bytes" (base64 makes a token 4/3 of its size); Windows
        Server 2012 and later log event 31 above a threshold with the policy "KDC\\Warning for large Kerberos
        tickets".
No Microsoft page for Exchange 2013 or later says how to restart HTTP.sys on an Exchange server (the Exchange 2007
page "HTTP 400 Bad Request Error When You Access an Exchange 2007 Mailbox" set MaxFieldLength 65534 and
MaxRequestBytes 500000): `net stop http` stops every service that uses HTTP.sys (W3SVC, WAS, WinRM and Exchange
services with it) — general Windows behaviour, not quoted from these pages — so lbsync tells the administrator to
restart the server in a maintenance window, or to run `net stop http /y` and start the stopped services again.
"""

from __future__ import annotations

# The registry key, as PowerShell's registry provider names it (Get-ItemProperty -LiteralPath ...) [KB820129]
KEY = "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters"
KEY_DISPLAY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters"

MAX_FIELD_LENGTH = "MaxFieldLength"      # each header line [KB820129]
MAX_REQUEST_BYTES = "MaxRequestBytes"    # the request line and every header together [KB820129]
VALUES = (MAX_FIELD_LENGTH, MAX_REQUEST_BYTES)

# Windows' defaults (no registry value: "By default, there's no MaxFieldLength registry entry" [KB2020943]) and the
# ranges HTTP.sys takes [KB820129]
DEFAULT = {MAX_FIELD_LENGTH: 16384, MAX_REQUEST_BYTES: 16384}
RANGE = {MAX_FIELD_LENGTH: (64, 65534), MAX_REQUEST_BYTES: (256, 16777216)}
DEFAULT_REQUEST_BYTES = DEFAULT[MAX_REQUEST_BYTES]

# What HTTP.sys answers a larger request, before IIS or Exchange sees it [IIS400]
TOO_LONG = "400 Bad Request (Request Header Too Long)"
FIELD_TOO_LONG = "400 Bad Request (Header Field Too Long)"

# How to apply a change [KB820129] [KB2020943] (see the module's last paragraph for the Exchange reading)
RESTART_NOTE = ("HTTP.sys reads MaxFieldLength and MaxRequestBytes only when it starts (KB 820129, KB 2020943): "
                "restart the server in a maintenance window, or run 'net stop http /y' and start again the "
                "services it stopped (W3SVC, WAS, WinRM and the Exchange services among them)")


def settings(max_header_bytes: int) -> dict[str, int]:
    """The registry values every server needs to accept request heads of `max_header_bytes` (request line and
    headers, as they reach the server): none while that is within Windows' default; else MaxRequestBytes that
    size and MaxFieldLength as large, within its range (a Kerberos Authorization header is one field [KB2020943])."""
    if max_header_bytes <= DEFAULT_REQUEST_BYTES:
        return {}
    low, high = RANGE[MAX_REQUEST_BYTES]
    if not low <= max_header_bytes <= high:
        raise ValueError(f"MaxRequestBytes {max_header_bytes} is outside HTTP.sys's range {low}-{high}")
    return {MAX_FIELD_LENGTH: min(max_header_bytes, RANGE[MAX_FIELD_LENGTH][1]),
            MAX_REQUEST_BYTES: max_header_bytes}


def encoded_token_bytes(token_bytes: int) -> int:
    """The size of a Kerberos token as an `Authorization: Negotiate <base64>` header line (base64 is 4/3 [KB327825]),
    CRLF included: what one header of a user with that token size takes."""
    return len("Authorization: Negotiate ") + 4 * -(-token_bytes // 3) + 2
