"""Consent before change, against the iControl REST emulator: `f5 apply` shows the changes and asks (or takes
--yes), refuses without a terminal; `f5 plan -o FILE` saves a plan with checksums and `f5 apply --plan FILE` applies
exactly it — refused, with nothing written, when the device or the model changed since; octoDNS's delete and update
shares; --exit-code."""

from __future__ import annotations

import json

import pytest
from f5emu.testing import credentials_env, load, run, write_model
from support.cli import run_cli

from lbsync.targets.f5 import push
from lbsync.targets.f5.want import PREFIX


@pytest.fixture
def model(tmp_path, emu, pki_files, monkeypatch):
    credentials_env(monkeypatch)
    return write_model(tmp_path / "lbsync.yaml", emu, pki_files)


@pytest.fixture
def terminal(monkeypatch):
    """As if run at a terminal (the prompt is answered through stdin)."""
    from lbsync.cli import f5
    monkeypatch.setattr(f5, "_interactive", lambda: True)


@pytest.mark.parametrize("method", ["imperative", "as3"])
def test_without_a_terminal_and_without_yes_nothing_is_written(emu, model, method):
    code, out, err = run(["f5", "apply", "--method", method, str(model)])
    assert code == 2 and emu.writes == 0 and emu.reads == 0
    assert "f5 apply changes the device: run it at a terminal to confirm, pass --yes" in err


@pytest.mark.parametrize("method", ["imperative", "as3"])
def test_the_changes_are_shown_and_only_a_yes_applies_them(emu, model, terminal, method):
    ran = run_cli("f5", "apply", "--method", method, model, input="n\n")
    assert ran.returncode == 1 and emu.writes == 0
    assert "to create" in ran.stdout and "Apply these" in ran.stderr and "not applied (not confirmed)" in ran.stderr
    ran = run_cli("f5", "apply", "--method", method, model, input="y\n")
    assert ran.returncode == 0, ran.stderr
    assert emu.writes > 0 and "applied" in ran.stdout
    writes = emu.writes
    ran = run_cli("f5", "apply", "--method", method, model, input="")   # nothing to do: nothing asked
    assert ran.returncode == 0 and "nothing to do" in ran.stdout and "Apply these" not in ran.stderr
    assert emu.writes == writes


@pytest.mark.parametrize("method", ["imperative", "as3"])
def test_a_saved_plan_applies_exactly_and_only_to_the_state_it_was_made_from(emu, model, tmp_path, method):
    saved = tmp_path / "plan.json"
    code, out, err = run(["f5", "plan", "--method", method, "-o", str(saved), str(model)])
    assert code == 0, err
    doc = json.loads(saved.read_text())
    assert doc["format"] == "lbsync-f5-plan" and doc["method"] == method
    assert doc["device_checksum"].startswith("sha256:") and doc["desired_checksum"].startswith("sha256:")
    assert doc["summary"]["create"] > 0 and all(c["action"] == "create" for c in doc["changes"])
    assert emu.writes == 0
    code, out, err = run(["f5", "apply", "--plan", str(saved), str(model)])   # no terminal, no --yes: the plan
    assert code == 0, err
    assert emu.writes > 0
    # the same plan again: the device is no longer in the state it was made from
    writes = emu.writes
    code, out, err = run(["f5", "apply", "--plan", str(saved), str(model)])
    assert code == 1 and "the device changed since the plan was made" in err and emu.writes == writes


def test_a_device_changed_between_plan_and_apply_is_refused_and_nothing_is_written(emu, model, tmp_path):
    assert run(["f5", "apply", "--yes", str(model)])[0] == 0
    saved = tmp_path / "plan.json"
    # the model changes one server: the saved plan modifies pool members
    text = model.read_text().replace("192.0.2.12", "192.0.2.13")
    model.write_text(text)
    code, out, err = run(["f5", "plan", "-o", str(saved), str(model)])
    assert code == 0 and json.loads(saved.read_text())["summary"]["modify"] > 0
    # someone changes an object lbsync owns on the device in between
    monitor = next(p for p in emu.store.objects["ltm/monitor/https"] if p.startswith(f"/Exchange/{PREFIX}"))
    emu.store.objects["ltm/monitor/https"][monitor]["interval"] = 30
    writes = emu.writes
    code, out, err = run(["f5", "apply", "--plan", str(saved), str(model)])
    assert code == 1 and "the device changed since the plan was made" in err and "nothing was written" in err
    assert emu.writes == writes
    # a fresh plan, reviewed, applies (a server change modifies every pool: more than 30 % of lbsync's objects, so
    # octoDNS's update share asks for --force too)
    code, out, err = run(["f5", "plan", "-o", str(saved), str(model)])
    code, out, err = run(["f5", "apply", "--plan", str(saved), str(model)])
    assert code == 2 and "refusing to modify" in err
    code, out, err = run(["f5", "apply", "--plan", str(saved), "--force", str(model)])
    assert code == 0, err


def test_a_value_the_plan_overwrites_changed_on_the_device_is_refused(emu, model, tmp_path):
    """The plan showed `interval: 30 -> 5`; someone set 45 since: applying the plan would overwrite a change nobody
    reviewed."""
    assert run(["f5", "apply", "--yes", str(model)])[0] == 0
    monitors = emu.store.objects["ltm/monitor/https"]
    monitor = next(p for p in monitors if p.startswith(f"/Exchange/{PREFIX}"))
    monitors[monitor]["interval"] = 30
    saved = tmp_path / "plan.json"
    assert run(["f5", "plan", "-o", str(saved), str(model)])[0] == 0
    (change,) = json.loads(saved.read_text())["changes"]
    assert change["diff"]["interval"]["have"] in (30, "30")
    monitors[monitor]["interval"] = 45
    writes = emu.writes
    code, out, err = run(["f5", "apply", "--plan", str(saved), str(model)])
    assert code == 1 and "the device changed since the plan was made" in err and emu.writes == writes
    assert monitors[monitor]["interval"] == 45


def test_a_drained_member_does_not_change_the_checksum(emu, model, tmp_path):
    """Member session and state are not the plan's: draining a server between plan and apply is not a change."""
    assert run(["f5", "apply", "--yes", str(model)])[0] == 0
    model.write_text(model.read_text().replace("192.0.2.12", "192.0.2.13"))
    saved = tmp_path / "plan.json"
    assert run(["f5", "plan", "-o", str(saved), str(model)])[0] == 0
    pools = emu.store.objects["ltm/pool"]
    for obj in pools.values():
        for m in obj.get("members", []):
            if m["name"].startswith("192.0.2.11"):
                m["session"], m["state"] = "user-disabled", "up"
    code, out, err = run(["f5", "apply", "--plan", str(saved), "--force", str(model)])
    assert code == 0, err


def test_a_saved_plan_refuses_a_changed_model(emu, model, tmp_path):
    saved = tmp_path / "plan.json"
    assert run(["f5", "plan", "-o", str(saved), str(model)])[0] == 0
    model.write_text(model.read_text().replace("192.0.2.12", "192.0.2.14"))
    code, out, err = run(["f5", "apply", "--plan", str(saved), str(model)])
    assert code == 2 and "the model (or its certificate) changed since this plan was saved" in err
    assert emu.writes == 0
    code, out, err = run(["f5", "apply", "--plan", str(saved), "--method", "as3", str(model)])
    assert code == 2 and "the saved plan was made with --method imperative" in err


def test_not_a_saved_plan_is_one_line(emu, model, tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text('{"format": "something else"}')
    code, out, err = run(["f5", "apply", "--plan", str(bad), str(model)])
    assert code == 2 and err.strip() == f"{bad}: error: not a saved plan of this lbsync (format lbsync-f5-plan, " \
                                        "version 1)"


def test_the_race_between_showing_and_applying_is_closed(emu, model):
    """apply re-reads the device; a checksum other than the one shown stops it before any write."""
    from lbsync.targets.f5.device import DeviceChanged
    plan, material, _ = load(model)
    from lbsync.targets.f5.connection import connect
    conn = connect(plan, interactive=False, warn=lambda t: None, backoff=0.0)
    preview = push.plan(conn, plan, material)
    with pytest.raises(DeviceChanged):
        push.apply(conn, plan, material, backoff=0.0, expected_checksum="sha256:" + "0" * 64)
    assert emu.writes == 0
    result = push.apply(conn, plan, material, backoff=0.0, expected_checksum=preview.device_checksum)
    assert result.applied


def test_exit_code_says_whether_changes_are_pending(emu, model):
    code, out, err = run(["f5", "plan", "--exit-code", str(model)])
    assert code == 1 and "to create" in out
    assert run(["f5", "plan", str(model)])[0] == 0                    # without the flag: 0
    assert run(["f5", "apply", "--yes", str(model)])[0] == 0
    code, out, err = run(["f5", "plan", "--exit-code", str(model)])
    assert code == 0 and "0 to create, 0 to modify, 0 to delete" in out


def test_modifying_more_than_30_percent_needs_force(emu, model):
    assert run(["f5", "apply", "--yes", str(model)])[0] == 0
    # every monitor changes its interval: far more than 30 % of what lbsync owns is modified
    text = model.read_text().replace("tls: {", "health: {interval: 9s}\ntls: {")
    model.write_text(text)
    writes = emu.writes
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 2 and "refusing to modify" in err and "re-run with --force" in err and emu.writes == writes
    code, out, err = run(["f5", "apply", "--yes", "--force", str(model)])
    assert code == 0, err


def test_as3_plan_shows_that_another_application_in_the_tenant_goes_away(emu, model):
    """AS3 replaces the whole tenant: an application lbsync did not declare is deleted by the post, so the plan the
    admin consents to lists it (and it counts in the checksum)."""
    assert run(["f5", "apply", "--yes", "--method", "as3", str(model)])[0] == 0
    code, before, err = run(["f5", "plan", "--json", "--method", "as3", str(model)])
    emu.as3_tenants["Exchange"]["OtherApp"] = {"class": "Application", "pool_x": {"class": "Pool"}}
    code, out, err = run(["f5", "plan", "--json", "--exit-code", "--method", "as3", str(model)])
    doc = json.loads(out)
    deletes = [c for c in doc["changes"] if c["action"] == "delete"]
    assert code == 1 and [(c["kind"], c["path"]) for c in deletes] == [("as3/Application", "/Exchange/OtherApp")]


def test_a_saved_plan_with_an_unknown_method_is_one_line(emu, model, tmp_path):
    saved = tmp_path / "plan.json"
    assert run(["f5", "plan", "-o", str(saved), str(model)])[0] == 0
    doc = json.loads(saved.read_text())
    doc["method"] = "foo"
    saved.write_text(json.dumps(doc))
    code, out, err = run(["f5", "apply", "--plan", str(saved), str(model)])
    assert code == 2 and err.strip().startswith(f"{saved}: error: the saved plan names an unknown method foo")
    assert emu.writes == 0


def test_apply_json_at_a_terminal_shows_the_question_on_stderr(emu, model, terminal):
    ran = run_cli("f5", "apply", "--json", model, input="n\n")
    assert ran.returncode == 1 and "to create" in ran.stderr and "Apply these" in ran.stderr
    assert ran.stdout == "" and emu.writes == 0
