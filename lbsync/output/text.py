"""One escaping function per context of every language lbsync writes (docs/security.md).

Values from the model reach generated files only after validation to a strict grammar (model.schemacheck) — host
names, server names, addresses, load-balancer paths; what is free text (the model's file name, evidence values in
fix-script comments, text from a server or from evidence shown on a terminal) passes through these functions, so no
value can change what a generated file means.
"""

from __future__ import annotations

# PowerShell reads these as quotes too (it accepts the typographic quotes as delimiters)
_PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_PS_DOUBLE_QUOTES = '"\u201c\u201d\u201e'


def printable(text: str) -> str:
    """Text with every non-printable character (newline, tab, escape sequences, bidi controls ...) shown as an
    escape (\\n, \\x1b, \\u202e): safe on one line of a file, a comment or a terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def ps_single(text: str) -> str:
    """A PowerShell single-quoted string literal: nothing inside is expanded; every single-quote character
    PowerShell recognises (' and the typographic ones) is doubled."""
    return "'" + "".join(ch * 2 if ch in _PS_SINGLE_QUOTES else ch for ch in text) + "'"


def ps_double_inner(text: str) -> str:
    """The inside of a PowerShell double-quoted string (as Microsoft's docs write -Identity "EX01\\Rpc (...)"):
    `$`, the backtick and every double-quote character PowerShell recognises are escaped with a backtick, control
    characters shown as escapes."""
    out = []
    for ch in printable(text):
        out.append("`" + ch if ch in "$`" or ch in _PS_DOUBLE_QUOTES else ch)
    return "".join(out)


def ps_comment(text: str) -> str:
    """Text inside a PowerShell comment or comment-based help block: one line, and never `#>` (which would end the
    block) nor `<#`."""
    return printable(text).replace("#>", "# >").replace("<#", "< #")


def env_name(name: str, key: str) -> str:
    """How to name an environment variable the model names under `key` in a message: the name when it looks like
    one (upper case, digits, _), else a reference to the key — a secret pasted by mistake is never echoed."""
    if name and all(ch.isupper() or ch.isdigit() or ch == "_" for ch in name) and not name[0].isdigit():
        return name
    return f"the variable named at {key} (not shown: it does not look like a variable name)"


def conf_comment(text: str) -> str:
    """Text after `#` in haproxy.cfg, an NGINX configuration, a tmsh file or an iRule: one line."""
    return printable(text)


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})


def html(text: str) -> str:
    """Text in HTML or SVG content or in a quoted attribute value (report.html): `& < > " '` as character
    references, so a value can open no element, attribute or entity; non-printable characters shown as escapes
    (printable), so a bidi control or an escape sequence cannot disguise it either."""
    return printable(text).translate(_HTML)
