"""IIS `sslFlags` values: parse (any case, any spacing, names or a number) and format canonically."""

from __future__ import annotations

FLAGS = {"None": 0, "Ssl": 8, "SslNegotiateCert": 32, "SslRequireCert": 64, "SslMapCert": 128, "Ssl128": 256}
_BY_LOWER = {k.lower(): v for k, v in FLAGS.items()}

NONE = "None"
REQUIRE_SSL = "Ssl, Ssl128"


def parse(text: str) -> int:
    """'Ssl,Ssl128' / 'ssl, ssl128' / '264' -> 264. Raises ValueError on an unknown flag."""
    text = (text or "").strip()
    if not text:
        return 0
    if text.isdigit():
        return int(text)
    value = 0
    for part in text.split(","):
        part = part.strip().lower()
        if part not in _BY_LOWER:
            raise ValueError(f"unknown sslFlags value '{part}'")
        value |= _BY_LOWER[part]
    return value


def format(value: int) -> str:  # noqa: A001 - mirrors IIS naming
    """264 -> 'Ssl, Ssl128' (the order and spacing IIS Manager writes)."""
    if value == 0:
        return NONE
    names = [name for name, bit in FLAGS.items() if bit and value & bit]
    return ", ".join(names)


def canonical(text: str) -> str:
    return format(parse(text))


def requires_ssl(text_or_value: str | int) -> bool:
    value = parse(text_or_value) if isinstance(text_or_value, str) else text_or_value
    return bool(value & FLAGS["Ssl"])
