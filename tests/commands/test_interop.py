"""Interoperability: HPO ids, GA4GH phenopackets, Markdown output, shell completion, pipes, the library API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf.json_format import MessageToJson
from markdown_it import MarkdownIt
from phenopackets import (
    Age,
    Individual,
    MetaData,
    OntologyClass,
    Phenopacket,
    PhenotypicFeature,
    TimeElement,
)

from oms_cli.commands._shared import complete_conditions as _complete_conditions
from oms_cli.commands._shared import complete_findings as _complete_findings
from oms_cli.core.phenopacket import case_from_phenopacket
from oms_cli.errors import ExitCode
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import REPO, TOY_KB, Result

Invoke = Callable[..., Result]


def _packet(features: list[tuple[str, str, bool]], age: str | None = "P2Y6M", pid: str = "case-1") -> str:
    subject = Individual(id="patient-1")
    if age is not None:
        subject.time_at_last_encounter.CopyFrom(TimeElement(age=Age(iso8601duration=age)))
    packet = Phenopacket(
        id=pid,
        subject=subject,
        phenotypic_features=[
            PhenotypicFeature(type=OntologyClass(id=i, label=label), excluded=excluded)
            for i, label, excluded in features
        ],
        meta_data=MetaData(created_by="oms-dx tests", phenopacket_schema_version="2.0"),
    )
    return str(MessageToJson(packet))


OMS_PACKET = [
    ("HP:0010543", "Opsoclonus", False),
    ("HP:0001336", "Myoclonus", False),
    ("HP:0000640", "Gaze-evoked nystagmus", True),
    ("HP:0001945", "Fever", True),
    ("HP:0011009", "Acute", False),
    ("HP:0000252", "Microcephaly", False),  # outside the vocabulary: a warning, never dropped silently
]


def test_hpo_ids_work_wherever_findings_do(invoke: Invoke) -> None:
    by_id = invoke("suggest", "-f", "opsoclonus", "-x", "end-gaze-nystagmus", "--age", "3", "--format", "json")
    by_hpo = invoke("suggest", "-f", "HP:0010543", "-x", "hp_0000640", "--age", "3", "--format", "json")
    assert by_hpo.exit_code == 0
    assert by_hpo.json()["results"] == by_id.json()["results"]
    assert by_hpo.json()["input"]["present"] == ["opsoclonus"]


def test_phenopacket_round_trip(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(_packet(OMS_PACKET), encoding="utf-8")
    res = invoke("suggest", "--phenopacket", str(path), "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    assert doc["input"]["present"] == ["opsoclonus", "myoclonus"]
    assert doc["input"]["absent"] == ["end-gaze-nystagmus", "fever"]  # excluded: true -> absent
    assert doc["input"]["age_years"] == pytest.approx(2.5)
    assert doc["input"]["onset"] == "acute"
    assert any("HP:0000252" in w for w in doc["warnings"]) and "HP:0000252" in res.stderr
    assert doc["results"][0]["id"] == "oms"
    same = invoke(
        "suggest", "-f", "opsoclonus,myoclonus", "-x", "end-gaze-nystagmus,fever", "--age", "2.5", "--onset", "acute",
        "--format", "json",
    )  # fmt: skip
    assert doc["results"] == same.json()["results"]


def test_phenopacket_options_add_and_override(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(_packet(OMS_PACKET[:2]), encoding="utf-8")
    doc = invoke("suggest", "--phenopacket", str(path), "-f", "irritability", "--age", "4", "--format", "json").json()
    assert doc["input"]["present"] == ["opsoclonus", "myoclonus", "irritability"]
    assert doc["input"]["age_years"] == 4.0


def test_phenopacket_age_from_feature_onset(shipped_kb: CompiledKnowledgeBase) -> None:
    packet = json.loads(_packet([("HP:0001251", "Ataxia", False)], age=None))
    packet["phenotypicFeatures"][0]["onset"] = {"age": {"iso8601duration": "P18M"}}
    case = case_from_phenopacket(shipped_kb, json.dumps(packet))
    assert case.age_years == pytest.approx(1.5) and case.present == ("ataxia",)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not a GA4GH Phenopacket"),
        ('{"phenotypicFeatures": "no"}', "not a GA4GH Phenopacket"),
        ('{"unknownField": 1}', "not a GA4GH Phenopacket"),
    ],
)
def test_bad_phenopacket_is_an_input_error(invoke: Invoke, tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    res = invoke("suggest", "--phenopacket", str(path))
    assert res.exit_code == ExitCode.INPUT and words in res.stderr and "Traceback" not in res.stderr


def test_batch_reads_a_directory_of_phenopackets(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(_packet(OMS_PACKET, pid="A"), encoding="utf-8")
    (tmp_path / "b.json").write_text("{broken", encoding="utf-8")
    (tmp_path / "c.json").write_text(_packet([("HP:0001251", "Ataxia", False)], pid="C"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a case", encoding="utf-8")
    res = invoke("batch", "--phenopackets", str(tmp_path))
    assert res.exit_code == ExitCode.INPUT
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r.get("source") for r in records] == ["a.json", "b.json", "c.json"]
    assert records[0]["id"] == "A" and records[0]["results"][0]["id"] == "oms"
    assert any("HP:0000252" in w for w in records[0]["warnings"])
    assert records[1]["error"]["code"] == "invalid_phenopacket"
    assert records[2]["id"] == "C"


def test_batch_reads_phenopacket_json_lines(invoke: Invoke, tmp_path: Path) -> None:
    lines = [json.dumps(json.loads(_packet(OMS_PACKET, pid=f"P{i}"))) for i in range(3)]
    path = tmp_path / "cohort.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = invoke("batch", "--phenopackets", str(path), "--format", "tsv")
    assert res.exit_code == 0
    ids = [row.split("\t")[0] for row in res.stdout.splitlines()[1:]]
    assert list(dict.fromkeys(ids)) == ["P0", "P1", "P2"] and len(ids) == 3 * 18  # 17 conditions and other causes


# ----------------------------------------------------------------------------- Markdown


def test_suggest_markdown(invoke: Invoke) -> None:
    res = invoke(
        "suggest", "-f", "opsoclonus,myoclonus", "--age", "2", "--format", "markdown", "--explain", "--top", "2"
    )
    assert res.exit_code == 0
    tokens = MarkdownIt("commonmark").enable("table").parse(res.stdout)
    assert sum(t.type == "table_open" for t in tokens) == 3  # differential + two ledgers
    assert "## Can't miss" in res.stdout and "**Exclude with:**" in res.stdout
    assert "## Ask or examine next" in res.stdout and "## Test next" in res.stdout and "## Criteria" in res.stdout
    assert "does not replace clinical judgement" in res.stdout


# ----------------------------------------------------------------------------- completion


def test_completion_of_findings_and_conditions() -> None:
    ctx: Any = SimpleNamespace(params={"kb": None})
    assert "opsoclonus" in _complete_findings(ctx, "opso")
    assert "ataxia,opsoclonus" in _complete_findings(ctx, "ataxia,opso")
    assert all(c.startswith("ataxia,opso") for c in _complete_findings(ctx, "ataxia,opso"))
    assert "HP:0010543" in _complete_findings(ctx, "HP:00105")
    assert "oms" in _complete_conditions(ctx, "om")
    assert all(c.startswith("acute") for c in _complete_conditions(ctx, "acute"))
    toy: Any = SimpleNamespace(params={"kb": TOY_KB})
    assert _complete_findings(toy, "") == sorted(_complete_findings(toy, ""))
    assert "spots" in _complete_findings(toy, "sp")


def test_shell_completion_protocol(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from oms_cli.commands import build_app

    app = build_app()

    env = {"_OMS_DX_COMPLETE": "complete_bash", "COMP_WORDS": "oms-dx suggest --finding opso", "COMP_CWORD": "3"}
    res = CliRunner().invoke(app, [], env=env, prog_name="oms-dx")
    assert "opsoclonus" in res.stdout.split()


# ----------------------------------------------------------------------------- pipes, colour, library


def _oms_dx() -> list[str]:
    return [sys.executable, "-m", "oms_cli"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_closed_pipe_ends_quietly(tmp_path: Path, jobs: str) -> None:
    big = tmp_path / "big.jsonl"
    big.write_text('{"id": 1, "present": ["spots"]}\n' * 20000, encoding="utf-8")
    proc = subprocess.Popen(
        [*_oms_dx(), "batch", str(big), "--kb", str(TOY_KB), "--jobs", jobs],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == ExitCode.BROKEN_PIPE
    assert json.loads(first)["id"] == 1
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


# SGR colour codes (foreground/background, 16, 256 or true colour); NO_COLOR leaves bold and dim alone.
COLOUR = re.compile(rb"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


def test_no_colour_when_not_a_terminal_or_no_color(tmp_path: Path) -> None:
    env_base = {k: v for k, v in __import__("os").environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    piped = subprocess.run([*_oms_dx(), "suggest", "-f", "opsoclonus"], capture_output=True, env=env_base, check=True)
    assert b"\x1b[" not in piped.stdout  # not a terminal: no escapes at all
    forced = subprocess.run(
        [*_oms_dx(), "suggest", "-f", "opsoclonus"], capture_output=True, env={**env_base, "FORCE_COLOR": "1"}
    )
    assert COLOUR.search(forced.stdout)  # colour is there when asked for ...
    off = subprocess.run(
        [*_oms_dx(), "suggest", "-f", "opsoclonus"],
        capture_output=True,
        env={**env_base, "FORCE_COLOR": "1", "NO_COLOR": "1"},
    )
    assert not COLOUR.search(off.stdout)  # ... and NO_COLOR wins


def test_readme_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every ```python block, in order, in a scratch directory (the cohort examples write and read files there).
    # A recipe that cannot run here (Spark) is fenced as ```text.
    monkeypatch.chdir(tmp_path)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 3, "README has lost its python examples"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "cases.parquet").is_file() and (tmp_path / "ranked-dataset").is_dir()


def test_readme_parquet_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The shell lines of the Parquet section, after the data-frame example that writes cases.parquet.
    monkeypatch.chdir(tmp_path)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Data frames") : readme.index("### Dask")]
    (frame_example,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(frame_example, "README.md", "exec"), {"__name__": "readme"})
    (commands,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    for line in commands.strip().splitlines():
        assert line.startswith("oms-dx ")
        args, _, target = line.removeprefix("oms-dx ").partition(" > ")
        run = subprocess.run([*_oms_dx(), *args.split()], capture_output=True, check=False)
        assert run.returncode == 0, run.stderr
        if target:
            (tmp_path / target).write_bytes(run.stdout)
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "ranked.parquet").num_rows == 3
    assert len((tmp_path / "ranked.jsonl").read_text().splitlines()) == 3


def _diagnosed(features: list[tuple[str, str, bool]], pid: str, interpretation: tuple[str, str] | None = None,
               disease: tuple[str, str] | None = None) -> str:  # fmt: skip
    from google.protobuf.json_format import Parse
    from phenopackets import Diagnosis, Disease, Interpretation

    packet = Parse(_packet(features, pid=pid), Phenopacket())
    if interpretation is not None:
        packet.interpretations.append(
            Interpretation(
                id=f"{pid}-i", progress_status=Interpretation.ProgressStatus.SOLVED,
                diagnosis=Diagnosis(disease=OntologyClass(id=interpretation[0], label=interpretation[1])),
            )
        )  # fmt: skip
    if disease is not None:
        packet.diseases.append(Disease(term=OntologyClass(id=disease[0], label=disease[1])))
    return str(MessageToJson(packet))


def test_evaluate_reads_diagnoses_from_phenopackets(invoke: Invoke, tmp_path: Path) -> None:
    ataxic = [("HP:0001251", "Ataxia", False), ("HP:0001945", "Fever", False)]
    packets = {
        "a.json": _diagnosed(OMS_PACKET, "a", interpretation=("ORPHA:1183", "")),  # by code
        "b.json": _diagnosed(ataxic, "b", disease=("MONDO:0003306", "Acute disseminated encephalomyelitis")),  # label
        "c.json": _diagnosed(ataxic, "c"),  # no diagnosis: skipped, not an error
        "d.json": _diagnosed(ataxic, "d", disease=("MONDO:0000001", "Something unrelated")),  # unknown: an error
    }
    for name, text in packets.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    res = invoke("evaluate", "--phenopackets", str(tmp_path), "--format", "json")
    assert res.exit_code == ExitCode.INPUT  # one packet names a diagnosis oms-dx does not know
    doc = res.json()
    assert doc["n"] == 2 and doc["skipped"] == 2 and doc["errors"] == 1
    per = {row["id"]: row for row in doc["per_condition"]}
    assert per["oms"]["n"] == 1 and per["adem"]["n"] == 1
    reasons = {s["line"]: s["reason"] for s in doc["skipped_cases"]}
    assert "no diagnosis" in reasons[3] and "Something unrelated" in reasons[4]


def test_evaluate_needs_exactly_one_source(invoke: Invoke, tmp_path: Path) -> None:
    assert invoke("evaluate").exit_code == ExitCode.USAGE
    assert invoke("evaluate", "x.jsonl", "--phenopackets", str(tmp_path)).exit_code == ExitCode.USAGE
