"""Nothing breaks on bad input: arbitrary CLI input, broken and hostile knowledge bases, the cache, Ctrl-C."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_cli.errors import ExitCode

from ..conftest import REPO, TOY_KB, Result
from ..kb.test_compiled import _break

Invoke = Callable[..., Result]
DOCUMENTED = {int(c) for c in ExitCode}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text meant to fool a renderer: Rich markup, a hyperlink, terminal escapes (CSI, OSC 8, bell), a NUL.
HOSTILE = (
    "[bold red]X[/] [link=http://evil.example]click[/link] \x1b[31mred\x1b[0m \x1b]8;;http://e\x07a\x1b]8;;\x07 \x00"
)
arbitrary_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20) | st.sampled_from(
    ["[bold]", "[link=http://x]y[/link]", "\x1b[2J", "opso", "HP:0010543", "hp_0001251", "", " , ,"]
)


# ----------------------------------------------------------------------------- arbitrary input to the CLI


@SETTINGS
@given(
    present=st.lists(arbitrary_text, max_size=3),
    absent=st.lists(arbitrary_text, max_size=2),
    age=st.one_of(st.none(), arbitrary_text, st.floats(allow_nan=True, allow_infinity=True).map(repr)),
    onset=st.one_of(st.none(), arbitrary_text),
    fmt=st.sampled_from(["json", "table", "markdown"]),
)
def test_suggest_survives_anything(
    invoke: Invoke, present: list[str], absent: list[str], age: str | None, onset: str | None, fmt: str
) -> None:
    args = ["suggest", "--format", fmt, "--kb", str(TOY_KB)]
    args += [a for t in present for a in ("-f", t)] + [a for t in absent for a in ("-x", t)]
    args += ["--age", age] if age is not None else []
    args += ["--onset", onset] if onset is not None else []
    res = invoke(*args)  # catch_exceptions=False: any exception fails the test
    assert res.exit_code in {ExitCode.OK, ExitCode.USAGE, ExitCode.INPUT}
    if res.exit_code != ExitCode.OK:
        assert len(res.stderr.strip().splitlines()) >= 1
        if fmt == "json" and res.exit_code == ExitCode.INPUT:
            assert res.json()["error"]["exit_code"] == ExitCode.INPUT
    elif fmt == "json":
        assert res.json()["schema_version"] == "3"
    assert "\x1b" not in res.stdout


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | arbitrary_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(arbitrary_text, inner, max_size=3),
    max_leaves=8,
)
case_objects = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=8), st.integers(), st.none(), st.floats()),
        "present": st.one_of(st.lists(st.sampled_from(["spots", "cough", "limp", "wings", "HP:0000001"])), json_values),
        "absent": st.one_of(st.lists(st.sampled_from(["spots", "cough", "rare-sign"])), json_values),
        "age_years": st.one_of(st.none(), st.floats(-5, 150), st.text(max_size=5), json_values),
        "onset": st.one_of(st.none(), st.sampled_from(["acute", "Chronic", "fast"]), json_values),
    },
)
batch_lines = st.one_of(
    case_objects.map(lambda o: json.dumps(o).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ")),
)


@SETTINGS
@given(lines=st.lists(batch_lines, max_size=12), fmt=st.sampled_from(["json", "csv"]))
def test_batch_accounts_for_every_line(invoke: Invoke, lines: list[bytes], fmt: str) -> None:
    from typer.testing import CliRunner

    from oms_cli.commands import build_app

    app = build_app()

    data = b"\n".join(lines) + b"\n"
    res = CliRunner().invoke(app, ["batch", "-", "--kb", str(TOY_KB), "--format", fmt], input=data)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code in {ExitCode.OK, ExitCode.INPUT}
    expected = [n for n, line in enumerate(lines, start=1) if line.strip()]  # blank lines are not cases
    if fmt == "json":
        records = [json.loads(x) for x in res.stdout.splitlines()]
        assert [r["line"] for r in records] == expected
        assert all(("results" in r) != ("error" in r) for r in records)
        failed = sum("error" in r for r in records)
    else:
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(res.stdout)))
        assert sorted({int(r["line"]) for r in rows}) == expected
        failed = sum(1 for r in rows if r["error"])
    assert (res.exit_code == ExitCode.INPUT) == (failed > 0)


# ----------------------------------------------------------------------------- broken knowledge bases, via the CLI


@pytest.mark.parametrize(
    ("how", "path"),
    [
        ("missing-field", "conditions[0].synopsis"),
        ("wrong-type", "conditions[0].findings.spots.value"),
        ("out-of-range", "conditions[0].findings.spots.value"),
        ("negative", "conditions[0].prior.child.value"),
        ("dangling-ref", "conditions[0].findings.spots.refs[0]"),
        ("unknown-finding", "conditions[0].findings.wings"),
        ("duplicate-id", "conditions[1].id"),
    ],
)
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_broken_kb_is_one_line_naming_file_and_path(
    invoke: Invoke, toy_data: dict[str, Any], write_kb: Callable[..., Path], how: str, path: str, fmt: str
) -> None:
    file = write_kb(_break(toy_data, how))
    res = invoke("suggest", "-f", "spots", "--kb", str(file), "--format", fmt)
    assert res.exit_code == ExitCode.KNOWLEDGE_BASE
    (line,) = res.stderr.splitlines()
    assert line.startswith(f"oms-dx: error: {file} at {path}: ")
    if fmt == "json":
        err = res.json()["error"]
        assert err["file"] == str(file) and err["problems"][0]["path"] == path
    else:
        assert res.stdout == ""


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"schema_version": "1",', "invalid JSON"),
        (b'{"leak_probability": {"value": NaN}}', "NaN is not allowed"),
        (b'{"leak_probability": {"value": Infinity}}', "Infinity is not allowed"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"", "invalid JSON"),
    ],
)
def test_unparseable_kb_via_cli(invoke: Invoke, write_kb: Callable[..., Path], content: bytes, words: str) -> None:
    file = write_kb(content)
    res = invoke("suggest", "-f", "spots", "--kb", str(file))
    assert res.exit_code == ExitCode.KNOWLEDGE_BASE
    (line,) = res.stderr.splitlines()
    assert str(file) in line and words in line


def test_probability_outside_the_open_interval(
    invoke: Invoke, toy_data: dict[str, Any], write_kb: Callable[..., Path]
) -> None:
    for bad in (0, 1, 1.5, -0.1):
        toy_data["conditions"][2]["onset_profile"]["acute"]["value"] = bad
        res = invoke("suggest", "-f", "spots", "--kb", str(write_kb(toy_data)))
        assert res.exit_code == ExitCode.KNOWLEDGE_BASE
        assert "conditions[2].onset_profile.acute.value" in res.stderr


# ----------------------------------------------------------------------------- hostile text


def _hostile_kb(toy_data: dict[str, Any]) -> dict[str, Any]:
    c = toy_data["conditions"][0]
    c["name"] = HOSTILE
    c["synopsis"] = "Synopsis " + HOSTILE
    c["cant_miss"] = {"flag": True, "reason": "Reason " + HOSTILE, "excluding_test": "Test " + HOSTILE}
    toy_data["findings"][0]["label"] = "Spots " + HOSTILE
    toy_data["findings"][0]["definition"] = "Definition " + HOSTILE
    toy_data["references"][0]["title"] = "Title " + HOSTILE
    return toy_data


@pytest.mark.parametrize(
    "args",
    [
        ["suggest", "-f", "spots", "--explain"],
        ["suggest", "-f", "spots", "--format", "markdown", "--explain"],
        ["show", "alpha"],
        ["show", "alpha", "--format", "markdown"],
        ["compare", "alpha", "beta"],
        ["conditions"],
        ["findings"],
    ],
)
def test_hostile_kb_text_is_never_interpreted(
    invoke: Invoke, toy_data: dict[str, Any], write_kb: Callable[..., Path], args: list[str]
) -> None:
    kb = write_kb(_hostile_kb(toy_data))
    res = invoke(*args, "--kb", str(kb))
    assert res.exit_code == 0, res.stderr
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout and "\x00" not in res.stdout
    # The markup is printed as written (Markdown escapes its brackets), never applied or swallowed.
    assert "[bold red]X[/]" in res.stdout or r"\[bold red\]X\[/\]" in res.stdout
    assert "click[/link]" in res.stdout or r"click\[/link\]" in res.stdout
    assert "\\x1b" in res.stdout  # escapes are shown as visible text


def test_hostile_user_text_in_errors(invoke: Invoke) -> None:
    res = invoke("suggest", "-f", "[bold]\x1b[2Jx", "--kb", str(TOY_KB), "--format", "json")
    assert res.exit_code == ExitCode.INPUT
    assert "\x1b" not in res.stderr and "[bold]" in res.stderr
    assert res.json()["error"]["code"] == "unknown_finding"


# The compiled cache: tests/faults/test_cache.py.


# ----------------------------------------------------------------------------- interrupts


def test_ctrl_c_during_batch(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import oms_cli.core.batch

    real = oms_cli.core.batch.score_case
    calls = {"n": 0}

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(oms_cli.core.batch, "score_case", interrupted)
    res = invoke("batch", "--kb", str(TOY_KB), input='{"id": 1, "present": ["spots"]}\n' * 5)
    assert res.exit_code == ExitCode.INTERRUPTED
    assert "interrupted" in res.stderr and "Traceback" not in res.stderr
    assert [json.loads(x)["id"] for x in res.stdout.splitlines()] == [1, 1]  # what was done is kept


def test_exit_codes_are_documented() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Exit codes") :]
    for code in ExitCode:
        assert f"| {int(code)} |" in section, code


def test_env_without_home_still_runs(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMS_DX_CACHE_DIR")
    monkeypatch.setenv("HOME", os.devnull)  # not a directory: the cache cannot be written
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert invoke("suggest", "-f", "spots", "--kb", str(TOY_KB)).exit_code == 0
