"""batch and evaluate: streaming records, error records, flat formats, and metrics checked independently."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oms_cli.core.batch import score_all
from oms_cli.core.inputs import read_jsonl
from oms_cli.errors import ExitCode
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import DEV_VIGNETTES, TOY_KB, Result, load_dev_cases

Invoke = Callable[..., Result]
needs_dev = pytest.mark.skipif(not DEV_VIGNETTES.is_file(), reason="../shared/vignettes/dev.jsonl not present")


def _records(res: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in res.stdout.splitlines()]


@needs_dev
def test_batch_dev_set_gives_one_record_per_case_in_order(invoke: Invoke) -> None:
    res = invoke("batch", str(DEV_VIGNETTES))
    assert res.exit_code == ExitCode.OK
    records = _records(res)
    cases = load_dev_cases()
    assert len(records) == len(cases) == 38
    assert [r["id"] for r in records] == [c["id"] for c in cases]
    assert [r["line"] for r in records] == list(range(1, 39))
    assert "38 scored, 0 failed" in res.stderr


@needs_dev
def test_batch_results_are_the_suggest_results(invoke: Invoke) -> None:
    case = load_dev_cases()[4]
    batch = _records(invoke("batch", str(DEV_VIGNETTES), "--contributions"))[4]
    args = ["suggest", "--format", "json"]
    args += [a for f in case["present"] for a in ("-f", f)] + [a for f in case["absent"] for a in ("-x", f)]
    if case["age_years"] is not None:
        args += ["--age", str(case["age_years"])]
    if case["onset"]:
        args += ["--onset", case["onset"]]
    assert batch["results"] == invoke(*args).json()["results"]


@needs_dev
def test_lean_batch_results_are_suggest_results_without_contributions(invoke: Invoke) -> None:
    lean = _records(invoke("batch", str(DEV_VIGNETTES)))
    full = _records(invoke("batch", str(DEV_VIGNETTES), "--contributions"))
    for a, b in zip(lean, full, strict=True):
        assert a["results"] == [{k: v for k, v in r.items() if k != "contributions"} for r in b["results"]]


def test_broken_line_in_the_middle_loses_nothing(invoke: Invoke, tmp_path: Path) -> None:
    lines = [
        '{"id": "a", "present": ["spots"], "age_years": 4}',
        '{"id": "b", "present": ["cough"]',  # truncated JSON
        '{"id": "c", "present": ["wobbly"]}',  # unknown finding
        "",
        '{"id": "d", "present": ["limp"], "absent": ["spots"], "onset": "acute"}',
        '{"id": 7, "present": ["spots"], "age_years": 200}',  # impossible age
        '["not", "an", "object"]',
        '{"id": "e", "present": "cough", "age_years": "18m"}',
    ]
    path = tmp_path / "cases.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "f", "present": ["\xff"]}\n')
    res = invoke("batch", str(path), "--kb", str(TOY_KB))
    assert res.exit_code == ExitCode.INPUT
    records = _records(res)
    assert [r["line"] for r in records] == [1, 2, 3, 5, 6, 7, 8, 9]  # the blank line 4 is not a case
    ok = {r["id"] for r in records if "results" in r}
    assert ok == {"a", "d", "e"}
    errors = {r["line"]: r for r in records if "error" in r}
    assert errors[2]["error"]["code"] == "invalid_json" and errors[2]["id"] is None
    assert errors[3]["error"]["code"] == "unknown_finding" and errors[3]["id"] == "c"
    assert "wobbly" in errors[3]["error"]["message"]
    assert errors[6]["id"] == 7 and "impossible age" in errors[6]["error"]["message"]
    assert "object" in errors[7]["error"]["message"]
    assert errors[9]["error"]["code"] == "invalid_encoding"
    assert {e["error"]["exit_code"] for e in errors.values()} == {ExitCode.INPUT}
    assert "3 scored, 5 failed" in res.stderr


def test_batch_reads_stdin_and_keeps_top(invoke: Invoke) -> None:
    stdin = '{"id": "x", "present": ["spots"]}\n{"id": "y", "present": ["cough"]}\n'
    res = invoke("batch", "-", "--top", "2", "--kb", str(TOY_KB), input=stdin)
    assert res.exit_code == 0
    records = _records(res)
    assert [r["id"] for r in records] == ["x", "y"]
    assert all(len(r["results"]) == 2 for r in records)


def test_batch_empty_input(invoke: Invoke) -> None:
    res = invoke("batch", "-", "--kb", str(TOY_KB), input="")
    assert res.exit_code == 0 and res.stdout == ""
    assert "0 case(s)" in res.stderr


def test_batch_missing_file_is_an_input_error(invoke: Invoke, tmp_path: Path) -> None:
    res = invoke("batch", str(tmp_path / "nope.jsonl"), "--kb", str(TOY_KB))
    assert res.exit_code == ExitCode.INPUT and "cannot read" in res.stderr
    assert res.json()["error"]["code"] == "invalid_input"  # JSON mode: the failure is JSON on stdout too


@pytest.mark.parametrize(("fmt", "delimiter"), [("csv", ","), ("tsv", "\t")])
def test_batch_flat_formats(invoke: Invoke, fmt: str, delimiter: str) -> None:
    stdin = '{"id": "x, with comma", "present": ["spots"]}\n{"id": "bad", "present": ["nope"]}\n'
    res = invoke("batch", "--format", fmt, "--kb", str(TOY_KB), input=stdin)
    assert res.exit_code == ExitCode.INPUT
    rows = list(csv.DictReader(io.StringIO(res.stdout), delimiter=delimiter))
    good = [r for r in rows if r["id"] == "x, with comma"]
    assert [r["rank"] for r in good] == ["1", "2", "3", "4", ""]  # the last row is other causes
    assert good[-1]["condition"] == "other"
    assert math.fsum(float(r["probability"]) for r in good) == pytest.approx(1.0, abs=1e-5)
    (bad,) = [r for r in rows if r["id"] == "bad"]
    assert bad["rank"] == "" and "unknown finding" in bad["error"] and bad["line"] == "2"


def test_ten_megabyte_line_is_one_record(invoke: Invoke) -> None:
    huge = json.dumps({"id": "big", "present": ["spots"], "note": "x" * 10_000_000})
    broken = '{"id": "big2", "present": ["' + "y" * 10_000_000 + '"]}'
    res = invoke("batch", "--kb", str(TOY_KB), input=huge + "\n" + broken + "\n")
    records = _records(res)
    assert [r["id"] for r in records] == ["big", "big2"]
    assert "results" in records[0]
    assert len(records[1]["error"]["message"]) < 1000  # the message is clipped, not 10 MB long
    assert res.exit_code == ExitCode.INPUT


def test_score_all_is_lazy(toy_kb: CompiledKnowledgeBase) -> None:
    def endless() -> Any:
        n = 0
        while True:
            n += 1
            yield b'{"id": %d, "present": ["spots"]}\n' % n

    records = score_all(toy_kb, read_jsonl(endless()))
    assert [next(records).id for _ in range(3)] == [1, 2, 3]


# ----------------------------------------------------------------------------- evaluate


def _independent_metrics(records: list[dict[str, Any]], truths: list[str]) -> dict[str, float]:
    """Metrics from batch output, computed directly from their textbook definitions."""
    n = len(records)
    top1 = top3 = rr = brier = ll = 0.0
    for rec, truth in zip(records, truths, strict=True):
        order = [r["id"] for r in rec["results"]]
        probs = {r["id"]: r["probability"] for r in rec["results"]}
        pos = order.index(truth) + 1
        top1 += pos == 1
        top3 += pos <= 3
        rr += 1 / pos
        brier += sum((p - (cid == truth)) ** 2 for cid, p in probs.items()) + rec["other_probability"] ** 2
        ll -= math.log(probs[truth])
    return {"n": n, "top1": top1 / n, "top3": top3 / n, "mrr": rr / n, "brier": brier / n, "log_loss": ll / n}


@needs_dev
def test_evaluate_matches_an_independent_computation(invoke: Invoke, shipped_kb: CompiledKnowledgeBase) -> None:
    res = invoke("evaluate", str(DEV_VIGNETTES), "--format", "json")
    assert res.exit_code == 0
    doc = res.json()
    records = _records(invoke("batch", str(DEV_VIGNETTES)))
    truths = [shipped_kb.resolve_condition(c["diagnosis"]) for c in load_dev_cases()]
    expected = _independent_metrics(records, truths)
    assert doc["n"] == expected["n"] == 38
    for key in ("top1", "top3", "mrr", "brier", "log_loss"):
        assert doc[key] == pytest.approx(expected[key], rel=1e-9), key
    per = {row["id"]: row for row in doc["per_condition"]}
    for cid in per:
        mine = [(rec, t) for rec, t in zip(records, truths, strict=True) if t == cid]
        assert per[cid]["n"] == len(mine)
        if mine:
            hits = sum(rec["results"][0]["id"] == cid for rec, _ in mine)
            assert per[cid]["top1"] == pytest.approx(hits / len(mine))
        first = sum(rec["results"][0]["id"] == cid for rec in records)
        assert per[cid]["predicted_first"] == first
    assert sum(sum(row.values()) for row in doc["confusion"].values()) == 38
    assert sum(b["n"] for b in doc["calibration"]) == 38 * (len(shipped_kb.conditions) + 1)  # other causes too
    hits = sum(round(b["observed"] * b["n"]) for b in doc["calibration"] if b["n"])
    assert hits == 38  # each case has exactly one true condition


def test_evaluate_skips_and_reports(invoke: Invoke) -> None:
    stdin = "\n".join(
        [
            '{"id": 1, "present": ["spots"], "diagnosis": "alpha"}',
            '{"id": 2, "present": ["cough"]}',  # no diagnosis: skipped, not an error
            '{"id": 3, "present": ["cough"], "diagnosis": "omega"}',  # unknown diagnosis: an error
            "{oops",
        ]
    )
    res = invoke("evaluate", "-", "--kb", str(TOY_KB), "--format", "json", input=stdin)
    assert res.exit_code == ExitCode.INPUT
    doc = res.json()
    assert doc["n"] == 1 and doc["skipped"] == 3 and doc["errors"] == 2
    reasons = {s["line"]: s["reason"] for s in doc["skipped_cases"]}
    assert reasons[2] == "no diagnosis given" and "omega" in reasons[3]


def test_evaluate_table(invoke: Invoke) -> None:
    stdin = '{"id": 1, "present": ["spots"], "diagnosis": "alpha"}\n'
    res = invoke("evaluate", "-", "--kb", str(TOY_KB), input=stdin)
    assert res.exit_code == 0
    for words in ("1 cases scored", "By final diagnosis", "Confusion", "Calibration"):
        assert words in res.stdout


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_flat_rows_survive_control_characters_delimiters_and_formulas(invoke: Invoke, fmt: str) -> None:
    ids = ["a\rb", "x,\ty", '=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tlead", "esc\x1b]52;c;x\x07"]
    lines = [json.dumps({"id": i, "present": ["spots" if n % 2 == 0 else "nope"]}) for n, i in enumerate(ids)]
    res = invoke("batch", "--kb", str(TOY_KB), "--format", fmt, "--top", "1", input="\n".join(lines) + "\n")
    assert "\x1b" not in res.stdout and "\r" not in res.stdout
    rows = list(csv.DictReader(io.StringIO(res.stdout, newline=""), delimiter="," if fmt == "csv" else "\t"))
    rows = [r for r in rows if r["condition"] != "other"]
    # One row per case: control characters written as visible escapes, formula starts behind an apostrophe.
    assert [(r["id"], r["line"]) for r in rows] == [
        ("a\\x0db", "1"),
        ("x,\\x09y", "2"),
        ('\'=HYPERLINK("http://x")', "3"),
        ("'+1+1", "4"),
        ("'-2", "5"),
        ("'@SUM(A1)", "6"),
        ("'\\x09lead", "7"),
        ("esc\\x1b]52;c;x\\x07", "8"),
    ]
    assert rows[1]["error"].startswith("unknown finding 'nope'")
    assert all(not r[k].startswith(("=", "+", "-", "@")) for r in rows for k in r if r[k])
