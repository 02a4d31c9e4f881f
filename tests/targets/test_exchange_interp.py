"""The test interpreter itself: it must execute exactly the commands lbsync writes and fail loudly on anything
else, so that a typo in a template cannot pass the by-meaning tests."""

from __future__ import annotations

import iisinterp
import pytest
from iisinterp import BEGIN, END, InterpreterError, run, run_script

from lbsync.audit.apphost import Document, effective_flags

OWA = "Default Web Site/owa"
SET_OWA = ('& $appcmd set config "Default Web Site/owa" /section:system.webServer/security/access '
           '/sslFlags:None /commit:APPHOST')


def region(*lines: str, before: str = "", after: str = "") -> str:
    return "\r\n".join([before, BEGIN, *lines, END, after])


@pytest.fixture(scope="module")
def apphost():
    return iisinterp.load_fixture(2013)


def test_a_plain_change_runs(apphost):
    out = run_script(apphost, region(SET_OWA))
    assert effective_flags(out, [OWA]) == {OWA: "None"}


@pytest.mark.parametrize("line, match", [
    (SET_OWA.replace(" /commit:APPHOST", ""), "commit:APPHOST"),
    (SET_OWA.replace("/commit:APPHOST", "/commit:WEBROOT"), "commit:APPHOST"),
    (SET_OWA.replace("system.webServer/security/access", "system.webServer/security/authentication"), "section"),
    (SET_OWA.replace("/sslFlags:None", "/sslFlags:Nnoe"), "unknown sslFlags value"),
    (SET_OWA.replace("/sslFlags:None", "/sslFlag:None"), "exactly /sslFlags"),
    (SET_OWA.replace("set config", "list config"), "set config"),
    (SET_OWA.replace("$appcmd", "appcmd.exe"), "appcmd"),
    (SET_OWA.replace("Default Web Site/owa", "Default Web Site/MSExchangeSyncAppPool"), "MSExchangeSyncAppPool"),
    (SET_OWA.replace("Default Web Site/owa", "Default Web Site/ow"), "not a site, application"),
    (SET_OWA + "; iisreset", "not allowed"),
    ('& $appcmd set config "Default Web Site/$vdir" /section:access /sslFlags:None /commit:APPHOST', "expansion"),
    ("Set-WebConfigurationProperty -PSPath 'IIS:\\' -Location 'Default Web Site/owa' "
     "-Filter 'system.webServer/security/access' -Name sslFlags -Value 'None'", "PSPath"),
    ("Set-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST' -Location 'Default Web Site/owa' "
     "-Filter 'system.webServer/security/access' -Name sslFlag -Value 'None'", "sslFlags"),
    ("Set-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST' -Location 'Default Web Site/owa' "
     "-Filter 'system.webServer/security/access' -Name sslFlags", "missing -Value"),
    ("Set-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST' -Location 'Default Web Site/owa' "
     "-Filter 'system.webServer/security/access' -Name sslFlags -Value 'None' -Force", "unexpected argument"),
    ('Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading true', r"expected \$true or \$false"),
    ('Set-OutlookAnywhere -Identity "EX01\\RpcWithCert (Default Web Site)" -SSLOffloading $true', "Identity"),
    ('Set-OabVirtualDirectory -Identity "EX01\\OAB (Default Web Site)" -RequireSsl $false -ExternalUrl x',
     "unexpected argument"),
    ("Write-Host 'hello'", "not a command this interpreter understands"),
    ("if (Test-SslFlagz -Location 'Default Web Site/owa' -Value 'None') {", "unknown guard"),
    ("if (Test-SslFlagsChange -Location 'Default Web Site/owa' -Value 'None')", "on one line"),
    ("}", "unbalanced"),
])
def test_anything_else_fails_loudly(apphost, line, match):
    with pytest.raises(InterpreterError, match=match):
        run_script(apphost, region(line, "}" if line.startswith("if (Test-SslFlagz") else ""))


def test_an_unclosed_if_fails(apphost):
    with pytest.raises(InterpreterError, match="inside an if"):
        run_script(apphost, region("if (Test-SslFlagsChange -Location 'Default Web Site/owa' -Value 'None') {",
                                   SET_OWA))


@pytest.mark.parametrize("outside", [
    SET_OWA,
    "Set-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST' -Location 'x' -Filter f -Name sslFlags -Value v",
    'Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading $false',
    "    Set-OabVirtualDirectory -Identity $id -RequireSSL $true   # hidden in a helper",
])
def test_a_change_outside_the_region_fails(apphost, outside):
    with pytest.raises(InterpreterError, match="outside the changes region"):
        run_script(apphost, region(SET_OWA, after=outside))
    with pytest.raises(InterpreterError, match="outside the changes region"):
        run_script(apphost, outside)   # a script without a region (verify) may not change anything either


def test_quoted_text_and_comments_outside_the_region_are_not_commands(apphost):
    text = region(SET_OWA, after="Write-Host 'to go back: Set-OutlookAnywhere ...'\r\n# & $appcmd set config x\r\n"
                                 "<#\r\nSet-OabVirtualDirectory in a block comment\r\n#>")
    assert effective_flags(run_script(apphost, text), [OWA]) == {OWA: "None"}


def test_two_regions_fail(apphost):
    with pytest.raises(InterpreterError, match="exactly one"):
        run_script(apphost, region(SET_OWA) + "\r\n" + region(SET_OWA))


def test_guards_skip_what_is_already_right(apphost):
    text = region("if (Test-SslFlagsChange -Location 'Default Web Site/owa' -Value 'Ssl,Ssl128') {", SET_OWA,
                  "Add-ChangedPool 'MSExchangeOWAAppPool'", "}")
    result = run(apphost, text)
    assert result.executed == [] and result.changed_pools == [] and result.apphost == apphost
    text2 = text.replace("-Value 'Ssl,Ssl128'", "-Value 'None'")
    result2 = run(apphost, text2)
    assert result2.executed == [SET_OWA] and result2.changed_pools == ["MSExchangeOWAAppPool"]


def test_guards_are_validated_even_when_an_outer_guard_is_false(apphost):
    text = region("if (Test-OabRequireSslChange -RequireSsl $true) {",
                  SET_OWA.replace("/sslFlags:None", "/sslFlags:Bogus"), "}")
    with pytest.raises(InterpreterError, match="Bogus"):
        run_script(apphost, text)


def test_set_writes_where_iis_writes(apphost):
    # owa has a <location> with <security> but no <access>: the access element goes into it
    out = run_script(apphost, region(SET_OWA))
    doc = Document(out)
    owa_tags = [el for path, el in doc.locations() if path == OWA]
    assert len(owa_tags) == 1
    assert owa_tags[0].find("system.webServer", "security", "access").attrs == {"sslFlags": "None"}
    assert '\r\n                <access sslFlags="None" />\r\n                <authentication>' in out
    # a path without any <location> (the back end's /mapi virtual directory, as on real servers) gets a new one
    # at the end of the file
    text = region('& $appcmd set config "Exchange Back End/mapi" /section:access /sslFlags:Ssl '
                  '/commit:APPHOST')
    out2 = run_script(apphost, text)
    assert effective_flags(out2, ["Exchange Back End/mapi"]) == {"Exchange Back End/mapi": "Ssl"}
    assert out2.endswith('        </system.webServer>\r\n    </location>\r\n</configuration>\r\n')


def test_clear_removes_the_element_and_empty_containers(apphost):
    once = run_script(apphost, region(SET_OWA))
    text = region('& $appcmd clear config "Default Web Site/owa" /section:system.webServer/security/access '
                  '/commit:APPHOST')
    assert run_script(once, text) == apphost
    calendar = region("Clear-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Location "
                      "'Default Web Site/owa/Calendar' -Filter 'system.webServer/security/access'")
    out = run_script(apphost, calendar)
    assert Document(out).explicit_flags("Default Web Site/owa/Calendar") is None
    assert effective_flags(out, ["Default Web Site/owa/Calendar"]) == {"Default Web Site/owa/Calendar": "Ssl, Ssl128"}


def test_exchange_cmdlets_have_their_iis_effect(apphost):
    text = region('Set-OutlookAnywhere -Identity "EX01\\Rpc (Default Web Site)" -SSLOffloading $false '
                  '-InternalClientsRequireSsl $true -ErrorAction Stop',
                  'Set-OabVirtualDirectory -Identity "EX01\\OAB (Default Web Site)" -RequireSSL $false '
                  '-ErrorAction Stop',
                  'Set-WebServicesVirtualDirectory -Identity "EX01\\EWS (Default Web Site)" -MRSProxyEnabled $true '
                  '-ErrorAction Stop')
    result = run(apphost, text, server="EX01")
    assert effective_flags(result.apphost, ["Default Web Site/Rpc", "Default Web Site/OAB"]) == {
        "Default Web Site/Rpc": "Ssl, Ssl128", "Default Web Site/OAB": "None"}
    ex = result.exchange
    assert (ex.ssl_offloading, ex.oab_require_ssl, ex.mrsproxy_enabled) == (False, False, True)
    # the external side has no host name (a fresh server): Exchange does not ask it to require SSL
    assert (ex.external_clients_require_ssl, ex.internal_clients_require_ssl) == (False, True)
    back = run(result.apphost, region('Set-OabVirtualDirectory -Identity "EX01\\OAB (Default Web Site)" '
                                      '-RequireSSL $true -ErrorAction Stop'), exchange=ex)
    assert effective_flags(back.apphost, ["Default Web Site/OAB"]) == {"Default Web Site/OAB": "Ssl"}


def test_initial_exchange_state_follows_the_fixture(apphost):
    state = iisinterp.initial_exchange_state(apphost)
    assert state.ssl_offloading is True and state.oab_require_ssl is True and state.mrsproxy_enabled is False
    with pytest.raises(ValueError):
        iisinterp.load_fixture(2010)
    assert iisinterp.load_fixture(2019) == iisinterp.load_fixture(2016) != apphost
