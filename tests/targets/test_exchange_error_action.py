"""Every Exchange cmdlet call in apply and undo carries `-ErrorAction Stop`, as the real PowerShell grammar reads the
scripts (tree-sitter-powershell).

In the Exchange Management Shell the Exchange cmdlets are functions of an implicit-remoting session: their errors are
non-terminating, a try/catch does not see them and the script's $ErrorActionPreference does not reach them. "The first
error stops the run" holds only with -ErrorAction Stop on each call (the helper functions' reads included)."""

from __future__ import annotations

import re

import pytest
import tree_sitter_powershell
from support.paths import ROOT
from tree_sitter import Language, Parser

from lbsync.model import load_model
from lbsync.plan import build_plan
from lbsync.targets import RenderOptions, render_targets

PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))
FLAVOURS = ("appcmd", "webadministration")
_PS = Parser(Language(tree_sitter_powershell.language()))

# Verb-Noun of an Exchange cmdlet: the nouns of the Exchange Management Shell lbsync's scripts may call
EXCHANGE_NOUN = re.compile(r"(?i)^[a-z]+-(OutlookAnywhere|\w*VirtualDirectory|Exchange\w*|ClientAccess\w*|"
                           r"OrganizationConfig|AuthConfig|MapiVirtualDirectory)$")


def commands(source: str) -> list[tuple[str, list[str], int]]:
    """(command name, its elements as text, line) for every command the parser finds."""
    data = source.encode("utf-8")
    tree = _PS.parse(data)
    assert not tree.root_node.has_error
    out = []

    def text(node) -> str:
        return data[node.start_byte:node.end_byte].decode("utf-8")

    cursor = tree.walk()  # every node in document order (depth first)
    while True:
        node = cursor.node
        if node.type == "command":
            name = next((c for c in node.children if c.type == "command_name"), None)
            if name is not None:
                elements = [text(e) for c in node.children if c.type == "command_elements"
                            for e in c.children if e.type != "command_argument_sep"]
                out.append((text(name), elements, node.start_point[0] + 1))
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return out


def stops_on_error(elements: list[str]) -> bool:
    for i, e in enumerate(elements):
        if e.lower() == "-erroraction:stop":
            return True
        if e.lower() == "-erroraction" and i + 1 < len(elements) and elements[i + 1].strip("'\"").lower() == "stop":
            return True
    return False


def exchange_calls(source: str) -> list[tuple[str, list[str], int]]:
    return [c for c in commands(source) if EXCHANGE_NOUN.match(c[0])]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_every_exchange_cmdlet_call_in_apply_and_undo_stops_on_error(profile):
    plan = build_plan(load_model(profile))
    seen: set[str] = set()
    for flavour in FLAVOURS:
        files = render_targets(plan, ["exchange"], RenderOptions(flavour=flavour))
        scripts = {rel: out.content for rel, out in files.items()
                   if rel.endswith(".ps1") and rel.split("/")[-1].startswith(("apply-", "undo-"))}
        assert scripts
        for rel, content in scripts.items():
            calls = exchange_calls(content)
            # the guards' reads are in every script, whatever the model holds
            assert {"Get-OutlookAnywhere", "Get-OabVirtualDirectory", "Get-WebServicesVirtualDirectory"} <= {
                c[0] for c in calls}, rel
            for name, elements, line in calls:
                assert stops_on_error(elements), f"{profile.name}: {rel} line {line}: {name} without -ErrorAction Stop"
                seen.add(name)
    if plan.exchange.outlook_anywhere.ssl_offloading is not None:
        assert "Set-OutlookAnywhere" in seen


def test_the_walk_finds_a_call_without_it():
    """The check above can fail: the parser sees the calls, in helpers, guards and pipelines alike."""
    source = ("function Test-X { $oa = Get-OutlookAnywhere -Identity $id -ErrorAction Stop; return $oa }\n"
              "if (Test-X) {\n"
              "    Set-OutlookAnywhere -Identity \"EX01\\Rpc (Default Web Site)\" -SSLOffloading $true\n"
              "}\n"
              "Get-ExchangeServer -Identity EX01 | Select-Object -ExpandProperty AdminDisplayVersion\n"
              "Get-Command Get-OutlookAnywhere -ErrorAction SilentlyContinue\n"
              "Set-OabVirtualDirectory -Identity $id -RequireSSL $true -ErrorAction:Stop\n")
    calls = {name: stops_on_error(elements) for name, elements, _ in exchange_calls(source)}
    assert calls == {"Get-OutlookAnywhere": True, "Set-OutlookAnywhere": False, "Get-ExchangeServer": False,
                     "Set-OabVirtualDirectory": True}
    # -ErrorAction with another value is not enough
    ((_, elements, _),) = exchange_calls("Get-OutlookAnywhere -ErrorAction SilentlyContinue\n")
    assert not stops_on_error(elements)
