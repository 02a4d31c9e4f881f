"""One error type for everything the user can fix; the CLI turns it into exit code 2."""

from __future__ import annotations


class LbsyncError(Exception):
    """Bad input or usage. Rendered as one line: ``FILE:LINE:COL: error: WHAT, at KEY``."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 col: int | None = None, key: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.key = key

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.col is not None:
                    where += f":{self.col}"
            where += ": "
        text = f"{where}error: {self.message}"
        if self.key:
            text += f", at {self.key}"
        # one line per problem, whatever a value or key holds (a YAML block scalar, a pasted form feed, ...)
        return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class ModelErrors(LbsyncError):
    """Several model errors found in one pass; each prints on its own line."""

    def __init__(self, errors: list[LbsyncError]):
        super().__init__(errors[0].message if errors else "invalid model")
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class CheckFailed(Exception):
    """A check ran and found problems (exit code 1): drift, failed certificate checks, failed probes."""

    exit_code = 1
