"""The rules (lbsync/plan/rules) as Plan findings: stable codes, levels, allow: / --allow, and which target they
concern."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.plans import codes, model_dict, plan_of

from lbsync.facts.codes import CODES, LEVELS
from lbsync.plan.rules import evaluate  # noqa: F401  (the module under test; build_plan calls it)


def finding(plan, code):
    (f,) = [f for f in plan.findings if f.code == code]
    return f


# --- offload on 2016/2019 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [2016, 2019])
def test_offload_on_2016_2019_is_an_error(version):
    plan = plan_of(model_dict(version, "offload", cu=13))
    f = finding(plan, "offload-unsupported")
    assert f.level == "error" and not f.allowed
    assert "bridge" in f.message
    assert f.where == ("tls", "default")
    assert f in plan.blocking()


def test_offload_on_2013_is_fine():
    assert "offload-unsupported" not in codes(plan_of(model_dict(2013, "offload")))


def test_offload_allowed_in_the_model_becomes_a_warning():
    data = model_dict(2016, "offload")
    data["allow"] = ["offload-unsupported"]
    plan = plan_of(data)
    f = finding(plan, "offload-unsupported")
    assert (f.level, f.allowed) == ("warning", True)
    assert f.message.endswith("(allowed)")
    assert plan.blocking() == []


def test_offload_allowed_on_the_command_line_becomes_a_warning():
    plan = plan_of(model_dict(2016, "offload"), allow=("offload-unsupported",))
    assert finding(plan, "offload-unsupported").level == "warning"
    assert plan.blocking() == []


def test_one_service_offloaded_names_its_own_tls_key():
    data = model_dict(2016, "bridge")
    data["tls"]["services"] = {"oab": "offload"}
    f = finding(plan_of(data), "offload-unsupported")
    assert f.where == ("tls", "services", "oab") and "oab" in f.message


# --- Extended Protection --------------------------------------------------------------------------------------

def test_ep_default_on_for_2019_cu14_offload_is_an_error():
    plan = plan_of(model_dict(2019, "offload", cu=14))
    assert finding(plan, "ep-offload").level == "error"
    assert finding(plan, "offload-unsupported").level == "error"
    # allowing the version rule does not allow the EP rule
    plan = plan_of(model_dict(2019, "offload", cu=14), allow=("offload-unsupported",))
    assert [f.code for f in plan.blocking()] == ["ep-offload"]


def test_ep_bridge_warns_same_certificate():
    plan = plan_of(model_dict(2019, "bridge", cu=14))
    f = finding(plan, "ep-same-certificate")
    assert f.level == "warning"
    assert "same certificate" in f.message and "no certificate" in f.message
    assert plan.blocking() == []


def test_ep_bridge_with_certificate_says_render_checks_it():
    data = model_dict(2019, "bridge", cu=21)
    data["certificate"] = {"pfx": "mail.pfx", "password_env": "PFX_PW"}
    f = finding(plan_of(data), "ep-same-certificate")
    assert "cert check --compare" in f.message


def test_ep_off_2019_cu13_has_no_ep_findings():
    plan = plan_of(model_dict(2019, "bridge", cu=13))
    assert not codes(plan) & {"ep-offload", "ep-same-certificate", "ep-unknown-cu"}


def test_ep_explicitly_on_for_2013():
    plan = plan_of(model_dict(2013, "offload", extended_protection=True))
    assert finding(plan, "ep-offload").level == "error"


def test_2019_without_cu_says_ep_is_assumed_off():
    plan = plan_of(model_dict(2019, "bridge"))
    assert finding(plan, "ep-unknown-cu").level == "info"
    assert plan.exchange.extended_protection is False


def test_ep_passthrough_only_needs_no_certificate_warning():
    data = model_dict(2019, "passthrough", services=["owa", "ecp"], cu=14)
    assert "ep-same-certificate" not in codes(plan_of(data))


def test_ep_with_mrsproxy_route_warns_even_when_ews_is_offloaded():
    data = model_dict(2013, "offload", extended_protection=True, mrsproxy=True)
    data["allow"] = ["ep-offload"]
    assert finding(plan_of(data), "ep-same-certificate").level == "warning"


# --- passthrough ----------------------------------------------------------------------------------------------

def test_passthrough_mixed_is_an_error_that_cannot_be_allowed():
    data = model_dict(2016, "bridge")
    data["tls"]["services"] = {"rpc": "passthrough"}
    plan = plan_of(data, allow=("passthrough-mixed",))  # the library ignores it; the CLI refuses the option
    f = finding(plan, "passthrough-mixed")
    assert f.level == "error" and not f.allowed
    assert f.where == ("namespaces", 0, "services")
    assert "rpc" in f.message and CODES["passthrough-mixed"].allowable is False


# --- NGINX and NTLM -------------------------------------------------------------------------------------------

def with_nginx(data, **nginx):
    data["targets"] = {"nginx": nginx}
    return data


def test_nginx_ntlm_is_an_error_for_the_nginx_target_only():
    plan = plan_of(with_nginx(model_dict(2016, "bridge")))
    f = finding(plan, "nginx-ntlm")
    assert f.level == "error" and f.target == "nginx"
    assert "mail.contoso.com ews" in f.message and "mail.contoso.com mapi" in f.message
    assert "autodiscover.contoso.com autodiscover" in f.message
    assert "mail.contoso.com owa" not in f.message  # forms
    for way in ("Basic", "passthrough", "plus: true"):
        assert way in f.message
    assert f.where == ("targets", "nginx")
    assert f in plan.blocking({"nginx"})
    assert plan.blocking({"haproxy", "f5"}) == []


def test_nginx_findings_are_not_shown_when_the_model_targets_only_haproxy():
    plan = plan_of(model_dict(2016, "bridge"))  # targets: {haproxy: {}}
    assert "nginx-ntlm" in codes(plan)
    assert "nginx-ntlm" not in {f.code for f in plan.relevant()}
    assert "nginx-ntlm" not in {f["code"] for f in plan.as_json()["findings"]}


def test_nginx_findings_stop_only_nginx_when_the_model_declares_no_target():
    """No targets: render renders every target; an NGINX error stops the NGINX output only, not the others."""
    data = model_dict(2016, "bridge")
    del data["targets"]
    plan = plan_of(data)
    assert "nginx-ntlm" not in {f.code for f in plan.blocking()}
    assert "nginx-ntlm" in {f.code for f in plan.target_errors()["nginx"]}
    assert "haproxy" not in plan.target_errors()


def test_nginx_plus_has_no_ntlm_findings():
    plan = plan_of(with_nginx(model_dict(2016, "bridge"), plus=True))
    assert not codes(plan) & {"nginx-ntlm", "nginx-negotiate"}


def test_nginx_negotiate_alone_is_a_warning():
    data = with_nginx(model_dict(2016, "bridge", services=["ecp", "ews"]))
    data["exchange"]["auth"] = {"ews": ["Negotiate"], "autodiscover": ["Basic"]}
    plan = plan_of(data)
    assert "nginx-ntlm" not in codes(plan)
    f = finding(plan, "nginx-negotiate")
    assert f.level == "warning" and f.target == "nginx" and "mail.contoso.com ews" in f.message


def test_nginx_basic_and_forms_only_are_fine():
    data = with_nginx(model_dict(2016, "bridge", services=["ecp", "eas"]))
    data["exchange"]["auth"] = {"autodiscover": ["Basic"]}
    assert not codes(plan_of(data)) & {"nginx-ntlm", "nginx-negotiate"}


def test_nginx_ntlm_names_owa_integrated_even_when_every_virtual_directory_says_basic():
    """/owa/Integrated is Windows-authenticated on every server whatever exchange.auth says: a model with Basic
    everywhere still carries NTLM there (a real NTLM client: 200 through HAProxy, 401 through NGINX: tests/lab)."""
    data = with_nginx(model_dict(2016, "bridge", services=["owa", "ecp", "eas"]))
    data["exchange"]["auth"] = {"autodiscover": ["Basic"], "owa": ["Basic"]}
    f = finding(plan_of(data), "nginx-ntlm")
    assert f.level == "error" and f.target == "nginx"
    assert "accept NTLM: mail.contoso.com /owa/Integrated;" in f.message
    assert "forms-based /owa works, /owa/Integrated does not" in f.message
    assert "mail.contoso.com owa," not in f.message


def test_nginx_passthrough_namespace_is_fine():
    data = with_nginx(model_dict(2016, "passthrough", services=["mapi", "rpc"]))
    assert not codes(plan_of(data)) & {"nginx-ntlm", "nginx-negotiate"}


def test_nginx_ntlm_can_be_allowed():
    plan = plan_of(with_nginx(model_dict(2016, "bridge")), allow=("nginx-ntlm",))
    assert finding(plan, "nginx-ntlm").level == "warning"
    assert plan.blocking({"nginx"}) == []


# --- the rest -------------------------------------------------------------------------------------------------

def test_verify_disabled_is_reported_loudly():
    data = model_dict(2016, "bridge")
    data["tls"]["verify_server"] = False
    plan = plan_of(data)
    assert finding(plan, "server-verify-disabled").level == "warning"
    assert "verify none" in finding(plan, "server-verify-disabled").message
    assert all(s.verify_server is False for s in plan.services)


def test_system_ca_is_an_info():
    plan = plan_of(model_dict(2016, "bridge"))
    assert finding(plan, "server-ca-system").level == "info"
    assert plan.lb_server_ca == {"haproxy": "/etc/ssl/certs/ca-certificates.crt",
                                 "nginx": "/etc/ssl/certs/ca-certificates.crt"}


def test_server_ca_given_is_copied_to_the_load_balancer_never_named_by_this_machines_path():
    data = model_dict(2016, "bridge")
    data["tls"]["server_ca"] = "certs/ca.pem"          # on this machine: /tmp/certs/ca.pem (the model's folder)
    plan = plan_of(data)
    assert "server-ca-system" not in codes(plan)
    assert plan.model.tls.server_ca == Path("/tmp/certs/ca.pem")
    assert plan.lb_server_ca == {"haproxy": "/etc/haproxy/certs/lbsync-server-ca.pem",
                                 "nginx": "/etc/nginx/certs/lbsync-server-ca.pem"}
    from lbsync.targets import RenderOptions, render_targets
    files = render_targets(plan, ["haproxy", "nginx"], RenderOptions())
    assert "ca-file /etc/haproxy/certs/lbsync-server-ca.pem " in files["haproxy/haproxy.cfg"].content
    assert "proxy_ssl_trusted_certificate /etc/nginx/certs/lbsync-server-ca.pem;" in files["nginx/lbsync.conf"].content
    assert all("/tmp/certs/ca.pem" not in out.content for rel, out in files.items() if rel != "README.txt")
    assert "copy /tmp/certs/ca.pem (tls.server_ca) there" in " ".join(files["README.txt"].content.split())
    data["targets"] = {"haproxy": {"server_ca_path": "/opt/pki/exchange-ca.pem"}}
    assert plan_of(data).lb_server_ca["haproxy"] == "/opt/pki/exchange-ca.pem"


def test_no_reencryption_no_trust_findings():
    plan = plan_of(model_dict(2013, "offload"))
    assert not codes(plan) & {"server-ca-system", "server-verify-disabled"}


def test_mapi_before_2013_cu4_is_an_error():
    assert finding(plan_of(model_dict(2013, "offload", cu=3)), "mapi-unsupported").level == "error"
    assert "mapi-unsupported" not in codes(plan_of(model_dict(2013, "offload", cu=4)))


def test_oa_hostname_not_a_namespace_warns():
    data = model_dict(2016, "bridge", outlook_anywhere={"external_hostname": "outlook.fabrikam.com"})
    assert finding(plan_of(data), "oa-hostname-not-namespace").level == "warning"


def test_every_finding_has_a_registered_code_and_level():
    data = with_nginx(model_dict(2019, "offload", cu=14, mrsproxy=True))
    data["tls"]["verify_server"] = False
    plan = plan_of(data)
    assert len(plan.findings) >= 5
    for f in plan.findings:
        assert f.code in CODES and f.level in LEVELS and f.message


def test_codes_are_stable():
    """Codes are a contract (allow: lists, --allow, JSON consumers): renaming one breaks users' models."""
    assert set(CODES) >= {"offload-unsupported", "ep-offload", "ep-same-certificate", "mrsproxy-bridged",
                          "mrsproxy-without-ews", "nginx-ntlm", "nginx-negotiate", "passthrough-mixed",
                          "passthrough-l4", "server-verify-disabled", "server-ca-system", "mapi-unsupported",
                          "oa-hostname-not-namespace", "ep-unknown-cu"}


def test_ep_finding_points_at_what_turned_ep_on():
    assert finding(plan_of(model_dict(2019, "bridge", cu=14)), "ep-same-certificate").where == ("exchange", "cu")
    data = model_dict(2016, "bridge", extended_protection=True)
    assert finding(plan_of(data), "ep-same-certificate").where == ("exchange", "extended_protection")


# --- client-side TLS profile -----------------------------------------------------------------------------------

@pytest.mark.parametrize("profile,expected", [("modern", True), ("intermediate", False), ("compat", False)])
def test_modern_profile_warns_that_older_outlook_clients_cannot_connect(profile, expected):
    data = model_dict(2016, "bridge", cu=23)
    data.setdefault("tls", {})["profile"] = profile
    plan = plan_of(data)
    assert ("tls-modern-clients" in codes(plan)) is expected
    if expected:
        f = finding(plan, "tls-modern-clients")
        assert f.level == "warning" and f.where == ("tls", "profile")
        assert "TLS 1.3 only" in f.message and f not in plan.blocking()
