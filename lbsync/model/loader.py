"""YAML -> plain data plus a table of source positions, catching what PyYAML lets through.

PyYAML keeps the last of two duplicate keys silently; this loader walks the composed node tree itself, so a
duplicate key is an error with its line, and every value's position is known for later messages.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import LbsyncError

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


def load_yaml(text: str, file: str) -> tuple[Any, Marks]:
    marks = Marks(file)
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or "invalid YAML"
            if exc.context and exc.problem:
                problem = f"{exc.context}: {exc.problem}" if "while" not in exc.context else exc.problem
            raise LbsyncError(f"YAML syntax error: {problem}", file=file,
                              line=mark.line + 1 if mark else None,
                              col=mark.column + 1 if mark else None) from None
        except yaml.YAMLError as exc:
            raise LbsyncError(f"YAML syntax error: {exc}", file=file) from None
        if node is None:
            raise LbsyncError("the model is empty (expected a mapping with 'version: 1')", file=file, line=1, col=1)

        def walk(n: yaml.Node, path: Path, depth: int = 0) -> Any:
            if depth > 64:
                raise LbsyncError("the document nests too deeply", file=file, line=_mark(n)[0], col=_mark(n)[1],
                                  key=key_path(path))
            marks.values[path] = _mark(n)
            if isinstance(n, yaml.MappingNode):
                try:
                    loader.flatten_mapping(n)  # YAML merge keys (<<)
                except yaml.MarkedYAMLError as exc:
                    m = exc.problem_mark
                    raise LbsyncError(f"bad merge key: {exc.problem}", file=file, line=m.line + 1,
                                      col=m.column + 1, key=key_path(path)) from None
                out: dict[str, Any] = {}
                for knode, vnode in n.value:
                    if not isinstance(knode, yaml.ScalarNode):
                        line, col = _mark(knode)
                        raise LbsyncError("a mapping key must be a plain scalar", file=file, line=line, col=col,
                                          key=key_path(path))
                    k = loader.construct_object(knode)
                    k = k if isinstance(k, str) else str(k).lower() if isinstance(k, bool) else str(k)
                    child = path + (k,)
                    if k in out:
                        line, col = _mark(knode)
                        first = marks.keys[child][0]
                        raise LbsyncError(f"duplicate key '{k}' (first defined on line {first})", file=file,
                                          line=line, col=col, key=key_path(child))
                    marks.keys[child] = _mark(knode)
                    out[k] = walk(vnode, child, depth + 1)
                return out
            if isinstance(n, yaml.SequenceNode):
                return [walk(item, path + (i,), depth + 1) for i, item in enumerate(n.value)]
            try:
                return loader.construct_object(n)
            except yaml.constructor.ConstructorError as exc:
                line, col = _mark(n)
                raise LbsyncError(f"cannot read value: {exc.problem}", file=file, line=line, col=col,
                                  key=key_path(path)) from None

        return walk(node, ()), marks
    finally:
        loader.dispose()
