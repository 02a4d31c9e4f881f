"""Address helpers shared by the renderers (memoised: a large model asks about the same few addresses many times)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=4096)
def ip_version(address: str) -> int | None:
    """4 or 6 for an IP literal, None for a host name."""
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None
