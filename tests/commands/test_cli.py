"""The real CLI, in process: exit codes, JSON contract, errors and safe rendering."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from oms_cli.core.engine import normalise_query
from oms_cli.core.inputs import parse_age, parse_onset, split_terms
from oms_cli.errors import ExitCode, InputError
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import TOY_KB, Result

Invoke = Callable[..., Result]


def test_suggest_json_contract(invoke: Invoke) -> None:
    res = invoke("suggest", "--finding", "opsoclonus", "--age", "3", "--format", "json")
    assert res.exit_code == 0
    doc = res.json()
    assert doc["schema_version"] == "3" and doc["command"] == "suggest"
    assert doc["kb_version"] and doc["closed_world"] is False
    assert doc["input"] == {
        "present": ["opsoclonus"],
        "absent": [],
        "implied_present": [],
        "implied_absent": [],
        "age_years": 3.0,
        "age_group": "child",
        "onset": None,
        "onset_implied_by": None,
    }
    results = doc["results"]
    assert len(results) == 17
    assert results[0]["id"] == "oms" and results[0]["rank"] == 1 and results[0]["cant_miss"] is True
    assert 0 < doc["other_probability"] < 0.5
    assert sum(r["probability"] for r in results) + doc["other_probability"] == pytest.approx(1.0)
    assert {n["finding"] for n in doc["next_tests"]} and all("burden" in n for n in doc["next_tests"])
    assert {"rank", "id", "name", "probability", "cant_miss", "contributions"} <= set(results[0])
    assert results[0]["contributions"][0]["finding"] == "opsoclonus"
    assert results[0]["contributions"][0]["state"] == "present"
    assert results[0]["contributions"][0]["log_lr"] > 0
    assert doc["warnings"] == []
    assert res.stderr == ""


def test_suggest_table(invoke: Invoke) -> None:
    res = invoke("suggest", "--finding", "opsoclonus", "--age", "3")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    first_row = next(line for line in lines if line.strip().startswith("│  1 "))
    assert "│ oms " in first_row
    assert any(line.startswith("│    │ other causes") for line in lines)
    assert "does not replace clinical judgement" in res.stdout


def test_suggest_inputs_normalised(invoke: Invoke) -> None:
    res = invoke(
        "suggest",
        "-f",
        "Dancing Eyes, MYOCLONUS",
        "-f",
        "HP:0001251",
        "-x",
        "end_gaze_nystagmus",
        "--age",
        "18mo",
        "--onset",
        "Subacute",
        "--top",
        "3",
        "--format",
        "json",
    )
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    assert doc["input"]["present"] == ["opsoclonus", "myoclonus", "ataxia"]
    assert doc["input"]["absent"] == ["end-gaze-nystagmus"]
    assert doc["input"]["age_years"] == 1.5 and doc["input"]["onset"] == "subacute"
    assert [r["rank"] for r in doc["results"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["-f", "opsoclonis"], ExitCode.INPUT, "did you mean 'opsoclonus'"),
        (["-f", "ataxia", "-x", "Ataxia"], ExitCode.INPUT, "both present and absent"),
        (["-f", "ataxia", "--age", "-1"], ExitCode.INPUT, "impossible age"),
        (["-f", "ataxia", "--age", "121"], ExitCode.INPUT, "impossible age"),
        (["-f", "ataxia", "--age", "three"], ExitCode.INPUT, "cannot read age"),
        (["-f", "ataxia", "--onset", "sudden"], ExitCode.INPUT, "unknown onset"),
    ],
)
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_suggest_input_errors(invoke: Invoke, args: list[str], code: ExitCode, words: str, fmt: str) -> None:
    res = invoke("suggest", *args, "--format", fmt)
    assert res.exit_code == code
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("oms-dx: error: ")
    assert words in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    if fmt == "json":
        err = res.json()["error"]
        assert err["exit_code"] == code and words in err["message"]
    else:
        assert res.stdout == ""


def test_usage_error_exit_code(invoke: Invoke) -> None:
    assert invoke("suggest", "--top", "0").exit_code == ExitCode.USAGE
    assert invoke("suggest", "--format", "yaml").exit_code == ExitCode.USAGE


def test_no_findings_warns_on_stderr(invoke: Invoke) -> None:
    res = invoke("suggest", "--age", "2", "--format", "json")
    assert res.exit_code == 0
    assert res.json()["warnings"] and "warning: no findings" in res.stderr


def test_show_card(invoke: Invoke) -> None:
    res = invoke("show", "oms")
    assert res.exit_code == 0
    for text in (
        "H55.89",
        "230350000",
        "Opsoclonus-myoclonus syndrome",
        "Findings at presentation",
        "expert estimate",
        "References",
        "[1] Pranzatelli MR",
    ):
        assert text in res.stdout


def test_show_alias_and_json(invoke: Invoke) -> None:
    res = invoke("show", "dancing eye syndrome", "--format", "json")
    assert res.exit_code == 0
    doc = res.json()
    assert doc["condition"]["id"] == "oms"
    assert doc["condition"]["findings"]["opsoclonus"]["child"]["value"] == pytest.approx(0.59)
    cited = {r["id"] for r in doc["references"]}
    assert "michaelis2019" in cited


def test_show_unknown(invoke: Invoke) -> None:
    res = invoke("show", "omss", "--format", "json")
    assert res.exit_code == ExitCode.INPUT
    assert res.json()["error"]["suggestions"][0] == "oms"


@pytest.mark.parametrize("cmd", ["conditions", "findings"])
def test_listing_commands(invoke: Invoke, cmd: str) -> None:
    res = invoke(cmd, "--format", "json")
    assert res.exit_code == 0
    doc = res.json()
    assert doc["schema_version"] == "3" and doc["command"] == cmd
    assert len(doc[cmd]) == (17 if cmd == "conditions" else 85)
    assert invoke(cmd).exit_code == 0


def test_findings_lists_synonyms_and_hpo(invoke: Invoke) -> None:
    doc = invoke("findings", "--format", "json").json()
    ops = next(f for f in doc["findings"] if f["id"] == "opsoclonus")
    assert ops["hpo"] == "HP:0010543" and "dancing eyes" in ops["synonyms"]


def test_kb_option_and_broken_kb(invoke: Invoke, write_kb: Callable[..., Path], toy_data: dict[str, Any]) -> None:
    ok = invoke("suggest", "-f", "spots", "--kb", str(TOY_KB), "--format", "json")
    assert ok.exit_code == 0 and ok.json()["results"][0]["id"] == "alpha"
    toy_data["conditions"][0]["findings"]["spots"]["value"] = 2
    bad = write_kb(toy_data)
    res = invoke("suggest", "-f", "spots", "--kb", str(bad), "--format", "json")
    assert res.exit_code == ExitCode.KNOWLEDGE_BASE
    err = res.json()["error"]
    assert err["file"] == str(bad)
    assert err["problems"][0]["path"] == "conditions[0].findings.spots.value"
    assert str(bad) in res.stderr and "conditions[0].findings.spots.value" in res.stderr


def test_hostile_kb_text_is_shown_literally(
    invoke: Invoke, write_kb: Callable[..., Path], toy_data: dict[str, Any]
) -> None:
    toy_data["conditions"][0]["name"] = "[bold red]Alpha[/] [link=http://x]click[/link]"
    toy_data["conditions"][0]["synopsis"] = "Evil \x1b[31mred\x1b[0m text [blink]x[/blink]"
    kb = write_kb(toy_data)
    card = invoke("show", "alpha", "--kb", str(kb))
    assert card.exit_code == 0
    assert "[bold red]Alpha[/] [link=http://x]click[/link]" in card.stdout
    assert "[blink]x[/blink]" in card.stdout
    assert "\x1b" not in card.stdout


def test_version(invoke: Invoke) -> None:
    res = invoke("--version")
    assert res.exit_code == 0 and res.stdout.startswith("oms-dx ")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    terms=st.lists(
        st.one_of(st.text(max_size=15), st.sampled_from(["ataxia", "HP:0010543", "Dancing eyes", "fits"])), max_size=3
    ),
    age=st.one_of(st.none(), st.text(max_size=6), st.floats(allow_nan=True).map(str)),
    onset=st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["acute", "chronic"])),
)
def test_suggest_exit_code_follows_the_input(
    invoke: Invoke, shipped_kb: CompiledKnowledgeBase, terms: list[str], age: str | None, onset: str | None
) -> None:
    args = ["suggest", "--format", "json"]
    for t in terms:
        args += ["--finding", t]
    if age is not None:
        args += ["--age", age]
    if onset is not None:
        args += ["--onset", onset]
    # Valid input ranks (0); a term, age or onset oms-dx cannot read is an input error (3); nothing else.
    try:
        normalise_query(
            shipped_kb,
            split_terms(terms),
            [],
            parse_age(age) if age is not None else None,
            parse_onset(onset) if onset is not None else None,
        )
        expected = ExitCode.OK
    except InputError:
        expected = ExitCode.INPUT
    res = invoke(*args)
    assert res.exit_code == expected, res.stderr
    assert "Traceback" not in res.stderr
    doc = res.json()
    if expected == ExitCode.OK:
        assert doc["results"] and res.stderr.count("error") == 0
    else:
        assert doc["error"]["exit_code"] == ExitCode.INPUT and res.stderr.startswith("oms-dx: error: ")


def _names(group: Any) -> list[str]:
    return sorted(group.commands)


def test_the_entry_point_builds_only_the_command_it_runs() -> None:
    import typer.main

    from oms_cli.commands import build_app

    app = build_app()
    full = typer.main.get_command(app)
    every = _names(full)
    assert len(every) >= 9 and "kb" in every
    for name in every:
        slim = build_app(name)
        assert _names(typer.main.get_command(slim)) == [name]
        runner = CliRunner()
        assert runner.invoke(slim, [name, "--help"]).output == runner.invoke(app, [name, "--help"]).output
    for first in (None, "--help", "--version", "sugest", "-h"):
        # help, typos and options get the whole app
        assert _names(typer.main.get_command(build_app(first))) == every


def test_the_entry_point_runs_commands_like_the_full_app(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from oms_cli.entry import main

    monkeypatch.setattr("sys.argv", ["oms-dx", "suggest", "-f", "opsoclonus", "--age", "3", "--format", "json"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["id"] == "oms"


@pytest.mark.parametrize(
    ("args", "as_json"),
    [
        (["suggest", "-f", "opsoclonus", "--format", "json", "--top", "0"], True),
        (["suggest", "-f", "opsoclonus", "--format=json", "--bogus"], True),
        (["batch", "--jobs", "0"], True),  # batch writes JSON by default
        (["batch", "--format", "csv", "--jobs", "0"], False),
        (["suggest", "-f", "opsoclonus", "--top", "0"], False),
        (["suggest", "--format", "yaml"], False),
        (["sugest", "--format", "json"], True),
    ],
)
def test_usage_errors_are_json_in_json_mode(invoke: Invoke, args: list[str], as_json: bool) -> None:
    res = invoke(*args, input="")
    assert res.exit_code == ExitCode.USAGE
    assert "Usage: oms-dx" in res.stderr  # people still get click's usage text
    if as_json:
        error = json.loads(res.stdout)["error"]
        assert error["code"] == "usage" and error["exit_code"] == ExitCode.USAGE and error["message"]
    else:
        assert res.stdout == ""


@pytest.mark.parametrize(("term", "expected"), [("ORPHA:1183", "oms"), ("orphanet:83597", "adem"),
                                                ("SNOMEDCT:230350000", "oms"), ("G25.3", None)])  # fmt: skip
def test_conditions_resolve_by_disorder_codes_not_symptom_codes(
    invoke: Invoke, term: str, expected: str | None
) -> None:
    res = invoke("show", term, "--format", "json")
    if expected is None:  # an ICD-10-CM symptom code is shared by several conditions: never an identifier
        assert res.exit_code == ExitCode.INPUT and res.json()["error"]["code"] == "unknown_condition"
    else:
        assert res.exit_code == 0 and res.json()["condition"]["id"] == expected
