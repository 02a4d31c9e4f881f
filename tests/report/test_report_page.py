"""The page's escaping: every value reaches report.html through output.text.html, so no value of the plan can add
an element, an attribute or a script (a hostile namespace, server, pool or message); the Plan's answers the page
shows (which locations lbsync changes)."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

import pytest
from support.paths import ROOT
from support.reports import (
    HOSTILE_HOST,
    HOSTILE_MESSAGE,
    HOSTILE_POOL,
    HOSTILE_SERVER,
    benign_plan,
    hostile_plan,
    plan_at,
)

from lbsync.output.text import html, printable
from lbsync.report import build_report, for_render

EXAMPLE = ROOT / "profiles" / "exchange2013-offload.yaml"


class _Tags(HTMLParser):
    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("value", ["<b>", "a&b", "\"'", "x\ny", "\u202e", "\x1b[2J", "é漢"])
def test_html_leaves_no_markup_character_and_no_control_character(value):
    out = html(value)
    assert not set(out) & set("<>\"'") and all(ch.isprintable() for ch in out)
    parsed = _Tags(f"<p title=\"{out}\">{out}</p>")
    assert parsed.tags == [("p", {"title": printable(value)})] and "".join(parsed.text) == printable(value)


def test_a_hostile_plan_changes_no_element_of_the_page():
    baseline = _Tags(build_report(for_render(benign_plan(plan_at(EXAMPLE)))))
    text = build_report(for_render(hostile_plan(plan_at(EXAMPLE))))
    page = _Tags(text)
    assert Counter(t for t, _ in page.tags) == Counter(t for t, _ in baseline.tags)
    assert [sorted(a) for _, a in page.tags] == [sorted(a) for _, a in baseline.tags]   # the same attributes
    names = {a.get("data-name") for _, a in page.tags}
    assert {printable(HOSTILE_HOST), HOSTILE_SERVER, HOSTILE_POOL} <= names
    assert printable(HOSTILE_HOST) in page.text and HOSTILE_MESSAGE in page.text
    assert "<script" not in text and "<iframe" not in text and "<style>*" not in text and "\u202e" not in text


def test_the_exchange_table_says_which_locations_lbsync_changes():
    plan = plan_at(EXAMPLE)
    page = _Tags(build_report(for_render(plan)))
    changed = [a["class"] for t, a in page.tags if t == "td" and a.get("class") in ("changed", "unchanged")]
    assert changed == ["changed" if p in plan.exchange.changed_locations else "unchanged"
                       for p in plan.exchange.locations]
    assert changed.count("unchanged") == 2      # owa/Calendar (None in every mode) and Rpc (Outlook Anywhere)
