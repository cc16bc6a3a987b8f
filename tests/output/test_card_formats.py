"""Every card format draws the same blocks: the toy card's criteria, pitfall and references in table, JSON, Markdown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from oms_cli.core.cards import Bullets, Grid, Numbered, Para, build_card
from oms_cli.core.engine import normalise_query
from oms_cli.core.reasoning import check_criteria
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import TOY_KB, Result

Invoke = Callable[..., Result]


def test_card_blocks_of_the_toy(toy_kb: CompiledKnowledgeBase) -> None:
    card = build_card(toy_kb, "alpha", ("criteria", "pitfalls", "tests", "references"))
    assert [s.id for s in card.body] == ["criteria", "pitfalls", "tests"]  # references are the list, not a section
    criteria, pitfalls, tests = (s.blocks for s in card.body)
    assert isinstance(criteria[0], Para) and criteria[0].spans[0].text == "Alpha criteria (2 of 3)"
    items = next(b for b in criteria if isinstance(b, Numbered)).items
    assert [item[0].text for item in items] == ["Spots", "Cough or limp", "A positive swab"]
    assert isinstance(pitfalls[0], Bullets)
    texts = [span.text for span in pitfalls[0].items[0]]
    assert texts == ["Alpha is taken for beta when the spots are faint.", " (vs beta)", " [1]"]
    assert isinstance(tests[0], Bullets) and tests[0].items[0][0].text == "Spot count"
    assert [r.id for r in card.references] == ["toyref"]


def test_findings_chart_groups_rows_by_kind(toy_kb: CompiledKnowledgeBase) -> None:
    (section,) = build_card(toy_kb, "beta", ("findings",)).body
    grid = next(b for b in section.blocks if isinstance(b, Grid))
    # wheeze (children .7, adults .3) and cough .8 before spots .1; then the group beta gives a figure for
    assert grid.groups == ("motor", "systemic", "systemic", "systemic", "groups of overlapping findings")
    assert [row[0][0].text for row in grid.rows] == [
        "Limp",
        "Cough",
        "Wheeze",
        "Spots",
        "at least one of: cough or wheeze",
    ]
    assert [row[2][0].text for row in grid.rows][2] == "children 70% · adults 30%"


@pytest.mark.parametrize(
    ("present", "absent", "status", "met"),
    [
        (["spots", "limp"], [], "met", 2),
        (["spots"], ["cough", "limp"], "undetermined", 1),  # the swab item can still be met
        ([], ["spots", "cough", "limp"], "not met", 0),
    ],
)
def test_toy_criteria(
    toy_kb: CompiledKnowledgeBase, present: list[str], absent: list[str], status: str, met: int
) -> None:
    (check,) = check_criteria(toy_kb, normalise_query(toy_kb, present, absent, None, None))
    assert (check.status, check.met, check.required) == (status, met, 2)


def test_table_card(invoke: Invoke) -> None:
    res = invoke("show", "alpha", "--kb", str(TOY_KB))
    assert res.exit_code == 0
    out = res.stdout
    for text in ("Alpha criteria (2 of 3) [1]", "  3. A positive swab — Only a test decides it.",
                 "Met when at least 2 of 3 items are present.", "• Alpha is taken for beta when the spots are faint. (vs beta) [1]",
                 "• Spot count — Many spots favour alpha. Toy sensitivity 90%. [1]", "[1] Nobody (2026). Toy."):  # fmt: skip
        assert text in out, text


def test_json_card(invoke: Invoke) -> None:
    doc = invoke("show", "alpha", "--kb", str(TOY_KB), "--format", "json").json()
    assert doc["command"] == "show" and doc["condition"]["criteria"][0]["required"] == 2
    assert doc["condition"]["differential_pitfalls"] == [
        {"text": "Alpha is taken for beta when the spots are faint.", "refs": ["toyref"], "versus": ["beta"]}
    ]
    assert [r["number"] for r in doc["references"]] == [1]


def test_markdown_card(invoke: Invoke) -> None:
    res = invoke("show", "alpha", "--kb", str(TOY_KB), "--format", "markdown")
    tokens = MarkdownIt().enable("table").parse(res.stdout)
    headings = [tokens[i + 1].content for i, tok in enumerate(tokens) if tok.type == "heading_open" and tok.tag == "h2"]
    assert "Diagnostic criteria" in headings and headings[-1] == "References"
    assert "- Alpha is taken for beta when the spots are faint. *(vs beta)* [1]" in res.stdout
    assert "**Alpha criteria (2 of 3)** [1]" in res.stdout


def test_comparison_carries_the_pitfall_between_the_pair(invoke: Invoke) -> None:
    doc = invoke("compare", "alpha", "beta", "--kb", str(TOY_KB), "--format", "json").json()
    assert [p["condition"] for p in doc["pitfalls"]] == ["alpha"]
    assert [r["id"] for r in doc["references"]] == ["toyref"]
    assert invoke("compare", "gamma", "delta", "--kb", str(TOY_KB), "--format", "json").json()["pitfalls"] == []


def test_markdown_escapes_hostile_text(invoke: Invoke, write_kb: Callable[..., Path], toy_data: dict[str, Any]) -> None:
    toy_data["conditions"][0]["name"] = "Alpha | *bold* [x](http://evil) \x1b[31m"
    path = write_kb(toy_data)
    out = invoke("suggest", "-f", "spots", "--kb", str(path), "--format", "markdown").stdout
    assert "\x1b" not in out
    assert r"Alpha \| \*bold\* \[x\](http://evil)" in out
