"""want vs have: per object create / modify / delete / unchanged, with the attribute-level difference.

Only the attributes lbsync sets are compared (what the device adds by default is not drift), lists of named
items (pool members, virtual profiles) are compared as sets by name, `rules` keeps its order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .desired import CRYPTO_KINDS, KIND_ORDER, Desired

ORDERED_LISTS = {"rules"}


@dataclass
class Change:
    action: str                  # create | modify | delete | unchanged
    kind: str
    path: str
    want: dict | None = None
    have: dict | None = None
    diff: dict[str, tuple] = field(default_factory=dict)   # attribute -> (have, want)
    file: object | None = None   # desired.CryptoFile for certificate/key objects

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


def same(want, have, key: str | None = None) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and same(v, have[k], k) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list):
            return False
        if want and isinstance(want[0], dict) and "name" in want[0]:
            have_by = {h.get("name"): h for h in have if isinstance(h, dict)}
            return len(want) == len(have) and all(w["name"] in have_by and same(w, have_by[w["name"]])
                                                  for w in want)
        if key in ORDERED_LISTS:
            return [_scalar(v) for v in want] == [_scalar(v) for v in have]
        return sorted(map(str, map(_scalar, want))) == sorted(map(str, map(_scalar, have)))
    return str(_scalar(want)) == str(_scalar(have))


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
        diff = {k: (h.get(k), v) for k, v in o.attrs.items() if not same(v, h.get(k), k)}
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
