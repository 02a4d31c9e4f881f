"""The F5 push against the iControl REST emulator: exactly the plan, idempotent, atomic, owner-only, safe."""

from __future__ import annotations

import pytest
from f5emu.testing import PASSWORD, USER, credentials_env, load, run, write_model
from pki import make_pki

from lbsync.errors import LbsyncError
from lbsync.targets.f5 import push
from lbsync.targets.f5.connection import DeviceError, Retryable
from lbsync.targets.f5.upload import UploadLeft
from lbsync.targets.f5.want import PREFIX


@pytest.fixture
def model(tmp_path, emu, pki_files, monkeypatch):
    credentials_env(monkeypatch)
    return write_model(tmp_path / "lbsync.yaml", emu, pki_files)


def connect(plan, **kw):
    from lbsync.targets.f5.connection import connect as _connect
    return _connect(plan, interactive=False, warn=lambda text: None, backoff=0.0, **kw)


def owned_paths(emu) -> set[tuple[str, str]]:
    return {(c, p) for c, paths in emu.owned().items() for p in paths}


def apply(path, **kw):
    plan, material, desired = load(path)
    conn = connect(plan)
    return push.apply(conn, plan, material, backoff=0.0, **kw), desired


def on_device(stored, value) -> bool:
    """The device has what lbsync set: equal, or for an object (the http profile's enforcement, which a BIG-IP
    reports with every field) each field lbsync sets."""
    if isinstance(value, dict) and isinstance(stored, dict):
        return all(k in stored and stored[k] == v for k, v in value.items())
    return stored == value


# -- the plan, exactly; then nothing -------------------------------------------------------------------------------

def test_first_apply_creates_exactly_the_plan(emu, model):
    result, desired = apply(model)
    assert result.applied and result.summary["create"] == len(desired.objects) + len(desired.files)
    want = {o.key for o in desired.objects} | {(f.kind, f.path) for f in desired.files}
    assert owned_paths(emu) == want
    for o in desired.objects:  # every attribute lbsync sets is on the device as planned
        stored = emu.store.objects[o.kind][o.path]
        for attr, value in o.attrs.items():
            assert on_device(stored[attr], value), (o.path, attr)
    # one transaction carried every object change; files went in before it
    commits = [e for e in emu.log if e[0] == "PATCH" and e[1].startswith("/mgmt/tm/transaction/")]
    assert len(commits) == 1
    queued = [e for e in emu.log if e[2]]
    assert len(queued) == len(desired.objects)
    first_tx = next(i for i, e in enumerate(emu.log) if e[1] == "/mgmt/tm/transaction")
    installs = [i for i, e in enumerate(emu.log) if e[1].startswith("/mgmt/tm/sys/crypto/")]
    assert len(installs) == len(desired.files) and max(installs) < first_tx


def test_second_apply_writes_nothing(emu, model):
    apply(model)
    emu.reset_counts()
    result, _ = apply(model)
    assert not result.applied and result.pending == []
    assert emu.writes == 0 and emu.counts["PATCH"] == 0 and emu.counts["PUT"] == 0
    assert emu.reads > 0


def test_changing_one_server_changes_only_pool_members(emu, model, tmp_path, pki_files):
    apply(model)
    before = emu.config()
    write_model(model, emu, pki_files, servers=("192.0.2.11", "192.0.2.99"))
    emu.reset_counts()
    # every pool changes: more than 30 % of lbsync's objects, octoDNS's update share wants force
    refused = r"refusing to modify 10 of the 33 objects lbsync owns on the device \(30.3% > 30%\)"
    with pytest.raises(LbsyncError, match=refused):
        apply(model)
    assert emu.writes == 0
    result, desired = apply(model, force=True)
    changed = [c for c in result.changes if c.action != "unchanged"]
    pools = [o for o in desired.objects if o.kind == "ltm/pool"]
    assert {c.kind for c in changed} == {"ltm/pool"} and len(changed) == len(pools)
    assert all(set(c.diff) == {"members"} for c in changed)
    queued = [e for e in emu.log if e[2]]
    assert {e[0] for e in queued} == {"PATCH"} and all("/ltm/pool/" in e[1] for e in queued)
    after = emu.config()
    for coll in after:
        for path, obj in after[coll].items():
            if coll == "ltm/pool" and path.startswith("/Exchange/" + PREFIX):
                names = {m["name"] for m in obj["members"]}
                assert any(n.startswith("192.0.2.99") for n in names)
                assert not any(n.startswith("192.0.2.12") for n in names)
                assert {k: v for k, v in obj.items() if k not in ("members", "generation")} == \
                    {k: v for k, v in before[coll][path].items() if k not in ("members", "generation")}
            else:
                assert obj == before[coll][path], path


def test_removed_namespace_is_deleted_in_reverse_order(emu, model, pki_files):
    apply(model)
    write_model(model, emu, pki_files, namespaces="  - {host: mail.contoso.com, vip: 203.0.113.10, services: "
                "[owa, ecp, ews, eas, oab, mapi, rpc]}")
    emu.reset_counts()
    result, desired = apply(model)
    deleted = [c.path for c in result.changes if c.action == "delete"]
    assert set(deleted) == {"/Exchange/lbsync_autodiscover_autodiscover.contoso.com",
                            "/Exchange/lbsync_autodiscover_autodiscover.contoso.com_mon",
                            "/Exchange/lbsync_autodiscover.contoso.com_serverssl"}
    assert owned_paths(emu) == {o.key for o in desired.objects} | {(f.kind, f.path) for f in desired.files}
    queued = [e for e in emu.log if e[2]]
    order = [e[0] for e in queued]
    assert order.index("DELETE") > order.index("PATCH")  # the rule stops using the pool before it goes


# -- atomic: a fault anywhere leaves the device as it was ------------------------------------------------------------

@pytest.fixture(scope="module")
def first_apply_writes(tmp_path_factory, emu_server, pki_files):
    """How many write requests a first apply makes (each is a step a fault is injected at)."""
    import os
    e = emu_server.reset()
    try:
        os.environ["F5_USER"], os.environ["F5_PASSWORD"] = USER, PASSWORD
        path = write_model(tmp_path_factory.mktemp("count") / "lbsync.yaml", e, pki_files)
        e.reset_counts()
        apply(path)
        return [(m, p, t) for m, p, t in e.log if m != "GET" and not p.startswith("/mgmt/shared/auth")]
    finally:
        e.reset()


@pytest.mark.parametrize("action", ["error", "drop"])
@pytest.mark.parametrize("half", [0, 1])   # the writes in two halves (odd, even), so the halves run in parallel
def test_a_fault_at_every_write_leaves_the_device_as_it_was(emu, model, first_apply_writes, action, half):
    steps = len(first_apply_writes)
    assert steps > 30  # uploads, installs, upload deletes, transaction, every queued command, the commit
    rms = [n for n, (_, p, _) in enumerate(first_apply_writes, start=1) if p == "/mgmt/tm/util/unix-rm"]
    assert len(rms) == 4  # certificate, key, chain, server CA
    before = emu.config()
    for n in range(1 + half, steps + 1, 2):
        # an upload delete is retried once: fail the retry too, or the apply (rightly) succeeds
        fault = emu.inject(method="WRITE", path=r"^/mgmt/(tm|shared/file-transfer)/", nth=n, action=action,
                           status=400, times=2 if n in rms else 1)
        with pytest.raises(DeviceError) as info:
            apply(model, retries=0)
        assert fault.fired, n
        assert emu.config() == before, f"state changed after a fault at write {n} ({first_apply_writes[n - 1]})"
        if n in rms:  # the one upload left behind is named, with the command that deletes it
            assert isinstance(info.value, UploadLeft) and len(emu.uploads) == 1, n
            assert f"tmsh run util unix-rm /var/config/rest/downloads/{next(iter(emu.uploads))}" in str(info.value)
            emu.uploads.clear()
        assert emu.uploads == {}, f"an upload stayed after a fault at write {n} ({first_apply_writes[n - 1]})"
        emu.faults.clear()


# -- no certificate or key stays in the upload directory ------------------------------------------------------------

def test_every_upload_is_deleted_right_after_its_install(emu, model):
    result, desired = apply(model)
    assert result.applied and emu.uploads == {}  # the unencrypted key included
    installs = [i for i, e in enumerate(emu.log) if e[1].startswith("/mgmt/tm/sys/crypto/")]
    assert len(installs) == len(desired.files) == 4
    assert all(emu.log[i + 1][:2] == ("POST", "/mgmt/tm/util/unix-rm") for i in installs)
    assert [e[1] for e in emu.log].count("/mgmt/tm/util/unix-rm") == 4


@pytest.mark.parametrize("what, status", [("key", 400), ("cert", 400), ("key", 503)])
def test_a_failed_install_deletes_its_upload(emu, model, what, status):
    before = emu.config()
    emu.inject(method="POST", path=rf"^/mgmt/tm/sys/crypto/{what}$", action="error", status=status)
    with pytest.raises(DeviceError) as info:
        apply(model, retries=0)
    assert not isinstance(info.value, UploadLeft)
    assert emu.uploads == {} and emu.config() == before
    failed = next(i for i, e in enumerate(emu.log) if e[1] == f"/mgmt/tm/sys/crypto/{what}")
    assert emu.log[failed + 1][1] == "/mgmt/tm/util/unix-rm"


def test_a_failed_install_then_a_retried_apply_leaves_no_upload(emu, model):
    emu.inject(method="POST", path=r"^/mgmt/tm/sys/crypto/key$", action="error", status=503)
    result, _ = apply(model, retries=1)
    assert result.applied and result.attempts == 2 and emu.uploads == {}


@pytest.mark.parametrize("action", ["error", "drop", "drop_after"])
def test_a_failed_upload_delete_is_retried_once(emu, model, action):
    emu.inject(method="POST", path=r"^/mgmt/tm/util/unix-rm$", nth=2, action=action, status=400)
    result, _ = apply(model)
    assert result.applied and emu.uploads == {}
    assert [e[1] for e in emu.log].count("/mgmt/tm/util/unix-rm") == 5


def test_an_upload_that_cannot_be_deleted_stops_the_apply_naming_it(emu, model):
    before = emu.config()
    emu.inject(method="POST", path=r"^/mgmt/tm/util/unix-rm$", nth=1, times=2, action="error", status=400)
    with pytest.raises(UploadLeft) as info:
        apply(model, retries=3)  # final: a retried attempt would find the file installed and never delete it
    assert len([e for e in emu.log if e[1].startswith("/mgmt/tm/sys/crypto/")]) == 1
    (left,) = emu.uploads
    assert str(info.value) == (f"the uploaded {'private key' if left.endswith('.key') else 'certificate'} "
                               f"/var/config/rest/downloads/{left} is still on the BIG-IP (deleting it failed "
                               "twice: https://127.0.0.1:%d: 400 injected fault (400)); delete it by hand: "
                               f"tmsh run util unix-rm /var/config/rest/downloads/{left}" % emu.port)
    assert emu.config() == before  # the file it installed is removed again


def test_rm_complaints_other_than_a_missing_file_are_failures():
    from lbsync.targets.f5.upload import remove

    class Conn:
        def __init__(self, *answers):
            self.answers, self.calls = list(answers), []

        def write(self, method, path, json=None, **kw):
            self.calls.append((method, path, json))
            return self.answers.pop(0)
    gone = Conn({"commandResult": "/bin/rm: cannot remove '/var/config/rest/downloads/k': No such file or directory\n"})
    assert remove(gone, "k") is None
    assert gone.calls == [("POST", "/mgmt/tm/util/unix-rm",
                           {"command": "run", "utilCmdArgs": "/var/config/rest/downloads/k"})]
    denied = "/bin/rm: cannot remove '/var/config/rest/downloads/k': Permission denied\n"
    twice = Conn({"commandResult": denied}, {"commandResult": denied})
    assert remove(twice, "k") == denied.strip() and len(twice.calls) == 2
    assert remove(Conn({"commandResult": denied}, {}), "k") is None


@pytest.mark.parametrize("k", [1, 5, 27])
def test_a_failing_command_rolls_the_whole_transaction_back(emu, model, k):
    before = emu.config()
    emu.fail_commit_command(k)
    with pytest.raises(DeviceError, match="transaction failed"):
        apply(model, retries=0)
    assert emu.config() == before


def test_lost_commit_answer_is_retried_by_rereading(emu, model):
    """The commit goes through but its answer is lost: the retry re-reads, finds nothing to do, commits once."""
    emu.inject(method="PATCH", path=r"^/mgmt/tm/transaction/\d+$", action="drop_after")
    result, desired = apply(model, retries=2)
    assert result.attempts == 2 and result.pending == []
    assert owned_paths(emu) == {o.key for o in desired.objects} | {(f.kind, f.path) for f in desired.files}
    commits = [e for e in emu.log if e[0] == "PATCH" and e[1].startswith("/mgmt/tm/transaction/")]
    assert len(commits) == 1


def test_server_error_during_the_transaction_is_retried_whole(emu, model):
    emu.inject(method="POST", path=r"^/mgmt/tm/ltm/pool$", nth=3, action="error", status=503)
    result, desired = apply(model, retries=1)
    assert result.applied and result.attempts == 2
    assert owned_paths(emu) == {o.key for o in desired.objects} | {(f.kind, f.path) for f in desired.files}


def test_reads_are_retried_on_5xx_and_dropped_connections(emu, model):
    emu.inject(method="GET", path=r"/ltm/pool$", action="error", status=502)
    emu.inject(method="GET", path=r"/ltm/virtual$", action="drop")
    result, _ = apply(model)
    assert result.applied and result.attempts == 1


def test_device_refusal_is_not_retried(emu, model):
    emu.inject(method="POST", path=r"^/mgmt/tm/ltm/virtual$", action="error", status=400)
    with pytest.raises(DeviceError) as info:
        apply(model, retries=3)
    assert not isinstance(info.value, Retryable)
    assert len([e for e in emu.log if e[1] == "/mgmt/tm/transaction"]) == 1


# -- ownership and safety ---------------------------------------------------------------------------------------------

def test_user_objects_with_similar_names_are_never_touched(emu, model, pki_files):
    s = emu.store
    from f5emu.state import Op
    s.apply(Op("POST", "ltm/monitor/http", None, {"name": "lbsync-owa_mon", "partition": "Exchange",
                                                  "defaultsFrom": "/Common/http"}))
    s.apply(Op("POST", "ltm/pool", None, {"name": "my_lbsync_owa_mail.contoso.com", "partition": "Exchange",
                                          "monitor": "/Exchange/lbsync-owa_mon",
                                          "members": [{"name": "192.0.2.50:80", "address": "192.0.2.50"}]}))
    s.apply(Op("POST", "ltm/pool", None, {"name": "lbsync_owa_mail.contoso.com", "partition": "Common",
                                          "members": [{"name": "192.0.2.51:80", "address": "192.0.2.51"}]}))
    s.apply(Op("POST", "ltm/virtual", None, {"name": "LBSYNC_legacy", "partition": "Exchange",
                                             "destination": "/Exchange/198.51.100.1:443", "mask": "255.255.255.255",
                                             "pool": "/Exchange/my_lbsync_owa_mail.contoso.com"}))
    user = {(c, p): o for c, objs in emu.config().items() for p, o in objs.items()
            if o["name"] in ("lbsync-owa_mon", "my_lbsync_owa_mail.contoso.com", "LBSYNC_legacy")
            or (p == "/Common/lbsync_owa_mail.contoso.com")}
    assert len(user) == 4
    apply(model)
    write_model(model, emu, pki_files, namespaces="  - {host: mail.contoso.com, vip: 203.0.113.10, services: [owa]}",
                mrsproxy=False)
    apply(model, force=True)
    after = emu.config()
    for (coll, path), obj in user.items():
        assert after[coll][path] == obj
    touched = {e[1] for e in emu.log if e[0] != "GET"}
    assert not any("lbsync-owa" in p or "my_lbsync" in p or "LBSYNC_legacy" in p or "~Common~" in p for p in touched)


def test_too_many_deletes_need_force(emu, model, pki_files):
    apply(model)
    write_model(model, emu, pki_files, namespaces="  - {host: mail.contoso.com, vip: 203.0.113.10, services: [owa]}",
                mrsproxy=False)
    before = emu.config()
    from lbsync.errors import LbsyncError
    with pytest.raises(LbsyncError, match="--force"):
        apply(model)
    assert emu.config() == before
    code, out, err = run(["f5", "apply", "--yes", str(model)])
    assert code == 2 and "--force" in err and emu.config() == before
    code, out, err = run(["f5", "apply", "--yes", "--force", str(model)])
    assert code == 0, err
    assert "deleted" in out and emu.config() != before


def test_a_new_certificate_is_installed_and_the_old_one_removed_in_the_transaction(emu, model, tmp_path):
    _, _, desired = load(model)
    apply(model)
    new = make_pki().write(tmp_path / "new")
    import re
    text = re.sub(r"certificate: \{[^}]*\}", f"certificate: {{cert: {new['cert']}, key: {new['key']}, "
                                             f"chain: {new['chain']}}}", model.read_text())
    model.write_text(text)
    emu.reset_counts()
    result, desired2 = apply(model)
    old_cert = next(f.path for f in desired.files if f.source == "lbsync.crt")
    new_cert = next(f.path for f in desired2.files if f.source == "lbsync.crt")
    assert old_cert != new_cert
    certs = emu.store.objects["sys/file/ssl-cert"]
    assert new_cert in certs and old_cert not in certs
    ckc = emu.store.objects["ltm/profile/client-ssl"]["/Exchange/lbsync_clientssl"]["certKeyChain"][0]
    assert ckc["cert"] == new_cert
    deletes = [e for e in emu.log if e[0] == "DELETE" and e[2]]
    assert any("ssl-cert" in e[1] for e in deletes) and any("ssl-key" in e[1] for e in deletes)


def test_fingerprint_decides_the_upload(emu, model):
    apply(model)
    _, _, desired = load(model)
    cert = next(f for f in desired.files if f.source == "lbsync.crt")
    emu.store.objects["sys/file/ssl-cert"][cert.path]["fingerprint"] = "SHA256/00:11"
    emu.reset_counts()
    result, _ = apply(model)
    modified = [c for c in result.changes if c.action == "modify"]
    assert [c.path for c in modified] == [cert.path] and set(modified[0].diff) == {"fingerprint"}
    uploads = [e for e in emu.log if "file-transfer" in e[1]]
    assert len(uploads) == 1 and uploads[0][1].endswith(cert.name)
    assert emu.store.objects["sys/file/ssl-cert"][cert.path]["fingerprint"] == cert.fingerprint


def test_drift_made_by_hand_on_the_device_is_found_and_repaired(emu, model):
    _, desired = apply(model)
    pool = emu.store.objects["ltm/pool"]["/Exchange/lbsync_owa_mail.contoso.com"]
    pool["members"].append({"name": "192.0.2.77:443", "address": "192.0.2.77"})
    emu.store.objects["ltm/monitor/https"]["/Exchange/lbsync_eas_mail.contoso.com_mon"]["recv"] = "HTTP"
    vs = emu.store.objects["ltm/virtual"]["/Exchange/lbsync_203.0.113.10_443"]
    vs["profiles"] = [p for p in vs["profiles"] if not p["name"].endswith("lbsync_oneconnect")]
    vs["rules"] = []
    result, _ = apply(model)
    changed = {c.path: set(c.diff) for c in result.changes if c.action != "unchanged"}
    assert changed == {"/Exchange/lbsync_owa_mail.contoso.com": {"members"},
                       "/Exchange/lbsync_eas_mail.contoso.com_mon": {"recv"},
                       "/Exchange/lbsync_203.0.113.10_443": {"profiles", "rules"}}
    for o in desired.objects:
        stored = emu.store.objects[o.kind][o.path]
        assert all(on_device(stored[a], v) for a, v in o.attrs.items()), o.path


def test_passthrough_namespace_on_its_own_listener_is_pushed(emu, model, pki_files):
    ns = ("  - {host: mail.contoso.com, vip: 203.0.113.10, services: [owa, ecp, ews, eas, oab, mapi]}\n"
          "  - {host: outlook.contoso.com, vip: 203.0.113.11, services: [rpc]}")
    write_model(model, emu, pki_files, namespaces=ns, extra="")
    text = model.read_text().replace("tls: {default: bridge,", "tls: {default: bridge, services: {rpc: passthrough},")
    model.write_text(text)
    result, desired = apply(model)
    assert result.applied
    vs = emu.store.objects["ltm/virtual"]["/Exchange/lbsync_203.0.113.11_443"]
    assert vs["pool"] == "/Exchange/lbsync_tcp_outlook.contoso.com"
    assert [p["name"] for p in vs["profiles"]] == ["/Exchange/lbsync_203.0.113.11_443_tcp"]
    emu.reset_counts()
    assert not apply(model)[0].applied and emu.writes == 0


def test_persistence_goes_away_with_the_legacy_group(emu, model, pki_files):
    from f5emu.testing import coexistence_text
    model.write_text(coexistence_text(emu, pki_files))
    result, _ = apply(model)
    assert result.applied and emu.store.objects["ltm/persistence/cookie"]
    write_model(model, emu, pki_files)  # the 2010 group is gone: its virtual keeps no persistence
    result, desired = apply(model)
    assert result.applied
    vs = emu.store.objects["ltm/virtual"]["/Exchange/lbsync_203.0.113.10_443"]
    assert vs.get("persist", []) == [] and vs.get("fallbackPersistence", "none") == "none"
    assert not any(p.startswith("/Exchange/") for c in ("ltm/persistence/cookie", "ltm/persistence/source-addr")
                   for p in emu.store.objects[c])
    assert owned_paths(emu) == {o.key for o in desired.objects} | {(f.kind, f.path) for f in desired.files}
    emu.reset_counts()
    assert not apply(model)[0].applied and emu.writes == 0


# -- mail: layer-4 virtuals, greeting monitors ------------------------------------------------------------------

MAIL_NS = ("  - {host: mail.contoso.com, vip: 203.0.113.10, services: [owa, ews]}\n"
           "  - {host: smtp.contoso.com, vip: 203.0.113.20, services: [smtp, imap, pop]}")
MAIL_EXTRA = "mail: {smtp: {ports: [25, 587]}, imap: {ports: [993, 143]}, pop: {ports: [995]}}\n"


def test_mail_ports_become_l4_virtuals_with_greeting_monitors_and_a_second_apply_writes_nothing(
        emu, tmp_path, pki_files, monkeypatch):
    credentials_env(monkeypatch)
    path = write_model(tmp_path / "lbsync.yaml", emu, pki_files, namespaces=MAIL_NS, extra=MAIL_EXTRA)
    result, desired = apply(path)
    assert result.applied
    store = emu.store.objects
    p = f"/Exchange/{PREFIX}"
    smtp = store["ltm/monitor/smtp"][f"{p}smtp25_smtp.contoso.com_mon"]
    assert smtp["defaultsFrom"] == "/Common/smtp" and smtp["domain"] == "smtp.contoso.com"
    imaps = store["ltm/monitor/tcp"][f"{p}imap993_smtp.contoso.com_mon"]
    assert imaps["destination"] == "*:143" and imaps["recv"] == "^\\* OK" and imaps["send"] == "a1 LOGOUT\r\n"
    assert "destination" not in store["ltm/monitor/tcp"][f"{p}imap143_smtp.contoso.com_mon"]
    assert store["ltm/monitor/tcp"][f"{p}pop995_smtp.contoso.com_mon"]["recv"] == "^\\+OK"
    vs = store["ltm/virtual"][f"{p}203.0.113.20_993"]
    assert vs["destination"] == "/Exchange/203.0.113.20:993" and vs["ipProtocol"] == "tcp"
    assert vs["pool"] == f"{p}imap993_smtp.contoso.com" and vs["persist"] == []
    assert vs["sourceAddressTranslation"] == {"type": "automap"}
    assert [x["name"] for x in vs["profiles"]] == [f"{p}mail_tcp_2100"]
    assert store["ltm/profile/tcp"][f"{p}mail_tcp_2100"]["idleTimeout"] == 2100
    assert store["ltm/profile/tcp"][f"{p}mail_tcp_900"]["idleTimeout"] == 900
    pool = store["ltm/pool"][f"{p}smtp587_smtp.contoso.com"]
    assert pool["loadBalancingMode"] == "least-connections-member"
    assert sorted(m["name"] for m in pool["members"]) == ["192.0.2.11:587", "192.0.2.12:587"]
    assert f"{p}203.0.113.20_443" not in store["ltm/virtual"]   # a mail-only namespace has no HTTPS virtual
    emu.reset_counts()
    result, _ = apply(path)
    assert not result.applied and emu.writes == 0


def test_mail_with_the_clients_address_has_no_snat(emu, tmp_path, pki_files, monkeypatch):
    credentials_env(monkeypatch)
    path = write_model(tmp_path / "lbsync.yaml", emu, pki_files, namespaces=MAIL_NS,
                       extra="mail: {source_address: client}\n")
    apply(path)
    vs = emu.store.objects["ltm/virtual"][f"/Exchange/{PREFIX}203.0.113.20_25"]
    assert vs["sourceAddressTranslation"] == {"type": "none"}
    assert emu.store.objects["ltm/virtual"][f"/Exchange/{PREFIX}203.0.113.10_443"]["sourceAddressTranslation"] == \
        {"type": "automap"}


def test_mail_through_as3_is_a_valid_declaration_the_device_accepts(emu, tmp_path, pki_files, monkeypatch):
    """The emulator validates every AS3 declaration against F5's published schema (3.56.0)."""
    from f5emu.testing import run
    credentials_env(monkeypatch)
    path = write_model(tmp_path / "lbsync.yaml", emu, pki_files, namespaces=MAIL_NS, extra=MAIL_EXTRA)
    code, out, err = run(["f5", "apply", "--yes", "--method", "as3", str(path)])
    assert code == 0, err
    app = emu.as3_tenants["Exchange"]["lbsync"]
    imaps = app[f"{PREFIX}imap993_smtp.contoso.com_mon"]
    assert imaps == {"class": "Monitor", "monitorType": "tcp", "send": "a1 LOGOUT\r\n", "receive": "^\\* OK",
                     "interval": 5, "timeout": 16, "timeUntilUp": 5, "targetPort": 143}
    vs = app[f"{PREFIX}203.0.113.20_995"]
    assert vs["class"] == "Service_TCP" and vs["persistenceMethods"] == [] and vs["snat"] == "auto"
    assert app[f"{PREFIX}smtp25_smtp.contoso.com_mon"]["domain"] == "smtp.contoso.com"


def test_a_raised_header_limit_is_pushed_and_a_re_apply_changes_nothing(emu, model):
    """http.max_header_bytes reaches the device's http profile (what the servers take, less the room for
    X-Forwarded-For); the device reports every enforcement field, and lbsync compares only the one it sets."""
    apply(model)
    model.write_text(model.read_text() + "http:\n  max_header_bytes: 70656\n")
    result, _ = apply(model)
    assert {c.path: set(c.diff) for c in result.changes if c.action == "modify"} == {
        f"/Exchange/{PREFIX}http": {"enforcement"}}
    enforcement = emu.store.objects["ltm/profile/http"][f"/Exchange/{PREFIX}http"]["enforcement"]
    assert enforcement["maxHeaderSize"] == 69632 and enforcement["maxHeaderCount"] == 64
    again, _ = apply(model)
    assert [c for c in again.changes if c.action != "unchanged"] == []
