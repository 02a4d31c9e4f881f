"""Compare the evidence of each server with the Plan: drift entries with stable codes.

Expected values come from `plan.exchange` (what lbsync's apply sets) and, for what lbsync never touches (the site
root, the back-end site), from the catalog's defaults. Items the plan does not dictate are compared between the
servers instead: every Client Access server must be configured identically.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..facts import catalog, sslflags, vdirauth
from ..plan import expected
from ..plan.types import ExchangePlan, Plan
from .evidence import (
    EWS_MRSPROXY,
    HTTP_SYS,
    OA_EXTERNAL_AUTH,
    OA_EXTERNAL_HOST,
    OA_EXTERNAL_SSL,
    OA_INTERNAL_AUTH,
    OA_INTERNAL_HOST,
    OA_INTERNAL_SSL,
    OA_SSL_OFFLOADING,
    OAB_REQUIRE_SSL,
    ServerEvidence,
)

# Stable drift codes (documented in the README; never renamed).
CODES: dict[str, str] = {
    "ssl-still-required": "SSL is still required on a location the load balancer offloads (plain HTTP gets 403.4)",
    "ssl-missing": "SSL is not required on a location that is bridged or passed through (Exchange's default lost)",
    "ssl-flags-differ": "sslFlags differ from the plan in other bits (Ssl128, client certificates)",
    "outlook-anywhere-offloading": "Outlook Anywhere -SSLOffloading differs from the plan",
    "outlook-anywhere-client-ssl": "Outlook Anywhere External/InternalClientsRequireSsl is not $true where apply sets "
                                   "it (without offloading; on a side whose host name the model states)",
    "outlook-anywhere-settings": "an Outlook Anywhere host name or client authentication method apply sets differs "
                                 "(exchange.outlook_anywhere; a stated host name brings its side's method)",
    "vdir-auth-differs": "a virtual directory accepts other authentication methods than the model says "
                         "(exchange.auth or Exchange's defaults); apply never changes them: a person must",
    "oab-require-ssl": "the OAB virtual directory's RequireSSL differs from the plan",
    "mrsproxy-state": "MRSProxy is off on EWS but the model routes /EWS/mrsproxy.svc to it",
    "http-sys-limits": "an HTTP.sys request-head limit (MaxFieldLength, MaxRequestBytes) is not what "
                       "http.max_header_bytes sets: the server refuses heads the load balancers pass",
    "site-root-modified": "the Default Web Site root no longer has Exchange's default sslFlags",
    "back-end-modified": "the Exchange Back End site no longer has Exchange's default sslFlags",
    "servers-differ": "a setting lbsync does not manage differs between the servers",
    "location-missing": "a location or setting the plan expects is not in the evidence",
    "server-missing": "no evidence at all for a server of the model",
}
SSL_CODES = ("ssl-still-required", "ssl-missing", "ssl-flags-differ")


@dataclass(frozen=True)
class Drift:
    server: str
    location: str | None
    expected: object
    actual: object
    code: str

    def as_json(self) -> dict:
        return {"server": self.server, "location": self.location, "expected": self.expected,
                "actual": self.actual, "code": self.code}


@dataclass
class NotChecked:
    server: str
    what: str
    reason: str

    def as_json(self) -> dict:
        return {"server": self.server, "what": self.what, "reason": self.reason}


@dataclass
class Report:
    drift: list[Drift] = field(default_factory=list)
    not_checked: list[NotChecked] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)      # server -> number of items compared

    @property
    def in_sync(self) -> bool:
        return not self.drift

    def for_server(self, server: str) -> list[Drift]:
        return [d for d in self.drift if d.server == server]

    def as_json(self) -> dict:
        return {"in_sync": self.in_sync, "drift": [d.as_json() for d in self.drift],
                "not_checked": [n.as_json() for n in self.not_checked]}


def flags_code(expected: str, actual: str) -> str | None:
    """The drift code for an sslFlags difference, None when equal."""
    if sslflags.parse(expected) == sslflags.parse(actual):
        return None
    want, have = sslflags.requires_ssl(expected), sslflags.requires_ssl(actual)
    if not want and have:
        return "ssl-still-required"
    if want and not have:
        return "ssl-missing"
    return "ssl-flags-differ"


def expected_settings(ex: ExchangePlan) -> dict[str, object]:
    """The Exchange settings (not IIS) a group's ExchangePlan dictates (plan.expected), keyed like the evidence;
    host names lower-case as the evidence reader writes them."""
    state = expected.exchange_state(ex)
    out: dict[str, object] = {}
    for prop, value in (state["outlook_anywhere"] or {}).items():
        item = f"Outlook Anywhere: {prop}"
        out[item] = value.lower() if item in (OA_EXTERNAL_HOST, OA_INTERNAL_HOST) else value
    if state["oab"] is not None:
        out[OAB_REQUIRE_SSL] = state["oab"]["RequireSSL"]
    if state["ews"] is not None:
        out[EWS_MRSPROXY] = state["ews"]["MRSProxyEnabled"]
    for name, value in (state["http_sys"] or {}).items():
        out[HTTP_SYS[name]] = value
    return out


OA_SETTINGS = (OA_EXTERNAL_HOST, OA_INTERNAL_HOST, OA_EXTERNAL_AUTH, OA_INTERNAL_AUTH)
SETTING_CODE = {OA_SSL_OFFLOADING: "outlook-anywhere-offloading", OA_EXTERNAL_SSL: "outlook-anywhere-client-ssl",
                OA_INTERNAL_SSL: "outlook-anywhere-client-ssl", OAB_REQUIRE_SSL: "oab-require-ssl",
                EWS_MRSPROXY: "mrsproxy-state", **{k: "outlook-anywhere-settings" for k in OA_SETTINGS},
                **{k: "http-sys-limits" for k in HTTP_SYS.values()}}
SETTING_KIND = {OA_SSL_OFFLOADING: "outlook_anywhere", OA_EXTERNAL_SSL: "outlook_anywhere",
                OA_INTERNAL_SSL: "outlook_anywhere", OAB_REQUIRE_SSL: "oab", EWS_MRSPROXY: "ews",
                **{k: "outlook_anywhere" for k in OA_SETTINGS}, **{k: "http_sys" for k in HTTP_SYS.values()}}
# Compared only when the evidence carries them (older verify JSON and Get-OutlookAnywhere output written as numbers
# lack the authentication methods): missing is "not checked", not drift.
OPTIONAL_SETTINGS = set(OA_SETTINGS)
HOW_TO_COLLECT = {
    "locations": "give --apphost SERVER=applicationHost.config or the verify JSON",
    "outlook_anywhere": "give --outlook-anywhere SERVER=FILE (Get-OutlookAnywhere | ConvertTo-Json, or the "
                        "verify JSON)",
    "oab": "only the verify JSON (verify-SERVER.ps1) carries it",
    "ews": "only the verify JSON (verify-SERVER.ps1) carries it",
    "http_sys": "only the verify JSON (verify-SERVER.ps1 of a model with http.max_header_bytes above 16384) "
                "carries it",
    "optional": "the evidence does not carry it (the verify JSON of this lbsync version does; Get-OutlookAnywhere "
                "| ConvertTo-Json writes authentication methods as numbers, which are not compared)",
}


def compare(plan: Plan, evidence: dict[str, ServerEvidence]) -> Report:
    """Every server against its group's ExchangePlan (the main group's without groups:), then the servers of each
    group against each other."""
    report = Report()
    for ex in plan.exchanges:
        compare_group(ex, evidence, report)
    return report


def compare_group(ex: ExchangePlan, evidence: dict[str, ServerEvidence], report: Report) -> None:
    settings = expected_settings(ex)
    for server in (s.name for s in ex.servers):
        ev = evidence[server]
        n = 0
        if ev.empty:
            report.drift.append(Drift(server, None, "evidence", None, "server-missing"))
            continue
        if ev.locations is None:
            report.not_checked.append(NotChecked(server, "IIS locations", HOW_TO_COLLECT["locations"]))
        else:
            for loc, want in ex.locations.items():
                n += 1
                have = ev.locations.get(loc)
                if have is None:
                    report.drift.append(Drift(server, loc, want, None, "location-missing"))
                    continue
                code = flags_code(want, have)
                if code:
                    report.drift.append(Drift(server, loc, want, have, code))
        if ev.site_root is not None:
            n += 1
            if sslflags.parse(ev.site_root) != sslflags.parse(catalog.SITE_ROOT_FLAGS):
                report.drift.append(Drift(server, catalog.SITE, catalog.SITE_ROOT_FLAGS, ev.site_root,
                                          "site-root-modified"))
        if ev.back_end is not None:
            for path, have in ev.back_end.items():
                n += 1
                accepted = expected.back_end_accepted(path, ex.extended_protection)
                if all(sslflags.parse(have) != sslflags.parse(want) for want in accepted):
                    report.drift.append(Drift(server, path, " | ".join(accepted), have, "back-end-modified"))
        missing_kinds: set[str] = set()
        for item, want in settings.items():
            if item not in ev.settings and item in OPTIONAL_SETTINGS:
                if any(SETTING_KIND.get(k) == SETTING_KIND[item] for k in ev.settings):
                    report.not_checked.append(NotChecked(server, item, HOW_TO_COLLECT["optional"]))
                else:
                    kind = SETTING_KIND[item]
                    if kind not in missing_kinds:
                        missing_kinds.add(kind)
                        report.not_checked.append(NotChecked(server, item.split(":")[0], HOW_TO_COLLECT[kind]))
                continue
            if item not in ev.settings:
                kind = SETTING_KIND[item]
                has_kind = any(SETTING_KIND.get(k) == kind for k in ev.settings)
                if has_kind:   # that kind of evidence was given but lacks the item
                    report.drift.append(Drift(server, item, want, None, "location-missing"))
                elif kind not in missing_kinds:
                    missing_kinds.add(kind)
                    report.not_checked.append(NotChecked(server, item.split(":")[0], HOW_TO_COLLECT[kind]))
                continue
            n += 1
            if ev.settings[item] != want:
                report.drift.append(Drift(server, item, want, ev.settings[item], SETTING_CODE[item]))
        n += compare_vdir_auth(ex, ev, report)
        report.checked[server] = n
    report.drift.extend(between_servers([s.name for s in ex.servers], evidence, settings))


def compare_vdir_auth(ex: ExchangePlan, ev: ServerEvidence, report: Report) -> int:
    """What each managed virtual directory accepts, when the evidence carries it (verify JSON vdir_auth); returns
    the number of items compared."""
    if ev.vdir_auth is None:
        return 0
    n = 0
    for svc, want in expected.vdir_auth(ex).items():
        have = ev.vdir_auth.get(svc)
        if have is None:
            reason = f"the verify JSON has no vdir_auth entry for {svc}"
            report.not_checked.append(NotChecked(ev.server, vdirauth.item(svc), reason))
            continue
        n += 1
        if have != want:
            report.drift.append(Drift(ev.server, vdirauth.item(svc), ", ".join(want), ", ".join(have),
                                      "vdir-auth-differs"))
    return n


def _reference(values: list[tuple[str, object]]) -> object:
    """The value most servers have (ties: the first server's in model order)."""
    counts = Counter(v for _, v in values)
    best = max(counts.values())
    return next(v for _, v in values if counts[v] == best)


def between_servers(servers: list[str], evidence: dict[str, ServerEvidence],
                    settings: dict[str, bool]) -> list[Drift]:
    """Items the plan does not dictate, compared across the servers (of one group) that showed them."""
    out: list[Drift] = []
    # other Default Web Site locations (only from applicationHost.config)
    with_others = [s for s in servers if evidence[s].others is not None]
    if len(with_others) >= 2:
        names: dict[str, str] = {}
        for s in with_others:
            for key, shown in evidence[s].other_names.items():
                names.setdefault(key, shown)
        for key in sorted(names, key=lambda k: names[k].lower()):
            values = [(s, evidence[s].others.get(key)) for s in with_others]
            canon = [(s, sslflags.canonical(v) if v is not None else None) for s, v in values]
            if len({v for _, v in canon}) > 1:
                ref = _reference(canon)
                out += [Drift(s, names[key], ref, v, "servers-differ") for s, v in canon if v != ref]
    # Exchange settings the plan leaves alone (and the Outlook Anywhere host names)
    items = [OA_SSL_OFFLOADING, OA_EXTERNAL_SSL, OA_INTERNAL_SSL, OA_EXTERNAL_HOST, OA_INTERNAL_HOST,
             OA_EXTERNAL_AUTH, OA_INTERNAL_AUTH, OAB_REQUIRE_SSL, EWS_MRSPROXY]
    for item in items:
        if item in settings:
            continue
        kind = SETTING_KIND.get(item, "outlook_anywhere")
        showing = [s for s in servers if any(SETTING_KIND.get(k, "outlook_anywhere") == kind
                                             for k in evidence[s].settings)
                   and (item not in (OA_EXTERNAL_AUTH, OA_INTERNAL_AUTH) or item in evidence[s].settings)]
        if len(showing) < 2:
            continue
        values = [(s, evidence[s].settings.get(item)) for s in showing]
        if len({v for _, v in values}) > 1:
            ref = _reference(values)
            out += [Drift(s, item, ref, v, "servers-differ") for s, v in values if v != ref]
    return out
