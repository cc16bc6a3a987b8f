"""Reference cards, criteria and comparisons: the card data, `show` sections and formats, and `compare`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from oms_cli.core.cards import SECTION_IDS, SECTIONS, compare, resolve_sections
from oms_cli.errors import ExitCode, InputError
from oms_cli.kb.compiled import CompiledKnowledgeBase
from oms_cli.kb.store import load_knowledge_base

from ..conftest import TOY_KB, Result

STATEMENT_FIELDS = {s.id: s.statements for s in SECTIONS if s.statements}

Invoke = Callable[..., Result]
SEEDS = [
    "oms", "acute-cerebellar-ataxia", "acute-cerebellitis", "seizure", "adem",
    "cerebellar-malignancy", "intoxication", "cerebellar-stroke", "spinocerebellar-ataxia",
]  # fmt: skip
ALL = [
    *SEEDS, "miller-fisher-syndrome", "vestibular-neuritis", "vestibular-migraine", "head-injury", "cns-infection",
    "functional-gait-disorder", "multiple-sclerosis", "wernicke-encephalopathy",
]  # fmt: skip


# ----------------------------------------------------------------------------- the shipped cards


@pytest.mark.parametrize("cid", ALL)
def test_every_card_section_is_filled_and_cited(shipped_kb: CompiledKnowledgeBase, cid: str) -> None:
    c = shipped_kb.card_text(cid)
    refs = {r.id for r in shipped_kb.references}
    assert c.synopsis_refs and set(c.synopsis_refs) <= refs
    assert c.codes
    for field in STATEMENT_FIELDS.values():
        statements = getattr(c, field)
        assert statements, f"{cid}: {field} is empty"
        for st in statements:
            assert len(st.text.split()) >= 5, f"{cid}.{field}: {st.text!r} is too thin"
            assert st.refs and set(st.refs) <= refs, f"{cid}.{field}: {st.text!r}"
    assert c.best_tests, f"{cid}: best_tests is empty"
    for test in c.best_tests:
        assert test.test and test.why and test.refs and set(test.refs) <= refs
    assert c.last_reviewed


def test_versus_links_point_at_real_conditions(shipped_kb: CompiledKnowledgeBase) -> None:
    ids = {c.id for c in shipped_kb.conditions}
    linked = {
        v for c in shipped_kb.conditions for st in shipped_kb.card_text(c.id).differential_pitfalls for v in st.versus
    }
    assert linked <= ids and "acute-cerebellar-ataxia" in linked


def test_required_oms_pitfalls_are_present(shipped_kb: CompiledKnowledgeBase) -> None:
    pitfalls = " ".join(st.text.lower() for st in shipped_kb.card_text("oms").differential_pitfalls)
    assert "commonest wrong first diagnosis" in pitfalls
    assert "end-gaze" in pitfalls
    assert "does not exclude oms" in pitfalls
    assert "nystagmus" in pitfalls and "may be opsoclonus or flutter" in pitfalls
    tests = " ".join(t.test.lower() + " " + t.why.lower() for t in shipped_kb.card_text("oms").best_tests)
    assert "neck, chest, abdomen and pelvis" in tests and "paraneoplastic antibody" in tests


def test_oms_and_adem_criteria_are_data(shipped_kb: CompiledKnowledgeBase) -> None:
    (oms,) = shipped_kb.condition("oms").criteria
    assert oms.required == 3 and len(oms.items) == 4
    assert [i.id for i in oms.items] == ["opsoclonus", "myoclonus-or-ataxia", "behaviour-or-sleep", "neuroblastoma"]
    assert "matthay2005" in oms.refs
    (adem,) = shipped_kb.condition("adem").criteria
    assert adem.required == len(adem.items) == 4 and adem.refs == ("krupp2013",)
    assert "altered-consciousness" in adem.items[1].findings


# ----------------------------------------------------------------------------- sections


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([], SECTION_IDS),
        (["tests", "pitfalls"], ("pitfalls", "tests")),
        (["Best tests", "diagnostic_pearls"], ("pearls", "tests")),
        (["treatment", "refs", "cant_miss"], ("cant-miss", "therapy", "references")),
    ],
)
def test_resolve_sections(names: list[str], expected: tuple[str, ...]) -> None:
    assert resolve_sections(names) == expected


def test_unknown_section_suggests() -> None:
    with pytest.raises(InputError, match="did you mean 'pitfalls'"):
        resolve_sections(["pitfals"])


# ----------------------------------------------------------------------------- show


SECTION_HEADINGS = [
    "Synopsis",
    "Codes",
    "Can't miss",
    "What to look for",
    "Findings at presentation",
    "Diagnostic criteria",
    "Diagnostic pearls",
    "Differential and pitfalls",
    "Best tests",
    "Management pearls",
    "Therapy",
    "Prior, age and onset profile",
    "References",
]


def test_show_oms_has_every_section_and_the_criteria(invoke: Invoke) -> None:
    res = invoke("show", "oms")
    assert res.exit_code == 0
    out = res.stdout
    positions = [out.index(h) for h in SECTION_HEADINGS]
    assert positions == sorted(positions)
    assert "OMS diagnostic criteria (3 of 4)" in out and "Met when at least 3 of 4 items are present." in out
    for group in ("Eye", "Motor", "Behaviour", "Systemic", "History"):
        assert f"\n{group}" in out
    assert "█" in out and "estimate 1" in out
    assert "not treatment orders" in out


def test_show_markdown_cites_every_statement(invoke: Invoke, shipped_kb: CompiledKnowledgeBase) -> None:
    res = invoke("show", "oms", "--format", "markdown")
    assert res.exit_code == 0
    md = res.stdout
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert headings == SECTION_HEADINGS
    assert any(t.type == "table_open" for t in tokens)
    bullets = [line for line in md.splitlines() if line.startswith("- ")]
    c = shipped_kb.card_text("oms")
    expected = sum(len(getattr(c, f)) for f in STATEMENT_FIELDS.values()) + len(c.best_tests)
    assert len(bullets) == expected
    for line in bullets:
        assert re.search(r"\[\d+(, \d+)*\]$", line), line
    n_refs = len([line for line in md.splitlines() if re.match(r"^\d+\. .+\(\d{4}\)\.", line)])
    cited = {int(n) for m in re.findall(r"\[(\d+(?:, \d+)*)\]", md) for n in m.split(", ")}
    assert cited == set(range(1, n_refs + 1))


@pytest.mark.parametrize("cid", SEEDS)
def test_show_every_seed_in_every_format(invoke: Invoke, cid: str) -> None:
    assert invoke("show", cid).exit_code == 0
    assert invoke("show", cid, "--format", "markdown").exit_code == 0
    doc = invoke("show", cid, "--format", "json").json()
    numbers = [r["number"] for r in doc["references"]]
    assert numbers == list(range(1, len(numbers) + 1))


def test_show_sections_filter_all_formats(invoke: Invoke) -> None:
    res = invoke("show", "oms", "--section", "pitfalls", "-s", "tests")
    assert res.exit_code == 0
    assert "Differential and pitfalls" in res.stdout and "Best tests" in res.stdout
    for other in ("Synopsis", "Diagnostic pearls", "Therapy"):
        assert other not in res.stdout
    # The references the chosen sections cite always follow them, numbered as cited.
    assert "References" in res.stdout and "[1] " in res.stdout
    notes = invoke("show", "oms", "-s", "pitfalls", "--format", "markdown").stdout
    cited_numbers = {int(n) for group in re.findall(r"\[([\d, ]+)\]", notes) for n in group.split(",")}
    listed = re.findall(r"^(\d+)\. ", notes[notes.index("## References") :], flags=re.M)
    assert cited_numbers and cited_numbers == {int(n) for n in listed}
    doc = invoke("show", "oms", "--section", "pitfalls,tests", "--format", "json").json()
    assert doc["sections"] == ["pitfalls", "tests"]
    assert set(doc["condition"]) == {"id", "name", "aliases", "last_reviewed", "differential_pitfalls", "best_tests"}
    cited = {r for st in doc["condition"]["differential_pitfalls"] for r in st["refs"]}
    cited |= {r for t in doc["condition"]["best_tests"] for r in t["refs"]}
    assert {r["id"] for r in doc["references"]} == cited
    md = invoke("show", "oms", "-s", "criteria", "--format", "markdown").stdout
    assert "## Diagnostic criteria" in md and "## Best tests" not in md


def test_show_json_criteria_and_groups(invoke: Invoke) -> None:
    doc = invoke("show", "oms", "--format", "json").json()
    body = doc["condition"]
    assert body["criteria"][0]["required"] == 3
    assert body["finding_groups"]["eye"][0] == "opsoclonus"
    assert set(body["finding_groups"]) == {"eye", "motor", "behaviour", "systemic", "history", "test"}
    assert set(body["findings"]["vertigo"]) == {"child", "adult"}  # a frequency that differs by age
    assert all("value" in ev or {"child", "adult"} == set(ev) for ev in body["findings"].values())
    assert body["synopsis_refs"] and body["look_for"][0]["refs"]


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_show_unknown_section_is_a_usage_error(invoke: Invoke, fmt: str) -> None:
    res = invoke("show", "oms", "--section", "pearl", "--format", fmt)
    assert res.exit_code == ExitCode.USAGE
    assert "did you mean 'pearls'" in res.stderr
    if fmt == "json":
        assert res.json()["error"]["code"] == "usage"


def test_card_text_from_the_kb_is_inert(
    invoke: Invoke, write_kb: Callable[..., Path], toy_data: dict[str, Any]
) -> None:
    toy_data["conditions"][0]["diagnostic_pearls"] = [
        {"text": "Pearl [bold]loud[/bold] \x1b[31mred\x1b[0m | *star* # hash", "refs": ["toyref"]}
    ]
    kb = str(write_kb(toy_data))
    table = invoke("show", "alpha", "--kb", kb)
    assert table.exit_code == 0
    assert "[bold]loud[/bold]" in table.stdout and "\x1b" not in table.stdout
    md = invoke("show", "alpha", "--kb", kb, "--format", "markdown").stdout
    assert "\x1b" not in md
    line = next(x for x in md.splitlines() if x.startswith("- Pearl"))
    for escaped in (r"\[bold\]loud\[/bold\]", r"\|", r"\*star\*", r"\# hash", r"\\x1b\[31m"):
        assert escaped in line, escaped


# ----------------------------------------------------------------------------- compare (engine level, toy KB)


@pytest.fixture(scope="module")
def toy() -> CompiledKnowledgeBase:
    return load_knowledge_base(TOY_KB)


def test_compare_toy_orders_by_likelihood_ratio(toy: CompiledKnowledgeBase) -> None:
    cmp = compare(toy, ["alpha", "beta"], highlight=1)
    order = [f.finding for f in cmp.findings]
    # swab .8 vs background .02 x40; fine-spots .6 vs beta's background share of its spots (.1 * .05/.1) x12;
    # spots x9; limp .5 vs background .1 x5; cough and sudden x4 (ties by id); wheeze (mean .5 vs .15) x3.3.
    assert order == ["swab-positive", "fine-spots", "spots", "limp", "cough", "sudden", "wheeze"]
    _, fine, spots, limp, cough, *_ = cmp.findings
    assert fine.favours == "alpha" and fine.log_lr == pytest.approx(math.log(12))
    assert spots.favours == "alpha" and spots.log_lr == pytest.approx(math.log(9))
    assert limp.favours == "beta" and limp.state == "present" and limp.listed == (False, True)
    assert limp.log_lr == pytest.approx(math.log(0.5 / 0.1))
    assert cough.favours == "beta" and cough.against == "alpha" and cough.log_lr == pytest.approx(math.log(4))
    assert cmp.highlighted == ("swab-positive",)


@pytest.mark.parametrize(
    ("ids", "message"),
    [(["alpha"], "at least two"), (["alpha", "Alpha"], "at least two"), (["alpha", "zeta"], "unknown condition")],
)
def test_compare_rejects_bad_input(toy: CompiledKnowledgeBase, ids: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        compare(toy, ids)


def test_compare_identical_conditions_show_no_difference(toy: CompiledKnowledgeBase) -> None:
    cmp = compare(toy, ["beta", "gamma"])
    assert all(f.discrimination == 0 for f in cmp.findings)
    assert cmp.highlighted == ()


# ----------------------------------------------------------------------------- compare (CLI, shipped KB)


def test_compare_oms_aca_table(invoke: Invoke) -> None:
    res = invoke("compare", "oms", "acute-cerebellar-ataxia")
    assert res.exit_code == 0
    out = res.stdout
    assert "A = oms" in out and "B = acute-cerebellar-ataxia" in out
    hot = [line for line in out.splitlines() if line.startswith("◆  ")]
    assert len(hot) == 5 and "Opsoclonus" in hot[0]
    assert "Pitfalls between these conditions" in out


def test_compare_oms_aca_json(invoke: Invoke) -> None:
    doc = invoke("compare", "oms", "aca", "--format", "json").json()
    assert [c["id"] for c in doc["conditions"]] == ["oms", "acute-cerebellar-ataxia"]
    rows = doc["findings"]
    lrs = [abs(r["best_separation"]["log_lr"]) for r in rows]
    assert lrs == sorted(lrs, reverse=True)
    assert [r["highlighted"] for r in rows[:6]] == [True] * 5 + [False]
    assert rows[0]["finding"] == "opsoclonus" and rows[0]["best_separation"]["favours"] == "oms"
    egn = next(r for r in rows if r["finding"] == "end-gaze-nystagmus")
    assert egn["best_separation"]["favours"] == "acute-cerebellar-ataxia"
    assert egn["probabilities"]["acute-cerebellar-ataxia"] > egn["probabilities"]["oms"]
    assert {p["condition"] for p in doc["pitfalls"]} == {"oms", "acute-cerebellar-ataxia"}
    cited = {r for p in doc["pitfalls"] for r in p["refs"]}
    assert {r["id"] for r in doc["references"]} == cited


def test_compare_markdown_parses_and_bolds_discriminators(invoke: Invoke) -> None:
    res = invoke("compare", "oms", "acute-cerebellar-ataxia", "seizure", "--format", "markdown", "--highlight", "3")
    assert res.exit_code == 0
    tokens = MarkdownIt("commonmark").enable("table").parse(res.stdout)
    assert sum(t.type == "table_open" for t in tokens) == 2
    rows = [line for line in res.stdout.splitlines() if line.startswith("| **")]
    assert len(rows) == 3 and "Opsoclonus" in rows[0]
    header = next(line for line in res.stdout.splitlines() if line.startswith("| Finding"))
    assert header.count("|") == 6


def test_compare_errors(invoke: Invoke) -> None:
    one = invoke("compare", "oms", "--format", "json")
    assert one.exit_code == ExitCode.INPUT and "at least two" in one.json()["error"]["message"]
    typo = invoke("compare", "oms", "acute-cerebelar-ataxia")
    assert typo.exit_code == ExitCode.INPUT and "acute-cerebellar-ataxia" in typo.stderr
