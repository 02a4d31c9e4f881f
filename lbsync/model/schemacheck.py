"""Check a loaded model against model.schema with `jsonschema`, the library editors' YAML language servers use,
and turn each of its errors into one located line (FILE:LINE:COL: error: ..., at KEY).

Two things are stricter than plain JSON Schema, because YAML is not JSON: an integer is not a float (`2016.0` is
not Exchange 2016, `true` is not 1), checked by a type checker and enum/const that compare types; and formats
(host names, IP addresses, durations, environment-variable names, paths) are checked by lbsync's own functions.
The messages are lbsync's: a misspelt key gets "did you mean", a secret pasted into a *_env field is never echoed.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterator
from typing import Any

from jsonschema import Draft7Validator, FormatChecker, ValidationError, validators

from ..errors import LbsyncError
from ..facts.catalog import service_alias
from ..facts.mail import MAIL_KEYS
from .loader import Marks, key_path
from .schema import SCHEMA

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, None: 1000}
# Keys the schema leaves out on purpose, with what to write instead.
KEY_HINTS = {
    ("exchange", "auth", "rpc"): "Outlook Anywhere's authentication is set with exchange.outlook_anywhere "
                                 "(external_auth, internal_auth)",
}
_JSON_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean", "object": "mapping",
               "array": "list", "number": "number"}


# ---- formats (also used by validate's cross checks) --------------------------------------------------------------

def is_hostname(value: str, *, fqdn: bool = True) -> bool:
    if not value or len(value) > 253 or value.endswith("."):
        return False
    labels = value.split(".")
    if fqdn and len(labels) < 2:
        return False
    if labels[-1].isdigit():  # looks like an IP address, not a name
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


def is_ip(value: str) -> bool:
    """An IP address literal; an IPv6 zone id (fe80::1%eth0) is not one lbsync accepts: no target can express it."""
    if "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


_LB_PATH = re.compile(r"/[A-Za-z0-9._@+=,:~/-]+")


def control_character(value: str) -> str | None:
    """The first control character in value (a newline, a tab, an escape ...), as U+XXXX, or None."""
    for ch in value:
        if not ch.isprintable():
            return f"U+{ord(ch):04X}"
    return None


def parse_duration_ms(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 1000 if value >= 0 else None
    m = _DURATION.fullmatch(str(value))
    if not m:
        return None
    return int(float(m.group(1)) * _UNIT_MS[m.group(2)])


def format_error(fmt: str, value: Any) -> str | None:
    """lbsync's message when `value` is not of format `fmt`, else None."""
    zone = " (IPv6 zone ids are not supported)" if isinstance(value, str) and "%" in value else ""
    if fmt == "hostname":
        return None if is_hostname(value) else f"'{value}' is not a valid DNS host name"
    if fmt == "host":
        return None if is_ip(value) or is_hostname(value, fqdn=False) else \
            f"'{value}' is neither an IP address nor a valid host name{zone}"
    if fmt == "ip-address":
        return None if is_ip(value) else f"'{value}' is not a valid IP address{zone}"
    if fmt == "duration":
        ms = parse_duration_ms(value)
        if ms is None:
            return f"'{value}' is not a duration (use seconds, or 500ms, 5s, 2m, 1h)"
        return None if ms > 0 else f"'{value}' is not a positive duration"
    if fmt == "env-name":  # the value may be a secret pasted by mistake: never echo it
        return None if _ENV_NAME.fullmatch(value) else "must be the NAME of an environment variable (letters, " \
            "digits, _) that holds the secret, not the secret itself (value not shown)"
    if fmt == "path":
        bad = control_character(value)
        if bad:
            return f"the path holds a control character ({bad})"
        return None if value.strip() else "the path is empty"
    if fmt == "lb-path":
        if _LB_PATH.fullmatch(value):
            return None
        return (f"'{value}' is not a path lbsync writes into a load-balancer configuration: an absolute path on the "
                "load balancer of letters, digits and . _ - / @ + = , : ~ (no spaces, quotes, ; # { } $ or control "
                "characters)")
    return None


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    for fmt in ("hostname", "host", "ip-address", "duration", "env-name", "path", "lb-path"):
        def check(value: Any, fmt: str = fmt) -> bool:
            if not isinstance(value, str) and not (fmt == "duration" and isinstance(value, int)):
                return True  # the type keyword reports it
            message = format_error(fmt, value)
            if message:
                raise ValueError(message)
            return True
        checker.checks(fmt, raises=ValueError)(check)
    return checker


# ---- the validator: JSON Schema draft 7 with YAML's types kept apart --------------------------------------------

def same(value: Any, expected: Any) -> bool:
    """Equal and of the same type: YAML's true is not 1, 2016.0 is not 2016."""
    return type(value) is type(expected) and value == expected


def _enum(validator, enums, instance, schema) -> Iterator[ValidationError]:
    if not any(same(instance, e) for e in enums):
        yield ValidationError(f"{instance!r} is not one of {enums!r}")


def _const(validator, const, instance, schema) -> Iterator[ValidationError]:
    if not same(instance, const):
        yield ValidationError(f"{const!r} was expected")


def _pattern(validator, pattern, instance, schema) -> Iterator[ValidationError]:
    """JSON Schema's pattern, where ^...$ means the whole string: Python's $ also matches before a final newline
    (a YAML block scalar `host: |` ends with one), ECMA-262's - the editors' - does not."""
    if not isinstance(instance, str):
        return
    whole = pattern.startswith("^") and pattern.endswith("$")
    if not (re.fullmatch(pattern[1:-1], instance) if whole else re.search(pattern, instance)):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _is_integer(checker, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_Strict = validators.extend(
    Draft7Validator, validators={"enum": _enum, "const": _const, "pattern": _pattern},
    type_checker=Draft7Validator.TYPE_CHECKER.redefine("integer", _is_integer))
VALIDATOR = _Strict(SCHEMA, format_checker=_format_checker())


# ---- errors -> located lines --------------------------------------------------------------------------------------

def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return repr(value) if not isinstance(value, str) else f"'{value}'"


def _enum_hint(value: Any, choices: list, path: tuple) -> str:
    if not isinstance(value, str):
        return ""
    if value == "mrsproxy" and "ews" in choices:
        return " (mrsproxy is not a service key: set exchange.mrsproxy: true and list ews)"
    if value == "Forms" and path[:2] == ("exchange", "auth"):
        return " (Forms authentication exists only on owa and ecp)"
    numbers = [c for c in choices if isinstance(c, int) and str(c) == value.strip()]
    if numbers:
        return f" (did you mean {numbers[0]}, a number without quotes?)"
    alias = service_alias(value)
    if alias in choices and alias != value:
        return f" (did you mean '{alias}'?)"
    close = [str(c) for c in choices if str(c).lower() == value.lower()] or \
        difflib.get_close_matches(value, [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _type_message(e: ValidationError) -> str:
    value, schema = e.instance, e.schema
    types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
    want = " or ".join(_JSON_TYPES[ty] for ty in types)
    actual = type_name(value)
    got = "nothing (null)" if value is None else actual if actual in ("mapping", "list") or \
        schema.get("format") == "env-name" else f"{actual} {show(value)}"
    hint = " (write true or false)" if want == "boolean" and isinstance(value, str) and \
        value.lower() in ("yes", "no", "on", "off", "y", "n") else ""
    return f"expected {'a ' if want[0] not in 'aeiou' else 'an '}{want}, got {got}{hint}"


_SIMPLE: dict[str, Callable[[ValidationError], str]] = {
    "const": lambda e: f"must be {e.validator_value!r}, not {show(e.instance)}",
    "enum": lambda e: f"{show(e.instance)} is not one of: {', '.join(str(c) for c in e.validator_value)}"
                      + _enum_hint(e.instance, e.validator_value, tuple(e.absolute_path)),
    "type": _type_message,
    "minimum": lambda e: f"{e.instance} is below the minimum {e.validator_value}",
    "maximum": lambda e: f"{e.instance} is above the maximum {e.validator_value}",
    "minLength": lambda e: "must not be empty",
    "minItems": lambda e: ("must not be empty" if e.validator_value == 1
                           else f"needs at least {e.validator_value} items"),
    "format": lambda e: str(e.cause) if e.cause else e.message,
    "pattern": lambda e: f"'{e.instance}' is not valid: " + e.schema.get(
        "patternErrorMessage", f"it must match {e.validator_value}"),
}
# At one path, an error of an earlier kind hides the later ones (a value of the wrong type is not also "empty").
_PRECEDENCE = ("const", "enum", "type", "format", "minLength", "pattern")


def _unknown_keys(e: ValidationError, marks: Marks, misspelt: set[tuple]) -> list[LbsyncError]:
    path = tuple(e.absolute_path)
    props = e.schema.get("properties", {})
    out = []
    for key in e.instance:
        if key in props:
            continue
        free = [p for p in props if p not in e.instance]
        alias = service_alias(key) if isinstance(key, str) else None
        close = ([alias] if alias in free else []) or [p for p in free if p.lower() == key.lower()] or \
            difflib.get_close_matches(key, free, n=1, cutoff=0.6)
        if path + (key,) in KEY_HINTS:
            text = f"unknown key '{key}': {KEY_HINTS[path + (key,)]}"
        elif key in MAIL_KEYS and path[-1:] == ("services",) and "tls" in path:
            text = f"unknown key '{key}': {key} is always passed through at layer 4 (mail:), it has no tls mode"
        elif key in MAIL_KEYS and path[:2] == ("exchange", "auth"):
            text = f"unknown key '{key}': exchange.auth describes the HTTP virtual directories; {key} is not one"
        elif close:
            misspelt.add(path + (close[0],))
            text = f"unknown key '{key}' (did you mean '{close[0]}'?)"
        else:
            text = f"unknown key '{key}'; expected one of: {', '.join(props)}"
        out.append(marks.error(text, path + (key,), key=True))
    return out


def _duplicates(e: ValidationError, marks: Marks) -> list[LbsyncError]:
    path, seen, out = tuple(e.absolute_path), set(), []
    for i, item in enumerate(e.instance):
        marker = repr(item)
        if marker in seen:
            out.append(marks.error(f"{show(item)} is listed twice", path + (i,)))
        seen.add(marker)
    return out


def check(data: Any, marks: Marks) -> list[LbsyncError]:
    """Every schema error of `data`, one located LbsyncError each, in document order."""
    errors = list(VALIDATOR.iter_errors(data))
    by_path: dict[tuple, list[ValidationError]] = {}
    for e in errors:
        by_path.setdefault(tuple(e.absolute_path), []).append(e)
    out: list[LbsyncError] = []
    misspelt: set[tuple] = set()
    required: list[ValidationError] = []
    for path, group in by_path.items():
        kinds = {e.validator for e in group if "propertyNames" not in e.relative_schema_path}
        first = next((k for k in _PRECEDENCE if k in kinds), None)
        for e in group:
            if "propertyNames" in e.relative_schema_path:      # a bad key under a map: at the key, path of the map
                line, col = marks.at(path + (e.instance,), key=True)
                text = _SIMPLE.get(e.validator, lambda e: e.message)(e).replace("is not valid:", "is not a valid name:")
                out.append(LbsyncError(text, file=marks.file, line=line, col=col, key=key_path(path)))
            elif e.validator in _PRECEDENCE and e.validator != first:
                continue
            elif e.validator == "additionalProperties":
                out += _unknown_keys(e, marks, misspelt)
            elif e.validator == "required":
                required.append(e)
            elif e.validator == "uniqueItems":
                out += _duplicates(e, marks)
            elif e.validator in _SIMPLE:
                out.append(marks.error(_SIMPLE[e.validator](e), path))
            else:  # a keyword lbsync's schema does not use: jsonschema's own words
                out.append(marks.error(e.message, path))
    for e in required:   # a misspelt key is one problem, not two
        path = tuple(e.absolute_path)
        for name in e.validator_value:
            if name not in e.instance and path + (name,) not in misspelt:
                out.append(marks.error(f"missing required key '{name}'", path, key=True))
    return _dedupe(out)


def _dedupe(errors: list[LbsyncError]) -> list[LbsyncError]:
    seen, out = set(), []
    for e in errors:
        if str(e) not in seen:
            seen.add(str(e))
            out.append(e)
    return out

