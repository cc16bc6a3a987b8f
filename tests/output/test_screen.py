"""The human output as a person reads it on an 80 x 24 terminal: the answer on the first screen, ids whole,
commands and addresses never broken across lines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from oms_cli.kb.compiled import CompiledKnowledgeBase
from tests.conftest import Result

Invoke = Callable[..., Result]

WIDTH, HEIGHT = 80, 24
FINDING_SETS = {
    1: ["ataxia"],
    3: ["ataxia", "irritability", "vomiting"],
    8: ["opsoclonus", "myoclonus", "ataxia", "irritability", "recent-infection", "vomiting", "fever", "nystagmus"],
    10: [
        "vertigo",
        "vomiting",
        "ataxia",
        "headache",
        "diplopia",
        "nystagmus",
        "dysarthria",
        "nausea",
        "fever",
        "tinnitus",
    ],
}


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setenv("LINES", str(HEIGHT))


def _truncated_ids(text: str, ids: list[str]) -> list[str]:
    """Words cut with an ellipsis that begin an id (a cut id), e.g. 'acute-cerebellar-a…'."""
    cut = re.findall(r"([\w-]+)…", text)
    return [c for c in cut if any(i.startswith(c) and i != c for i in ids)]


@pytest.mark.parametrize("n", sorted(FINDING_SETS))
def test_the_ranked_differential_is_on_the_first_screen(
    invoke: Invoke, shipped_kb: CompiledKnowledgeBase, n: int
) -> None:
    res = invoke("suggest", "-f", ",".join(FINDING_SETS[n]), "--age", "2", "--onset", "acute")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    bottom = next(i for i, line in enumerate(lines) if line.startswith("└"))
    assert bottom < HEIGHT, "\n".join(lines[: bottom + 1])
    first_screen = "\n".join(lines[:HEIGHT])
    assert "other causes" in first_screen and "Can't miss" in first_screen
    ids = list(shipped_kb.condition_ids)
    assert not _truncated_ids(res.stdout, ids)
    shown = re.findall(r"^│\s+\d+ │ (\S+)", res.stdout, flags=re.M)
    assert shown and all(s in ids for s in shown)


@pytest.mark.parametrize("command", ["conditions", "findings"])
def test_lists_show_every_id_whole(invoke: Invoke, shipped_kb: CompiledKnowledgeBase, command: str) -> None:
    res = invoke(command)
    assert res.exit_code == 0
    ids = list(shipped_kb.condition_ids if command == "conditions" else shipped_kb.finding_ids)
    first_column = re.findall(r"^│ (\S+)" if command == "conditions" else r"^(\S+)", res.stdout, flags=re.M)
    assert [i for i in first_column if i != "Id"] == ids  # every id, whole, on its own row, in order
    assert not _truncated_ids(res.stdout, ids)
    assert max(len(line) for line in res.stdout.splitlines()) <= WIDTH


def test_the_card_keeps_every_address_on_one_line(invoke: Invoke) -> None:
    res = invoke("show", "oms")
    card = invoke("show", "oms", "--format", "json").json()
    lines = res.stdout.splitlines()
    addresses = [r[k] for r in card["references"] for k in ("url",) if r.get(k)]
    addresses += [f"doi:{r['doi']}" for r in card["references"] if r.get("doi")]
    assert addresses
    for address in addresses:
        assert any(address in line for line in lines), address
    for line in lines:  # a line that overflows is a single unbreakable word (an address), never a cut one
        assert len(line) <= WIDTH or " " not in line.strip() or re.search(r"\S{60,}", line), line


def test_the_reproduce_command_is_one_line_that_runs(invoke: Invoke) -> None:
    res = invoke("interview", "--age", "2", "--onset", "acute", input="opsoclonus,ataxia,irritability,myoclonus\n\n")
    assert res.exit_code == 0
    (line,) = [line for line in res.stdout.splitlines() if line.startswith("Reproduce with: ")]
    command = line.removeprefix("Reproduce with: ").split()
    assert command[:2] == ["oms-dx", "suggest"]
    again = invoke(*command[1:], "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["input"]["present"][0] == "opsoclonus"
    assert "Q1. " in res.stderr or "Finished" in res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["conditions"],
        ["findings"],
        ["show", "oms"],
        ["show", "miller-fisher-syndrome"],
        ["compare", "oms", "acute-cerebellar-ataxia"],
        ["suggest", "-f", "ataxia,irritability,vomiting", "--age", "2", "--onset", "acute"],
    ],
)
def test_no_oms_dx_command_is_split_at_a_line_end(invoke: Invoke, args: list[str]) -> None:
    res = invoke(*args)
    assert res.exit_code == 0
    for line in res.stdout.splitlines():
        assert not re.search(r"\boms-dx\s*$", line), line  # "oms-dx" at a line end: the rest went to the next line
