"""Small promises of the command line: versions, metavars, completion, suggestions, numbers, -o, CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from oms_cli.commands._shared import complete_onsets
from oms_cli.errors import ExitCode
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import Result

Invoke = Callable[..., Result]
REPO = Path(__file__).resolve().parents[2]


def test_version_names_the_knowledge_base(invoke: Invoke, shipped_kb: CompiledKnowledgeBase) -> None:
    res = invoke("--version")
    assert res.exit_code == 0 and res.stdout.endswith(f"(knowledge base {shipped_kb.kb_version})\n")


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["show"], "Usage: oms-dx show [OPTIONS] CONDITION"),
        (["compare"], "Usage: oms-dx compare [OPTIONS] CONDITION..."),
        (["batch", "--help"], "Usage: oms-dx batch [OPTIONS] [FILE]"),
        (["kb", "validate", "--help"], "Usage: oms-dx kb validate [OPTIONS] [FILE]"),
    ],
)
def test_usage_lines_show_plain_metavars(invoke: Invoke, args: list[str], usage: str) -> None:
    res = invoke(*args)
    assert usage in res.stdout + res.stderr and "{" not in (res.stdout + res.stderr).split("\n")[0]


def test_onset_completes() -> None:
    assert complete_onsets("sub") == ["subacute"]
    assert complete_onsets("") == ["acute", "subacute", "chronic", "episodic"]


@pytest.mark.parametrize(
    ("term", "expected_any"),
    [
        ("eye jerks", {"opsoclonus", "ocular-flutter"}),
        ("jerky eyes", {"opsoclonus", "ocular-flutter"}),
        ("wobbly", {"ataxia"}),  # a synonym: resolved, not suggested
        ("nistagmus", {"nystagmus"}),
        ("vomitting", {"vomiting"}),
    ],
)
def test_did_you_mean_ranks_by_tokens_and_synonyms(invoke: Invoke, term: str, expected_any: set[str]) -> None:
    res = invoke("suggest", "-f", term, "--format", "json")
    doc = res.json()
    if res.exit_code == 0:
        assert set(doc["input"]["present"]) & expected_any
        return
    assert res.exit_code == ExitCode.INPUT
    suggestions = doc["error"]["suggestions"]
    assert len(suggestions) <= 3 and set(suggestions) & expected_any


def test_nothing_irrelevant_is_suggested(invoke: Invoke) -> None:
    doc = invoke("suggest", "-f", "qwertyuiop", "--format", "json").json()
    assert doc["error"]["suggestions"] == []


def test_a_long_unknown_term_is_clipped(invoke: Invoke) -> None:
    res = invoke("suggest", "-f", "x" * 100_000)
    assert res.exit_code == ExitCode.INPUT and len(res.stderr) < 400


@pytest.mark.parametrize(
    "args",
    [
        ["suggest", "-f", "ataxia", "--cant-miss-threshold", "nan"],
        ["suggest", "-f", "ataxia", "--cant-miss-threshold", "inf"],
        ["interview", "--stop-at", "nan"],
    ],
)
def test_not_a_number_is_a_usage_error(invoke: Invoke, args: list[str]) -> None:
    assert invoke(*args).exit_code == ExitCode.USAGE


def test_minus_zero_age_is_echoed_as_zero(invoke: Invoke) -> None:
    assert invoke("suggest", "-f", "ataxia", "--age", "-0", "--format", "json").json()["input"]["age_years"] == 0.0


def test_output_file_is_written_whole_or_not_at_all(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "card.md"
    res = invoke("show", "oms", "--format", "markdown", "-o", str(target))
    assert res.exit_code == 0 and res.stdout == "" and target.read_text().startswith("# Opsoclonus")
    assert [p.name for p in tmp_path.iterdir()] == ["card.md"]  # no temporary file left
    before = target.read_text()
    failed = invoke("show", "nonexistent-condition", "-o", str(target))
    assert failed.exit_code == ExitCode.INPUT and target.read_text() == before  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["card.md"]


def test_output_file_in_a_missing_directory_is_an_output_error(invoke: Invoke, tmp_path: Path) -> None:
    res = invoke("conditions", "--format", "json", "-o", str(tmp_path / "no" / "such.json"))
    assert res.exit_code == ExitCode.OUTPUT
    assert res.json()["error"]["code"] == "output"


def test_batch_keeps_its_records_with_exit_3_in_an_output_file(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    lines = '{"id": "a", "present": ["ataxia"]}\n{"id": "b", "present": ["nope"]}\n'
    res = invoke("batch", "-o", str(target), input=lines)
    assert res.exit_code == ExitCode.INPUT
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["id"] for r in records] == ["a", "b"] and all(r["schema_version"] == "3" for r in records)


def test_suggest_csv_cells_are_neutralised(invoke: Invoke, tmp_path: Path, toy_data: dict[str, object]) -> None:
    res = invoke("suggest", "-f", "opsoclonus", "--format", "csv")
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0][:2] == ["rank", "condition"] and rows[-1][1] == "other"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_evaluate_with_nothing_to_score_says_so_in_one_line(invoke: Invoke) -> None:
    res = invoke("evaluate", "-", input='{"id": 1, "present": ["ataxia"]}\n')
    assert res.exit_code == ExitCode.INPUT and res.stdout == ""
    assert res.stderr == "oms-dx: error: no case in <stdin> could be scored: 1 skipped (no diagnosis given)\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[" * 100_000, "JSON nested too deeply"),
        ('{"schema_version": 2}', "Input should be '2'"),
    ],  # strict: no coercion
)
def test_bad_knowledge_bases_are_one_clear_line(invoke: Invoke, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "kb.json"
    path.write_text(content)
    res = invoke("suggest", "-f", "ataxia", "--kb", str(path))
    assert res.exit_code == ExitCode.KNOWLEDGE_BASE and message in res.stderr
    assert "Value error, " not in res.stderr and len(res.stderr.splitlines()) == 1


def test_a_fifo_is_not_read_as_a_knowledge_base(tmp_path: Path) -> None:
    fifo = tmp_path / "kb.fifo"
    os.mkfifo(fifo)
    res = subprocess.run(
        [sys.executable, "-m", "oms_cli", "suggest", "-f", "ataxia", "--kb", str(fifo)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert res.returncode == ExitCode.KNOWLEDGE_BASE and "not a regular file" in res.stderr


def test_batch_refuses_a_device(invoke: Invoke) -> None:
    res = invoke("batch", "/dev/zero")
    assert res.exit_code == ExitCode.INPUT and "not a regular file or a pipe" in res.stderr


def test_batch_refuses_a_file_with_phenopackets(invoke: Invoke, tmp_path: Path) -> None:
    cases = tmp_path / "c.jsonl"
    cases.write_text("")
    assert invoke("batch", str(cases), "--phenopackets", str(tmp_path)).exit_code == ExitCode.USAGE


def test_stderr_lines_carry_no_trailing_blanks(invoke: Invoke) -> None:
    res = invoke("interview", "--age", "2", "--onset", "acute", input="opsoclonus\n\n")
    finished = res.stderr.split("\n")[:-1]  # the last piece after a prompt is not a finished line
    assert all(line == line.rstrip(" ") for line in finished)
