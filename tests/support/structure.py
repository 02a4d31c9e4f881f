"""The structure of a generated file, as a real parser reads it: what a hostile value must never change.

PowerShell: tree-sitter-powershell (the statements and commands, and whether any part failed to parse). HAProxy:
the sections and each line's directive keyword. NGINX: the directive names and blocks (lbsync's own tokenizer of
the audit, which follows nginx's: ';', '{', '}' outside quotes). Comments are dropped everywhere, except that a
comment must stay one comment: a value that ends a comment early shows up as a structure change.
"""

from __future__ import annotations

import json
import re

import tree_sitter_powershell
from tree_sitter import Language, Parser

from lbsync.targets import common, nginx

_PS = Parser(Language(tree_sitter_powershell.language()))
# the tree-sitter node kinds that make a PowerShell script's structure (statements, commands, blocks, strings)
_PS_KINDS = {"command", "command_name", "pipeline", "if_statement", "function_statement", "param_block",
             "script_block", "statement_block", "try_statement", "catch_clause", "foreach_statement",
             "assignment_expression", "comment", "hash_literal_expression", "string_literal",
             "expandable_string_literal", "verbatim_string_characters"}


def powershell(content: str | bytes) -> tuple[bool, list[str]]:
    """(parsed without an error, the node kinds in document order)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    tree = _PS.parse(data)
    kinds: list[str] = []
    cursor = tree.walk()  # every node in document order (depth first), without a Python list per node's children
    while True:
        kind = cursor.node.type
        if kind in _PS_KINDS:
            kinds.append(kind)
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return not tree.root_node.has_error, kinds


def haproxy(text: str) -> list[str]:
    """`section` or the first word of each directive, in order; comment lines as `#` (one per line)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            out.append("#")
            continue
        code = common.strip_comment(line).strip()
        if code:
            out.append(code.split()[0])
    return out


def nginx_conf(text: str) -> list[str]:
    """Each statement's directive name, `{` and `}`; comment lines as `#`."""
    comments = ["#" for raw in text.splitlines() if raw.strip().startswith("#")]
    return comments + [t.split()[0] if t not in ("{", "}") else t for t in nginx._tokens(text)]


def as3(text: str) -> list[str]:
    """Every key path of the declaration."""
    doc = json.loads(text)
    out: list[str] = []

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                out.append(f"{path}/{k}")
                walk(v, f"{path}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
    walk(doc, "")
    return out


def tmsh(text: str) -> list[str]:
    """The object headers (`ltm pool /P/name {`), braces, and comment lines."""
    return [("#" if line.lstrip().startswith("#") else re.sub(r"\S+$", "", line.strip()) or line.strip())
            for line in text.splitlines() if line.strip() and ("{" in line or "}" in line or line.lstrip()
                                                               .startswith("#"))]
