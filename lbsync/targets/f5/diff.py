"""want vs have: per object create / modify / delete / unchanged, with the attribute-level difference.

Only the attributes lbsync sets are compared (what the device adds by default is not drift). How one attribute
compares is a named method of `Difference` where it is not plain equality (as F5's Ansible modules do): `rules`
keeps its order, lists of named items (pool members, virtual profiles, persistence profiles) are compared as sets
by name, other lists as sets of values, strings without surrounding whitespace (a monitor reference comes back
with a trailing space), numbers and strings by their text (the device answers "5" for 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .files import CryptoFile
from .names import CRYPTO_KINDS, KIND_ORDER
from .want import Desired


@dataclass
class Change:
    action: str                  # create | modify | delete | unchanged
    kind: str
    path: str
    want: dict | None = None
    have: dict | None = None
    diff: dict[str, tuple] = field(default_factory=dict)   # attribute -> (have, want)
    file: CryptoFile | None = None   # for certificate/key objects

    @property
    def crypto(self) -> bool:
        return self.kind in CRYPTO_KINDS

    def as_json(self) -> dict:
        out = {"action": self.action, "kind": self.kind, "path": self.path}
        if self.diff:
            out["diff"] = {k: {"have": h, "want": w} for k, (h, w) in self.diff.items()}
        return out


def _scalar(v):
    return v.strip() if isinstance(v, str) else v


def _text(v) -> str:
    """A scalar as the device shows it: numbers come back as text ("5"), strings may carry trailing spaces."""
    return str(_scalar(v))


class Difference:
    """How each attribute of a desired object compares with the device's (F5's Ansible modules' Difference).

    `changed()` returns attribute -> (have, want) for every attribute lbsync sets that differs. An attribute with
    a quirk has a named comparison below; the rest compare by `_generic`: mappings by the keys lbsync sets, lists
    as sets of values, scalars by their text."""

    def __init__(self, want: dict, have: dict):
        self.want, self.have = want, have

    def changed(self) -> dict[str, tuple]:
        return {k: (self.have.get(k), v) for k, v in self.want.items() if not self.same(k, v, self.have.get(k))}

    @classmethod
    def same(cls, attr: str | None, want: object, have: object) -> bool:
        named = getattr(cls, f"_{attr}", None) if attr else None
        return (named or cls._generic)(want, have)

    # -- named comparisons ---------------------------------------------------------------------------------------
    @staticmethod
    def _rules(want, have) -> bool:
        """iRules run in the order they are listed."""
        return isinstance(have, list) and [_scalar(v) for v in want] == [_scalar(v) for v in have]

    @classmethod
    def _members(cls, want, have) -> bool:
        """Pool members: a set by name (the device lists them in its own order and adds state fields)."""
        return cls._named(want, have)

    @classmethod
    def _profiles(cls, want, have) -> bool:
        """Virtual profiles: a set by full path, each with its context."""
        return cls._named(want, have)

    @classmethod
    def _persist(cls, want, have) -> bool:
        """Persistence profiles of a virtual: a set by full path, with tmDefault."""
        return cls._named(want, have)

    @classmethod
    def _certKeyChain(cls, want, have) -> bool:  # noqa: N802 - the iControl REST attribute name
        return cls._named(want, have)

    @staticmethod
    def _monitor(want, have) -> bool:
        """A pool's monitor reference: the device appends a space ("/Common/x ")."""
        return isinstance(have, str) and _text(want) == _text(have)

    # -- the rest ------------------------------------------------------------------------------------------------
    @classmethod
    def _named(cls, want, have) -> bool:
        if not isinstance(have, list):
            return False
        have_by = {h.get("name"): h for h in have if isinstance(h, dict)}
        return len(want) == len(have) and all(w["name"] in have_by and cls._generic(w, have_by[w["name"]])
                                              for w in want)

    @classmethod
    def _generic(cls, want, have) -> bool:
        if isinstance(want, dict):
            return isinstance(have, dict) and all(k in have and cls.same(k, v, have[k]) for k, v in want.items())
        if isinstance(want, list):
            if not isinstance(have, list):
                return False
            if want and isinstance(want[0], dict) and "name" in want[0]:
                return cls._named(want, have)
            return sorted(map(_text, want)) == sorted(map(_text, have))
        return _text(want) == _text(have)


def compute(desired: Desired, have: dict[tuple[str, str], dict]) -> list[Change]:
    """Changes in apply order: creates and modifies in dependency order, then deletes in reverse kind order."""
    changes: list[Change] = []
    for f in desired.files:
        key = (f.kind, f.path)
        h = have.get(key)
        want = {"fingerprint": f.fingerprint} if f.fingerprint else {}
        if h is None:
            changes.append(Change("create", f.kind, f.path, want, None, file=f))
        elif f.fingerprint and h.get("fingerprint") != f.fingerprint:
            changes.append(Change("modify", f.kind, f.path, want, h,
                                  {"fingerprint": (h.get("fingerprint"), f.fingerprint)}, file=f))
        else:
            changes.append(Change("unchanged", f.kind, f.path, want, h, file=f))
    for o in desired.objects:
        h = have.get(o.key)
        if h is None:
            changes.append(Change("create", o.kind, o.path, o.attrs, None))
            continue
        diff = Difference(o.attrs, h).changed()
        changes.append(Change("modify" if diff else "unchanged", o.kind, o.path, o.attrs, h, diff))
    wanted = {(f.kind, f.path) for f in desired.files} | set(desired.by_key())
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    extra = sorted((k for k in have if k not in wanted), key=lambda k: (-rank[k[0]], k[1]))
    changes += [Change("delete", kind, path, None, have[(kind, path)]) for kind, path in extra]
    return changes


def summary(changes: list[Change]) -> dict[str, int]:
    out = {"create": 0, "modify": 0, "delete": 0, "unchanged": 0}
    for c in changes:
        out[c.action] += 1
    return out
