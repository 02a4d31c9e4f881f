"""Load-balancer drift: a deployed HAProxy / NGINX configuration against a fresh render of the plan.

Both sides are normalised before the unified diff: comments, blank lines and whitespace are dropped, and order is
ignored where it has no meaning — `server` lines within a HAProxy backend or an NGINX upstream, and the order of
HAProxy backend sections. Everything else keeps its order (use_backend rules, ACLs, locations match in order).
F5 drift is shown by `lbsync f5 plan` (want/have against the device).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

HAPROXY_SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist",
                    "cache", "program", "http-errors", "ring", "mailers")


@dataclass
class LbDrift:
    target: str            # haproxy | nginx
    deployed: str          # the deployed file
    rendered: str          # what it is compared with
    diff: str              # unified diff of the normalised texts; "" when equal

    def as_json(self) -> dict:
        return {"target": self.target, "file": self.deployed, "rendered": self.rendered,
                "in_sync": not self.diff, "diff": self.diff}


def strip_comment(line: str) -> str:
    """The line without its comment: '#' outside quotes and not escaped (HAProxy and NGINX alike)."""
    out, quote, escaped = [], None, False
    for ch in line:
        if escaped:
            out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            out.append(ch)
            continue
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


def _squash(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


# ---- HAProxy ----------------------------------------------------------------------------------------------------

@dataclass
class _Section:
    header: str
    lines: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.header.split(" ", 1)[0]

    def text(self) -> list[str]:
        servers = sorted(x for x in self.lines if x.startswith("server "))
        rest = [x for x in self.lines if not x.startswith("server ")]
        return [self.header] + ["    " + x for x in rest + servers]


def normalise_haproxy(text: str) -> str:
    sections: list[_Section] = []
    preamble = _Section("")
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = _squash(strip_comment(raw))
        if not line:
            continue
        if line.split(" ", 1)[0] in HAPROXY_SECTIONS:
            sections.append(_Section(line))
        elif sections:
            sections[-1].lines.append(line)
        else:
            preamble.lines.append(line)
    # consecutive backend sections: their order has no meaning
    ordered: list[_Section] = []
    run: list[_Section] = []
    for s in sections + [None]:
        if s is not None and s.kind == "backend":
            run.append(s)
            continue
        ordered += sorted(run, key=lambda b: b.header)
        run = []
        if s is not None:
            ordered.append(s)
    out = list(preamble.lines)
    for s in ordered:
        out += s.text()
    return "\n".join(out) + "\n"


# ---- NGINX ------------------------------------------------------------------------------------------------------

def _nginx_tokens(text: str) -> list[str]:
    """Statements and braces: 'directive args;', '{' and '}' (comments removed, quotes kept)."""
    body = "\n".join(strip_comment(line) for line in text.replace("\r\n", "\n").split("\n"))
    tokens, cur, quote = [], [], None
    for ch in body:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch in ";{}":
            stmt = _squash("".join(cur))
            if ch == ";":
                tokens.append(stmt + ";")
            elif ch == "{":
                tokens.append(stmt + " {")
            else:
                if stmt:
                    tokens.append(stmt + ";")   # a last statement without ';' (invalid, but shown)
                tokens.append("}")
            cur = []
        else:
            cur.append(ch)
    rest = _squash("".join(cur))
    if rest:
        tokens.append(rest)
    return tokens


def normalise_nginx(text: str) -> str:
    tokens = _nginx_tokens(text)
    out: list[str] = []

    def block(i: int, depth: int, header: str | None) -> int:
        lines: list[list[str]] = []     # each item: the lines of one statement or nested block
        while i < len(tokens):
            tok = tokens[i]
            if tok == "}":
                i += 1
                break
            if tok.endswith("{"):
                start = len(out)
                out.append("    " * depth + tok)
                i = block(i + 1, depth + 1, tok)
                out.append("    " * depth + "}")
                lines.append(out[start:])
                del out[start:]
            else:
                lines.append(["    " * depth + tok])
                i += 1
        if header is not None and header.startswith("upstream "):
            servers = sorted((x for x in lines if x[0].strip().startswith("server ")), key=lambda x: x[0])
            lines = [x for x in lines if not x[0].strip().startswith("server ")] + servers
        for item in lines:
            out.extend(item)
        return i

    i = 0
    while i < len(tokens):
        i = block(i, 0, None)
    return "\n".join(out) + "\n"


# ---- compare ----------------------------------------------------------------------------------------------------

def _diff(deployed_text: str, rendered_text: str, deployed: str, rendered: str) -> str:
    return "".join(difflib.unified_diff(deployed_text.splitlines(keepends=True),
                                        rendered_text.splitlines(keepends=True),
                                        fromfile=f"{deployed} (deployed, normalised)",
                                        tofile=f"{rendered} (lbsync render, normalised)"))


def _read(path: str) -> str:
    from .evidence import read_text
    return read_text(path)


def haproxy_drift(plan, path: str, *, templates=None) -> LbDrift:
    from ..render import RenderOptions, haproxy
    files = haproxy.render(plan, RenderOptions(templates=templates))
    rendered = files[haproxy.CONFIG].content
    diff = _diff(normalise_haproxy(_read(path)), normalise_haproxy(rendered), path, haproxy.CONFIG)
    return LbDrift("haproxy", path, haproxy.CONFIG, diff)


def nginx_rendered_name(path: str, files: dict) -> str:
    """Which rendered NGINX file a deployed one is compared with: lbsync-stream.conf for a stream file, else
    lbsync.conf."""
    from ..render import nginx
    name = Path(path).name.lower()
    if "stream" in name and nginx.STREAM_CONF in files:
        return nginx.STREAM_CONF
    return nginx.HTTP_CONF


def nginx_drift(plan, path: str, *, templates=None) -> LbDrift:
    from ..render import RenderOptions, nginx
    files = nginx.render(plan, RenderOptions(templates=templates))
    rel = nginx_rendered_name(path, files)
    rendered = files[rel].content if rel in files else ""
    diff = _diff(normalise_nginx(_read(path)), normalise_nginx(rendered), path, rel)
    return LbDrift("nginx", path, rel, diff)
