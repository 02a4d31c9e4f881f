"""YAML -> plain data plus a table of source positions, catching what PyYAML lets through.

PyYAML keeps the last of two duplicate keys silently; this loader walks the composed node tree itself, so a
duplicate key is an error with its line, and every value's position is known for later messages.

Plain scalars are typed as YAML 1.2 (the core schema) reads them, as editors do (yaml-language-server
defaults to 1.2): only true/false are booleans (`yes`, `no`, `on`, `off` stay strings — a server named NO is a
name), integers are decimal, 0o octal or 0x hex (no 1:30 sexagesimal, no 0-prefixed octal), and dates are
strings. So the editor and `lbsync validate` give the same verdict on the same file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import LbsyncError


class _Core12Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit types instead of YAML 1.1's."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = self.construct_scalar(node)
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith("0x"):
            return int(digits[2:], 16)
        if digits.startswith("0o"):
            return int(digits[2:], 8)
        return sign * int(digits, 10)


_Core12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (
        "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Core12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                    list("tTfF"))
_Core12Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                                    list("-+0123456789"))
_Core12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))
_Core12Loader.add_constructor("tag:yaml.org,2002:int", _Core12Loader.construct_yaml_int)

Path = tuple  # of str keys and int indexes


def key_path(path: Path) -> str:
    """Render ('namespaces', 0, 'host') as 'namespaces[0].host'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


class Marks:
    """Source positions (1-based line, column) of every key and value, by path."""

    def __init__(self, file: str):
        self.file = file
        self.values: dict[Path, tuple[int, int]] = {}
        self.keys: dict[Path, tuple[int, int]] = {}

    def at(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """Position of the value (or key) at path; falls back to the nearest ancestor."""
        path = tuple(path)
        table = self.keys if key else self.values
        while True:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            if not path:
                return (None, None)
            path = path[:-1]
            table = self.values

    def error(self, message: str, path: Path, *, key: bool = False) -> LbsyncError:
        line, col = self.at(path, key=key)
        return LbsyncError(message, file=self.file, line=line, col=col, key=key_path(path))


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


MAX_NODES = 20_000  # a real model has a few hundred values; more means an alias bomb or the wrong file


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> LbsyncError:
    """One readable line for a YAML syntax error, at the line where the problem starts."""
    problem = exc.problem or "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    context = (exc.context or "").replace("while parsing ", "").replace("while scanning ", "")
    if exc.context_mark is not None and ("<stream end>" in problem or "end of stream" in problem):
        # An unclosed [, { or quote: the useful line is where it was opened, not the end of the file.
        mark = exc.context_mark
        problem = f"{context} opened here is never closed ({problem})"
    elif problem.startswith("expected <block end>") or "expected <block end>" in problem:
        problem = f"the indentation does not match the lines above ({problem})"
    elif exc.context == "expected a single document in the stream":
        problem = "the file holds a second YAML document ('---'); a model is one document"
    elif "'\\t'" in problem:
        problem += " (indent with spaces, not tabs)"
    elif problem == "mapping values are not allowed here":
        problem += " (a value containing ': ' must be quoted, or a line above lacks its ':')"
    elif exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        problem = f"{problem} ({context} on line {exc.context_mark.line + 1})"
    return LbsyncError(f"YAML syntax error: {problem}", file=file,
                       line=mark.line + 1 if mark else None, col=mark.column + 1 if mark else None)


def printable_value(text: str, limit: int = 40) -> str:
    """A scalar's text for a message: quoted, shortened, one line."""
    shown = text if len(text) <= limit else text[:limit] + "…"
    return repr(shown)


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return "not a value of this type"
    text = str(exc).split("\n")[0]
    return text[:120] if text else type(exc).__name__


class _NodeWalk:
    """The node walk of load_yaml: composed nodes -> plain data, every position recorded in `marks`."""

    def __init__(self, loader: _Core12Loader, marks: Marks, file: str):
        self.loader = loader
        self.marks = marks
        self.file = file
        self.budget = MAX_NODES
        self.merged_keys: set[Path] = set()

    def walk(self, n: yaml.Node, path: Path, depth: int = 0) -> Any:
        file = self.file
        line, col = _mark(n)
        if depth > 64:
            raise LbsyncError("the document nests too deeply", file=file, line=line, col=col,
                              key=key_path(path))
        self.budget -= 1
        if self.budget < 0:
            raise LbsyncError(f"the document has more than {MAX_NODES} values (YAML aliases expanding "
                              "into each other?)", file=file, line=line, col=col, key=key_path(path[:1]))
        self.marks.values[path] = (line, col)
        if isinstance(n, yaml.MappingNode):
            return self.mapping(n, path, depth)
        if isinstance(n, yaml.SequenceNode):
            return [self.walk(item, path + (i,), depth + 1) for i, item in enumerate(n.value)]
        return self.scalar(n, path)

    def scalar(self, n: yaml.Node, path: Path) -> Any:
        """A scalar as its tag says; a value its tag cannot read (`!!bool maybe`, `!!int 0x`, `!!float abc`,
        `!!timestamp x`, a 5000-digit integer) is a located error, never an internal one."""
        line, col = _mark(n)
        try:
            return self.loader.construct_object(n)
        except yaml.constructor.ConstructorError as exc:
            raise LbsyncError(f"cannot read value: {exc.problem}", file=self.file, line=line, col=col,
                              key=key_path(path)) from None
        except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
            tag = n.tag.rsplit(":", 1)[-1]
            raise LbsyncError(f"cannot read {printable_value(n.value)} as {tag} ({_reason(exc)})", file=self.file,
                              line=line, col=col, key=key_path(path)) from None

    def mapping(self, n: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        file, marks, merged_keys = self.file, self.marks, self.merged_keys
        explicit = sum(1 for k, _ in n.value if k.tag != "tag:yaml.org,2002:merge")
        try:
            self.loader.flatten_mapping(n)  # YAML merge keys (<<): merged pairs first, then the explicit ones
        except yaml.MarkedYAMLError as exc:
            m = exc.problem_mark
            raise LbsyncError(f"bad merge key: {exc.problem}", file=file, line=m.line + 1,
                              col=m.column + 1, key=key_path(path)) from None
        merged = len(n.value) - explicit
        out: dict[str, Any] = {}
        for i, (knode, vnode) in enumerate(n.value):
            if not isinstance(knode, yaml.ScalarNode):
                kline, kcol = _mark(knode)
                raise LbsyncError("a mapping key must be a plain scalar", file=file, line=kline, col=kcol,
                                  key=key_path(path))
            k = self.scalar(knode, path)
            k = k if isinstance(k, str) else str(k).lower() if isinstance(k, bool) else str(k)
            child = path + (k,)
            if k in out:
                if i < merged:
                    pass  # merged from two aliases: the later one wins, as PyYAML does
                elif child in merged_keys:
                    merged_keys.discard(child)  # an explicit key overrides a merged one, as YAML says
                else:
                    kline, kcol = _mark(knode)
                    first = marks.keys[child][0]
                    raise LbsyncError(f"duplicate key '{k}' (first defined on line {first})", file=file,
                                      line=kline, col=kcol, key=key_path(child))
            elif i < merged:
                merged_keys.add(child)
            marks.keys[child] = _mark(knode)
            out[k] = self.walk(vnode, child, depth + 1)
        return out


def load_yaml(text: str, file: str) -> tuple[Any, Marks]:
    marks = Marks(file)
    try:
        loader = _Core12Loader(text)  # the reader refuses control characters right here
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise LbsyncError(f"the model contains a control character (U+{exc.character:04X}) YAML does not allow",
                          file=file, line=line, col=col) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc, file) from None
        except yaml.YAMLError as exc:
            raise LbsyncError(f"YAML syntax error: {exc}", file=file) from None
        except RecursionError:   # PyYAML composes nested collections recursively: hundreds of levels deep
            mark = loader.get_mark()
            raise LbsyncError("the document nests too deeply", file=file, line=mark.line + 1,
                              col=mark.column + 1) from None
        if node is None:
            raise LbsyncError("the model is empty (expected a mapping with 'version: 1')", file=file, line=1, col=1)
        return _NodeWalk(loader, marks, file).walk(node, ()), marks
    finally:
        loader.dispose()
