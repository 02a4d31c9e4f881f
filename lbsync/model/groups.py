"""Server groups (coexistence): the cross checks JSON Schema cannot state, and building the Group objects.

The main group is implicit: every server without group: belongs to it, and it runs exchange.version. groups: names
the others (a 2007/2010 legacy group behind its legacy namespace, or another 2013+ group).
"""

from __future__ import annotations

import difflib

from ..errors import LbsyncError
from ..facts import catalog, mail, versions
from ..facts.lb import Mode
from ..facts.versions import SE, ExVersion
from . import types as t
from .loader import Marks
from .schema import MAIN_GROUP


def _unknown(name: str, known: list[str], marks: Marks, path: tuple) -> LbsyncError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"
    return marks.error(f"unknown group '{name}'{hint}; declare it under groups: with its Exchange version", path)


def check_groups(data: dict, marks: Marks, errors: list[LbsyncError]) -> None:
    groups: dict = data.get("groups", {})
    main_version = data["exchange"]["version"]
    known = [MAIN_GROUP, *groups]
    if MAIN_GROUP in groups:
        errors.append(marks.error(f"'{MAIN_GROUP}' is the implicit group of exchange.version ({main_version}); "
                                  "give this group another name", ("groups", MAIN_GROUP), key=True))
    version_of = {MAIN_GROUP: main_version, **{n: g["version"] for n, g in groups.items() if n != MAIN_GROUP}}
    members: dict[str, int] = {}
    for i, s in enumerate(data["servers"]):
        g = s.get("group", MAIN_GROUP)
        if g not in version_of:
            errors.append(_unknown(g, known, marks, ("servers", i, "group")))
        members[g] = members.get(g, 0) + 1
    served: dict[str, int] = {}
    for i, ns in enumerate(data["namespaces"]):
        g = ns.get("group", MAIN_GROUP)
        if g not in version_of:
            errors.append(_unknown(g, known, marks, ("namespaces", i, "group")))
            continue
        served[g] = served.get(g, 0) + 1
        version = version_of[g]
        for j, svc in enumerate(ns["services"]):
            if svc in mail.MAIL_KEYS:
                if version not in catalog.SCRIPTED_VERSIONS:
                    errors.append(marks.error(
                        f"lbsync publishes {svc} for Exchange 2013 and later servers only, not for Exchange "
                        f"{version}: list it on a namespace of a newer group", ("namespaces", i, "services", j)))
                continue
            if svc not in catalog.VERSION_SERVICES[version]:
                where = "the main group" if g == MAIN_GROUP else f"group '{g}'"
                errors.append(marks.error(
                    f"'{svc}' does not exist on Exchange {version} ({where}); Exchange {version} offers: "
                    f"{', '.join(catalog.VERSION_SERVICES[version])}", ("namespaces", i, "services", j)))
    for name, g in groups.items():
        if name == MAIN_GROUP:
            continue
        if not members.get(name):
            errors.append(marks.error(f"group '{name}' has no server: name it in a server's group: or remove it",
                                      ("groups", name), key=True))
        for svc in g.get("tls", {}).get("services", {}):
            if svc not in catalog.VERSION_SERVICES[g["version"]]:
                errors.append(marks.error(f"'{svc}' does not exist on Exchange {g['version']} (group '{name}')",
                                          ("groups", name, "tls", "services", svc), key=True))
        if g["version"] not in catalog.SCRIPTED_VERSIONS:
            for key in ("cu", "extended_protection"):
                if key in g:
                    errors.append(marks.error(f"{key} applies to Exchange 2013/2016/2019/SE groups, not to Exchange "
                                              f"{g['version']}", ("groups", name, key), key=True))
    _check_coexistence(version_of, groups, marks, errors)
    if groups and not members.get(MAIN_GROUP):
        errors.append(marks.error(f"no server is in the main group (Exchange {main_version}): servers without "
                                  "group: belong to it", ("servers",)))
    if groups and members.get(MAIN_GROUP) and not served.get(MAIN_GROUP):
        errors.append(marks.error(f"no namespace serves the main group (Exchange {main_version}): namespaces "
                                  "without group: serve it", ("namespaces",)))


def _check_coexistence(version_of: dict, groups: dict, marks: Marks, errors: list[LbsyncError]) -> None:
    """Every version in the model must be one the newest may share an organisation with (facts.versions)."""
    newest = max(version_of.values())
    allowed = versions.COEXISTS_WITH.get(newest, frozenset({newest}))
    for name, version in version_of.items():
        if version in allowed:
            continue
        where = ("exchange", "version") if name == MAIN_GROUP else ("groups", name, "version")
        ok = ", ".join(str(v) for v in sorted(allowed))
        errors.append(marks.error(
            f"Exchange {version} cannot share an organisation with Exchange {newest} (Exchange {newest} coexists "
            f"with {ok} only" + (": Exchange SE setup refuses an organisation with Exchange 2013" if newest == SE
                                 and version == ExVersion.E2013 else "") + ")", where))


def build_groups(data: dict) -> dict[str, t.Group]:
    out: dict[str, t.Group] = {}
    for name, g in data.get("groups", {}).items():
        version, cu = g["version"], g.get("cu")
        ep_default = catalog.extended_protection_default(version, cu)
        tl = g.get("tls", {})
        out[name] = t.Group(name=name, version=version, cu=cu,
                            extended_protection=g.get("extended_protection", ep_default),
                            extended_protection_given="extended_protection" in g,
                            tls_default=Mode(tl["default"]) if "default" in tl else None,
                            tls_services={k: Mode(m) for k, m in tl.get("services", {}).items()})
    return out
