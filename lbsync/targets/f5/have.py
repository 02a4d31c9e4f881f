"""What the device has (the "have" side): the objects lbsync owns, read through iControl REST.

Ownership: an object is lbsync's when it is in the model's partition and its name starts with PREFIX; nothing
else is read into the diff, so nothing else can be modified or deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from .connection import Connection
from .names import KIND_ORDER, PREFIX

EXPAND = {"ltm/pool", "ltm/virtual"}
DROP = {"kind", "selfLink", "generation", "fullPath", "name", "partition"}


def _pool(obj: dict, out: dict) -> None:
    """Members come as the expanded membersReference subcollection."""
    items = obj.get("membersReference", {}).get("items", [])
    out["members"] = [{k: v for k, v in i.items() if k not in DROP or k == "name"} for i in items]


def _virtual(obj: dict, out: dict) -> None:
    """Profiles come as the expanded profilesReference subcollection, persist items as name + partition; rules
    and fallbackPersistence are left out by a BIG-IP when there are none."""
    items = obj.get("profilesReference", {}).get("items", [])
    out["profiles"] = [{"name": i.get("fullPath") or f"/{i['partition']}/{i['name']}",
                        "context": i.get("context", "all")} for i in items]
    out.setdefault("rules", [])
    out["persist"] = [{"name": p["name"] if str(p.get("name", "")).startswith("/") or "partition" not in p
                       else f"/{p['partition']}/{p['name']}", "tmDefault": p.get("tmDefault", "no")}
                      for p in obj.get("persist") or []]
    out.setdefault("fallbackPersistence", "none")


# kind -> how the device's JSON of that kind differs from the attribute form want.py writes
READERS: dict[str, Callable[[dict, dict], None]] = {"ltm/pool": _pool, "ltm/virtual": _virtual}


def normalise(kind: str, obj: dict) -> dict:
    """Device JSON -> the attribute form want.py uses (subcollections inline, full paths for profiles)."""
    out = {k: v for k, v in obj.items() if k not in DROP and not k.endswith("Reference")}
    if kind in READERS:
        READERS[kind](obj, out)
    if isinstance(out.get("monitor"), str):
        out["monitor"] = out["monitor"].strip()
    return out


def read_owned(conn: Connection, partition: str, *, kinds: Iterable[str] | None = None,
               file_partition: str | None = None, progress: Callable[[str], None] = lambda text: None,
               parallel: int = 4) -> dict[tuple[str, str], dict]:
    """{(kind, full path): attributes} for every lbsync-owned object of these kinds.

    The collections are read concurrently (`parallel` at a time; reads only), merged in KIND_ORDER."""
    kinds = list(kinds or KIND_ORDER)
    progress(f"reading what lbsync owns in /{partition}")

    def read(kind: str):
        part = file_partition if (file_partition and kind.startswith("sys/file/")) else partition
        params = {"$filter": f"partition eq {part}"}
        if kind in EXPAND:
            params["expandSubcollections"] = "true"
        return kind, part, (conn.get(f"/mgmt/tm/{kind}", params=params) or {})

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        bodies = list(pool.map(read, kinds))
    have: dict[tuple[str, str], dict] = {}
    for kind, part, body in bodies:
        for item in body.get("items", []):
            if item.get("partition") != part or not item.get("name", "").startswith(PREFIX):
                continue
            have[(kind, f"/{part}/{item['name']}")] = normalise(kind, item)
    return have
