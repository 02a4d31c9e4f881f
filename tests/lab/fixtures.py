"""pytest fixtures for lab tests (import them into a test module): a module-wide Lab, and a factory that starts a
real load balancer for a scenario with the servers' IIS state set from the generated Exchange side."""

from __future__ import annotations

import pytest

from lbsync.facts import httpsys
from lbsync.output.check import free_port

from .exchange import Lab
from .iis import applied_state
from .lb import Haproxy, Nginx
from .models import model_text, write_model

WRAPPERS = {"haproxy": Haproxy, "nginx": Nginx}


@pytest.fixture(scope="module")
def lab(pki_files):
    with Lab(pki_files, 2) as the_lab:
        yield the_lab


class Running:
    """A started load balancer plus what the tests need to talk to it."""

    def __init__(self, lb, port: int, ca, iis_source: str):
        self.lb = lb
        self.port = port
        self.ca = ca
        self.plan = lb.plan
        self.iis_source = iis_source


def start_lb(lab, pki_files, tmp_path_factory, target: str, scenario: str, *, iis: str = "applied",
             allow: tuple[str, ...] = (), ready: bool = True, **model_kw):
    """Render + start `target` for `scenario`; the servers get the IIS state `applied` (apply-SERVER.ps1 run on
    the fixture) or `default` (the untouched fixture). The caller stops it (lb.stop)."""
    from .iis import applied_http_sys, default_state
    port = free_port()
    work = tmp_path_factory.mktemp(f"{target}-{scenario}")
    model = write_model(work, model_text(lab, pki_files, scenario=scenario, port=port, target=target, **model_kw))
    lb = WRAPPERS[target](model, work / target, allow=allow)
    source = "fixture"
    for server in lab.servers:
        if iis == "applied":
            flags, source = applied_state(lb.plan, server.name)
            server.http_sys = applied_http_sys(lb.plan, server.name)
        else:
            flags = default_state(lb.plan.exchange.version)
            server.http_sys = dict(httpsys.DEFAULT)
        lab.set_flags(server.name, flags)
        server.failing.clear()
    lb.start(ready=ready)
    return Running(lb, port, pki_files["ca"], source)


@pytest.fixture(scope="module")
def foreign_ca(tmp_path_factory):
    """A CA that did NOT issue the servers' certificate: re-encryption that trusts only it must fail."""
    from pki import make_ca
    path = tmp_path_factory.mktemp("foreign") / "foreign-ca.pem"
    path.write_bytes(make_ca("some other CA").cert_pem())
    return path
