"""README.txt's deployment guidance (#14 item 9): which side goes first per mode, the drain commands of each load
balancer (run for real where the program is here: HAProxy's runtime API, NGINX's `nginx -t`), execution policy, and
what lbsync does not do."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml
from support.plans import model_dict, plan_of

from lbsync.model import load_model_text
from lbsync.plan import build_plan
from lbsync.plan.cutover import cutover
from lbsync.targets import RenderOptions, render_targets
from lbsync.targets import nginx as nginx_target
from lbsync.targets.f5 import as3 as as3_target
from lbsync.targets.f5 import tmsh as tmsh_target
from lbsync.targets.f5.want import build, drain_nodes


def readme(plan, targets=("exchange", "haproxy")) -> str:
    return render_targets(plan, list(targets), RenderOptions())["README.txt"].content


def section(text: str, title: str) -> str:
    start = text.index(title)
    rest = text[start:]
    end = re.search(r"\n\n(?=\S)", rest)
    return rest[:end.start()] if end else rest


# ---- the order (the Plan decides it once) -----------------------------------------------------------------------

def test_offload_puts_the_servers_first_and_the_load_balancer_last():
    plan = plan_of(model_dict(2019, "offload"))
    cut = cutover(plan)
    assert cut.order == "servers-first" and "owa" in cut.servers_first and cut.servers == ("EX01", "EX02")
    text = section(readme(plan), "Cut-over")
    assert text.index("1. The servers first") < text.index("2. Then the load balancer, once verify-SERVER.ps1")
    assert "Going back: the same rule the other way round — the load balancer first" in text
    assert "do not deploy this folder's load-balancer\n     files to drain a server" in text
    assert "must not come back after undo" in text


def test_bridge_puts_the_load_balancer_first():
    plan = plan_of(model_dict(2019, "bridge"))
    cut = cutover(plan)
    assert cut.order == "lb-first" and cut.servers_first == () and "owa" in cut.lb_first
    text = section(readme(plan), "Cut-over")
    assert "1. The load balancer first" in text and "1. The servers first" not in text
    assert "change the load balancer first for those, or clients get 403.4" in text


def test_a_mixed_model_goes_servers_first_and_warns_about_the_bridged_services():
    data = model_dict(2019, "offload")
    data["tls"]["services"] = {"ecp": "bridge"}
    plan = plan_of(data)
    cut = cutover(plan)
    assert cut.order == "servers-first" and cut.lb_first == ("ecp",) and "ecp" not in cut.servers_first
    text = section(readme(plan), "Cut-over")
    assert "1. The servers first" in text and "apply makes these require SSL (Exchange's default): ecp." in text


def test_the_per_server_steps_drain_before_apply_and_the_scripts_are_unblocked():
    text = readme(plan_of(model_dict(2019, "offload")))
    steps = section(text, "Each server (EX01, EX02)")
    assert steps.index("Drain it") < steps.index("apply-SERVER.ps1 -WhatIf") < steps.index("back in service")
    assert "Get-ChildItem *.ps1 | Unblock-File" in text and "Get-ExecutionPolicy -List" in text
    assert "What lbsync does not do: DNS records" in text


# ---- NGINX: `down` on exactly that server's lines, accepted by nginx -t ----------------------------------------

def nginx_plan(tmp_path):
    data = model_dict(2019, "offload", services=["owa", "ecp", "eas"])
    data["exchange"]["auth"] = {"autodiscover": ["Basic"]}
    data["servers"].append({"name": "EX011", "address": "192.0.2.13"})   # a name that extends another
    data["targets"] = {"nginx": {"cert_path": str(tmp_path / "c.pem"), "key_path": str(tmp_path / "k.pem")}}
    return build_plan(load_model_text(yaml.safe_dump(data, sort_keys=False), str(tmp_path / "lbsync.yaml")))


def nginx_command(text: str, which: str, conf) -> str:
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"EX01 {which}:"))
    return f"F={conf}\n" + line.split(":", 1)[1].strip()


def test_nginx_drain_marks_only_that_server_down_and_back_restores_the_file(tmp_path):
    plan = nginx_plan(tmp_path)
    text = nginx_target.readme(plan, RenderOptions())
    assert 'F="/etc/nginx/lbsync.conf"' in text and "not this folder's" in text
    files = nginx_target.render(plan, RenderOptions())
    conf = tmp_path / "installed" / "lbsync.conf"      # the copy NGINX reads
    conf.parent.mkdir()
    conf.write_text(files["nginx/lbsync.conf"].content)
    original = conf.read_text()
    subprocess.run(["bash", "-c", nginx_command(text, "out", conf)], check=True)
    changed = conf.read_text()
    before, after = original.splitlines(), changed.splitlines()
    diff = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and diff
    assert all(a.endswith("# EX01") and b == a.replace(";  # EX01", " down;  # EX01") for a, b in diff)
    assert len(diff) == sum(1 for ln in before if ln.endswith("# EX01"))
    assert not any("down" in b for a, b in zip(before, after) if b.endswith("# EX011"))
    subprocess.run(["bash", "-c", nginx_command(text, "out", conf)], check=True)   # twice: still one `down`
    assert conf.read_text() == changed
    if shutil.which("nginx"):
        from lbsync.output.writer import Output
        (tmp_path / "check").mkdir()
        verdict = nginx_target.check(plan, {"nginx/lbsync.conf": Output(changed)}, tmp_path / "check")
        assert "valid" in verdict
    subprocess.run(["bash", "-c", nginx_command(text, "back", conf)], check=True)
    assert conf.read_text() == original
    subprocess.run(["bash", "-c", nginx_command(text, "back", conf)], check=True)   # back when not out: nothing
    assert conf.read_text() == original


# ---- F5: the node of each server, as the configuration names it ----------------------------------------------

def test_f5_drain_disables_the_node_every_pool_member_of_that_server_uses():
    plan = plan_of(model_dict(2019, "offload"))
    desired = build(plan)
    part = plan.model.targets.f5.partition
    text = tmsh_target.readme(plan, RenderOptions())
    members = [m for o in desired.objects if o.kind == "ltm/pool" for m in o.attrs["members"]]
    for server in plan.exchange.servers:
        node = drain_nodes(plan, part)[server.name]
        assert node == f"/{part}/{server.address}"
        assert any(m["address"] == server.address for m in members)    # the node the members are created on
        for verb in ("user-disabled", "user-enabled"):
            assert f"tmsh modify ltm node {node} session {verb}" in text


def test_f5_as3_drain_names_the_shared_nodes_in_common():
    data = model_dict(2019, "bridge")
    data["targets"] = {"f5": {"host": "bigip.example.net", "partition": "Exchange"}}
    plan = plan_of(data)
    doc = json.loads(as3_target.render(plan, RenderOptions())[as3_target.CONFIG].content)
    decl = doc.get("declaration", doc)
    pools = [o for o in decl["Exchange"]["lbsync"].values() if isinstance(o, dict) and o.get("class") == "Pool"]
    assert pools and all(m["shareNodes"] is True for p in pools for m in p["members"])   # nodes in /Common
    text = as3_target.readme(plan, RenderOptions())
    assert "tmsh modify ltm node /Common/192.0.2.11 session user-disabled" in text
