"""The iControl REST emulator enforces what a BIG-IP enforces (so the push tests can fail for real reasons)."""

from __future__ import annotations

import time

import pytest
import requests
from f5emu.testing import PASSWORD, USER


@pytest.fixture
def s(emu):
    """A requests session logged in with a token, trusting the emulator's CA."""
    session = requests.Session()
    base = f"https://127.0.0.1:{emu.port}"
    r = session.post(base + "/mgmt/shared/authn/login", json={"username": USER, "password": PASSWORD,
                                                              "loginProviderName": "tmos"}, verify=str(emu.ca_file))
    assert r.status_code == 200
    session.headers["X-F5-Auth-Token"] = r.json()["token"]["token"]
    session.base = base

    def call(method, path, **kw):
        return session.request(method, base + path, verify=str(emu.ca_file), timeout=10, **kw)
    session.call = call
    return session


POOL = {"name": "lbsync_p", "partition": "Exchange", "monitor": "/Common/http",
        "members": [{"name": "192.0.2.11:80", "address": "192.0.2.11"}]}


def test_binds_loopback_only_and_presents_its_own_certificate(emu):
    assert emu.host == "127.0.0.1" and emu.port
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://127.0.0.1:{emu.port}/mgmt/tm/sys/", timeout=5, verify=True)


def test_token_login_is_required(emu, s):
    bare = requests.get(f"{s.base}/mgmt/tm/ltm/pool", verify=str(emu.ca_file), timeout=5)
    assert bare.status_code == 401
    bad = requests.post(f"{s.base}/mgmt/shared/authn/login", json={"username": USER, "password": "x"},
                        verify=str(emu.ca_file), timeout=5)
    assert bad.status_code == 401 and bad.json()["message"] == "Authentication failed."
    assert s.call("GET", "/mgmt/tm/ltm/pool").status_code == 200


def test_version_probe_has_the_version_in_its_self_link(s):
    body = s.call("GET", "/mgmt/tm/sys/").json()
    assert body["selfLink"].startswith("https://localhost/mgmt/tm/sys?ver=")


def test_partition_paths_kind_selflink_404_409(s):
    r = s.call("POST", "/mgmt/tm/ltm/pool", json=POOL)
    assert r.status_code == 200
    body = s.call("GET", "/mgmt/tm/ltm/pool/~Exchange~lbsync_p").json()
    assert body["kind"] == "tm:ltm:pool:poolstate" and body["fullPath"] == "/Exchange/lbsync_p"
    assert body["selfLink"] == "https://localhost/mgmt/tm/ltm/pool/~Exchange~lbsync_p?ver=15.1.10"
    assert "members" not in body and body["membersReference"]["isSubcollection"] is True
    expanded = s.call("GET", "/mgmt/tm/ltm/pool", params={"$filter": "partition eq Exchange",
                                                          "expandSubcollections": "true"}).json()
    assert [i["name"] for i in expanded["items"]] == ["lbsync_p"]
    assert expanded["items"][0]["membersReference"]["items"][0]["address"] == "192.0.2.11"
    missing = s.call("GET", "/mgmt/tm/ltm/pool/~Exchange~nope")
    assert missing.status_code == 404 and "was not found" in missing.json()["message"]
    dup = s.call("POST", "/mgmt/tm/ltm/pool", json=POOL)
    assert dup.status_code == 409
    assert dup.json()["message"] == ("01020066:3: The requested Pool (/Exchange/lbsync_p) already exists in "
                                     "partition Exchange.")
    assert s.call("POST", "/mgmt/tm/ltm/pool", json={**POOL, "name": "x", "partition": "Nope"}).status_code == 400


def test_references_must_exist_and_objects_in_use_cannot_be_deleted(s):
    r = s.call("POST", "/mgmt/tm/ltm/pool", json={**POOL, "monitor": "/Exchange/missing_mon"})
    assert r.status_code == 400 and "(/Exchange/missing_mon) was not found" in r.json()["message"]
    assert s.call("POST", "/mgmt/tm/ltm/pool", json=POOL).status_code == 200
    rule = {"name": "lbsync_r", "partition": "Exchange",
            "apiAnonymous": "when HTTP_REQUEST {\n    pool /Exchange/lbsync_p\n}"}
    assert s.call("POST", "/mgmt/tm/ltm/rule", json=rule).status_code == 200
    vs = {"name": "lbsync_v", "partition": "Exchange", "destination": "/Exchange/203.0.113.10:443",
          "mask": "255.255.255.255", "rules": ["/Exchange/lbsync_r"],
          "profiles": [{"name": "/Common/tcp", "context": "all"}, {"name": "/Common/http", "context": "all"}]}
    assert s.call("POST", "/mgmt/tm/ltm/virtual", json=vs).status_code == 200
    in_use = s.call("DELETE", "/mgmt/tm/ltm/pool/~Exchange~lbsync_p")
    assert in_use.status_code == 400 and "in use by a rule (/Exchange/lbsync_r)" in in_use.json()["message"]
    assert s.call("DELETE", "/mgmt/tm/ltm/rule/~Exchange~lbsync_r").status_code == 400
    assert s.call("POST", "/mgmt/tm/ltm/virtual",
                  json={**vs, "name": "lbsync_v2", "profiles": [{"name": "/Exchange/nope", "context": "all"}]}
                  ).status_code == 400
    assert s.call("DELETE", "/mgmt/tm/ltm/virtual/~Exchange~lbsync_v").status_code == 200
    assert s.call("DELETE", "/mgmt/tm/ltm/rule/~Exchange~lbsync_r").status_code == 200
    assert s.call("DELETE", "/mgmt/tm/ltm/pool/~Exchange~lbsync_p").status_code == 200


def test_unknown_attributes_are_rejected(s):
    r = s.call("POST", "/mgmt/tm/ltm/pool", json={**POOL, "lbMode": "round-robin"})
    assert r.status_code == 400 and '"lbMode" is not supported' in r.json()["message"]


def test_transaction_commits_atomically_or_not_at_all(emu, s):
    before = emu.config()
    tx = s.call("POST", "/mgmt/tm/transaction", json={}).json()
    assert tx["kind"] == "tm:transactionstate" and tx["state"] == "STARTED"
    h = {"X-F5-REST-Coordination-Id": str(tx["transId"])}
    q = s.call("POST", "/mgmt/tm/ltm/pool", json=POOL, headers=h)
    assert q.status_code == 200 and q.json()["kind"] == "tm:transaction:commandsstate"
    assert emu.config() == before  # queued, not applied
    assert s.call("GET", "/mgmt/tm/ltm/pool", headers=h).status_code == 400  # no reads inside
    s.call("POST", "/mgmt/tm/ltm/pool", json={**POOL, "name": "lbsync_q", "monitor": "/Exchange/none"}, headers=h)
    c = s.call("PATCH", f"/mgmt/tm/transaction/{tx['transId']}", json={"state": "VALIDATING"})
    assert c.status_code == 400 and c.json()["message"].startswith("transaction failed:01020036:3:")
    assert emu.config() == before  # the first (valid) command was rolled back too
    tx2 = s.call("POST", "/mgmt/tm/transaction", json={}).json()
    h2 = {"X-F5-REST-Coordination-Id": str(tx2["transId"])}
    s.call("POST", "/mgmt/tm/ltm/pool", json=POOL, headers=h2)
    ok = s.call("PATCH", f"/mgmt/tm/transaction/{tx2['transId']}", json={"state": "VALIDATING"})
    assert ok.status_code == 200 and ok.json()["state"] == "COMPLETED"
    assert "/Exchange/lbsync_p" in emu.store.objects["ltm/pool"]
    again = s.call("PATCH", f"/mgmt/tm/transaction/{tx2['transId']}", json={"state": "VALIDATING"})
    assert again.status_code == 400


def test_uploads_need_a_consistent_content_range_and_install_needs_a_pem(emu, s, pki):
    url = "/mgmt/shared/file-transfer/uploads/x.crt"
    data = pki.leaf.cert_pem()
    octet = {"Content-Type": "application/octet-stream"}
    assert s.call("POST", url, data=data, headers=octet).status_code == 400
    assert s.call("POST", url, data=data, headers={**octet, "Content-Range": f"0-5/{len(data)}"}).status_code == 400
    half = len(data) // 2
    assert s.call("POST", url, data=data[:half], headers={**octet, "Content-Range": f"0-{half - 1}/{len(data)}"}
                  ).status_code == 200
    assert s.call("POST", url, data=data[half:], headers={
        **octet, "Content-Range": f"{half}-{len(data) - 1}/{len(data)}"}).json()["remainingByteCount"] == 0
    install = {"command": "install", "name": "/Exchange/lbsync_x.crt"}
    bad = s.call("POST", "/mgmt/tm/sys/crypto/cert",
                 json={**install, "from-local-file": "/var/config/rest/downloads/nope"})
    assert bad.status_code == 400
    ok = s.call("POST", "/mgmt/tm/sys/crypto/cert",
                json={**install, "from-local-file": "/var/config/rest/downloads/x.crt"})
    assert ok.status_code == 200
    fp = emu.store.objects["sys/file/ssl-cert"]["/Exchange/lbsync_x.crt"]["fingerprint"]
    assert fp.replace("SHA256/", "").replace(":", "").lower() == pki.leaf.fingerprint
    key_as_cert = s.call("POST", "/mgmt/tm/sys/crypto/key", json={
        "command": "install", "name": "/Exchange/lbsync_x.key", "from-local-file": "/var/config/rest/downloads/x.crt"})
    assert key_as_cert.status_code == 400


def test_unix_rm_really_deletes_an_upload_and_reports_a_missing_file(emu, s):
    data = b"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"
    up = s.call("POST", "/mgmt/shared/file-transfer/uploads/k.key", data=data,
                headers={"Content-Type": "application/octet-stream", "Content-Range": f"0-{len(data) - 1}/{len(data)}"})
    assert up.status_code == 200 and "k.key" in emu.uploads
    emu.reset_counts()
    rm = {"command": "run", "utilCmdArgs": "/var/config/rest/downloads/k.key"}
    r = s.call("POST", "/mgmt/tm/util/unix-rm", json=rm)
    assert r.status_code == 200 and "k.key" not in emu.uploads and emu.writes == 1
    body = r.json()
    assert body["kind"] == "tm:util:unix-rm:runstate" and "commandResult" not in body
    again = s.call("POST", "/mgmt/tm/util/unix-rm", json=rm)  # as on a BIG-IP: rm's stderr, in a 200 answer
    assert again.status_code == 200
    assert again.json()["commandResult"] == ("/bin/rm: cannot remove '/var/config/rest/downloads/k.key': "
                                             "No such file or directory\n")
    assert s.call("POST", "/mgmt/tm/util/unix-rm", json={"command": "list", "utilCmdArgs": "x"}).status_code == 400
    assert s.call("POST", "/mgmt/tm/util/unix-rm", json={"command": "run"}).status_code == 400
    tx = s.call("POST", "/mgmt/tm/transaction", json={}).json()["transId"]
    inside = s.call("POST", "/mgmt/tm/util/unix-rm", json=rm, headers={"X-F5-REST-Coordination-Id": str(tx)})
    assert inside.status_code == 400
    assert emu.writes == 6


def test_a_fault_can_fail_a_request_and_its_retry(emu, s):
    emu.inject(method="GET", path="/ltm/pool$", nth=2, times=2, action="error", status=400)
    codes = [s.call("GET", "/mgmt/tm/ltm/pool").status_code for _ in range(4)]
    assert codes == [200, 400, 400, 200] and emu.faults[0].fired


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # f5-sdk's own use of distutils' LooseVersion
def test_f5_sdk_talks_to_it_unmodified(emu):
    from f5.bigip import ManagementRoot
    root = ManagementRoot("127.0.0.1", USER, PASSWORD, port=emu.port, token=True, verify=str(emu.ca_file))
    assert root.tmos_version == "15.1.10"
    pool = root.tm.ltm.pools.pool.create(name="lbsync_sdk", partition="Exchange", monitor="/Common/http")
    assert pool.kind == "tm:ltm:pool:poolstate"
    loaded = root.tm.ltm.pools.pool.load(name="lbsync_sdk", partition="Exchange")
    loaded.modify(loadBalancingMode="least-connections-member")
    assert emu.store.objects["ltm/pool"]["/Exchange/lbsync_sdk"]["loadBalancingMode"] == "least-connections-member"
    loaded.delete()
    assert "/Exchange/lbsync_sdk" not in emu.store.objects["ltm/pool"]


def test_faults_latency_and_counters(emu, s):
    emu.reset_counts()
    emu.inject(method="GET", path="/ltm/pool$", nth=2, action="error", status=503)
    assert s.call("GET", "/mgmt/tm/ltm/pool").status_code == 200
    assert s.call("GET", "/mgmt/tm/ltm/pool").status_code == 503
    assert s.call("GET", "/mgmt/tm/ltm/pool").status_code == 200  # fires once
    emu.inject(method="WRITE", action="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        s.call("POST", "/mgmt/tm/ltm/pool", json=POOL)
    assert "/Exchange/lbsync_p" not in emu.store.objects["ltm/pool"]
    emu.inject(method="WRITE", action="drop_after")
    with pytest.raises(requests.exceptions.ConnectionError):
        s.call("POST", "/mgmt/tm/ltm/pool", json=POOL)
    assert "/Exchange/lbsync_p" in emu.store.objects["ltm/pool"]  # applied, answer lost
    assert emu.reads == 3 and emu.writes == 2
    emu.latency = 0.05
    t = time.perf_counter()
    s.call("GET", "/mgmt/tm/sys/")
    assert time.perf_counter() - t >= 0.05


def test_as3_declare_is_async_and_schema_checked(emu, s):
    bad = {"class": "AS3", "declaration": {"class": "ADC", "schemaVersion": "3.20.0",
                                           "T": {"class": "Tenant", "A": {"class": "Application",
                                                                          "p": {"class": "Pool",
                                                                                "loadBalancingMode": "x"}}}}}
    r = s.call("POST", "/mgmt/shared/appsvcs/declare?async=true", json=bad)
    assert r.status_code == 202
    task = r.json()["id"]
    time.sleep(emu.as3_delay + 0.01)
    result = s.call("GET", f"/mgmt/shared/appsvcs/task/{task}").json()["results"][0]
    assert result["code"] == 422
    good = {"class": "AS3", "declaration": {"class": "ADC", "schemaVersion": "3.20.0",
                                            "T": {"class": "Tenant", "A": {"class": "Application",
                                                                           "p": {"class": "Pool"}}}}}
    task = s.call("POST", "/mgmt/shared/appsvcs/declare?async=true", json=good).json()["id"]
    assert s.call("GET", f"/mgmt/shared/appsvcs/task/{task}").json()["results"][0]["message"] == "in progress"
    time.sleep(emu.as3_delay + 0.01)
    assert s.call("GET", f"/mgmt/shared/appsvcs/task/{task}").json()["results"][0] == {
        "code": 200, "message": "success", "tenant": "T", "host": "localhost", "runTime": 10}
    pointer = {"class": "AS3", "declaration": {"class": "ADC", "schemaVersion": "3.20.0", "T": {
        "class": "Tenant", "A": {"class": "Application", "c": {"class": "Certificate",
                                                               "certificate": {"bigip": "/Common/missing.crt"}}}}}}
    task = s.call("POST", "/mgmt/shared/appsvcs/declare?async=true", json=pointer).json()["id"]
    time.sleep(emu.as3_delay + 0.01)
    assert s.call("GET", f"/mgmt/shared/appsvcs/task/{task}").json()["results"][0]["code"] == 422


def test_virtual_profile_combinations_are_enforced(s):
    def vs(name, profiles, rules=()):
        return s.call("POST", "/mgmt/tm/ltm/virtual", json={
            "name": name, "partition": "Exchange", "destination": "/Exchange/203.0.113.10:443",
            "mask": "255.255.255.255", "profiles": [{"name": p, "context": "all"} for p in profiles],
            "rules": list(rules)})
    r = vs("v1", ["/Common/http"])
    assert r.status_code == 400 and "requires a tcp profile" in r.json()["message"]
    r = vs("v2", ["/Common/tcp", "/Common/http", "/Common/ntlm"])
    assert r.status_code == 400 and "NTLM profile requires a OneConnect profile" in r.json()["message"]
    r = vs("v3", ["/Common/tcp"], ["/Common/_sys_https_redirect"])
    assert r.status_code == 400 and r.json()["message"].startswith("01070394:3: HTTP_REQUEST event in rule")
    assert vs("v4", ["/Common/tcp", "/Common/http", "/Common/oneconnect", "/Common/ntlm"],
              ["/Common/_sys_https_redirect"]).status_code == 200


def test_persistence_profiles_are_referenced_checked_and_read_back_as_a_big_ip_does(s):
    def vs(name, profiles, **kw):
        return s.call("POST", "/mgmt/tm/ltm/virtual", json={
            "name": name, "partition": "Exchange", "destination": "/Exchange/203.0.113.10:443",
            "mask": "255.255.255.255", "profiles": [{"name": p, "context": "all"} for p in profiles], **kw})
    assert s.call("POST", "/mgmt/tm/ltm/persistence/cookie", json={
        "name": "lbsync_c", "partition": "Exchange", "defaultsFrom": "/Common/cookie", "method": "insert",
        "cookieName": "lbsync_server", "expiration": "0"}).status_code == 200
    assert s.call("POST", "/mgmt/tm/ltm/persistence/source-addr", json={
        "name": "lbsync_s", "partition": "Exchange", "defaultsFrom": "/Common/source_addr",
        "timeout": 2700}).status_code == 200
    assert s.call("POST", "/mgmt/tm/ltm/persistence/source-addr", json={
        "name": "lbsync_x", "partition": "Exchange", "bogus": 1}).status_code == 400
    missing = vs("v0", ["/Common/tcp"], persist=[{"name": "/Exchange/nope", "tmDefault": "yes"}])
    assert missing.status_code == 400 and "persistence profile (/Exchange/nope) was not found" in missing.json()[
        "message"]
    no_http = vs("v1", ["/Common/tcp"], persist=[{"name": "/Exchange/lbsync_c", "tmDefault": "yes"}])
    assert no_http.status_code == 400 and "Cookie persistence requires an HTTP" in no_http.json()["message"]
    ok = vs("v2", ["/Common/tcp", "/Common/http"], persist=[{"name": "/Exchange/lbsync_c", "tmDefault": "yes"}],
            fallbackPersistence="/Exchange/lbsync_s")
    assert ok.status_code == 200, ok.text
    body = s.call("GET", "/mgmt/tm/ltm/virtual/~Exchange~v2").json()
    assert body["persist"] == [{"name": "lbsync_c", "partition": "Exchange", "tmDefault": "yes"}]
    assert body["fallbackPersistence"] == "/Exchange/lbsync_s"
    in_use = s.call("DELETE", "/mgmt/tm/ltm/persistence/source-addr/~Exchange~lbsync_s")
    assert in_use.status_code == 400 and "in use" in in_use.json()["message"]
    two = vs("v3", ["/Common/tcp", "/Common/http"], persist=[{"name": "/Exchange/lbsync_c", "tmDefault": "yes"},
                                                             {"name": "/Exchange/lbsync_s", "tmDefault": "yes"}])
    assert two.status_code == 400


def test_the_http_profile_takes_enforcement_as_a_big_ip_does(s):
    """An http profile's enforcement: every field reported with its default, maxHeaderSize 0-4294967295 and
    maxHeaderCount 16-4096 (F5's bigip_profile_http), a PATCH changes only the fields it sends, and a field or a value
    the device does not take is refused."""
    body = {"name": "lbsync_h", "partition": "Exchange", "defaultsFrom": "/Common/http",
            "enforcement": {"maxHeaderSize": 69632}}
    assert s.call("POST", "/mgmt/tm/ltm/profile/http", json=body).status_code == 200
    got = s.call("GET", "/mgmt/tm/ltm/profile/http/~Exchange~lbsync_h").json()["enforcement"]
    assert got["maxHeaderSize"] == 69632 and got["maxHeaderCount"] == 64 and got["oversizeClientHeaders"] == "reject"
    r = s.call("PATCH", "/mgmt/tm/ltm/profile/http/~Exchange~lbsync_h", json={"enforcement": {"maxHeaderCount": 128}})
    assert r.status_code == 200
    got = s.call("GET", "/mgmt/tm/ltm/profile/http/~Exchange~lbsync_h").json()["enforcement"]
    assert (got["maxHeaderSize"], got["maxHeaderCount"]) == (69632, 128)
    for bad in ({"maxHeaderSize": 4294967296}, {"maxHeaderSize": "64k"}, {"maxHeaderSize": True},
                {"maxHeaderCount": 8}, {"maxHeaderBytes": 1024}, {"oversizeClientHeaders": "drop"}):
        r = s.call("PATCH", "/mgmt/tm/ltm/profile/http/~Exchange~lbsync_h", json={"enforcement": bad})
        assert r.status_code == 400, bad
    got = s.call("GET", "/mgmt/tm/ltm/profile/http/~Exchange~lbsync_h").json()["enforcement"]
    assert (got["maxHeaderSize"], got["maxHeaderCount"]) == (69632, 128)
