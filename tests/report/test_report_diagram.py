"""The diagram's geometry, without a browser: everything of the plan is drawn, the Plan's answers reach the boxes
(modes, MRSProxy, who presents the certificate), boxes never overlap, large listeners split into page-sized
figures without splitting a namespace."""

from __future__ import annotations

import pytest
from support.reports import (
    MAIL_MODEL,
    PROFILES,
    UNREACHED_MODEL,
    big_model,
    expected_names,
    plan_at,
    write_model,
)

from lbsync.report import diagram


def _drawn(figures) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in figures:
        for b in f.boxes:
            out.setdefault(b.kind, set()).add(b.name)
    return out


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    out = {p.stem: plan_at(p) for p in PROFILES}
    for name, data in (("big", big_model()), ("mail", MAIL_MODEL), ("unreached", UNREACHED_MODEL)):
        out[name] = plan_at(write_model(folder, f"{name}.yaml", data))
    return out


def test_every_namespace_route_pool_and_server_is_drawn(plans):
    assert len(plans) == len(PROFILES) + 3
    for name, plan in plans.items():
        drawn = _drawn(diagram.figures(plan))
        for kind, names in expected_names(plan).items():
            assert names <= drawn.get(kind, set()), (name, kind, names - drawn.get(kind, set()))
        assert drawn["server"] == {s.name for s in plan.model.servers}, name


def test_boxes_carry_the_plans_mode_and_mrsproxy_is_a_separate_reencrypted_route(plans):
    plan = plans["exchange2013-offload"]        # offload, MRSProxy re-encrypted (the bundled example)
    boxes = {(b.kind, b.name): b for f in diagram.figures(plan) for b in f.boxes}
    for svc in plan.services:
        box = boxes[("route", f"{svc.namespace} {svc.service}")]
        assert box.mode == svc.mode
        assert any(line.text.startswith(diagram.MODE_NAME[svc.mode]) for line in box.lines)
        assert (box.cls == "separate") == svc.mrsproxy
    (mrs,) = [b for (kind, _), b in boxes.items() if kind == "route" and b.cls == "separate"]
    assert mrs.name == "mail.contoso.com mrsproxy" and mrs.mode == "bridge"
    assert [ln.text for ln in mrs.lines][1].startswith("re-encrypt")
    assert boxes[("pool", "mrsproxy_mail.contoso.com")].mode == "bridge"
    assert boxes[("pool", "owa_mail.contoso.com")].mode == "offload"


def test_the_lines_toward_the_servers_say_plain_http_or_tls_as_the_plan_decides(plans):
    for name in ("exchange2013-offload", "exchange2016-bridge", "outlook-anywhere-passthrough"):
        plan = plans[name]
        edges = [e for f in diagram.figures(plan) for e in f.edges if e.cls in ("plain", "reencrypt", "passthrough")]
        labels = {e.label.text for e in edges if e.label}
        for pool in plan.pools:
            if pool.plain_http:
                cls, text = "plain", f"plain HTTP :{pool.port}"
            elif pool.reencrypt:
                cls, text = "reencrypt", f"HTTPS :{pool.port}"
            else:
                cls, text = "passthrough", f"client's TLS :{pool.port}"
            assert text in labels, (name, pool.pool)
            assert any(e.cls == cls for e in edges)


def test_the_listener_presents_the_certificate_and_servers_say_when_they_do(plans):
    bridge = diagram.figures(plans["exchange2016-bridge"])[0]
    listener = next(b for b in bridge.boxes if b.kind == "listener")
    group = next(b for b in bridge.boxes if b.kind == "group")
    assert "presents the certificate" in [ln.text for ln in listener.lines]
    assert "present a certificate to the LB" in [ln.text for ln in group.lines]
    offload = diagram.figures(plans["exchange2013-offload"])[0]
    group = next(b for b in offload.boxes if b.kind == "group")
    assert "present a certificate to the LB" in [ln.text for ln in group.lines]   # MRSProxy is re-encrypted
    passthrough = diagram.figures(plans["outlook-anywhere-passthrough"])[0]
    group = next(b for b in passthrough.boxes if b.kind == "group")
    assert "present the certificate to clients" in [ln.text for ln in group.lines]


def _overlap(a, b) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def test_no_two_boxes_overlap_and_every_box_fits_its_figure(plans):
    for name, plan in plans.items():
        for fig in diagram.figures(plan):
            boxes = [b for b in fig.boxes if b.kind != "server"]
            for i, a in enumerate(boxes):
                assert 0 <= a.x and a.x + a.w <= fig.width and 0 <= a.y and a.y + a.h <= fig.height, (name, a.name)
                for b in boxes[i + 1:]:
                    assert not _overlap(a, b), (name, fig.key, a.kind, a.name, b.kind, b.name)
            groups = [b for b in fig.boxes if b.kind == "group"]
            for s in (b for b in fig.boxes if b.kind == "server"):      # a server sits inside one group box
                assert sum(g.x <= s.x and s.x + s.w <= g.x + g.w and g.y <= s.y and s.y + s.h <= g.y + g.h
                           for g in groups) == 1, (name, s.name)


def test_a_large_listener_splits_into_figures_of_whole_namespaces(plans):
    plan = plans["big"]
    figures = diagram.figures(plan)
    routes_per_host: dict[str, set[str]] = {}
    for f in figures:
        hosts = {b.name for b in f.boxes if b.kind == "namespace"}
        routes = [b for b in f.boxes if b.kind == "route"]
        if f.caption.startswith("Mail"):
            continue
        assert len(routes) <= diagram.MAX_ROWS, f.caption
        for host in hosts:
            assert host not in routes_per_host, f"{host} split over two figures"
            routes_per_host[host] = {b.name for b in routes if b.name.startswith(host + " ")}
    for ns in plan.namespaces:
        assert routes_per_host[ns.host] == {f"{ns.host} {s.service}" for s in ns.services}
    assert len({f.key for f in figures}) == len(figures)
    assert any("part 2 of" in f.caption for f in figures)


def test_servers_no_route_reaches_get_a_figure_of_their_own(plans):
    figures = diagram.figures(plans["unreached"])
    assert [b.name for b in figures[-1].boxes if b.kind == "server"] == ["OLD1"]
    assert figures[-1].caption == "Servers no route of this model reaches"


def test_server_notes_appear_under_the_server(plans):
    plan = plans["exchange2013-offload"]
    fig = diagram.figures(plan, {"EX02": [("bad", "drift: 4")], "EX01": [("good", "in sync")]})[0]
    servers = {b.name: b for b in fig.boxes if b.kind == "server"}
    assert servers["EX02"].cls == "bad" and [ln.text for ln in servers["EX02"].lines][-1] == "drift: 4"
    assert servers["EX01"].cls == "good"


def test_text_width_counts_wide_characters_double_and_combining_marks_not_at_all():
    assert diagram.text_width("ab") == 2 * diagram.CHAR
    assert diagram.text_width("漢") == 2 * diagram.CHAR
    assert diagram.text_width("e\u0301") == diagram.CHAR


def test_text_width_measures_what_the_page_shows():
    assert diagram.text_width("a\u202eb") == pytest.approx(len("a\\u202eb") * diagram.CHAR)   # as its escape
