"""What the model says for one service of one server group: its mode, authentication, health settings, health
page and expected sslFlags. Small lookups shared by plan.build, plan.coexist and the rules."""

from __future__ import annotations

import re

from ..facts import catalog, coexistence
from ..facts.catalog import Svc
from ..facts.lb import Mode
from ..facts.sslflags import NONE, REQUIRE_SSL
from ..model.types import HealthSettings, Model
from .types import MAIN_GROUP


def slug(text: str) -> str:
    """A file-name-safe form of a name (server names in script file names)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def mode_of(model: Model, service: str, group: str = MAIN_GROUP) -> Mode:
    """The TLS mode of a service in a group: mrsproxy is always bridged, owa-integrated follows owa; else the
    group's, else the top level's."""
    if service == Svc.MRSPROXY:
        return Mode.BRIDGE
    if service in catalog.ROUTES:
        return mode_of(model, catalog.ROUTES[service].parent, group)
    top = model.tls.services.get(service, model.tls.default)
    if group == MAIN_GROUP:
        return top
    g = model.groups[group]
    return g.tls_services.get(service, g.tls_default or top)


def mode_source(model: Model, service: str, group: str = MAIN_GROUP) -> tuple:
    """Where mode_of found the mode: the key path in the model (for comments in the generated configs)."""
    if service == Svc.MRSPROXY:
        return ("exchange", "mrsproxy")
    if service in catalog.ROUTES:
        return mode_source(model, catalog.ROUTES[service].parent, group)
    if group != MAIN_GROUP:
        g = model.groups[group]
        if service in g.tls_services:
            return ("groups", group, "tls", "services", service)
        if g.tls_default:
            return ("groups", group, "tls", "default")
    return ("tls", "services", service) if service in model.tls.services else ("tls", "default")


def auth_of(model: Model, service: str, group: str = MAIN_GROUP) -> tuple[str, ...]:
    """What a service's virtual directory accepts: exchange.auth (main group), else Exchange's defaults;
    /owa/Integrated is Windows-authenticated whatever owa does."""
    if service == Svc.OWA_INTEGRATED:
        return catalog.OWA_INTEGRATED.default_auth
    if group != MAIN_GROUP:
        # exchange.auth and exchange.outlook_anywhere describe the main group; other groups keep the defaults
        key = Svc.EWS if service == Svc.MRSPROXY else service
        if model.groups[group].version not in catalog.SCRIPTED_VERSIONS and key in coexistence.LEGACY_DEFAULT_AUTH:
            return coexistence.LEGACY_DEFAULT_AUTH[key]
        return catalog.SERVICES[key].default_auth
    if service == Svc.RPC:
        oa = model.exchange.outlook_anywhere
        return tuple(dict.fromkeys((oa.external_auth, oa.internal_auth)))
    if service == Svc.MRSPROXY:
        return model.exchange.auth.get(Svc.EWS, catalog.SERVICES[Svc.EWS].default_auth)
    return model.exchange.auth.get(service, catalog.SERVICES[service].default_auth)


def expected_flags(mode: Mode) -> str:
    """The effective sslFlags a service's locations need in this mode: None when offloaded, else Ssl, Ssl128."""
    return NONE if mode == Mode.OFFLOAD else REQUIRE_SSL


def health_settings(model: Model, service: str) -> HealthSettings:
    """health: or its per-service override (a route uses its parent's: mrsproxy ews's, owa-integrated owa's)."""
    key = catalog.ROUTES[service].parent if service in catalog.ROUTES else service
    return model.health_services.get(key, model.health)


def health_path(version: int, service: str) -> str:
    """2013+: the protocol's Managed Availability page; 2007/2010 have none: the OWA logon page."""
    if version < catalog.MANAGED_AVAILABILITY_SINCE:
        return coexistence.LEGACY_HEALTH_PATH
    return catalog.service(service).health_path


def is_scripted(model: Model, group: str) -> bool:
    """lbsync writes Exchange scripts for this group (2013+)."""
    return model.group(group).version in catalog.SCRIPTED_VERSIONS
